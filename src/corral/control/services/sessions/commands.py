"""What a user asks of an agent session, sent to the workspace's node: `start`, `prompt`,
`cancel`, `set_mode`, `set_model` and `stop`.

The node answers each request at once; what follows (the agent ready, its replies, the end of a
turn or of the session) arrives as events, through `corral.control.services.sessions.ingest`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import AgentSession, Node, Project, Workspace
from corral.control.live.sessions import SessionHub
from corral.control.nodelink.registry import NodeCalls, NodeRegistry
from corral.control.secretbox import SecretBox
from corral.control.services import activity, agents, lifecycle, workspaces
from corral.control.services.sessions.permissions import cancel_pending_requests
from corral.control.services.sessions.queries import get_session, live_link
from corral.control.services.sessions.transcript import summary
from corral.errors import Conflict, CorralError
from corral.ids import new_id
from corral.protocol.messages import Body
from corral.protocol.sessions import (
    Policy,
    SessionAck,
    SessionPrompt,
    SessionRef,
    SessionSetMode,
    SessionSetModel,
    SessionStart,
)
from corral.states import LIVE_SESSION_STATES, SessionState

__all__ = ["Queued", "cancel", "prompt", "set_mode", "set_model", "start", "stop"]


class Queued(NamedTuple):
    """A prompt the node took: its id, and how many prompts wait before it."""

    prompt_id: str
    queued: int


async def start(
    db: AsyncSession,
    registry: NodeRegistry,
    box: SecretBox,
    user_id: str,
    *,
    workspace_ref: str,
    agent_name: str,
    policy: Policy | None = None,
    title: str | None = None,
    permission_timeout_seconds: float | None = None,
) -> AgentSession:
    """Start an agent in a running workspace. The credential is checked before anything runs."""
    workspace, _ = await workspaces.running_with_link(db, registry, user_id, workspace_ref)
    spec = await agents.get_agent(db, user_id, agent_name)
    resolved = await agents.resolve(db, user_id, spec.name, workspace.project_id)
    await agents.launch_for(db, box, user_id, spec, resolved)  # fails early, naming the credential
    row = AgentSession(
        id=new_id("ses"),
        user_id=user_id,
        workspace_id=workspace.id,
        project_id=workspace.project_id,
        agent=spec.name,
        title=(title or "")[:200] or None,
        policy=(policy or resolved.policy).value,
        state=SessionState.STARTING,
        model=resolved.model,
        last_seq=0,
    )
    db.add(row)
    activity.record(
        db,
        "session.created",
        row,
        user_id=user_id,
        actor_id=user_id,
        details={"agent": spec.name, "workspace": workspace.name, "policy": row.policy},
    )
    await db.commit()
    await _launch(db, registry, box, row, workspace, permission_timeout_seconds)
    return row


async def _launch(
    db: AsyncSession,
    registry: NodeRegistry,
    box: SecretBox,
    row: AgentSession,
    workspace: Workspace,
    permission_timeout_seconds: float | None,
) -> None:
    """Ask the workspace's node to run the session's agent (again)."""
    spec = await agents.get_agent(db, row.user_id, row.agent)
    resolved = await agents.resolve(db, row.user_id, spec.name, row.project_id)
    launch, env = await agents.launch_for(db, box, row.user_id, spec, resolved)
    project = await db.get(Project, workspace.project_id) if workspace.project_id else None
    request = SessionStart(
        session_id=row.id,
        workspace_id=workspace.id,
        agent=launch,
        env={**(project.env if project else {}), **env},
        policy=Policy(row.policy),
        model=row.model,
        mode=row.mode,
        load_session_id=row.acp_session_id,
        context=await summary(db, row) if row.acp_session_id else None,
        next_seq=row.last_seq + 1,
        permission_timeout_seconds=permission_timeout_seconds,
    )
    node = await db.get(Node, workspace.node_id) if workspace.node_id else None
    if node is None:
        raise Conflict(f"workspace {workspace.name} has no node", reason="node_gone")
    try:
        await registry.get(node.id, node.name).call("session.start", request, SessionAck)
    except CorralError as exc:
        await lifecycle.transition(db, "session", row, SessionState.ERROR, reason=exc.message)
        await db.commit()
        raise


async def prompt(
    db: AsyncSession,
    registry: NodeRegistry,
    box: SecretBox,
    user_id: str,
    ref: str,
    *,
    text: str,
    resources: Sequence[str] = (),
    permission_timeout_seconds: float | None = None,
) -> Queued:
    """Send a prompt (queued behind a running turn); a stopped session is started again
    first."""
    row = await get_session(db, user_id, ref)
    workspace, link = await live_link(db, registry, row)
    if row.state in (SessionState.STOPPED, SessionState.ERROR):
        await lifecycle.transition(
            db, "session", row, SessionState.STARTING, reason="resumed", actor_id=user_id
        )
        await db.commit()
        await _launch(db, registry, box, row, workspace, permission_timeout_seconds)
    prompt_id = new_id("prt")
    ack = await link.call(
        "session.prompt",
        SessionPrompt(session_id=row.id, prompt_id=prompt_id, text=text, resources=list(resources)),
        SessionAck,
    )
    return Queued(prompt_id, ack.queued)


async def _live(
    db: AsyncSession, registry: NodeRegistry, user_id: str, ref: str
) -> tuple[AgentSession, NodeCalls]:
    """The user's session, which must be live, and the link to its node."""
    row = await get_session(db, user_id, ref)
    if row.state not in LIVE_SESSION_STATES:
        raise Conflict(f"session {row.id} is {row.state.value}", reason="session_not_running")
    _, link = await live_link(db, registry, row)
    return row, link


