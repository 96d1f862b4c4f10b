"""From a chat to a pull request, and what GitHub later says of it.

`open_pull_request` has the workspace's node commit what the agent left uncommitted and push
the branch `corral/<slug>` (inside the workspace, `corral.node.gitpublish`), then opens the pull
request with a body that summarises the chat. Running it again pushes the new work to the same
branch, and the same pull request shows it. `apply_webhook` keeps the state and checks
current from GitHub's signed webhooks; a failed check can go back to the chat as a prompt.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import (
    AgentSession,
    Node,
    Project,
    PullRequest,
    User,
    Workspace,
)
from corral.control.github.client import GitHubClient
from corral.control.nodelink.registry import NodeRegistry
from corral.control.secretbox import SecretBox
from corral.control.services import activity, gitaccess, githubapp
from corral.control.services.pagination import paginate
from corral.control.services.sessions.queries import get_session
from corral.control.services.sessions.transcript import conversation, text_of
from corral.errors import Conflict, InvalidInput, NotFound, ProviderError, Unauthenticated
from corral.ids import new_id
from corral.protocol.messages import WorkspacePublish, WorkspacePublished
from corral.protocol.sessions import SessionEventKind
from corral.settings import GitHubSettings
from corral.states import WorkspaceState

__all__ = [
    "apply_webhook",
    "check_signature",
    "fix_prompt",
    "latest_for_session",
    "list_for_project",
    "of_session",
    "open_pull_request",
]

log = logging.getLogger("corral.control.pullrequests")

_MAX_PROMPT_CHARS = 2000
_MAX_LISTED = 50
_TEST_WORDS = re.compile(r"\b(test|tests|pytest|jest|vitest|spec|check|lint|cargo test|go test)\b")


async def list_for_project(
    db: AsyncSession, project: Project, *, limit: int, cursor: str | None
) -> tuple[Sequence[PullRequest], str | None]:
    """The pull requests the project's chats opened, newest first."""
    statement = select(PullRequest).where(PullRequest.project_id == project.id)
    return await paginate(db, statement, PullRequest.id, limit=limit, cursor=cursor)


async def of_session(db: AsyncSession, user_id: str, session_ref: str) -> PullRequest:
    """The latest pull request of one of the user's chats; `NotFound` when it has none yet."""
    session = await get_session(db, user_id, session_ref)
    found = await latest_for_session(db, session.id)
    if found is None:
        raise NotFound(f"session {session.id} has no pull request yet")
    return found


async def latest_for_session(db: AsyncSession, session_id: str) -> PullRequest | None:
    return await db.scalar(
        select(PullRequest)
        .where(PullRequest.session_id == session_id)
        .order_by(PullRequest.created_at.desc())
        .limit(1)
    )


