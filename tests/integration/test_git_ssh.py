"""A repository reached over SSH with a user's `ssh-key` credential, as a user does it with the
CLI: a real control plane and node (tests/support/sessions.py), a real OpenSSH server serving a
bare repository (tests/support/sshd.py), and the fake GitHub (tests/support/github_fake.py) for
its published host keys.

What a user would notice: the clone over SSH works with their key; the server's host key is
pinned when the project is added (trust on first use, or GitHub's published keys for GitHub's
host) and a server showing another key later is refused with a message saying so; the key is in
no file, argument or process environment once git is done with it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.control.github.client import GitHubClient
from corral.settings import GitHubSettings
from tests.support.github_fake import GITHUB_ED25519_HOST_KEY, FakeGitHub, fake_github
from tests.support.processes import corral_env, run_cli
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    make_repo,
    session_site,
)
from tests.support.sshd import SshKeyPair, SshServer, make_key_pair

WAIT_SECONDS = 60.0


@dataclass
class Site:
    github: FakeGitHub
    sshd: SshServer
    sessions: SessionSite
    base: Path
    env: dict[str, str]
    key: SshKeyPair
    bare: Path

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, input=input, timeout=WAIT_SECONDS)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode == 0, f"corral {args}:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def remote(self, host: str) -> str:
        return f"ssh://{self.sshd.user}@{host}:{self.sshd.port}{self.bare}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("git-ssh")
    source = make_repo(base / "source", {"README.md": "over ssh\n"})
    bare = base / "served" / "widgets.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(source), str(bare)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    key = make_key_pair(base / "user-keys", "id")
    (base / "sshd").mkdir()
    with (
        fake_github(base / "github") as github,
        SshServer([key], base / "sshd") as sshd,
    ):
        node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
        # The fake GitHub's host is 127.0.0.1: a remote there is "on GitHub"; `localhost`
        # is another host, whose key is trusted on first use.
        server_env = {
            "CORRAL_GITHUB__WEB_URL": github.web_url,
            "CORRAL_GITHUB__API_URL": github.api_url,
        }
        with session_site(
            base,
            {"README.md": "local\n"},
            node_env=node_env,
            server_env=server_env,
            wait_seconds=WAIT_SECONDS,
        ) as sessions:
            admin_env = corral_env(base / "server-home")
            made = run_cli("auth", "link", "--data-dir", str(base / "data"), env=admin_env)
            assert made.returncode == 0, made.stderr
            env = corral_env(base / "cli-home", base / "cli-home" / "config")
            site = Site(github, sshd, sessions, base, env, key, bare)
            site.ok("login", made.stdout.strip())
            site.ok("credentials", "set", "ssh-key", "--name", "deploy", input=key.private_key)
            yield site


def test_an_ssh_key_is_for_ssh_remotes(site: Site) -> None:
    refused = site.run(
        "project",
        "add",
        "https",
        "--repo",
        "https://example.invalid/x.git",
        "--credential",
        "deploy",
    )
    assert refused.returncode == 1
    assert "an ssh-key credential is used over SSH" in refused.stderr, refused.stderr

    site.github.add_user("octo")
    site.github.add_repo("acme/tokens", private=True, files={"README.md": "x\n"})
    token = site.github.add_personal_token("octo", ["acme/tokens"])
    site.ok("credentials", "set", "github", "--name", "gh", input=token + "\n")
    refused = site.run(
        "project", "add", "tok", "--repo", site.remote("localhost"), "--credential", "gh"
    )
    assert refused.returncode == 1
    assert "a github token credential is used over HTTPS" in refused.stderr, refused.stderr


def test_clone_over_ssh_with_the_host_key_pinned_on_first_use(site: Site) -> None:
    site.ok(
        "project", "add", "widgets", "--repo", site.remote("localhost"), "--credential", "deploy"
    )
    project = site.sessions.api.get("/projects/widgets")
    assert project["git_access"] == "credential"
    assert project["default_branch"] == "main"
    pinned = f"[localhost]:{site.sshd.port} {site.sshd.host_public_key}\n"
    assert project["ssh_known_hosts"] == pinned

    site.ok("workspace", "create", "widgets", "--name", "ws1", "--node", "n1")
    workspace = site.sessions.api.get("/workspaces/ws1")
    assert workspace["state"] == "running", workspace
    checkout = site.sessions.node_dir / "workspaces" / str(workspace["id"]) / "repo"
    assert (checkout / "README.md").read_text() == "over ssh\n"

    with site.sshd.other_host_key():
        failed = site.run("workspace", "create", "widgets", "--name", "ws2", "--node", "n1")
        assert failed.returncode != 0
        workspace = site.sessions.api.get("/workspaces/ws2")
        assert workspace["state"] == "error", workspace
        reason = str(workspace["state_reason"])
        assert f"the host key of [localhost]:{site.sshd.port} changed" in reason, reason

    # A push would run inside the workspace, within the agent's reach of the key: not yet.
    site.ok("agent", "add", "scripted", "--", sys.executable, str(SCRIPTED_AGENT))
    session_id = site.ok("session", "start", "ws1", "--agent", "scripted").strip()
    refused = site.run("session", "pr", session_id)
    assert refused.returncode == 1
    assert "pushing over SSH is not supported yet" in refused.stderr, refused.stderr
    _assert_nowhere(site)


def test_github_host_is_pinned_to_its_published_keys(site: Site) -> None:
    """On the configured GitHub's host (the fake's, 127.0.0.1), the key must be one GitHub
    publishes at /meta: the server's own key is refused until GitHub publishes it."""
    refused = site.run(
        "project", "add", "gh-ssh", "--repo", site.remote("127.0.0.1"), "--credential", "deploy"
    )
    assert refused.returncode == 1
    assert f"the host key of [127.0.0.1]:{site.sshd.port} changed" in refused.stderr, refused.stderr

    site.github.ssh_host_keys = [GITHUB_ED25519_HOST_KEY, site.sshd.host_public_key]
    try:
        site.ok(
            "project", "add", "gh-ssh", "--repo", site.remote("127.0.0.1"), "--credential", "deploy"
        )
    finally:
        site.github.ssh_host_keys = [GITHUB_ED25519_HOST_KEY]
    project = site.sessions.api.get("/projects/gh-ssh")
    name = f"[127.0.0.1]:{site.sshd.port}"
    assert project["ssh_known_hosts"] == (
        f"{name} {GITHUB_ED25519_HOST_KEY}\n{name} {site.sshd.host_public_key}\n"
    )


async def test_github_publishes_its_host_keys(site: Site) -> None:
    settings = GitHubSettings(web_url=site.github.web_url, api_url=site.github.api_url)
    async with GitHubClient(settings) as github:
        assert await github.ssh_host_keys() == [GITHUB_ED25519_HOST_KEY]


def _assert_nowhere(site: Site) -> None:
    """The private key is in no file the control plane, node, CLI or workspaces wrote (but the
    user's own key file), and no process's environment."""
    body = site.key.private_key.splitlines()[2]  # one line of the key itself, however stored
    assert len(body) > 40, body
    needles = (site.key.private_key.encode(), body.encode())
    for path in site.base.rglob("*"):
        if path == site.key.path or path.is_symlink() or not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except PermissionError:
            continue
        assert not any(needle in data for needle in needles), f"the key is in {path}"
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            data = environ.read_bytes()
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
        assert not any(needle in data for needle in needles), f"the key is in {environ}"
