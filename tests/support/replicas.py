"""Two control plane replicas on one real PostgreSQL behind a balancer, with one node and a
running workspace: what the replica tests and `bench/replicas.py` start.

The node dials the balancer, which sends each connection to replica A while A is alive (then
to B): so the node is linked to A, and whatever a test does through B reaches the node through
A, until A dies.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.support.balancer import balancer
from tests.support.nodes import Api, NodeProcess, exchange, node_agent
from tests.support.postgres import PostgresServer
from tests.support.processes import CorralServer, corral_env, corral_server
from tests.support.sessions import SCRIPTED_AGENT, SCRIPTED_AGENT_RUNTIME_SETTINGS, make_repo
from tests.support.waits import eventually_sync

__all__ = ["LINKED", "SIGN_IN_ATTEMPTS", "ReplicaPair", "replica_pair"]

WAIT_SECONDS = 60.0
SIGN_IN_ATTEMPTS = 3
LINKED = {"message": "node n1 linked"}
"""The log record of a replica that took the node's link."""


class ReplicaPair:
    def __init__(
        self,
        a: CorralServer,
        b: CorralServer,
        api_a: Api,
        api_b: Api,
        node: NodeProcess,
        workspace_id: str,
    ) -> None:
        self.a, self.b, self.api_a, self.api_b = a, b, api_a, api_b
        self.node = node
        self.workspace_id = workspace_id


@contextmanager
def replica_pair(base: Path, postgres: PostgresServer) -> Iterator[ReplicaPair]:
    """Replicas A and B on a new database, a balancer, node `n1` (linked to A), project `demo`,
    workspace `w1` running, and the scripted agent as `scripted`."""
    database_url = postgres.create_database()
    secret_key = base64.b64encode(os.urandom(32)).decode()

    def env(name: str) -> dict[str, str]:
        return corral_env(
            base / f"{name}-home",
            None,
            CORRAL_DATABASE_URL=database_url,
            CORRAL_SECRET_KEY=secret_key,
            CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1",
            CORRAL_REPLICAS__HEARTBEAT_INTERVAL_SECONDS="0.5",
            CORRAL_REPLICAS__DEAD_AFTER_SECONDS="3",
            CORRAL_AUTH__LOGIN_ATTEMPTS_PER_WINDOW=str(SIGN_IN_ATTEMPTS),
        )

    with ExitStack() as stack:
        a = stack.enter_context(corral_server(base / "a", env("a")))
        b = stack.enter_context(corral_server(base / "b", env("b"), expect_link=False))
        assert a.link is not None
        # The owner's login link, printed by A, signs in through B.
        api_b = Api(b.url, exchange(b.url, a.link))
        api_a = Api(a.url, api_b.token)
        stack.callback(api_a.close)
        stack.callback(api_b.close)
        front = stack.enter_context(balancer([("127.0.0.1", a.port), ("127.0.0.1", b.port)]))
        created = api_a.post("/nodes", {"name": "n1"})
        node_env = corral_env(
            base / "node-home",
            None,
            CORRAL_NODE_RECONNECT_MIN_SECONDS="0.1",
            CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5",
            CORRAL_NODE_RUNTIME_SETTINGS=SCRIPTED_AGENT_RUNTIME_SETTINGS,
        )
        node = stack.enter_context(
            node_agent(
                base / "node", node_env, control_url=front.url, join_token=created["join_token"]
            )
        )
        # Linked to A (the balancer's first choice), and B knows it.
        eventually_sync(
            lambda: api_b.get("/nodes")["items"][0]["connected"],
            "the node linked, as B sees it",
            wait_seconds=WAIT_SECONDS,
            context=node.describe,
        )
        repo = make_repo(base / "repo", {"README.md": "replicas\n"})
        api_b.post("/projects", {"name": "demo", "repo": str(repo)})
        workspace = api_b.post("/workspaces", {"project": "demo", "name": "w1", "node": "n1"})
        api_b.workspace_running(workspace["id"])
        api_b.post(
            "/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]}
        )
        yield ReplicaPair(a, b, api_a, api_b, node, workspace["id"])
