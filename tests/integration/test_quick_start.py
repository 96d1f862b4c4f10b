"""The README's quick start, from nothing, as a person would run it: `corral up` on a fresh data
directory with no agent installed, then each command of the README's CLI walk-through, read
from the README itself and run as processes in its order. Interactive steps run on a real PTY.

Nothing is pre-installed or cached: the node installs Claude Code from the npm registry as it
would for a user, through the machine's proxy and trust store (CI reaches npm through a
TLS-inspecting proxy). Only the model is scripted (tests/support/model_server.py), served from a
network namespace standing in for the internet, and the agent is pointed at it with
`--endpoint`. A step the README gains that this test does not know fails the test: the two stay
in step.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.model_server import ModelServer, Reply, WriteFile, serve_models
from tests.support.netns import outside_host
from tests.support.processes import CORRAL, CorralServer, corral_env, corral_server, run_cli
from tests.support.sessions import make_repo
from tests.support.tty import Tty

README = Path(__file__).resolve().parents[2] / "README.md"
INSTALL_SECONDS = 600.0  # a cold npm install of Claude Code
STEP_SECONDS = 120.0
API_KEY = "sk-ant-quick-start-0000"
NEW_FILE = "test_parser.py"
NEW_TEXT = "def test_parser():\n    assert parse('1') == 1\n"


def readme_steps() -> list[list[str]]:
    """The commands of the quick start's CLI walk-through, each as an argv."""
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "the quick start has its two commands, then the CLI walk-through"
    return [shlex.split(line, comments=True) for line in blocks[1].splitlines() if line.strip()]


@dataclass
class Walk:
    """What the walk-through needs and learns as it goes."""

    server: CorralServer
    env: dict[str, str]
    repo: Path
    models: ModelServer
    session_id: str = ""
    workspace_id: str = ""
    seen: list[str] = field(default_factory=list)

    def cli(self, *args: str, input: str | None = None) -> str:
        result = run_cli(*args, env=self.env, input=input, timeout=INSTALL_SECONDS)
        assert result.returncode == 0, f"corral {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def tty(self, *args: str) -> Tty:
        return Tty([CORRAL, *args], self.env)

    @property
    def checkout(self) -> Path:
        return self.server.data_dir / "node" / "workspaces" / self.workspace_id / "repo"


def _login(walk: Walk, argv: list[str]) -> None:
    assert argv[2].startswith("http://127.0.0.1:8420/auth/login?token=")
    assert walk.server.link is not None
    walk.cli("login", walk.server.link)


def _credentials(walk: Walk, argv: list[str]) -> None:
    assert argv[2:] == ["set", "anthropic"]
    walk.cli(*argv[1:], input=API_KEY + "\n")


def _project(walk: Walk, argv: list[str]) -> None:
    if argv[2] == "add":
        args = [str(walk.repo) if a == "/path/to/a/git/repo" else a for a in argv[1:]]
        walk.cli(*args)
    else:
        listed = json.loads(walk.cli(*argv[1:]))
        assert [p["name"] for p in listed] == ["demo"], listed


def _workspace(walk: Walk, argv: list[str]) -> None:
    if argv[2] == "create":
        walk.cli(*argv[1:])
        listed = json.loads(walk.cli("workspace", "list", "--json"))
        assert [(w["name"], w["state"]) for w in listed] == [("demo-1", "running")], listed
        walk.workspace_id = listed[0]["id"]
        return
    assert argv[2] == "shell"
    shell = walk.tty(*argv[1:])
    try:
        shell.expect(b"$ ", STEP_SECONDS)  # as a person waits for the prompt before typing
        shell.send("echo quick-$((6*7))\r")
        shell.expect(b"quick-42", STEP_SECONDS)
        shell.send("\r~.")
        shell.expect(b"[detached]", STEP_SECONDS)
        assert shell.wait_exit(STEP_SECONDS) == 0
    finally:
        shell.close()
    again = walk.tty(*argv[1:])  # the same terminal, its scrollback replayed
    try:
        again.expect(b"quick-42", STEP_SECONDS)
        again.send("\r~.")
        assert again.wait_exit(STEP_SECONDS) == 0
    finally:
        again.close()


