"""The node's identity: the control plane it belongs to and the credential it joined with.

Kept in `node.json` in the node's data directory with mode 0600, and nowhere else: workspaces
cannot see the data directory (see `corral.node.sandbox`).
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from corral.errors import CorralError, Unauthenticated
from corral.node.controlurl import control_plane_proxy, unreachable_reason
from corral.protocol.frames import NODE_IDENTITY_FILE_NAME

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
    # Imported here: a node joins once, and httpx is 7 MiB of every node daemon's memory after.
    import httpx

    url = control_url.rstrip("/")
    try:
        # The machine's proxy and trust store, chosen here rather than by httpx (which would
        # take certifi's bundle and ignore REQUESTS_CA_BUNDLE): never a proxy for loopback.
        async with httpx.AsyncClient(
            base_url=url,
            timeout=timeout_seconds,
            proxy=control_plane_proxy(url),
            trust_env=False,
            verify=ssl_context,
        ) as client:
            response = await client.post("/api/v1/nodes/join", json={"join_token": join_token})
    except httpx.HTTPError as exc:
        raise CorralError(
            f"cannot reach the control plane at {url}: {unreachable_reason(exc)}"
        ) from exc
    if response.status_code in (401, 403, 422, 429):
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = f"the control plane refused the join token ({response.status_code})"
        raise Unauthenticated(message)
    if not response.is_success:
        raise CorralError(f"joining failed: the control plane answered {response.status_code}")
    body = response.json()
    return NodeIdentity(control_url=url, node_id=body["node_id"], credential=body["credential"])