async def open_pull_request(
    db: AsyncSession,
    *,
    box: SecretBox,
    settings: GitHubSettings,
    registry: NodeRegistry,
    user: User,
    session_ref: str,
    title: str | None,
    draft: bool,
    public_url: str,
) -> PullRequest:
    session = await get_session(db, user.id, session_ref)
    project = await db.get(Project, session.project_id) if session.project_id else None
    if project is None:
        raise Conflict("the chat's project was deleted", reason="project_gone")
    if await gitaccess.uses_ssh_key(db, project):
        # The push runs inside the workspace, where the key would be within the agent's reach.
        raise InvalidInput(
            f"project {project.name} is reached with an SSH key, and pushing over SSH is not "
            "supported yet; use a github token or the GitHub App",
            reason="ssh_push_unsupported",
        )
    if project.github_repo is None:
        raise InvalidInput(
            f"project {project.name} is not a GitHub repository Corral can reach: add it with "
            "--github OWNER/REPO (through the GitHub App, or with a github credential)",
            reason="not_a_github_project",
        )
    ws = await db.get(Workspace, session.workspace_id) if session.workspace_id else None
    if ws is None or ws.node_id is None:
        raise Conflict("the chat's workspace is gone: nothing to push", reason="workspace_gone")
    if ws.state != WorkspaceState.RUNNING:
        raise Conflict(
            f"workspace {ws.name} is {ws.state.value}: start it to push its work",
            reason="workspace_not_running",
        )
    node = await db.get(Node, ws.node_id)
    link = registry.get(ws.node_id, node.name if node else None)

    previous = await latest_for_session(db, session.id)
    branch = previous.branch if previous else f"corral/{_slug(session)}"
    title = (title or (previous.title if previous else None) or session.name)[:256]
    identity = await gitaccess.identity_for(db, user)
    # Minted for this push alone (an App's token: narrowed to the repository, write access),
    # and revoked once it is done: the push runs in the workspace, where the agent is.
    credential = await gitaccess.credential_for(db, box, settings, project, "push")
    try:
        published = await link.call(
            "workspace.publish",
            WorkspacePublish(
                workspace_id=ws.id,
                branch=branch,
                remote=project.repo,
                message=_commit_message(title, session, settings),
                identity=identity,
                base=ws.branch,
                credential=credential,
            ),
            WorkspacePublished,
            timeout_seconds=settings.git_timeout_seconds + 30,
        )
    finally:
        if project.github_installation_id is not None and credential.password:
            await _revoke(settings, credential.password)
    token = await gitaccess.api_token(db, box, settings, project)
    if token is None:
        raise InvalidInput(
            f"project {project.name} has no GitHub App installation or github credential "
            "that may open pull requests",
            reason="no_github_token",
        )
    owner = project.github_repo.partition("/")[0]
    async with GitHubClient(settings) as github:
        pull = await github.open_pull(token, project.github_repo, head=f"{owner}:{branch}")
        if pull is None:
            body = await _body(db, session, published, public_url)
            pull = await github.create_pull(
                token,
                project.github_repo,
                title=title,
                head=branch,
                base=ws.branch,
                body=body,
                draft=draft,
            )
    row = await db.scalar(
        select(PullRequest).where(
            PullRequest.repo == project.github_repo, PullRequest.number == pull.number
        )
    )
    created = row is None
    if row is None:
        row = PullRequest(
            id=new_id("pul"),
            user_id=user.id,
            session_id=session.id,
            project_id=project.id,
            repo=project.github_repo,
            number=pull.number,
            url=pull.html_url,
            branch=branch,
            base=ws.branch,
            title=pull.title or title,
        )
        db.add(row)
    row.state, row.commit, row.checks, row.failed_check = "open", published.commit, None, None
    activity.record(
        db,
        "pull_request.opened" if created else "pull_request.pushed",
        row,
        user_id=user.id,
        actor_id=user.id,
        details={
            "url": row.url,
            "branch": branch,
            "commit": published.commit,
            "session_id": session.id,
            "files": len(published.files),
        },
    )
    await db.commit()
    return row


async def _revoke(settings: GitHubSettings, token: str) -> None:
    """Revoke an installation token now rather than in an hour; if GitHub cannot be reached,
    it expires by itself."""
    try:
        async with GitHubClient(settings) as github:
            await github.revoke_installation_token(token)
    except ProviderError as exc:
        log.warning("could not revoke the push's installation token: %s", exc.message)


def _slug(session: AgentSession) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", (session.title or session.agent).lower()).strip("-")
    return f"{words[:40].rstrip('-') or 'chat'}-{session.id[-6:]}"


def _commit_message(title: str, session: AgentSession, settings: GitHubSettings) -> str:
    lines = [title.strip() or "Work from a Corral chat", "", f"From Corral chat {session.id}."]
    if settings.co_author_trailer:
        agent = re.sub(r"[^A-Za-z0-9 ._-]", "", session.agent) or "agent"
        lines += ["", f"Co-authored-by: {agent} <{agent.replace(' ', '-')}@agents.corral.invalid>"]
    return "\n".join(lines)


async def _body(
    db: AsyncSession, session: AgentSession, published: WorkspacePublished, public_url: str
) -> str:
    """What the reviewer reads first: what was asked, what changed, what the agent ran."""
    events = await conversation(db, session.id)
    prompts = [str(e.payload.get("text", "")) for e in events if e.kind == SessionEventKind.PROMPT]
    commands: list[str] = []
    for event in events:
        update = event.payload
        if update.get("sessionUpdate") == "tool_call" and update.get("kind") == "execute":
            command = str(update.get("title") or "").strip()
            if command and _TEST_WORDS.search(command.lower()) and command not in commands:
                commands.append(command)
    reply = "".join(
        text_of(e.payload)
        for e in events
        if e.payload.get("sessionUpdate") == "agent_message_chunk"
    ).strip()
    parts = ["## Asked", ""]
    parts += [
        f"> {line}"
        for line in (prompts[0] if prompts else "(no prompt)")[:_MAX_PROMPT_CHARS].splitlines()
    ]
    if len(prompts) > 1:
        parts.append(f"\n(and {len(prompts) - 1} more prompt{'s' if len(prompts) > 2 else ''})")
    parts += ["", "## Files changed", ""]
    parts += [f"- `{name}`" for name in published.files[:_MAX_LISTED]] or ["(none)"]
    if len(published.files) > _MAX_LISTED:
        parts.append(f"- and {len(published.files) - _MAX_LISTED} more")
    parts += ["", "## Tests the agent ran", ""]
    parts += [f"- `{command[:200]}`" for command in commands[:_MAX_LISTED]] or ["(none seen)"]
    if reply:
        parts += ["", "## The agent's last words", "", reply[-_MAX_PROMPT_CHARS:]]
    link = f"{public_url.rstrip('/')}/sessions/{session.id}"
    parts += ["", "---", f"Opened from a [Corral chat]({link}) with {session.agent}."]
    return "\n".join(parts)