async def cancel(db: AsyncSession, registry: NodeRegistry, user_id: str, ref: str) -> AgentSession:
    """Cancel the running turn and drop the prompts queued behind it; the session stays."""
    row, link = await _live(db, registry, user_id, ref)
    await link.call("session.cancel", SessionRef(session_id=row.id), SessionAck)
    return row


Setting = Literal["mode", "model"]
_SETTERS: dict[Setting, tuple[str, Callable[[str, str], Body]]] = {
    "mode": ("session.set_mode", lambda sid, value: SessionSetMode(session_id=sid, mode_id=value)),
    "model": (
        "session.set_model",
        lambda sid, value: SessionSetModel(session_id=sid, model_id=value),
    ),
}
"""Each setting a user changes on a live session: the node's method, and its request."""


async def set_mode(
    db: AsyncSession, registry: NodeRegistry, user_id: str, ref: str, mode_id: str
) -> AgentSession:
    """Switch the agent to one of the modes it offers (kept for a later restart)."""
    return await _change(db, registry, user_id, ref, "mode", mode_id)


async def set_model(
    db: AsyncSession, registry: NodeRegistry, user_id: str, ref: str, model_id: str
) -> AgentSession:
    """Switch the agent to one of the models it offers (kept for a later restart)."""
    return await _change(db, registry, user_id, ref, "model", model_id)


async def _change(
    db: AsyncSession, registry: NodeRegistry, user_id: str, ref: str, setting: Setting, value: str
) -> AgentSession:
    row, link = await _live(db, registry, user_id, ref)
    method, request = _SETTERS[setting]
    await link.call(method, request(row.id, value), SessionAck)
    setattr(row, setting, value)
    await db.commit()
    return row


async def stop(
    db: AsyncSession, registry: NodeRegistry, hub: SessionHub, user_id: str, ref: str
) -> AgentSession:
    """End the agent process; the transcript stays and a later prompt starts it again. With no
    node to ask, the session is marked stopped here and its pending permission requests are
    cancelled (their decisions published to `hub`)."""
    row = await get_session(db, user_id, ref)
    if row.state not in LIVE_SESSION_STATES:
        return row
    node_link = None
    if row.workspace_id is not None:
        workspace = await db.get(Workspace, row.workspace_id)
        if workspace is not None and workspace.node_id is not None:
            node_link = registry.connection(workspace.node_id)
    if node_link is not None:
        await node_link.call("session.stop", SessionRef(session_id=row.id), SessionAck)
    else:
        # No node to ask: the agent is gone with it; say so now rather than wait.
        await lifecycle.transition(
            db, "session", row, SessionState.STOPPED, reason="stopped", actor_id=user_id
        )
        cancelled = await cancel_pending_requests(db, row)
        await db.commit()
        if cancelled.published:
            hub.publish(row.id, cancelled.published)
    return row
