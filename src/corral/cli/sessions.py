"""`corral session` and `corral permissions`: run agents in workspaces and steer them."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote

import typer
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from corral.cli.account import JsonFlag
from corral.cli.client import ApiClient, load_login, open_client, segment
from corral.cli.output import CliError, console, err_console, print_json, print_table, when
from corral.cli.transcript import TranscriptPrinter, context_text, turn_text
from corral.control.api.closecodes import FINAL_CLOSE_CODES
from corral.protocol.sessions import Policy, option_of_kind, policy_allows, policy_answer
from corral.settings import ClientSettings

app = typer.Typer(
    help="Agent sessions: chats with coding agents in workspaces.", no_args_is_help=True
)
permissions_app = typer.Typer(help="Agents' permission requests.", no_args_is_help=True)

RECONNECT_SECONDS = 1.0
POLL_SECONDS = 0.3
START_WAIT_SECONDS = 20 * 60.0
STOP_WAIT_SECONDS = 15.0
MAX_RECONNECTS = 30
CANCEL_EXIT_CODE = 130
STOP_REASON_EXIT_CODES = {"end_turn": 0, "cancelled": CANCEL_EXIT_CODE}
SESSION_POLICIES = tuple(p.value for p in Policy)
# What `session prompt --policy` takes: the session policies that answer, or reject them all.
PROMPT_POLICIES = (*SESSION_POLICIES[1:], "reject")

PolicyOption = Annotated[
    str | None,
    typer.Option(
        help="ask, allow-reads, allow-edits or allow-all: which permission requests are "
        "answered without asking."
    ),
]


def _show(session: dict[str, Any]) -> None:
    reason = f" ({session['state_reason']})" if session["state_reason"] else ""
    console.print(f"{session['id']}  {session['agent']}  {session['state']}{reason}")
    console.print(
        f"  {session['title'] or '(no prompt yet)'}; workspace {session['workspace_id']}, "
        f"policy {session['policy']}, events {session['last_seq']}, "
        f"updated {when(session['updated_at'])}"
    )
    if session.get("mode") or session.get("model"):
        console.print(f"  mode {session['mode'] or '-'}, model {session['model'] or '-'}")
    if session.get("last_message"):
        console.print(f"  last message: {' '.join(session['last_message'].split())[:200]}")
    if session.get("context_usage"):
        console.print(f"  {context_text(session['context_usage'])}")
    if session.get("turn_usage"):
        console.print(f"  last turn: {turn_text(session['turn_usage'])}")


@app.command("start")
def start(
    workspace: Annotated[str, typer.Argument(help="Workspace name or id.")],
    agent: Annotated[str, typer.Option(help="Agent name (see `corral agent list`).")],
    policy: PolicyOption = None,
    title: Annotated[str | None, typer.Option(help="A title for the chat.")] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return at once, not when the agent is ready.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start an agent in a workspace and print the session's id once the agent is ready
    (a node installs an agent on its first use; its progress is shown meanwhile)."""
    if policy is not None and policy not in SESSION_POLICIES:
        raise CliError(f"--policy must be one of {', '.join(SESSION_POLICIES)}")
    with open_client() as client:
        session = client.post(
            "/sessions", {"workspace": workspace, "agent": agent, "policy": policy, "title": title}
        )
        if not no_wait:
            session = _wait_until_started(client, session)
    if session["state"] == "error":
        raise CliError(f"{session['agent']} did not start: {session['state_reason']}")
    if as_json:
        print_json(session)
    else:
        print(session["id"])