# -- Webhooks -----------------------------------------------------------------------------------


async def check_signature(db: AsyncSession, box: SecretBox, body: bytes, signature: str) -> None:
    """GitHub signs each delivery with the App's webhook secret (HMAC-SHA256); anything else
    is refused before its body is read as JSON."""
    app = await githubapp.get_app(db)
    if app is None:
        raise Unauthenticated(
            "this Corral has no GitHub App, whose secret would sign the delivery",
            reason="bad_signature",
        )
    secret = githubapp.open_secrets(box, app).webhook_secret
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not secret or not hmac.compare_digest(expected, signature):
        raise Unauthenticated("the webhook's signature does not match", reason="bad_signature")


async def apply_webhook(
    db: AsyncSession, event: str, payload: dict[str, Any]
) -> PullRequest | None:
    """Update the pull request a delivery is about (if Corral opened it); None otherwise."""
    repo = str(_object(payload, "repository").get("full_name") or "")
    if event == "pull_request":
        pull = _object(payload, "pull_request")
        row = await _find(db, repo, pull.get("number"))
        if row is None:
            return None
        action = payload.get("action")
        if action == "closed":
            row.state = "merged" if pull.get("merged") else "closed"
            _record(db, row, f"pull_request.{row.state}", {})
        elif action == "reopened":
            row.state = "open"
            _record(db, row, "pull_request.reopened", {})
        elif action == "review_requested":
            reviewer = str(_object(payload, "requested_reviewer").get("login") or "")[:100]
            row.review_requested = reviewer or None
            _record(db, row, "pull_request.review_requested", {"reviewer": reviewer})
        else:
            return row
    elif event == "check_run" and payload.get("action") == "completed":
        run = _object(payload, "check_run")
        listed = run.get("pull_requests")
        numbers = [p.get("number") for p in listed or [] if isinstance(p, dict)]
        if not isinstance(listed, list):
            numbers = []
        row = None
        for number in numbers:
            row = await _find(db, repo, number)
            if row is not None:
                break
        if row is None:
            return None
        conclusion = str(run.get("conclusion") or "")
        name = str(run.get("name") or "a check")[:200]
        if conclusion in ("failure", "timed_out", "action_required", "cancelled"):
            output = _object(run, "output")
            said = "\n".join(
                str(output.get(key) or "").strip()
                for key in ("title", "summary")
                if output.get(key)
            )
            row.checks = "failed"
            row.failed_check = f"{name} ({conclusion})\n{said}".strip()[:8000]
            _record(
                db,
                row,
                "pull_request.check_failed",
                {"check": name, "check_url": str(run.get("html_url") or "")[:2048] or None},
            )
        elif conclusion == "success" and row.checks != "failed":
            row.checks = "passed"
            _record(db, row, "pull_request.check_passed", {"check": name})
        else:
            return row
    else:
        return None
    await db.commit()
    return row


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """`payload[key]` when it is a JSON object, else an empty one: a delivery is outside input,
    and one shaped unlike GitHub's is ignored, not a 500."""
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


async def _find(db: AsyncSession, repo: str, number: Any) -> PullRequest | None:
    if not repo or not isinstance(number, int):
        return None
    found: PullRequest | None = await db.scalar(
        select(PullRequest).where(PullRequest.repo == repo, PullRequest.number == number)
    )
    return found


def _record(db: AsyncSession, row: PullRequest, action: str, details: dict[str, Any]) -> None:
    activity.record(
        db,
        action,
        row,
        user_id=row.user_id,
        actor_id=None,
        details={"url": row.url, "session_id": row.session_id, **details},
    )


def fix_prompt(row: PullRequest) -> str:
    """The prompt that sends a failed check back to the chat that made the pull request."""
    if row.checks != "failed" or not row.failed_check:
        raise Conflict(f"no failed check on {row.name} to fix", reason="no_failed_check")
    return (
        f"A check failed on the pull request you made ({row.url}):\n\n{row.failed_check}\n\n"
        "Please fix it in this workspace; the pull request is updated when the work is pushed."
    )
