"""Node requests forwarded to the replica that holds the node's link.

`ForwardedNodeConnection` offers what services ask of a linked node (`request`, `call`), over
one signed HTTP call to the holding replica, which makes the request on its link
(`answer_forwarded`) and answers with the node link's own response frame: a node's error keeps
its class on the way (a `NotFound` on the node is a 404 here too).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corral.control.nodelink.connection import NodeConnection
from corral.control.replicas.signing import ReplicaSigner
from corral.errors import CorralError
from corral.protocol.frames import RemoteError, Response
from corral.protocol.messages import METHODS, Body
from corral.protocol.peer import (
    Caller,
    Encoded,
    PeerClosed,
    error_kind,
    params_json,
    response_result,
)

__all__ = [
    "FORWARD_PATH",
    "ForwardedNodeConnection",
    "ForwardedRequest",
    "answer_forwarded",
]

log = logging.getLogger("corral.replicas")

FORWARD_PATH = "/internal/v1/nodes/{node_id}/requests"


class ForwardedRequest(BaseModel):
    """A request for a node's link, as one replica hands it to the one holding the link."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(max_length=64)
    params: dict[str, Any]
    timeout_seconds: float = Field(gt=0, le=3600)


class ForwardedNodeConnection(Caller):
    """A node linked to another replica, reached through it."""

    def __init__(
        self,
        node_id: str,
        node_name: str,
        *,
        replica_id: str,
        replica_url: str,
        client: httpx.AsyncClient,
        signer: ReplicaSigner,
        request_timeout_seconds: float,
        margin_seconds: float,
    ) -> None:
        self.node_id = node_id
        self.node_name = node_name
        self.replica_id = replica_id
        self.replica_url = replica_url
        self.request_timeout_seconds = request_timeout_seconds
        self._client = client
        self._signer = signer
        self._margin = margin_seconds

    async def request(
        self, method: str, params: Body | Encoded, *, timeout_seconds: float | None = None
    ) -> Body:
        params_model, result_model = self.methods[method]
        encoded = params_json(method, params_model, params)
        timeout = self.request_timeout_seconds if timeout_seconds is None else timeout_seconds
        body = (
            f'{{"method":{json.dumps(method)},"params":{encoded},"timeout_seconds":{timeout}}}'
        ).encode()
        target = FORWARD_PATH.format(node_id=self.node_id)
        try:
            answer = await self._client.post(
                f"{self.replica_url}{target}",
                content=body,
                headers={
                    "content-type": "application/json",
                    **self._signer.sign("POST", target, self.replica_id, body),
                },
                timeout=timeout + self._margin,
            )
            answer.raise_for_status()
            response = Response.model_validate_json(answer.content)
        except (httpx.HTTPError, ValidationError) as exc:
            log.warning("forwarding %s to node %s failed: %s", method, self.node_name, exc)
            raise PeerClosed(
                f"node {self.node_name} is linked to another control plane replica, which did "
                "not answer; try again in a moment"
            ) from None
        return response_result(response, result_model, f"node {self.node_name} sent", method)


async def answer_forwarded(
    connection: NodeConnection | None, forwarded: ForwardedRequest
) -> Response:
    """Make a forwarded request on this replica's link to the node (None: not linked here)."""
    if connection is None:
        return _error("node_not_connected", "the node is not linked to this replica", "unavailable")
    if forwarded.method not in METHODS:
        return _error("unknown_method", f"no method {forwarded.method}", "invalid_input")
    params_model, _ = METHODS[forwarded.method]
    try:
        params = params_model.model_validate(forwarded.params)
    except ValidationError:
        return _error("invalid_params", f"invalid params for {forwarded.method}", "invalid_input")
    try:
        result = await connection.request(
            forwarded.method, params, timeout_seconds=forwarded.timeout_seconds
        )
    except CorralError as exc:
        return _error(exc.reason, exc.message, error_kind(exc))
    return Response(id=0, result=result.model_dump(mode="json"))


def _error(code: str, message: str, kind: str) -> Response:
    return Response(
        id=0,
        error=RemoteError.model_validate(
            {"code": code[:64], "message": message[:4000], "kind": kind}
        ),
    )
