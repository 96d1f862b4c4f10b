"""Dev container workspaces end to end: a control plane, a node daemon with the devcontainer
runtime, a private dockerd (tests/support/docker.py) and the tests' Debian image, which has no
Node.js. The repository describes its dev container with a Dockerfile that adds a user, a tool of
its own and the scripted agent (with the Python packages it needs), as a user's own agent would
come; a real agent from npm runs on the node's Node.js, mounted into the container.

What a user would notice: `corral workspace create --runtime devcontainer` gives a workspace
whose terminal is inside the container; agents' turns run there, their commands too, and their
file edits land in the checkout as the container's user; many workspaces share the node within
their limits.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

import tests.support.scripted_agent as scripted_agent_module
from tests.support.docker import DockerEngine
from tests.support.model_server import EditFile, Reply, serve_models
from tests.support.nodes import open_viewer, terminal_url
from tests.support.processes import corral_env, run_cli
from tests.support.sessions import SessionSite, agent_message_text, session_site
from tests.support.waits import eventually_sync
from tests.unit.node.runtimes.support import git

CACHE = Path(os.environ.get("CORRAL_TEST_CACHE", Path.home() / ".cache" / "corral-tests"))
WAIT_SECONDS = 300.0
# What the scripted agent imports, copied from this environment into the image (the image's
# Python is Debian's 3.11, as this one is, so the compiled pydantic-core fits).
AGENT_PACKAGES = (
    "acp",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
    "typing_extensions.py",
)
ORIGINAL = "a = 1\nprint(a)\n"
IDLE_MINUTES = 0.05
DOCKERFILE = """FROM {base}
RUN useradd -m -s /bin/bash dev \\
 && printf '#!/bin/sh\\necho from the image\\n' > /usr/local/bin/image-tool \\
 && chmod 755 /usr/local/bin/image-tool
