"""A small client of the Docker Engine API, over the engine's unix socket.

The runtime makes networks, volumes and containers through the API, not the `docker` CLI: a
CLI call costs a process start (tens of milliseconds) each, and a workspace takes a dozen
calls. Only what runs a process with a terminal attached (`docker exec -it`) uses the CLI,
which does that well. Written by hand because the official SDK is synchronous and built on
requests; the API calls used here are few and stable (API version 1.41, Docker 20.10 on).

httpx is imported on the first call, not with the module: every node loads this runtime, and
most never make a dev container, so they should not carry httpx's 7 MiB (it also imports its
command line's libraries, rich and click, when they are installed, as they are with Corral).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from corral.node.runtimes.base import Progress, RuntimeError_

if TYPE_CHECKING:
    import httpx

__all__ = ["API_VERSION", "DockerEngine", "EngineError", "socket_path"]

API_VERSION = "v1.41"
REQUEST_TIMEOUT_SECONDS = 60.0
PULL_TIMEOUT_SECONDS = 1800.0
MAX_ARCHIVE_BYTES = 4 * 1024 * 1024


class EngineError(RuntimeError_):
    """The engine refused a request; `status` is its HTTP status (404: no such object)."""

    reason = "docker_failed"

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def socket_path(docker_host: str) -> str:
    """The unix socket path of a `DOCKER_HOST` value; other transports are not supported."""
    parts = urlsplit(docker_host)
    if parts.scheme != "unix" or not parts.path:
        raise RuntimeError_(
            f"the devcontainer runtime talks to Docker over a unix socket, not {docker_host!r}",
            reason="docker_unsupported",
        )
    return parts.path


class DockerEngine:
    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        self._socket = socket_path(docker_host)
        self._http: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=self._socket),
                base_url=f"http://docker/{API_VERSION}",
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> httpx.Response:
        import httpx

        try:
            response = await self._client.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise EngineError(
                f"cannot reach Docker at {self.docker_host}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code not in ok:
            raise EngineError(_message(response), status=response.status_code)
        return response

    # -- the engine ----------------------------------------------------------------------------

    async def version(self) -> dict[str, Any]:
        return (await self._request("GET", "/version")).json()  # type: ignore[no-any-return]

    # -- images --------------------------------------------------------------------------------

    async def image(self, reference: str) -> dict[str, Any] | None:
        """The image's inspection, or None if the engine does not have it."""
        response = await self._request(
            "GET", f"/images/{quote(reference, safe='')}/json", ok=(200, 404)
        )
        return response.json() if response.status_code == 200 else None

    async def pull(self, reference: str, progress: Progress) -> None:
        """Pull an image from its registry, reporting each layer's status; the registry's
        refusal (no such image, no access) raises `EngineError` with its words."""
        name, _, tag = reference.rpartition(":") if _has_tag(reference) else (reference, "", "")
        params = {"fromImage": name or reference, "tag": tag or "latest"}
        import httpx

        try:
            async with self._client.stream(
                "POST", "/images/create", params=params, timeout=PULL_TIMEOUT_SECONDS
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise EngineError(_message(response), status=response.status_code)
                last = ""
                async for line in response.aiter_lines():
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(event, dict):
                        continue
                    if event.get("error"):
                        raise EngineError(f"Docker said: {str(event['error'])[:500]}")
                    status = " ".join(
                        str(event.get(k) or "") for k in ("id", "status", "progress")
                    ).strip()
                    if status and status != last:
                        last = status
                        progress(status[:4000])
        except httpx.HTTPError as exc:
            raise EngineError(f"pulling {reference} failed: {exc or type(exc).__name__}") from None

    # -- networks and volumes -------------------------------------------------------------------

    async def create_network(self, body: dict[str, Any]) -> None:
        """Idempotent: an existing network of that name is fine."""
        await self._request("POST", "/networks/create", json=body, ok=(201, 409))

    async def network_exists(self, name: str) -> bool:
        response = await self._request("GET", f"/networks/{quote(name, safe='')}", ok=(200, 404))
        return response.status_code == 200

    async def remove_network(self, name: str) -> None:
        await self._request("DELETE", f"/networks/{quote(name, safe='')}", ok=(204, 404))

    async def create_volume(self, body: dict[str, Any]) -> None:
        await self._request("POST", "/volumes/create", json=body, ok=(201,))

    async def remove_volume(self, name: str) -> None:
        await self._request(
            "DELETE", f"/volumes/{quote(name, safe='')}", params={"force": "1"}, ok=(204, 404)
        )

    # -- containers ----------------------------------------------------------------------------

    async def create_container(self, name: str, body: dict[str, Any]) -> str:
        response = await self._request(
            "POST", "/containers/create", json=body, params={"name": name}, ok=(201,)
        )
        return str(response.json()["Id"])

    async def container(self, ref: str) -> dict[str, Any] | None:
        """The container's inspection, or None if there is none."""
        response = await self._request(
            "GET", f"/containers/{quote(ref, safe='')}/json", ok=(200, 404)
        )
        return response.json() if response.status_code == 200 else None

    async def start_container(self, ref: str) -> None:
        await self._request("POST", f"/containers/{quote(ref, safe='')}/start", ok=(204, 304))

    async def stop_container(self, ref: str, *, grace_seconds: int) -> None:
        await self._request(
            "POST",
            f"/containers/{quote(ref, safe='')}/stop",
            params={"t": str(grace_seconds)},
            ok=(204, 304, 404),
        )

    async def remove_container(self, ref: str) -> None:
        await self._request(
            "DELETE",
            f"/containers/{quote(ref, safe='')}",
            params={"force": "1", "v": "0"},
            ok=(204, 404),
        )

    async def containers(self, label: str) -> list[dict[str, Any]]:
        """Every container (running or not) carrying `label` (`key=value` or `key`)."""
        filters = json.dumps({"label": [label]})
        response = await self._request(
            "GET", "/containers/json", params={"all": "1", "filters": filters}
        )
        return list(response.json())

    async def read_file(self, ref: str, path: str) -> bytes | None:
        """A regular file's bytes from a container's filesystem (created or running), or None
        if it has no such file. Read through the archive API, so no process runs in it."""
        response = await self._request(
            "GET",
            f"/containers/{quote(ref, safe='')}/archive",
            params={"path": path},
            ok=(200, 404),
        )
        if response.status_code == 404 or len(response.content) > MAX_ARCHIVE_BYTES:
            return None
        with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
            member = next(iter(archive.getmembers()), None)
            if member is None or not member.isfile():
                return None
            extracted = archive.extractfile(member)
            return extracted.read() if extracted is not None else None


def _has_tag(reference: str) -> bool:
    """Whether `reference` ends in `:tag` (a registry's `host:port/` is not a tag)."""
    last = reference.rsplit("/", 1)[-1]
    return ":" in last and "@" not in last


def _message(response: httpx.Response) -> str:
    try:
        message = response.json().get("message")
    except ValueError:
        message = None
    text = str(message or response.text or f"HTTP {response.status_code}").strip()
    return f"Docker said: {text[:500]}"
