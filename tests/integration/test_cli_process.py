"""The `corral` command as a user runs it: a real server process on 127.0.0.1, and the CLI as
separate processes talking to it over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from corral.control.app import create_state
from corral.control.services.credentials import get_credential, reveal_credential
from corral.settings import load_settings
from tests.support.processes import (
    CorralServer,
    assert_one_line_error,
    corral_env,
    corral_server,
    run_cli,
)
from tests.support.waits import eventually_sync

ANTHROPIC_VALUE = "sk-ant-integration-0123456789-wxyz"
LOG_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Cli:
    """One CLI user: its own HOME and config directory (where `corral login` saves its token)."""

    home: Path

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def env(self) -> dict[str, str]:
        return corral_env(self.home, self.config_dir)

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode == 0, f"corral {args} failed:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def saved_token(self) -> str:
        token: str = json.loads((self.config_dir / "login.json").read_text())["token"]
        return token


def new_cli(tmp_path_factory: pytest.TempPathFactory, name: str) -> Cli:
    return Cli(tmp_path_factory.mktemp(name))


def link_token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def fresh_link(server: CorralServer, admin_env: dict[str, str]) -> str:
    """A new owner login link from `corral auth link`, run as the server's admin would."""
    result = run_cli("auth", "link", "--data-dir", str(server.data_dir), env=admin_env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


def make_git_repo(path: Path) -> Path:
    path.mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, timeout=30)

    git("init", "-q", "-b", "main")
    (path / "README.md").write_text("demo\n")
    git("add", "README.md")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "init")
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def reveal(data_dir: Path, user_id: str, name: str) -> str:
    """Decrypt a stored credential in-process, with the key file now in the data directory."""

    async def run() -> str:
        state = create_state(load_settings(data_dir=data_dir))
        try:
            async with state.db() as db:
                row = await get_credential(db, user_id, name)
                return await reveal_credential(db, state.secret_box, row)
        finally:
            await state.engine.dispose()

    return asyncio.run(run())


# --- One server shared by the tests that do not disturb each other -------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def server(base: Path) -> Iterator[CorralServer]:
    with corral_server(base / "data", corral_env(base / "server-home")) as running:
        yield running