COPY agent /opt/scripted
"""


def dev_repo(path: Path, base_image: str) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    devcontainer = path / ".devcontainer"
    agent = devcontainer / "agent"
    (agent / "site").mkdir(parents=True)
    shutil.copy(scripted_agent_module.__file__, agent / "scripted_agent.py")
    site_packages = Path(pydantic.__file__).parent.parent  # this environment's
    for name in AGENT_PACKAGES:
        source = site_packages / name
        if source.is_dir():
            shutil.copytree(source, agent / "site" / name, ignore=shutil.ignore_patterns("*.pyc"))
        else:
            shutil.copy(source, agent / "site" / name)
    (devcontainer / "Dockerfile").write_text(DOCKERFILE.format(base=base_image))
    (devcontainer / "devcontainer.json").write_text(
        json.dumps({"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev"})
    )
    (path / "hello.py").write_text(ORIGINAL)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "a dev container with its own agent")
    return path


@pytest.fixture(scope="module")
def site(
    docker_engine: DockerEngine, docker_base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionSite]:
    base = tmp_path_factory.mktemp("devcontainer-workspaces")
    runtime_settings = {
        "host": {"sandbox": "none"},
        "devcontainer": {
            "docker_host": docker_engine.docker_host,
            "docker_netns": docker_engine.netns,
            "default_image": docker_base_image,
            "tools_dir": str(CACHE / "tools"),
            "memory_bytes": 512 * 1024 * 1024,
            "cpus": 0.5,
        },
    }
    node_env = {
        "CORRAL_NODE_RUNTIME_SETTINGS": json.dumps(runtime_settings),
        "CORRAL_NODE_AGENTS_DIR": str(CACHE / "agents"),
        "npm_config_cache": str(CACHE / "npm"),
    }
    server_env = {
        # A workspace nobody uses stops after 3 s, unless it opts out as the site's own does.
        "CORRAL_IDLE__DEFAULT_TIMEOUT_MINUTES": f"{IDLE_MINUTES:g}",
        "CORRAL_IDLE__CHECK_INTERVAL_SECONDS": "0.2",
        "CORRAL_IDLE__ACTIVITY_WRITE_INTERVAL_SECONDS": "0.2",
        "CORRAL_NODES__MISSED_HEARTBEATS_BEFORE_STALE": "10",
    }
    with session_site(
        base,
        {},
        node_env=node_env,
        wait_seconds=WAIT_SECONDS,
        server_env=server_env,
        repo=dev_repo(base / "origin", docker_base_image),
        workspace_body={"runtime": "devcontainer"},
    ) as site:
        site.api.call("PATCH", "/projects/demo", json={"idle_timeout_minutes": 0})
        site.api.call("PATCH", f"/workspaces/{site.workspace_id}", json={"idle_timeout_minutes": 0})
        site.api.post(
            "/agents",
            {"name": "scripted", "command": ["python3", "/opt/scripted/scripted_agent.py"]},
        )
        site.api.call(
            "PATCH",
            "/agents/scripted/settings",
            json={
                "env": {
                    "PYTHONPATH": "/opt/scripted/site",
                    "SCRIPTED_AGENT_STATE": "/var/lib/corral/.scripted",
                }
            },
        )
        yield site


def workspace(site: SessionSite) -> dict[str, Any]:
    found: dict[str, Any] = site.api.get(f"/workspaces/{site.workspace_id}")
    return found


def test_the_workspace_is_a_dev_container(site: SessionSite) -> None:
    made = workspace(site)
    assert made["runtime"] == "devcontainer"
    assert made["limits"]["memory_bytes"] == 512 * 1024 * 1024
    assert (site.checkout / "hello.py").stat().st_uid == 1000  # the container's `dev`


async def test_its_terminal_runs_inside_the_container(site: SessionSite) -> None:
    terminal = site.api.post(f"/workspaces/{site.workspace_id}/terminals", {})
    url = terminal_url(site.url, site.workspace_id, terminal["id"])
    async with open_viewer(url, headers=site.api.headers) as viewer:
        await viewer.type(
            "test -f /.dockerenv && echo in-container-$(id -un)-$(pwd); image-tool;"
            " command -v node || echo no-node-$((6*7))\n"
        )
        await viewer.read_until(b"no-node-42")  # not the typed line's echo
    assert b"in-container-dev-/workspaces/w1" in viewer.output
    assert b"from the image" in viewer.output


def test_the_scripted_agent_works_inside_the_container(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(
        session["id"], "terminal cmd=test -f /.dockerenv && echo ran-in-$(id -un)-at-$(pwd)"
    )
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    assert "ran-in-dev-at-/workspaces/w1" in agent_message_text(site.events(session["id"]))
    # An edit through ACP's fs/*: served by the node, landing in the checkout as `dev`'s file.
    prompt_id = site.prompt(session["id"], "permission path=notes.txt content=from-the-agent")
    request = site.pending_request(session["id"], prompt_id)
    site.answer(request, "allow_once")
    site.turn(session["id"], prompt_id)
    notes = site.checkout / "notes.txt"
    assert notes.read_text() == "from-the-agent"
    assert notes.stat().st_uid == 1000
    site.api.post(f"/sessions/{session['id']}/stop", {}, expect=200)


def test_a_real_agent_from_npm_edits_a_file_inside_the_container(
    site: SessionSite, docker_engine: DockerEngine
) -> None:
    """Claude Code's ACP adapter, from npm, in an image without Node.js; its model server is
    on the outside host, which the container reaches as it would reach its provider."""
    target = "/workspaces/w1/hello.py"
    script = [Reply("I'll edit it.", EditFile(target, "a = 1\n", "a = 2\n")), Reply("Done.")]
    with serve_models(script, listen=docker_engine.outside.listen()) as models:
        stored = site.api.request(
            "PUT", "/credentials/claude-key", json={"kind": "anthropic", "value": "test-key-0000"}
        )
        assert stored.status_code in (200, 201), stored.text
        site.api.call(
            "PATCH",
            "/agents/claude/settings",
            json={
                "credential": "claude-key",
                "endpoint": models.base_url,
                "env": {"CLAUDE_CODE_ENABLE_PROMPT_SUGGESTION": "false"},
            },
        )
        session = site.start("claude")
        site.wait_state(session["id"], "idle")
        prompt_id = site.prompt(session["id"], "Change a to 2 in hello.py")
        request = site.pending_request(session["id"], prompt_id)
        site.answer(request, "allow_once")
        assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
        assert (site.checkout / "hello.py").read_text() == "a = 2\nprint(a)\n"
        site.api.post(f"/sessions/{session['id']}/stop", {}, expect=200)


def test_the_cli_makes_ten_dev_containers_that_share_the_node(
    site: SessionSite, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    env = corral_env(tmp_path / "cli-home")
    login = run_cli("login", site.url, input=site.api.token + "\n", env=env)
    assert login.returncode == 0, login.stderr
    # Limits are what placement counts: ten of a tenth of a CPU fit beside the first (half of
    # one) on a machine of two; more would wait in `pending`.
    limited = run_cli("project", "set", "demo", "--cpus", "0.1", "--memory", "256m", env=env)
    assert limited.returncode == 0, limited.stderr
    made = []
    for number in range(10):
        created = run_cli(
            "workspace",
            "create",
            "demo",
            "--runtime",
            "devcontainer",
            "--name",
            f"ten-{number}",
            "--json",
            env=env,
        )
        assert created.returncode == 0, created.stderr
        made.append(json.loads(created.stdout)["id"])
    try:
        for workspace_id in made:
            site.api.workspace_running(workspace_id, wait_seconds=WAIT_SECONDS)
        listed = docker_engine.docker(
            "ps", "--filter", "label=dev.corral.workspace", "--format", "{{.Networks}}"
        ).stdout.split()
        # Eleven containers (the site's own and ten), each on a network of its own.
        assert len(listed) == 11 and len(set(listed)) == 11
        # Each of the ten within the project's limits.
        limits = docker_engine.docker(
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
            *[f"corral-{workspace_id}" for workspace_id in made],
        ).stdout.split()
        assert limits == [str(256 * 1024 * 1024), "100000000"] * 10
    finally:
        for workspace_id in made:
            site.api.call("DELETE", f"/workspaces/{workspace_id}", expect=204)


def test_an_idle_dev_container_stops_and_its_chat_resumes(
    site: SessionSite, docker_engine: DockerEngine
) -> None:
    created = site.api.post(
        "/workspaces", {"project": "demo", "name": "idler", "runtime": "devcontainer"}
    )
    workspace = site.api.workspace_running(created["id"], wait_seconds=WAIT_SECONDS)
    session = site.api.post("/sessions", {"workspace": workspace["id"], "agent": "scripted"})
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "echo remember the word walnut"))
    # Back to the control plane's few seconds (the project keeps its workspaces running).
    site.api.call("PATCH", f"/workspaces/{workspace['id']}", json={"idle_timeout_minutes": None})
    site.api.call("PATCH", "/projects/demo", json={"idle_timeout_minutes": None})
    try:
        eventually_sync(
            lambda: site.api.get(f"/workspaces/{workspace['id']}")["state"] == "stopped",
            "the idle workspace stopped",
            wait_seconds=WAIT_SECONDS,
        )
    finally:
        site.api.call("PATCH", "/projects/demo", json={"idle_timeout_minutes": 0})
    found = site.api.get(f"/workspaces/{workspace['id']}")
    assert found["state_reason"] == "stopped after 3 s idle"
    running = docker_engine.docker(
        "inspect", "--format", "{{.State.Running}}", f"corral-{workspace['id']}"
    ).stdout.strip()
    assert running == "false"
    site.wait_state(session["id"], "stopped")

    site.api.call("PATCH", f"/workspaces/{workspace['id']}", json={"idle_timeout_minutes": 0})
    site.api.post(f"/workspaces/{workspace['id']}/start", expect=200)
    site.api.workspace_running(workspace["id"], wait_seconds=WAIT_SECONDS)
    prompt_id = site.prompt(session["id"], "echo and now")
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    events = site.events(session["id"])
    prompts = [e["payload"]["text"] for e in events if e["kind"] == "prompt"]
    assert prompts == ["echo remember the word walnut", "echo and now"]
    assert "and now" in agent_message_text(events)
    site.api.call("DELETE", f"/workspaces/{workspace['id']}", expect=204)