def _agent(walk: Walk, argv: list[str]) -> None:
    assert argv[2:5] == ["configure", "claude", "--credential"]
    # What only the test adds: the scripted model, and no "what will you type next" request.
    extra = [
        "--endpoint",
        walk.models.base_url,
        "--env",
        "CLAUDE_CODE_ENABLE_PROMPT_SUGGESTION=false",
    ]
    walk.cli(*argv[1:], *extra)


def _session(walk: Walk, argv: list[str]) -> None:
    args = [walk.session_id if a == "ses_…" else a for a in argv[1:]]
    if argv[2] == "start":
        output = walk.cli(*args)
        found = re.search(r"\bses_[0-9a-z]{26}\b", output)
        assert found, output
        walk.session_id = found.group(0)
    elif argv[2] == "prompt":
        _prompt(walk, args)
    else:
        assert argv[2] == "watch"
        watch = walk.tty(*args)
        try:
            watch.expect(b"test_parser.py added", STEP_SECONDS)
            watch.interrupt()
            assert watch.wait_exit(STEP_SECONDS) == 0
        finally:
            watch.close()


def _prompt(walk: Walk, args: list[str]) -> None:
    """The turn runs on a terminal, so the CLI asks about the agent's write: allow it once."""
    prompt = walk.tty(*args)
    try:
        end = prompt.expect(b"answer (number, empty to leave it for later):", INSTALL_SECONDS)
        options = re.findall(r"(\d+)\) [^\n]*\[(\w+)\]", prompt.text()[:end])
        allow_once = next(number for number, kind in options if kind == "allow_once")
        prompt.send(f"{allow_once}\r")
        assert prompt.wait_exit(INSTALL_SECONDS) == 0, prompt.text()[-3000:]
    finally:
        prompt.close()
    assert (walk.checkout / NEW_FILE).read_text() == NEW_TEXT


STEPS: dict[str, Callable[[Walk, list[str]], None]] = {
    "login": _login,
    "credentials": _credentials,
    "project": _project,
    "workspace": _workspace,
    "agent": _agent,
    "session": _session,
}


def test_the_readme_quick_start_works_from_nothing(tmp_path: Path) -> None:
    steps = readme_steps()
    # `export PATH="$PWD/.venv/bin:$PATH"`: the steps run this checkout's .venv/bin/corral.
    assert steps[0] == ["export", "PATH=$PWD/.venv/bin:$PATH"], steps[0]
    assert Path(CORRAL).parent == README.parent / ".venv" / "bin"
    repo = make_repo(tmp_path / "repo", {"parser.py": "def parse(text):\n    return int(text)\n"})
    # The machine's real network settings, proxies included (the test helpers drop proxies).
    proxies = {k: v for k, v in os.environ.items() if k.lower().endswith("_proxy")}
    env = corral_env(tmp_path / "home", tmp_path / "config", **proxies)
    with (
        outside_host() as internet,
        serve_models(listen=internet.listen()) as models,
        corral_server(tmp_path / "data", env, command="up", extra_args=["--no-browser"]) as up,
    ):
        walk = Walk(up, env, repo, models)
        for argv in steps[1:]:
            assert argv[0] == "corral", f"a quick-start step this test cannot run: {argv}"
            handler = STEPS.get(argv[1])
            assert handler, f"a quick-start step this test does not know: {' '.join(argv)}"
            if argv[1:3] == ["session", "prompt"]:  # the checkout's path is known now
                write = WriteFile(str(walk.checkout / NEW_FILE), NEW_TEXT)
                models.add(Reply("I'll add a test.", write), Reply("Done: test_parser.py added."))
            handler(walk, argv)
            walk.seen.append(" ".join(argv[:3]))
        installed = list((up.data_dir / "node" / "agents").glob("*claude*"))
        assert installed, "the node installed Claude Code itself"
    assert walk.seen == [" ".join(argv[:3]) for argv in steps[1:]]
    assert models.requests_with_tool_results(), "the agent really ran the write"