@pytest.fixture(scope="module")
def owner(server: CorralServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The owner, signed in with the link the first start printed."""
    assert server.link is not None
    cli = new_cli(tmp_path_factory, "owner")
    assert "as owner" in cli.ok("login", server.link)
    return cli


@pytest.fixture(scope="module")
def repo(base: Path) -> Path:
    return make_git_repo(base / "repo")


# --- The "done when" flow -------------------------------------------------------------------


def test_serve_login_credentials_projects_activity(tmp_path: Path) -> None:
    repo_path = make_git_repo(tmp_path / "repo")
    cli = Cli(tmp_path / "user")
    with corral_server(tmp_path / "data", corral_env(tmp_path / "server-home")) as srv:
        assert srv.link is not None
        out = cli.ok("login", srv.link)
        assert f"Signed in to {srv.url} as owner" in out

        assert cli.ok("whoami").strip() == f"owner (owner) at {srv.url}"
        me = cli.json("whoami")
        assert me["name"] == "owner" and me["role"] == "owner"

        # The value goes in on stdin, as `echo $KEY | corral credentials set anthropic` would.
        out = cli.ok("credentials", "set", "anthropic", input=ANTHROPIC_VALUE + "\n")
        assert ANTHROPIC_VALUE not in out and "wxyz" in out
        listed_text = cli.ok("credentials", "list", "--json")
        assert ANTHROPIC_VALUE not in listed_text
        listed = json.loads(listed_text)
        assert [(c["name"], c["kind"], c["last4"]) for c in listed] == [
            ("anthropic", "anthropic", "wxyz")
        ]
        assert "value" not in listed[0]

        cli.ok("project", "add", "demo", "--repo", str(repo_path))
        projects = cli.json("project", "list")
        assert isinstance(projects, list)
        demo = next(p for p in projects if p["name"] == "demo")
        assert demo["default_branch"] == "main"
        assert demo["repo"] == str(repo_path)

        events = cli.json("activity")
        assert events[0]["action"] == "project.created"
        assert events[0]["object_name"] == "demo"
        stamps = [e["created_at"] for e in events]
        assert stamps == sorted(stamps, reverse=True)
        actions = [e["action"] for e in events]
        assert actions.index("project.created") < actions.index("credential.created")


# --- `corral up` ----------------------------------------------------------------------------


def test_up_prints_a_working_link_on_every_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Were --no-browser ignored, this "browser" would leave a mark instead of opening anything.
    marker = tmp_path / "browser-opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$@" > {marker}\n')
    browser.chmod(0o700)
    # A display, so that only --no-browser stands between `corral up` and opening a browser.
    env = corral_env(tmp_path / "server-home", BROWSER=str(browser), DISPLAY=":0")

    user_ids = []
    links = []
    for start in range(2):
        cli = Cli(tmp_path / f"user-{start}")
        with corral_server(data_dir, env, command="up", extra_args=["--no-browser"]) as srv:
            assert srv.link is not None
            links.append(srv.link)
            assert "as owner" in cli.ok("login", srv.link)
            me = cli.json("whoami")
            assert me["role"] == "owner"
            user_ids.append(me["id"])
            users = cli.json("users", "list")
            assert [u["role"] for u in users] == ["owner"]
            made_owner = [
                r for r in srv.log_records() if r["message"] == "created the owner account"
            ]
            assert len(made_owner) == (1 if start == 0 else 0)

    assert links[0] != links[1]
    assert user_ids[0] == user_ids[1]
    assert not marker.exists()


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "unknown-project",
        "bad-repo",
        "used-link",
        "not-a-url",
        "no-login",
        "markup-name",
        "dot-name",
        "bad-toml",
    ],
)
def test_bad_input_is_one_error_line(
    case: str,
    server: CorralServer,
    owner: Cli,
    tmp_path: Path,
) -> None:
    stranger = Cli(tmp_path / "stranger")
    assert server.link is not None
    if case == "unknown-project":
        line = assert_one_line_error(owner.run("project", "show", "nope"), "nope")
    elif case == "bad-repo":
        missing = tmp_path / "no-such-repo"
        result = owner.run("project", "add", "broken", "--repo", str(missing))
        line = assert_one_line_error(result, str(missing))
        assert "broken" not in [p["name"] for p in owner.json("project", "list")]
    elif case == "used-link":
        # The owner fixture already used the link the server printed.
        line = assert_one_line_error(stranger.run("login", server.link), "already been used")
        assert not (stranger.config_dir / "login.json").exists()
    elif case == "not-a-url":
        line = assert_one_line_error(stranger.run("login", "not-a-url"), "not a URL")
    elif case == "markup-name":
        # Rich markup in a name or a server message is printed as it is, never parsed: here the
        # server's message quotes the name pattern, brackets and all.
        line = assert_one_line_error(
            owner.run("project", "show", "[bold]x"),
            "invalid path.project: String should match pattern '^[a-z0-9][a-z0-9._-]{0,63}$'",
        )
        assert_one_line_error(stranger.run("login", "[/x]"), "[/x]")
    elif case == "dot-name":
        line = assert_one_line_error(owner.run("project", "show", ".."), "not a name or id")
    elif case == "bad-toml":
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        (data_dir / "corral.toml").write_text("port = \n")
        result = run_cli("db", "upgrade", "--data-dir", str(data_dir), env=stranger.env)
        line = assert_one_line_error(result, "invalid corral.toml")
    else:
        line = assert_one_line_error(stranger.run("whoami"), "not signed in")
    assert "crllink_" not in line


# --- Sign-in links, tokens, invites -------------------------------------------------------------


def test_auth_link_uses_the_running_servers_port(
    server: CorralServer, base: Path, tmp_path: Path
) -> None:
    admin_env = corral_env(base / "server-home")
    result = run_cli("auth", "link", "--data-dir", str(server.data_dir), env=admin_env)
    assert result.returncode == 0, result.stderr
    assert "not running" not in result.stderr
    link = result.stdout.strip()
    assert link.startswith(f"{server.url}/auth/login?token=crllink_"), link
    assert link != server.link

    cli = Cli(tmp_path / "cli")
    assert "as owner" in cli.ok("login", link)
    assert cli.json("whoami")["role"] == "owner"


def test_revoking_the_clis_own_token_signs_it_out(
    server: CorralServer, base: Path, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "cli")
    cli.ok("login", fresh_link(server, corral_env(base / "server-home")))
    secret = cli.saved_token()
    assert secret not in cli.ok("tokens", "list", "--json")

    tokens = cli.json("tokens", "list")
    mine = [t for t in tokens if t["last4"] == secret[-4:] and t["revoked_at"] is None]
    assert len(mine) == 1, tokens
    out = cli.ok("tokens", "revoke", mine[0]["id"])
    assert mine[0]["id"] in out

    assert_one_line_error(cli.run("whoami"), "revoked")


def test_invited_user_signs_in_and_sees_only_their_projects(
    server: CorralServer, owner: Cli, repo: Path, tmp_path: Path
) -> None:
    owner.ok("project", "add", "owners-only", "--repo", str(repo))
    out = owner.ok("users", "invite", "alice")
    links = [line for line in out.splitlines() if line.startswith("http")]
    assert len(links) == 1, out
    assert links[0].startswith(f"{server.url}/auth/login?token=")

    alice = Cli(tmp_path / "alice")
    assert "as alice" in alice.ok("login", links[0])
    me = alice.json("whoami")
    assert me["name"] == "alice" and me["role"] != "owner"
    assert alice.json("project", "list") == []
    assert_one_line_error(alice.run("project", "show", "owners-only"), "owners-only")
    assert "owners-only" in [p["name"] for p in owner.json("project", "list")]


def test_the_owner_revokes_a_pending_invite(owner: Cli, tmp_path: Path) -> None:
    out = owner.ok("users", "invite", "erin")
    link = next(line for line in out.splitlines() if line.startswith("http"))
    listed = owner.json("users", "invites")
    assert [i["user"]["name"] for i in listed] == ["erin"]
    assert link_token(link) not in owner.ok("users", "invites")

    assert "Revoked the invite for erin" in owner.ok("users", "revoke-invite", "erin")
    assert owner.json("users", "invites") == []
    erin = Cli(tmp_path / "erin")
    assert_one_line_error(erin.run("login", link), "has been revoked")
    assert_one_line_error(owner.run("users", "revoke-invite", "erin"), "no pending invite")


def test_a_disabled_member_is_signed_out_until_enabled(owner: Cli, tmp_path: Path) -> None:
    out = owner.ok("users", "invite", "frank")
    frank = Cli(tmp_path / "frank")
    frank.ok("login", next(line for line in out.splitlines() if line.startswith("http")))

    out = owner.ok("users", "disable", "frank")
    assert "Disabled frank" in out and "They had no live agent sessions." in out
    assert_one_line_error(frank.run("whoami"), "this account is disabled")
    states = {u["name"]: u["state"] for u in owner.json("users", "list")}
    assert states["frank"] == "disabled"
    assert_one_line_error(owner.run("users", "disable", "owner"), "the owner cannot be disabled")

    assert "Enabled frank" in owner.ok("users", "enable", "frank")
    assert frank.json("whoami")["name"] == "frank"
    assert owner.json("users", "show", "frank")["sessions"] == []


def test_a_node_that_has_not_joined_gets_a_new_join_command(
    server: CorralServer, owner: Cli
) -> None:
    first = owner.json("node", "add", "spare")
    out = owner.ok("node", "token", "spare")
    assert "earlier ones no longer work" in out
    command = out.strip().splitlines()[-1]
    assert command.startswith("CORRAL_NODE_JOIN_TOKEN=crljoin_"), out
    assert first["join_token"] not in command
    refused = httpx.post(
        f"{server.url}/api/v1/nodes/join", json={"join_token": first["join_token"]}, trust_env=False
    )
    assert refused.json()["error"]["code"] == "join_token_revoked"


def test_project_and_agent_env_change_only_the_named_variables(owner: Cli, repo: Path) -> None:
    owner.ok("project", "add", "env-demo", "--repo", str(repo), "--env", "A=1", "--env", "B=2")
    updated = owner.json("project", "set", "env-demo", "--env", "C=3", "--unset-env", "A")
    assert updated["env"] == {"B": "2", "C": "3"}
    assert owner.json("project", "set", "env-demo", "--branch", "main")["env"] == {
        "B": "2",
        "C": "3",
    }
    assert_one_line_error(
        owner.run("project", "set", "env-demo", "--env", "B=9", "--unset-env", "B"),
        "B: given to both --env and --unset-env",
    )

    owner.ok("agent", "configure", "codex", "--env", "X=1", "--env", "Y=2")
    settings = owner.json("agent", "configure", "codex", "--unset-env", "X")
    assert settings["own"]["env"] == {"Y": "2"}


def test_a_projects_runtime_and_limits_and_a_workspace_waiting_for_a_node(
    owner: Cli, repo: Path
) -> None:
    project = owner.json(
        "project", "add", "sized", "--repo", str(repo), "--runtime", "host", "--cpus", "1.5",
        "--memory", "2g",
    )  # fmt: skip
    assert (project["runtime"], project["cpus"], project["memory_bytes"]) == ("host", 1.5, 2 << 30)
    reset = owner.json("project", "set", "sized", "--memory", "default", "--runtime", "auto")
    assert (reset["runtime"], reset["cpus"], reset["memory_bytes"]) == ("auto", 1.5, None)
    assert_one_line_error(
        owner.run("project", "set", "sized", "--memory", "lots"),
        "--memory 'lots': write it like 512m, 2g or 1.5GiB, or `default`",
    )
    assert_one_line_error(
        owner.run("project", "set", "sized", "--runtime", "dokcer"),
        "there is no runtime 'dokcer'; choose auto or one of: devcontainer, host",
    )

    # This control plane has no node: the workspace waits, saying how to get one.
    waiting = owner.json("workspace", "create", "sized", "--no-wait")
    assert (waiting["state"], waiting["limits"]["cpus"]) == ("pending", 1.5)

    def explained() -> str | None:
        reason: str = owner.json("workspace", "show", waiting["name"])["state_reason"]
        return reason if reason != "waiting for a node" else None

    assert eventually_sync(explained, "the placement loop's reason") == (
        "no node is ready: start Corral with `corral up`, or add one with `corral node add`"
    )
    owner.ok("workspace", "rm", waiting["name"])
    assert waiting["name"] not in [w["name"] for w in owner.json("workspace", "list")]


# --- Files on disk --------------------------------------------------------------------------


def test_login_file_and_key_file_are_private(server: CorralServer, owner: Cli) -> None:
    assert mode(owner.config_dir / "login.json") == 0o600
    assert mode(owner.config_dir) == 0o700
    assert mode(server.data_dir / "secret.key") == 0o600
    assert mode(server.data_dir) == 0o700


def test_rotate_key_needs_the_server_stopped_and_keeps_credentials(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key_file = data_dir / "secret.key"
    admin_env = corral_env(tmp_path / "server-home")
    cli = Cli(tmp_path / "user")

    with corral_server(data_dir, admin_env) as srv:
        port = srv.port
        assert srv.link is not None
        cli.ok("login", srv.link)
        user_id = cli.json("whoami")["id"]
        cli.ok("credentials", "set", "anthropic", input=ANTHROPIC_VALUE)
        old_key = key_file.read_text()

        refused = run_cli("secrets", "rotate-key", "--data-dir", str(data_dir), env=admin_env)
        assert_one_line_error(refused, "running", "stop it")
        assert str(srv.pid) in refused.stderr
        assert key_file.read_text() == old_key

    assert_one_line_error(cli.run("whoami"), "cannot reach", srv.url)
    rotated = run_cli("secrets", "rotate-key", "--data-dir", str(data_dir), env=admin_env)
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 1 credential" in rotated.stdout
    assert key_file.read_text() != old_key
    assert mode(key_file) == 0o600
    assert not (data_dir / "secret.key.next").exists()

    # Same port, so the CLI's saved login still points at it; no link on a restart of `serve`.
    with corral_server(data_dir, admin_env, port=port, expect_link=False) as srv:
        assert [c["name"] for c in cli.json("credentials", "list")] == ["anthropic"]
        # Stored by the restarted server, so sealed with whatever key it loaded.
        cli.ok("credentials", "set", "openai", input="sk-openai-after-rotation")
        assert reveal(data_dir, user_id, "anthropic") == ANTHROPIC_VALUE
        assert reveal(data_dir, user_id, "openai") == "sk-openai-after-rotation"
        assert srv.process.poll() is None


def test_port_0_takes_a_free_port_and_every_address_names_it(tmp_path: Path) -> None:
    """`--port 0` (what corral_server passes): the port the kernel gave is in the log line
    that says where Corral listens, the printed address and link, and `server.json`."""
    data_dir = tmp_path / "data"
    with corral_server(data_dir, corral_env(tmp_path / "home")) as srv:
        listening = srv.wait_for_log(LOG_WAIT_SECONDS, logger="corral.server", port=srv.port)
        assert listening["message"] == f"listening on {srv.url}"
        assert f"Corral is running at {srv.url}\n" in srv.stdout()
        assert srv.link is not None and srv.link.startswith(f"{srv.url}/auth/login?token=")
        assert json.loads((data_dir / "server.json").read_text())["url"] == srv.url


def test_sigterm_stops_the_server_and_removes_its_runtime_file(tmp_path: Path) -> None:
    """`kill`, `systemctl stop` and `docker stop` send SIGTERM: the shutdown must be as clean
    as Ctrl-C's, leaving no `server.json` whose PID a later process may reuse."""
    data_dir = tmp_path / "data"
    with corral_server(data_dir, corral_env(tmp_path / "home")) as srv:
        runtime = json.loads((data_dir / "server.json").read_text())
        assert runtime == {"url": srv.url, "pid": srv.pid}
        srv.stop()
        assert "Application shutdown complete." in [r["message"] for r in srv.log_records()]
    assert not (data_dir / "server.json").exists()


# --- Start-up failures and logs -------------------------------------------------------------


def test_serve_on_a_port_in_use_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli(
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            env=corral_env(tmp_path / "home"),
        )
    assert_one_line_error(result, str(port), "in use")
    assert "auth/login" not in result.stdout


def test_a_database_that_cannot_be_reached_is_named_in_one_line(tmp_path: Path) -> None:
    """The URL as people write it (`postgresql://`, no driver), a server that is not there: the
    control plane says which database and why, without the password or a traceback, and exits
    with a failure, for `serve` and `db upgrade` alike."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        env = corral_env(
            tmp_path / "home",
            CORRAL_DATABASE_URL=f"postgresql://corral:hunter2-secret@127.0.0.1:{port}/corral",
        )
        where = (
            f"cannot use the database at postgresql+asyncpg://corral:***@127.0.0.1:{port}/corral"
        )
        data_dir = ["--data-dir", str(tmp_path / "data")]
        served = run_cli("serve", *data_dir, "--port", "0", env=env)
        upgraded = run_cli("db", "upgrade", *data_dir, env=env)

    assert served.returncode != 0
    for output in (served.stdout, served.stderr, upgraded.stdout, upgraded.stderr):
        assert "hunter2-secret" not in output and "Traceback" not in output
    errors = [
        json.loads(line)["message"]
        for line in served.stderr.splitlines()
        if json.loads(line)["level"] == "error"
    ]
    assert errors[0].startswith(f"cannot start: {where}: "), errors
    assert "refused" in errors[0].lower(), errors
    assert_one_line_error(upgraded, where)


def test_a_database_url_of_another_kind_is_refused_by_name(tmp_path: Path) -> None:
    env = corral_env(tmp_path / "home", CORRAL_DATABASE_URL="mysql://corral:hunter2@db/corral")
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), env=env)
    line = assert_one_line_error(result, "database_url", "PostgreSQL", "SQLite", "mysql://")
    assert "hunter2" not in line


def test_logs_are_json_with_request_ids_and_no_secrets(
    server: CorralServer, owner: Cli, base: Path
) -> None:
    value = "sk-openai-must-never-be-logged-9876"
    owner.ok("credentials", "set", "openai", input=value)
    link = fresh_link(server, corral_env(base / "server-home"))

    # A browser (or a chat app's link preview) opening the link sends the token in the query.
    request_id = f"it-logs-{os.getpid()}"
    with httpx.Client(timeout=10.0, trust_env=False) as http:
        page = http.get(link, headers={"X-Request-ID": request_id})
    assert page.status_code == 200
    assert page.headers["x-request-id"] == request_id

    record = server.wait_for_log(LOG_WAIT_SECONDS, request_id=request_id)
    assert record["path"] == "/auth/login" and record["status"] == 200

    text = server.stderr()
    assert value not in text
    assert link_token(link) not in text
    assert server.link is not None and link_token(server.link) not in text
    assert owner.saved_token() not in text

    complete = text[: text.rfind("\n") + 1].splitlines()
    records = [json.loads(line) for line in complete]  # every line is one JSON object
    assert all(isinstance(r, dict) for r in records)
    access = [r for r in records if r["logger"] == "corral.access"]
    assert access, records
    assert all(r.get("request_id", "").startswith(("req", request_id)) for r in access)
    assert {"/api/v1/credentials/openai", "/api/v1/me"} & {r["path"] for r in access}
