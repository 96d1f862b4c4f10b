"""Routes for agent sessions: start, prompt, steer, read the transcript, and watch it live.

The events WebSocket (`/sessions/{id}/events/ws?after=N`) sends text frames
`{"type": "events", "events": [{seq, kind, payload, at}, ...]}`: first every stored event after
`after`, then new ones as they are stored, each exactly once and in order. A viewer that
reconnects with the last `seq` it saw misses nothing. A viewer too slow to keep up is closed
with 1013 and should reconnect from its last `seq`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AbstractContextManager, aclosing, nullcontext
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from corral.control.api.closecodes import CLOSE_TRY_AGAIN
from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import (
    CurrentUser,
    Db,
    PageParams,
    State,
    websocket_user,
    while_allowed,
)
from corral.control.api.errors import close_for_error
from corral.control.api.pushsockets import watch_client
from corral.control.schemas.common import Page
from corral.control.schemas.fields import ProjectRefQuery, SessionId, WorkspaceRefQuery
from corral.control.schemas.pullrequests import PullRequestCreate, PullRequestPublic
from corral.control.schemas.sessions import (
    EventPage,
    ModeChange,
    ModelChange,
    PromptAccepted,
    PromptCreate,
    SessionCreate,
    SessionEventPublic,
    SessionPublic,
)
from corral.control.services import projects, pullrequests, workspaces
from corral.control.services.sessions import commands, queries
from corral.control.services.sessions.stream import FellBehind, stream
from corral.control.state import AppState
from corral.errors import CorralError
from corral.states import SessionState

router = APIRouter(prefix=f"{API_PREFIX}/sessions", tags=["sessions"])

MAX_EVENTS_PAGE = 5000

Events = AsyncGenerator[list[tuple[int, str]], None]


@router.get("")
async def list_sessions(
    user: CurrentUser,
    db: Db,
    page: PageParams,
    workspace: WorkspaceRefQuery = None,
    project: ProjectRefQuery = None,
    state: Annotated[list[SessionState] | None, Query(description="Only these states.")] = None,
) -> Page[SessionPublic]:
    workspace_id = (
        (await workspaces.get_workspace(db, user.id, workspace)).id if workspace else None
    )
    project_id = (await projects.get_project(db, user.id, project)).id if project else None
    rows, next_cursor = await queries.list_sessions(
        db,
        user.id,
        limit=page.limit,
        cursor=page.cursor,
        workspace_id=workspace_id,
        project_id=project_id,
        states=state or (),
    )
    return Page(items=[SessionPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("", status_code=201)
async def start_session(
    body: SessionCreate, user: CurrentUser, db: Db, state: State
) -> SessionPublic:
    """Start an agent in a running workspace; it is `starting` until the agent is ready (a
    first use on a node installs it first)."""
    row = await commands.start(
        db,
        state.node_registry,
        state.secret_box,
        user.id,
        workspace_ref=body.workspace,
        agent_name=body.agent,
        policy=body.policy,
        title=body.title,
        permission_timeout_seconds=state.settings.sessions.permission_timeout_seconds,
    )
    return SessionPublic.model_validate(row)


@router.get("/{session}")
async def get_session(session: SessionId, user: CurrentUser, db: Db) -> SessionPublic:
    return SessionPublic.model_validate(await queries.get_session(db, user.id, session))


@router.post("/{session}/prompts", status_code=202)
async def prompt_session(
    session: SessionId, body: PromptCreate, user: CurrentUser, db: Db, state: State
) -> PromptAccepted:
    """Send a prompt; it waits behind a running turn. A stopped session starts again first."""
    prompt_id, queued = await commands.prompt(
        db,
        state.node_registry,
        state.secret_box,
        user.id,
        session,
        text=body.text,
        resources=body.resources,
        permission_timeout_seconds=state.settings.sessions.permission_timeout_seconds,
    )
    workspace_id = (await queries.get_session(db, user.id, session)).workspace_id
    if workspace_id is not None:
        state.presence.touch(workspace_id)  # a prompt is activity, before the agent reports it
    return PromptAccepted(prompt_id=prompt_id, queued=queued)


@router.post("/{session}/pull-request")
async def open_pull_request(
    session: SessionId, body: PullRequestCreate, user: CurrentUser, db: Db, state: State
) -> PullRequestPublic:
    """Commit what the agent left uncommitted, push the branch `corral/<slug>` and open a
    pull request (or update the chat's open one)."""
    row = await pullrequests.open_pull_request(
        db,
        box=state.secret_box,
        settings=state.settings.github,
        registry=state.node_registry,
        user=user,
        session_ref=session,
        title=body.title,
        draft=body.draft,
        public_url=state.settings.effective_public_url,
    )
    return PullRequestPublic.model_validate(row)


@router.get("/{session}/pull-request")
async def get_pull_request(session: SessionId, user: CurrentUser, db: Db) -> PullRequestPublic:
    """The chat's latest pull request, as GitHub's webhooks last described it."""
    return PullRequestPublic.model_validate(await pullrequests.of_session(db, user.id, session))


@router.post("/{session}/pull-request/fix", status_code=202)
async def fix_failed_check(
    session: SessionId, user: CurrentUser, db: Db, state: State
) -> PromptAccepted:
    """Send the pull request's failed check back to the chat as a prompt."""
    found = await pullrequests.of_session(db, user.id, session)
    prompt_id, queued = await commands.prompt(
        db,
        state.node_registry,
        state.secret_box,
        user.id,
        session,
        text=pullrequests.fix_prompt(found),
        resources=[],
        permission_timeout_seconds=state.settings.sessions.permission_timeout_seconds,
    )
    return PromptAccepted(prompt_id=prompt_id, queued=queued)


@router.post("/{session}/cancel")
async def cancel_session(
    session: SessionId, user: CurrentUser, db: Db, state: State
) -> SessionPublic:
    """Cancel the running turn and drop queued prompts; the session stays."""
    row = await commands.cancel(db, state.node_registry, user.id, session)
    return SessionPublic.model_validate(row)


@router.post("/{session}/stop")
async def stop_session(
    session: SessionId, user: CurrentUser, db: Db, state: State
) -> SessionPublic:
    """End the agent process. The transcript stays; a new prompt starts the agent again."""
    row = await commands.stop(db, state.node_registry, state.session_hub, user.id, session)
    return SessionPublic.model_validate(row)


@router.put("/{session}/mode")
async def set_mode(
    session: SessionId, body: ModeChange, user: CurrentUser, db: Db, state: State
) -> SessionPublic:
    row = await commands.set_mode(db, state.node_registry, user.id, session, body.mode)
    return SessionPublic.model_validate(row)


@router.put("/{session}/model")
async def set_model(
    session: SessionId, body: ModelChange, user: CurrentUser, db: Db, state: State
) -> SessionPublic:
    row = await commands.set_model(db, state.node_registry, user.id, session, body.model)
    return SessionPublic.model_validate(row)


@router.get("/{session}/events")
async def list_events(
    session: SessionId,
    user: CurrentUser,
    db: Db,
    after: Annotated[int, Query(ge=0, description="Events after this number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 1000,
) -> EventPage:
    row, events = await queries.list_events(db, user.id, session, after=after, limit=limit)
    return EventPage(
        items=[
            SessionEventPublic(seq=e.seq, kind=e.kind, payload=e.payload, at=e.created_at)
            for e in events
        ],
        last_seq=row.last_seq,
    )


@router.websocket("/{session}/events/ws")
async def session_events_socket(
    websocket: WebSocket,
    session: SessionId,
    after: Annotated[int, Query(ge=0, description="Send events after this number.")] = 0,
) -> None:
    state: AppState = websocket.app.state.corral
    await websocket.accept()
    try:
        user_id = await websocket_user(websocket, state, "a session's events")
        async with state.db() as db:
            row = await queries.get_session(db, user_id, session)
        with _watching(state, row.workspace_id):
            await while_allowed(
                websocket,
                state,
                user_id,
                lambda: _forward(
                    websocket, stream(state.db, state.session_hub, user_id, row.id, after=after)
                ),
            )
    except CorralError as exc:
        await close_for_error(websocket, exc)
    except WebSocketDisconnect:
        return


def _watching(state: AppState, workspace_id: str | None) -> AbstractContextManager[None]:
    """A chat's viewer keeps its workspace from counting as idle while attached."""
    return state.presence.watching(workspace_id) if workspace_id else nullcontext()


async def _forward(websocket: WebSocket, events: Events) -> None:
    """Send each batch of `events` as one frame, until the viewer leaves or falls behind."""
    async with watch_client(websocket) as client:
        try:
            await client.unless_gone(_send_all(websocket, events))
        except FellBehind as exc:
            await websocket.close(CLOSE_TRY_AGAIN, str(exc))


async def _send_all(websocket: WebSocket, events: Events) -> None:
    async with aclosing(events):
        async for batch in events:
            await websocket.send_text(
                '{"type":"events","events":[' + ",".join(text for _, text in batch) + "]}"
            )