@app.command("list")
def list_sessions(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace's.")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List your sessions, newest last."""
    with open_client() as client:
        rows = client.get_all("/sessions", workspace=workspace, project=project)
    if as_json:
        print_json(rows)
        return
    print_table(
        rows,
        [
            ("ID", lambda s: s["id"]),
            ("AGENT", lambda s: s["agent"]),
            ("STATE", lambda s: s["state"]),
            ("TITLE", lambda s: (s["title"] or "-")[:40]),
            ("SINCE", lambda s: when(s["state_changed_at"])),
        ],
        empty="No sessions. Start one with `corral session start WORKSPACE --agent NAME`.",
    )


@app.command("show")
def show(
    session: Annotated[str, typer.Argument(help="Session id.")], as_json: JsonFlag = False
) -> None:
    """Show one session."""
    with open_client() as client:
        found = client.get(f"/sessions/{segment(session)}")
    if as_json:
        print_json(found)
    else:
        _show(found)


def _simple(session: str, verb: str, as_json: bool) -> None:
    with open_client() as client:
        found = client.post(f"/sessions/{segment(session)}/{verb}")
    if as_json:
        print_json(found)
    else:
        _show(found)


@app.command("pr")
def pull_request(
    session: Annotated[str, typer.Argument(help="Session id.")],
    title: Annotated[str | None, typer.Option(help="Default: the chat's title.")] = None,
    draft: Annotated[bool, typer.Option(help="Open it as a draft.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Commit what the agent left uncommitted, push branch corral/<slug>, open a pull request
    (running it again pushes new work to the same pull request)."""
    body: dict[str, Any] = {"draft": draft}
    if title is not None:
        body["title"] = title
    with console.status("Committing and pushing …"), open_client() as client:
        found = client.post(f"/sessions/{segment(session)}/pull-request", body)
    if as_json:
        print_json(found)
        return
    console.print(f"Pull request #{found['number']} on {found['repo']}: {found['url']}")
    console.print(f"Branch {found['branch']} at {(found['commit'] or '')[:12]}.")


@app.command("cancel")
def cancel(
    session: Annotated[str, typer.Argument(help="Session id.")], as_json: JsonFlag = False
) -> None:
    """Cancel the running turn (and drop queued prompts)."""
    _simple(session, "cancel", as_json)


@app.command("stop")
def stop(
    session: Annotated[str, typer.Argument(help="Session id.")], as_json: JsonFlag = False
) -> None:
    """Stop the agent; the transcript stays and a new prompt starts it again."""
    with open_client() as client:
        found = client.post(f"/sessions/{segment(session)}/stop")
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while found["state"] not in ("stopped", "error") and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            found = client.get(f"/sessions/{found['id']}")
    if as_json:
        print_json(found)
    else:
        _show(found)


@app.command("mode")
def mode(
    session: Annotated[str, typer.Argument(help="Session id.")],
    mode_id: Annotated[str, typer.Argument(help="One of the agent's modes.")],
) -> None:
    """Switch the agent's mode."""
    with open_client() as client:
        _show(client.put(f"/sessions/{segment(session)}/mode", {"mode": mode_id}))


@app.command("model")
def model(
    session: Annotated[str, typer.Argument(help="Session id.")],
    model_id: Annotated[str, typer.Argument(help="One of the agent's models.")],
) -> None:
    """Pick the agent's model."""
    with open_client() as client:
        _show(client.put(f"/sessions/{segment(session)}/model", {"model": model_id}))


def _wait_until_started(client: ApiClient, session: dict[str, Any]) -> dict[str, Any]:
    """Poll until the session leaves `starting`, showing its install and start lines."""
    deadline = time.monotonic() + START_WAIT_SECONDS
    seen = 0
    with err_console.status(f"Starting {session['agent']} …") as status:
        while session["state"] == "starting":
            if time.monotonic() > deadline:
                raise CliError(f"{session['id']} is still starting; see `corral session watch`")
            page = client.get(f"/sessions/{session['id']}/events", after=seen)
            for event in page["items"]:
                seen = event["seq"]
                if event["kind"] == "install":
                    status.update(f"Installing {session['agent']}: {event['payload']['line'][:90]}")
            time.sleep(POLL_SECONDS)
            session = client.get(f"/sessions/{session['id']}")
    return session


# -- following events --------------------------------------------------------------------------


def _events_url(base_url: str, session_id: str, after: int) -> str:
    scheme, _, rest = base_url.partition("://")
    ws_scheme = "wss" if scheme == "https" else "ws"
    return (
        f"{ws_scheme}://{rest}/api/v1/sessions/{quote(session_id, safe='')}/events/ws?after={after}"
    )


def follow(base_url: str, token: str, session_id: str, after: int) -> Iterator[dict[str, Any]]:
    """Every event after `after`, in order and once, reconnecting from the last one seen."""
    failures = 0
    while True:
        try:
            with connect(
                _events_url(base_url, session_id, after),
                additional_headers={"Authorization": f"Bearer {token}"},
                max_size=16 * 1024 * 1024,
                open_timeout=30,
            ) as connection:
                failures = 0
                for message in connection:
                    frame = json.loads(message)
                    for event in frame.get("events", []):
                        if event["seq"] > after:
                            after = event["seq"]
                            yield event
        except InvalidStatus as exc:
            raise CliError(f"cannot watch the session: HTTP {exc.response.status_code}") from None
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            if code in FINAL_CLOSE_CODES:
                raise CliError(exc.rcvd.reason if exc.rcvd else "the server closed") from None
        except OSError as exc:
            failures += 1
            if failures > MAX_RECONNECTS:
                raise CliError(f"lost the connection to the server: {exc}") from None
        time.sleep(RECONNECT_SECONDS)


def _tool_kind(request: dict[str, Any], kinds: dict[str, str]) -> str | None:
    """The kind of tool call a permission request is about, as the node tells it: the
    request's own, or the one an earlier update gave that tool call."""
    tool = request.get("tool_call") or {}
    return tool.get("kind") or kinds.get(str(tool.get("toolCallId")))


def _answered_by_session(policy: Policy, request: dict[str, Any], kinds: dict[str, str]) -> bool:
    """Whether the session's own policy answered `request`: the node does so as the request is
    made, and the decision follows in the transcript, so there is nothing to ask, say or send."""
    options = request.get("options") or []
    return policy_answer(policy, _tool_kind(request, kinds), options) is not None


def _decide(policy: str, request: dict[str, Any], kinds: dict[str, str]) -> str | None:
    """The option a non-interactive policy picks; None to ask."""
    if policy == "ask":
        return None
    kind = _tool_kind(request, kinds)
    options = request.get("options") or []
    if policy != "reject" and policy_allows(Policy(policy), kind):
        return option_of_kind(options, "allow_once", "allow_always")
    return option_of_kind(options, "reject_once", "reject_always")


def _ask(request: dict[str, Any]) -> str | None:
    options = request.get("options") or []
    for number, option in enumerate(options, 1):
        err_console.print(f"  {number}) {option.get('name')} [{option.get('kind')}]")
    while True:
        try:
            answer = input("  answer (number, empty to leave it for later): ").strip()
        except EOFError:
            return None
        if not answer:
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return str(options[int(answer) - 1].get("optionId"))


def _answer(client: ApiClient, request_id: str, option_id: str) -> None:
    try:
        client.post(f"/permission-requests/{segment(request_id)}/answer", {"option_id": option_id})
    except CliError as exc:
        err_console.print(f"  could not answer: {exc.message}")


@app.command("prompt")
def prompt(
    session: Annotated[str, typer.Argument(help="Session id.")],
    text: Annotated[str, typer.Argument(help="The prompt; - reads it from stdin.")],
    file: Annotated[
        list[str] | None, typer.Option("--file", help="Attach a workspace file (repeatable).")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Answer permission requests without asking: allow-reads, allow-edits, "
            "allow-all, or reject (anything else is rejected)."
        ),
    ] = None,
) -> None:
    """Send a prompt and show the agent's work until the turn ends; exits with its stop reason
    (0 for end_turn, 130 for cancelled, 1 otherwise). Ctrl-C cancels the turn."""
    if policy is not None and policy not in PROMPT_POLICIES:
        raise CliError(f"--policy must be one of {', '.join(PROMPT_POLICIES)}")
    interactive = sys.stdin.isatty()
    effective = policy or ("ask" if interactive else "none")
    if text == "-":
        text = sys.stdin.read()
    settings = ClientSettings()
    login = load_login(settings)
    if login is None:
        raise CliError("not signed in: run `corral login LINK` with a link from `corral auth link`")
    printer = TranscriptPrinter(console)
    kinds: dict[str, str] = {}
    with open_client(settings) as client:
        found = client.get(f"/sessions/{segment(session)}")
        session_policy = Policy(found["policy"])
        accepted = client.post(
            f"/sessions/{found['id']}/prompts", {"text": text, "resources": file or []}
        )
        prompt_id = accepted["prompt_id"]
        if accepted["queued"]:
            err_console.print(f"(queued behind {accepted['queued']} prompt(s))")
        cancelled = False
        last = found["last_seq"]
        events = follow(login.url, login.token, found["id"], last)
        while True:
            try:
                event = next(events)
            except KeyboardInterrupt:
                if cancelled:
                    raise CliError("stopped watching; the turn may still be ending", 130) from None
                cancelled = True
                err_console.print("\ncancelling the turn (Ctrl-C again to stop watching)")
                client.post(f"/sessions/{found['id']}/cancel")
                # The interrupt ended the generator mid-read: follow on from the last event.
                events = follow(login.url, login.token, found["id"], last)
                continue
            last = event["seq"]
            printer.event(event)
            kind, payload = event["kind"], event["payload"]
            if kind == "update" and payload.get("kind"):
                kinds[str(payload.get("toolCallId"))] = str(payload["kind"])
            if kind == "permission_request" and not _answered_by_session(
                session_policy, payload, kinds
            ):
                option = _decide(effective, payload, kinds) if effective != "none" else None
                if option is None and effective == "ask":
                    option = _ask(payload)
                if option is not None:
                    _answer(client, payload["request_id"], option)
                elif effective == "none":
                    ids = ", ".join(str(o.get("optionId")) for o in payload.get("options") or [])
                    err_console.print(
                        "  waiting for an answer: `corral permissions answer "
                        f"{payload['request_id']} OPTION` ({ids}) or the browser"
                    )
            if kind == "turn_end" and payload.get("prompt_id") == prompt_id:
                if payload.get("error"):
                    raise CliError(f"the turn failed: {payload['error']}")
                reason = str(payload.get("stop_reason"))
                raise typer.Exit(STOP_REASON_EXIT_CODES.get(reason, 1))
            if kind == "state" and payload.get("state") in ("error", "stopped"):
                what = "failed" if payload["state"] == "error" else "was stopped"
                raise CliError(f"the session {what}: {payload.get('reason') or ''}")


@app.command("watch")
def watch(
    session: Annotated[str, typer.Argument(help="Session id.")],
    from_seq: Annotated[
        int, typer.Option("--from", help="Start after this event number (0: everything).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
) -> None:
    """Show the session's transcript, then follow it live until Ctrl-C."""
    settings = ClientSettings()
    login = load_login(settings)
    if login is None:
        raise CliError("not signed in: run `corral login LINK` with a link from `corral auth link`")
    with open_client(settings) as client:
        found = client.get(f"/sessions/{segment(session)}")
    printer = TranscriptPrinter(console)
    try:
        for event in follow(login.url, login.token, found["id"], from_seq):
            if as_json:
                print(json.dumps(event), flush=True)
            else:
                printer.event(event)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


# -- permissions ---------------------------------------------------------------------------------


@permissions_app.command("list")
def list_permissions(
    all_states: Annotated[bool, typer.Option("--all", help="Answered ones too.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Permission requests waiting for an answer, across all your sessions."""
    with open_client() as client:
        rows = client.get_all("/permission-requests", all=all_states)
    if as_json:
        print_json(rows)
        return
    print_table(
        rows,
        [
            ("ID", lambda r: r["id"]),
            ("SESSION", lambda r: r["session_id"]),
            ("STATE", lambda r: r["state"]),
            ("ASKS", lambda r: str((r["tool_call"] or {}).get("title") or "-")[:50]),
            ("OPTIONS", lambda r: ", ".join(str(o.get("optionId")) for o in r["options"])),
        ],
        empty="No permission requests are waiting.",
    )


@permissions_app.command("answer")
def answer(
    request: Annotated[str, typer.Argument(help="Permission request id.")],
    option: Annotated[
        str | None, typer.Argument(help="One of its options; omit to cancel.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Answer a permission request with one of the agent's options."""
    with open_client() as client:
        answered = client.post(
            f"/permission-requests/{segment(request)}/answer", {"option_id": option}
        )
    if as_json:
        print_json(answered)
    else:
        console.print(f"{answered['id']}: {answered['state']} {answered['option_id'] or ''}")
