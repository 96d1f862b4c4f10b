"""`corral agent`, `corral session` and `corral permissions` as a user runs them: the real CLI as
separate processes, talking to a real control plane whose node runs the scripted ACP agent
(tests/support/scripted_agent.py) in a workspace.

One control plane, node and workspace serve the whole module; each test starts its own session.
The API (`site.api`) is used only to check what the CLI did, never to do it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import CORRAL, assert_one_line_error, corral_env, run_cli, stop_process
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    session_site,
)
from tests.support.waits import Gate, eventually_sync

WAIT_SECONDS = 60.0
"""The bound on any one wait: a CLI call, a turn's end, a line of output."""
STOP_SECONDS = 10.0
SESSION_ID = re.compile(r"^ses_[A-Za-z0-9]+$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
README = "cli sessions readme\n"


@dataclass(frozen=True)
class CliSite:
    """The session site, and one signed-in CLI user (its own HOME and config directory)."""

    site: SessionSite
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return corral_env(self.home, self.home / "config")

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = WAIT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env or self.env, timeout=timeout)

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = self.run(*args, env=env)
        assert result.returncode == 0, (
            f"corral {args} exited {result.returncode}:\n--- stdout:\n{result.stdout}"
            f"\n--- stderr:\n{result.stderr}"
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def start(self, *extra: str) -> str:
        """`corral session start w1 --agent scripted`; the session id it prints."""
        session_id = self.ok("session", "start", "w1", "--agent", "scripted", *extra).strip()
        assert SESSION_ID.match(session_id), session_id
        return session_id


class CliProcess:
    """One long-running `corral` process (prompt, watch), writing to files rather than pipes so
    it can never block on a full pipe; stopped only through its own PID."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str], output_dir: Path) -> None:
        self.args = args
        stem = f"cli-{args[0]}-{args[1]}-{time.monotonic_ns()}"
        self.stdout_path = output_dir / f"{stem}.stdout"
        self.stderr_path = output_dir / f"{stem}.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [CORRAL, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        return (
            f"--- corral {' '.join(self.args)} (pid {self.pid}, exit code "
            f"{self.process.poll()})\n--- stdout:\n{self.stdout()}\n--- stderr:\n{self.stderr()}"
        )

    def wait_for(self, what: str, check: Callable[[], bool]) -> None:
        """Wait until `check()` holds; fail if the process exits first or time runs out."""

        def holds() -> bool:
            exited = self.process.poll() is not None
            if check():
                return True
            if exited:
                pytest.fail(f"exited before {what}\n{self.describe()}")
            return False

        eventually_sync(holds, what, wait_seconds=WAIT_SECONDS, context=self.describe)

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"did not exit within {WAIT_SECONDS:g} s\n{self.describe()}"
            ) from None

    def interrupt(self) -> int:
        """Ctrl-C by PID, as a user stops `watch`; SIGKILL if it does not exit in time."""
        return stop_process(self.process, signal.SIGINT, STOP_SECONDS)


@contextmanager
def cli_process(cli: CliSite, *args: str, output_dir: Path) -> Iterator[CliProcess]:
    process = CliProcess(args, cli.env, output_dir)
    try:
        yield process
    finally:
        process.interrupt()


def json_lines(text: str) -> list[dict[str, Any]]:
    """The complete lines of `watch --json` output (a line still being written is skipped)."""
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


# --- One control plane, node, workspace and signed-in CLI for the module ----------------------


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliSite]:
    base = tmp_path_factory.mktemp("cli-sessions")
    node_env = {
        "CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS,
        "CORRAL_NODE_SESSIONS__CANCEL_GRACE_SECONDS": "3",
        "CORRAL_NODE_SESSIONS__START_TIMEOUT_SECONDS": "20",
    }
    files = {"README.md": README, "notes.txt": "old notes\n"}
    with session_site(base, files, node_env=node_env, wait_seconds=WAIT_SECONDS) as site:
        # session_site spent the link the server printed; the owner makes another, on the
        # control plane's machine, as `corral auth link` tells them to.
        admin_env = corral_env(base / "server-home")
        made = run_cli("auth", "link", "--data-dir", str(base / "data"), env=admin_env)
        assert made.returncode == 0, made.stderr
        link = made.stdout.strip()
        assert link.startswith(f"{site.url}/auth/login?token="), made.stdout
        signed_in = CliSite(site, base / "cli-home")
        assert "as owner" in signed_in.ok("login", link)
        yield signed_in


@dataclass(frozen=True)
class Added:
    add: str
    configure: str


@pytest.fixture(scope="module")
def scripted(cli: CliSite) -> Added:
    """The scripted agent, added and configured through the CLI. Its policy is allow-edits, so
    the tests about asking start their sessions with `--policy ask`."""
    add = cli.ok("agent", "add", "scripted", "--", sys.executable, str(SCRIPTED_AGENT))
    configure = cli.ok(
        "agent",
        "configure",
        "scripted",
        "--env",
        f"SCRIPTED_AGENT_STATE={cli.site.home / '.scripted'}",
        "--policy",
        "allow-edits",
    )
    return Added(add, configure)


# --- Agents -------------------------------------------------------------------------------------


def test_agent_add_list_configure_show(cli: CliSite, scripted: Added) -> None:
    assert "added scripted" in scripted.add
    assert str(SCRIPTED_AGENT) in scripted.add
    assert "policy      allow-edits" in scripted.configure

    listed = cli.ok("agent", "list")
    names = [line.split()[0] for line in listed.splitlines()[1:] if line.strip()]
    assert {"claude", "codex", "gemini", "scripted"} <= set(names), listed
    as_json = json.loads(cli.ok("agent", "list", "--json"))
    assert {"claude", "codex", "gemini", "scripted"} <= {a["name"] for a in as_json}

    shown = cli.ok("agent", "show", "scripted")
    assert f"runs {sys.executable} {SCRIPTED_AGENT}" in shown, shown
    assert re.search(r"^\s+policy\s+allow-edits$", shown, re.MULTILINE), shown
    state_dir = cli.site.home / ".scripted"
    assert re.search(rf"^\s+env\s+SCRIPTED_AGENT_STATE={re.escape(str(state_dir))}$", shown, re.M)
    settings = json.loads(cli.ok("agent", "show", "scripted", "--json"))["settings"]
    assert settings["policy"] == "allow-edits"
    assert settings["env"] == {"SCRIPTED_AGENT_STATE": str(state_dir)}


QWEN_TOML = """\
[qwen]
title = "Qwen Code"
package = "@qwen-code/qwen-code"
version = "0.25.0"
command = ["qwen", "--acp", "--auth-type", "openai"]
credentials = { openai = "OPENAI_API_KEY" }
endpoint_env = ["OPENAI_BASE_URL"]
initial_mode = "default"
"""


def test_agent_add_takes_a_catalog_entry_from_options_or_a_file(
    cli: CliSite, tmp_path: Path
) -> None:
    added = cli.ok(
        "agent",
        "add",
        "qwen",
        "--package",
        "@qwen-code/qwen-code@0.24.4",
        "--title",
        "Qwen Code",
        "--credential",
        "openai=OPENAI_API_KEY",
        "--endpoint-env",
        "OPENAI_BASE_URL",
        "--initial-mode",
        "default",
        "--",
        "qwen",
        "--acp",
        "--auth-type",
        "openai",
    )
    assert "added qwen: @qwen-code/qwen-code@0.24.4, runs qwen --acp --auth-type openai" in added
    shown = cli.ok("agent", "show", "qwen")
    assert shown.startswith("Qwen Code (qwen): @qwen-code/qwen-code@0.24.4, runs qwen"), shown
    for line in ("yours, installed by the node", "credential  openai in OPENAI_API_KEY"):
        assert line in shown, shown
    assert re.search(r"^\s+endpoint\s+in OPENAI_BASE_URL$", shown, re.M), shown
    assert re.search(r"^\s+mode\s+default$", shown, re.M), shown
    listed = cli.ok("agent", "list")
    row = next(line for line in listed.splitlines() if line.startswith("qwen "))
    assert "@qwen-code/qwen-code@0.24.4" in row and "installed on first use" in row, listed

    # The same entry from a file in builtin.toml's format: refused while the name is taken,
    # then replacing it.
    entry = tmp_path / "qwen.toml"
    entry.write_text(QWEN_TOML)
    assert_one_line_error(cli.run("agent", "add", "--file", str(entry)), "--replace")
    replaced = cli.ok("agent", "add", "--file", str(entry), "--replace")
    assert "replaced qwen: @qwen-code/qwen-code@0.25.0, runs qwen --acp" in replaced, replaced
    agent = json.loads(cli.ok("agent", "show", "qwen", "--json"))["agent"]
    assert agent["version"] == "0.25.0" and agent["title"] == "Qwen Code"
    assert agent["credentials"] == {"openai": "OPENAI_API_KEY"}
    assert agent["endpoint_env"] == ["OPENAI_BASE_URL"] and agent["initial_mode"] == "default"
    assert "removed qwen" in cli.ok("agent", "rm", "qwen")


def test_agent_add_and_configure_refuse_what_an_agent_cannot_use_in_one_line(
    cli: CliSite, tmp_path: Path
) -> None:
    def fails(*args: str, words: str) -> None:
        assert_one_line_error(cli.run("agent", *args), words)

    fails("add", "q", "--package", "@qwen-code/qwen-code", "--", "qwen", words="NAME@VERSION")
    fails("add", "q", "--endpoint-arg=--base", "--", "qwen", words="must hold {endpoint}")
    fails("add", "q", "--credential", "openai", "--", "qwen", words="--credential")
    fails("add", "--file", str(tmp_path / "missing.toml"), words="cannot read")
    two = tmp_path / "two.toml"
    two.write_text(QWEN_TOML + '[other]\ncommand = ["x"]\n')
    fails("add", "--file", str(two), words="exactly one entry")
    broken = tmp_path / "broken.toml"
    broken.write_text("[qwen\n")
    fails("add", "--file", str(broken), words="not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(QWEN_TOML + 'approval_mode = "default"\n')
    fails("add", "--file", str(unknown), words="body.approval_mode")
    cli.ok("agent", "add", "bare", "--", "/usr/bin/true")
    fails("configure", "bare", "--endpoint", "http://gw.example/v1", words="--endpoint-env")
    cli.ok("agent", "rm", "bare")


# --- Sessions -----------------------------------------------------------------------------------


def test_session_start_prints_only_the_id_or_json(cli: CliSite, scripted: Added) -> None:
    result = cli.run("session", "start", "w1", "--agent", "scripted")
    assert result.returncode == 0, result.stderr
    assert SESSION_ID.match(result.stdout.strip()), result.stdout
    assert result.stdout.count("\n") == 1, result.stdout
    assert result.stderr == "", result.stderr
    session_id = result.stdout.strip()
    # Unless --policy says otherwise, a session gets the agent's configured policy.
    assert cli.site.session(session_id)["policy"] == "allow-edits"

    started = json.loads(cli.ok("session", "start", "w1", "--agent", "scripted", "--json"))
    assert SESSION_ID.match(started["id"]), started
    assert started["state"] in ("starting", "idle"), started
    assert started["agent"] == "scripted"
    assert started["workspace_id"] == cli.site.workspace_id
    for found in (session_id, started["id"]):
        cli.site.wait_state(found, "idle")


def test_session_prompt_prints_the_agents_reply(cli: CliSite, scripted: Added) -> None:
    # Straight after `start`, as a user would type it: the prompt waits for the agent.
    session_id = cli.start()
    out = cli.ok("session", "prompt", session_id, "echo hello cli")
    assert "you: echo hello cli" in out, out
    assert "agent:" in out, out
    assert out.count("hello cli") >= 2, out  # the prompt, and the agent's reply
    assert "[end_turn" in out, out
    assert cli.site.wait_state(session_id, "idle")["title"] == "echo hello cli"


def test_usage_is_shown_as_the_context_window_and_the_last_turns_tokens(
    cli: CliSite, scripted: Added
) -> None:
    session_id = cli.start()
    out = cli.ok("session", "prompt", session_id, "all-updates")
    assert "usage: context 1,200 of 200,000 tokens (1%), cost 0.0120 USD" in out, out
    assert "[end_turn, 1,000 in, 400 out, 800 cached]" in out, out
    eventually_sync(
        lambda: cli.site.session(session_id)["context_usage"]["used"] == 1500,
        "the usage_update after the turn",
        wait_seconds=cli.site.wait_seconds,
        context=lambda: json.dumps(cli.site.session(session_id)),
    )
    shown = cli.ok("session", "show", session_id)
    assert "  context 1,500 of 200,000 tokens (1%), cost 0.0150 USD\n" in shown, shown
    assert "  last turn: 1,000 in, 400 out, 800 cached\n" in shown, shown


def test_prompt_with_allow_all_writes_the_file_and_shows_a_coloured_diff(
    cli: CliSite, scripted: Added
) -> None:
    session_id = cli.start("--policy", "ask")
    colour_env = {**cli.env, "NO_COLOR": "", "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    result = cli.run(
        "session",
        "prompt",
        session_id,
        "permission path=cli.txt content=from-cli",
        "--policy",
        "allow-all",
        env=colour_env,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert (cli.site.checkout / "cli.txt").read_text() == "from-cli"

    coloured = result.stdout
    added = [line for line in coloured.splitlines() if "+from-cli" in line]
    assert added and "\x1b[" in added[0], coloured  # the diff's added line, in colour
    plain = ANSI.sub("", coloured)
    assert "permission? Write cli.txt" in plain, plain
    assert "answered allow (you)" in plain, plain
    assert re.search(r"^\s+\+from-cli$", plain, re.MULTILINE), plain
    assert "Write cli.txt" in plain and "[edit, completed]" in plain, plain
    assert "[end_turn" in plain, plain

    # NO_COLOR (the default here): the same text, no escape codes.
    result = cli.run(
        "session",
        "prompt",
        session_id,
        "permission path=cli.txt content=again",
        "--policy",
        "allow-all",
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "\x1b[" not in result.stdout, result.stdout
    assert "permission? Write cli.txt" in result.stdout, result.stdout
    assert re.search(r"^\s+-from-cli$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^\s+\+again$", result.stdout, re.MULTILINE), result.stdout
    assert (cli.site.checkout / "cli.txt").read_text() == "again"


def test_prompt_with_reject_leaves_the_file_alone(cli: CliSite, scripted: Added) -> None:
    before = (cli.site.checkout / "notes.txt").read_text()
    session_id = cli.start("--policy", "ask")
    result = cli.run(
        "session",
        "prompt",
        session_id,
        "permission path=notes.txt content=rejected-by-cli",
        "--policy",
        "reject",
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "permission? Write notes.txt" in result.stdout, result.stdout
    assert "answered reject (you)" in result.stdout, result.stdout
    assert "not written" in result.stdout, result.stdout
    assert (cli.site.checkout / "notes.txt").read_text() == before


def test_the_prompt_says_nothing_about_what_the_sessions_policy_answered(
    cli: CliSite, scripted: Added
) -> None:
    """The session's own policy (allow-edits, from the agent's settings) answers an edit as the
    agent asks; `session prompt` neither answers it again (--policy reject would) nor says it
    waits for an answer (as it does without --policy), and the edit is made."""
    session_id = cli.start()
    assert cli.site.session(session_id)["policy"] == "allow-edits"
    for flags, content in ((["--policy", "reject"], "by-policy"), ([], "by-policy-again")):
        prompt = f"permission path=policy.txt content={content}"
        result = cli.run("session", "prompt", session_id, prompt, *flags)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert result.stderr == "", result.stderr
        assert "permission? Write policy.txt" in result.stdout, result.stdout
        assert "answered allow (allow-edits)" in result.stdout, result.stdout
        assert (cli.site.checkout / "policy.txt").read_text() == content
    decisions = [
        e["payload"] for e in cli.site.events(session_id) if e["kind"] == "permission_decision"
    ]
    assert [(d["policy"], d["by"]) for d in decisions] == [("allow-edits", None)] * 2, decisions


def test_without_a_policy_the_prompt_waits_for_an_answer_from_elsewhere(
    cli: CliSite, scripted: Added, tmp_path: Path
) -> None:
    session_id = cli.start("--policy", "ask")
    prompt = "permission path=answered.txt content=from-elsewhere"
    with cli_process(cli, "session", "prompt", session_id, prompt, output_dir=tmp_path) as waiting:
        hint = re.compile(r"corral permissions answer (\S+) OPTION")
        waiting.wait_for("the answer hint", lambda: bool(hint.search(waiting.stderr())))
        found = hint.search(waiting.stderr())
        assert found is not None
        request_id = found.group(1)
        assert "permission? Write answered.txt" in waiting.stdout(), waiting.describe()
        assert waiting.process.poll() is None, waiting.describe()

        pending = json.loads(cli.ok("permissions", "list", "--json"))
        mine = [r for r in pending if r["session_id"] == session_id]
        assert [r["id"] for r in mine] == [request_id], pending
        assert mine[0]["state"] == "pending"
        table = cli.ok("permissions", "list")  # checked last: the flow matters more

        answered = cli.ok("permissions", "answer", request_id, "allow")
        assert request_id in answered and "answered" in answered and "allow" in answered

        assert waiting.wait() == 0, waiting.describe()
        assert "answered allow (you)" in waiting.stdout(), waiting.describe()
        assert "[end_turn" in waiting.stdout(), waiting.describe()
    assert (cli.site.checkout / "answered.txt").read_text() == "from-elsewhere"
    left = json.loads(cli.ok("permissions", "list", "--json"))
    assert request_id not in [r["id"] for r in left]
    # A user copies the id from the table into `corral permissions answer`.
    assert request_id in table, table
    assert "Write" in table and "answered.txt" in table, table


def test_watch_json_prints_every_event_in_order_then_follows(
    cli: CliSite, scripted: Added, tmp_path: Path
) -> None:
    session_id = cli.start()
    cli.ok("session", "prompt", session_id, "echo first")
    cli.ok("session", "prompt", session_id, "echo second")

    def turn_ends(process: CliProcess) -> int:
        return sum(e["kind"] == "turn_end" for e in json_lines(process.stdout()))

    args = ("session", "watch", session_id, "--from", "0", "--json")
    with cli_process(cli, *args, output_dir=tmp_path) as watching:
        watching.wait_for("two turn ends", lambda: turn_ends(watching) >= 2)
        cli.ok("session", "prompt", session_id, "echo third")
        watching.wait_for("the live third turn end", lambda: turn_ends(watching) >= 3)
        assert watching.interrupt() == 0, watching.describe()

    lines = watching.stdout().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON event
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {"seq", "kind", "payload", "at"} <= set(events[0])
    stored = cli.site.events(session_id)[: len(events)]
    assert [(e["seq"], e["kind"], e["payload"]) for e in events] == [
        (e["seq"], e["kind"], e["payload"]) for e in stored
    ]
    assert {e["session_id"] for e in events} == {session_id}
    prompts = [e["payload"]["text"] for e in events if e["kind"] == "prompt"]
    assert prompts == ["echo first", "echo second", "echo third"]
    assert watching.stderr().strip() == "", watching.stderr()


def test_list_show_stop_and_resume(cli: CliSite, scripted: Added) -> None:
    session_id = cli.start("--title", "cli lifecycle")
    cli.site.wait_state(session_id, "idle")

    listed = cli.ok("session", "list")  # checked at the end
    assert session_id in [s["id"] for s in json.loads(cli.ok("session", "list", "--json"))]
    in_workspace = json.loads(cli.ok("session", "list", "--workspace", "w1", "--json"))
    assert session_id in [s["id"] for s in in_workspace]

    shown = cli.ok("session", "show", session_id)
    assert shown.splitlines()[0].split() == [session_id, "scripted", "idle"], shown
    assert "cli lifecycle" in shown and "policy allow-edits" in shown, shown
    assert json.loads(cli.ok("session", "show", session_id, "--json"))["state"] == "idle"

    cli.ok("session", "stop", session_id)
    stopped = cli.site.wait_state(session_id, "stopped")
    assert f"{session_id}  scripted  stopped" in cli.ok("session", "show", session_id)

    out = cli.ok("session", "prompt", session_id, "echo again")
    assert "again" in out and "[end_turn" in out, out
    resumed = cli.site.wait_state(session_id, "idle")
    assert resumed["last_seq"] > stopped["last_seq"]

    # The table a user reads (and copies ids from), at the width of a pipe or an 80-column
    # terminal.
    row = next((line for line in listed.splitlines() if session_id in line), None)
    assert row is not None, listed
    assert "scripted" in row and "idle" in row, row


def test_prompt_exits_130_when_the_turn_is_cancelled(
    cli: CliSite, scripted: Added, tmp_path: Path
) -> None:
    """`session prompt` promises its exit status: 0 for end_turn, 130 for cancelled."""
    session_id = cli.start()
    args = ("session", "prompt", session_id, "slow seconds=30")
    with cli_process(cli, *args, output_dir=tmp_path) as running:
        running.wait_for("the agent's first chunk", lambda: "agent:" in running.stdout())
        cancelled = cli.ok("session", "cancel", session_id)
        assert session_id in cancelled
        code = running.wait()
        assert "[cancelled" in running.stdout(), running.describe()
        assert code == 130, running.describe()


def test_ctrl_c_cancels_the_turn_and_waits_for_its_end(
    cli: CliSite, scripted: Added, tmp_path: Path
) -> None:
    """The prompt's help: "Ctrl-C cancels the turn"; the command then shows the end of the turn
    and exits with its stop reason."""
    session_id = cli.start()
    args = ("session", "prompt", session_id, "slow seconds=30")
    with cli_process(cli, *args, output_dir=tmp_path) as running:
        running.wait_for("the agent's first chunk", lambda: "tick 1" in running.stdout())
        running.process.send_signal(signal.SIGINT)
        code = running.wait()
        assert "cancelling the turn" in running.stderr(), running.describe()
        assert "unexpected failure" not in running.stderr(), running.describe()
        assert "[cancelled" in running.stdout(), running.describe()
        assert code == 130, running.describe()
    assert cli.site.wait_state(session_id, "idle")["state"] == "idle"


def test_a_crashing_agent_ends_the_prompt_with_one_error_line(
    cli: CliSite, scripted: Added
) -> None:
    session_id = cli.start()
    result = cli.run("session", "prompt", session_id, "crash")
    # The transcript on stdout ends with the agent's own stderr (its traceback included); the
    # CLI's failure is one line on stderr.
    assert "RuntimeError: scripted crash" in result.stdout, result.stdout
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert "exited with code 3" in result.stderr, result.stderr
    assert cli.site.wait_state(session_id, "error")["state"] == "error"


# --- Bad input ----------------------------------------------------------------------------------


def test_bad_input_is_one_error_line(cli: CliSite, scripted: Added) -> None:
    missing = "ses_doesnotexist00000000000000"
    assert_one_line_error(cli.run("session", "prompt", missing, "x"), missing)
    assert_one_line_error(cli.run("session", "show", missing), missing)
    assert_one_line_error(cli.run("session", "start", "w1", "--agent", "nope"), "nope")
    assert_one_line_error(cli.run("session", "start", "no-such-ws", "--agent", "scripted"))
    assert_one_line_error(
        cli.run("session", "prompt", missing, "x", "--policy", "maybe"), "--policy"
    )
    assert_one_line_error(cli.run("permissions", "answer", "prq_doesnotexist000000", "allow"))
    assert_one_line_error(cli.run("agent", "add", "mine"), "--")
    # Usage errors too, from typer's own copy of click.
    assert_one_line_error(cli.run("project", "add", "demo"), "--repo", "corral project add --help")
    assert_one_line_error(cli.run("session", "list", "--nope"), "--nope")


def test_a_commands_output_is_printed_once_with_its_exit(cli: CliSite, scripted: Added) -> None:
    session_id = cli.start()
    out = cli.ok("session", "prompt", session_id, "terminal cmd=echo printed-by-the-command")
    assert "$ sh -c 'echo printed-by-the-command'" in out, out
    assert "(exit 0)" in out, out
    # Printed as it came or at the end, not both; the agent's reply repeats it once more.
    lines = [line.strip() for line in out.splitlines()]
    assert lines.count("printed-by-the-command") == 2, out


def test_a_long_commands_output_is_printed_while_it_runs(
    cli: CliSite, scripted: Added, tmp_path: Path
) -> None:
    session_id = cli.start()
    gate = Gate(tmp_path / "gate")  # the command runs until the test has seen its first part
    command = f"echo first-part; {gate.command}; echo second-part"
    args = ("session", "prompt", session_id, f"terminal cmd={command}")
    with cli_process(cli, *args, output_dir=tmp_path) as running:
        running.wait_for(
            "the first part, printed",
            lambda: "first-part" in [line.strip() for line in running.stdout().splitlines()],
        )
        gate.open()
        assert running.wait() == 0, running.describe()
        out = running.stdout()
    lines = [line.strip() for line in out.splitlines()]
    start = lines.index(f"$ sh -c '{command}'  (running)")
    end = lines.index(f"$ sh -c '{command}'  (exit 0)")
    assert "first-part" in lines[start:end], out  # before the command ended
    assert lines.count("first-part") == 2 and lines.count("second-part") == 2, out
