"""The node's identity: the control plane it belongs to and the credential it joined with.

Kept in `node.json` in the node's data directory with mode 0600, and nowhere else: workspaces
cannot see the data directory (see `corral.node.sandbox`).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from corral.errors import CorralError, Unauthenticated
from corral.node.controlurl import control_plane_proxy, unreachable_reason
from corral.protocol.frames import NODE_IDENTITY_FILE_NAME

MAX_ANSWER_BYTES = 64 * 1024
"""A join's answer is a node id and a credential; more is not a join's answer."""

__all__ = [
    "NodeIdentity",
    "join",
    "load_identity",
    "save_identity",
]


@dataclass(frozen=True)
class NodeIdentity:
    control_url: str
    node_id: str
    credential: str


def load_identity(data_dir: Path) -> NodeIdentity | None:
    path = data_dir / NODE_IDENTITY_FILE_NAME
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return NodeIdentity(str(raw["control_url"]), str(raw["node_id"]), str(raw["credential"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorralError(f"{path} is damaged; remove it and join again with a new token") from exc


def save_identity(data_dir: Path, identity: NodeIdentity) -> None:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / NODE_IDENTITY_FILE_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {
                "control_url": identity.control_url,
                "node_id": identity.node_id,
                "credential": identity.credential,
            },
            handle,
        )
    os.replace(tmp, path)


async def join(
    control_url: str, join_token: str, *, timeout_seconds: float, ssl_context: ssl.SSLContext
) -> NodeIdentity:
    """Trade a join token for this node's credential, trusting what `ssl_context` trusts (see
    `corral.node.controlurl`), as the link will."""
    url = control_url.rstrip("/")
    body = json.dumps({"join_token": join_token}).encode()
    try:
        status, answer = await asyncio.to_thread(
            _post_json, f"{url}/api/v1/nodes/join", body, timeout_seconds, ssl_context
        )
    except (OSError, http.client.HTTPException) as exc:
        raise CorralError(
            f"cannot reach the control plane at {url}: {unreachable_reason(exc)}"
        ) from exc
    if status in (401, 403, 422, 429):
        try:
            message = str(json.loads(answer)["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = f"the control plane refused the join token ({status})"
        raise Unauthenticated(message)
    if not 200 <= status < 300:
        raise CorralError(f"joining failed: the control plane answered {status}")
    try:
        joined = json.loads(answer)
        return NodeIdentity(
            control_url=url, node_id=str(joined["node_id"]), credential=str(joined["credential"])
        )
    except (ValueError, KeyError, TypeError):
        raise CorralError("joining failed: the control plane's answer is not a join") from None


def _post_json(
    url: str, body: bytes, timeout_seconds: float, ssl_context: ssl.SSLContext
) -> tuple[int, bytes]:
    """POST `body` as JSON to `url`, through the machine's proxy as the link goes (never for a
    loopback address: `control_plane_proxy`); the status and at most `MAX_ANSWER_BYTES` of the
    answer. An https URL through a proxy goes through a CONNECT tunnel, so TLS is end to end.

    The standard library's client, not httpx as elsewhere: a node joins once, but what it
    imports stays in the daemon's memory for as long as it runs, and httpx with what it
    brings (its command line's rich, click and pygments) is 7 MiB of a daemon that otherwise
    needs no HTTP client.
    """
    target = urlsplit(url)
    secure = target.scheme == "https"
    host, port = target.hostname or "", target.port or (443 if secure else 80)
    headers = {"Content-Type": "application/json"}
    proxy = control_plane_proxy(url)
    if proxy is None:
        connection = _connection(host, port, secure, timeout_seconds, ssl_context)
        path = target.path
    else:
        via = urlsplit(proxy)
        if via.scheme == "https" and secure:
            raise CorralError(
                f"joining through the https:// proxy {via.hostname} is not supported: "
                "name the proxy with http:// (the control plane's TLS stays end to end)"
            )
        authorization = {}
        if via.username is not None:
            login = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
            authorization["Proxy-Authorization"] = f"Basic {base64.b64encode(login).decode()}"
        proxy_port = via.port or (443 if via.scheme == "https" else 80)
        # An https URL: TLS inside the tunnel, with the control plane. An http one: TLS with
        # an https:// proxy, if that is what it is.
        connection = _connection(
            via.hostname or "",
            proxy_port,
            secure or via.scheme == "https",
            timeout_seconds,
            ssl_context,
        )
        if secure:
            connection.set_tunnel(host, port, headers=authorization)
            path = target.path
        else:
            headers.update(authorization, Host=target.netloc)
            path = url  # a proxy takes the whole URL
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(MAX_ANSWER_BYTES)
    finally:
        connection.close()


def _connection(
    host: str, port: int, secure: bool, timeout_seconds: float, ssl_context: ssl.SSLContext
) -> http.client.HTTPConnection:
    if secure:
        return http.client.HTTPSConnection(host, port, timeout=timeout_seconds, context=ssl_context)
    return http.client.HTTPConnection(host, port, timeout=timeout_seconds)
