"""The devcontainer runtime against a real dockerd (tests/support/docker.py): containers built
from a repository's devcontainer.json, what they can and cannot reach, limits, rebuilds, and
processes ended inside them. The node daemon and control plane around it are tested in
test_devcontainer_workspaces.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.control.catalog import builtin_agents
from corral.ids import new_id
from corral.netenv import network_environment
from corral.node.acp.install import AgentInstaller
from corral.node.runtimes.base import (
    AgentProgram,
    RuntimeError_,
    RuntimeStatus,
    WorkspaceHandle,
    WorkspaceUnbuilt,
)
from corral.node.runtimes.devcontainer import DevcontainerRuntime, DevcontainerSettings
from corral.protocol.messages import WorkspaceLimits, WorkspaceRebuild, WorkspaceSpec
from tests.support.docker import DockerEngine
from tests.support.netns import OutsideHost
from tests.unit.node.runtimes.support import git

CACHE = Path(os.environ.get("CORRAL_TEST_CACHE", Path.home() / ".cache" / "corral-tests"))
EXEC_TIMEOUT_SECONDS = 60.0
DOCKERFILE = """FROM {base}
RUN useradd -m -s /bin/bash dev \\
 && printf '#!/bin/sh\\necho from the image\\n' > /usr/local/bin/image-tool \\
 && chmod 755 /usr/local/bin/image-tool
"""


def make_repo(path: Path, base: str, config: dict[str, object] | None = None) -> Path:
    """A repository whose dev container is built from a Dockerfile on `base` with a user
    `dev` and a tool of its own."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / ".devcontainer").mkdir()
    (path / ".devcontainer" / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    settings = {"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev", **(config or {})}
    (path / ".devcontainer" / "devcontainer.json").write_text(
        "// comments are fine in devcontainer.json\n" + json.dumps(settings, indent=2)
    )
    (path / "README.md").write_text("hello\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return path


def commit_config(repo: Path, config: dict[str, object]) -> None:
    settings = {"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev", **config}
    (repo / ".devcontainer" / "devcontainer.json").write_text(json.dumps(settings))
    git(repo, "commit", "-q", "-am", "change the dev container")


@pytest.fixture
async def runtime(
    docker_engine: DockerEngine, docker_base_image: str, tmp_path: Path
) -> AsyncIterator[DevcontainerRuntime]:
    settings = DevcontainerSettings(
        docker_host=docker_engine.docker_host,
        docker_netns=docker_engine.netns,
        default_image=docker_base_image,
        tools_dir=CACHE / "tools",
    )
    made = DevcontainerRuntime(
        tmp_path / "node" / "workspaces",
        data_dir=tmp_path / "node",
        settings=settings,
        network=network_environment(),
        agents_dir=CACHE / "agents",
    )
    yield made
    for found in await made.engine.containers("dev.corral.workspace"):
        await made.engine.remove_container(str(found["Id"]))
    await made.close()


def spec_for(repo: Path, name: str = "demo", **limits: object) -> WorkspaceSpec:
    return WorkspaceSpec(
        id=new_id("wsp"),
        name=name,
        repo=str(repo),
        branch="main",
        runtime="devcontainer",
        limits=WorkspaceLimits.model_validate(limits),
    )


async def sh(runtime: DevcontainerRuntime, handle: WorkspaceHandle, script: str) -> str:
    result = await runtime.exec(handle, ["sh", "-c", script], timeout_seconds=EXEC_TIMEOUT_SECONDS)
    assert result.exit_code == 0, (result.stdout + result.stderr).decode()
    return result.stdout.decode()


async def test_a_dockerfile_devcontainer_runs_commands_inside_its_container(
    runtime: DevcontainerRuntime, docker_base_image: str, tmp_path: Path
) -> None:
    repo = make_repo(
        tmp_path / "origin",
        docker_base_image,
        {"containerEnv": {"GREETING": "hi"}, "postCreateCommand": "touch ~/post-create-ran"},
    )
    lines: list[str] = []
    handle = await runtime.create(spec_for(repo, "demo"), lines.append)
    assert handle.repo == Path("/workspaces/demo")
    assert any("Successfully built" in line or "building" in line for line in lines), lines
    out = await sh(
        runtime,
        handle,
        "test -f /.dockerenv && id -un && pwd && image-tool && echo $GREETING && cat README.md"
        " && ls ~/post-create-ran && (command -v node || echo no node)",
    )
    assert out.split("\n")[:8] == [
        "dev",
        "/workspaces/demo",
        "from the image",
        "hi",
        "hello",
        "/home/dev/post-create-ran",
        "no node",
        "",
    ]
    assert await runtime.status(handle) is RuntimeStatus.RUNNING
    # The checkout belongs to the container's user, on the node as in the container.
    area = runtime.workspaces_dir / handle.workspace_id / "demo"
    assert (area / "README.md").stat().st_uid == 1000
    labels = (await runtime.engine.container(str(handle.state["container"])) or {})["Config"][
        "Labels"
    ]
    assert labels["dev.corral.workspace"] == handle.workspace_id


async def test_stop_start_and_delete(
    runtime: DevcontainerRuntime, docker_base_image: str, tmp_path: Path
) -> None:
    handle = await runtime.create(spec_for(make_repo(tmp_path / "o", docker_base_image)), print)
    await sh(runtime, handle, "echo kept > notes.txt")
    await runtime.stop(handle)
    assert await runtime.status(handle) is RuntimeStatus.STOPPED
    await runtime.start(handle)
    assert await runtime.status(handle) is RuntimeStatus.RUNNING
    assert await sh(runtime, handle, "cat notes.txt") == "kept\n"
    await runtime.delete(handle)
    assert await runtime.status(handle) is RuntimeStatus.MISSING
    assert await runtime.engine.containers(f"dev.corral.workspace={handle.workspace_id}") == []
    await runtime.delete(handle)  # idempotent


async def test_two_workspaces_cannot_see_or_reach_each_other_nor_the_node(
    runtime: DevcontainerRuntime,
    docker_engine: DockerEngine,
    docker_base_image: str,
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "origin", docker_base_image)
    first = await runtime.create(spec_for(repo, "first"), print)
    second = await runtime.create(spec_for(repo, "second"), print)
    await sh(runtime, first, "echo first-secret > private.txt")
    # Files: each sees its own checkout only.
    listing = await sh(runtime, second, "ls /workspaces; ls / ; cat /proc/1/cmdline | tr '\\0' ' '")
    assert "second" in listing and "first" not in listing.split()
    assert "first-secret" not in await sh(
        runtime, second, "grep -rs first-secret / --exclude-dir=proc --exclude-dir=sys || true"
    )
    # Ports: a listener in the first workspace, tried from the second.
    listener = await runtime.spawn_process(
        first,
        [
            "perl",
            "-MIO::Socket::INET",
            "-e",
            "$s=IO::Socket::INET->new(LocalPort=>8080,Listen=>5,ReuseAddr=>1) or die;"
            "print qq(listening\\n); $|=1; while($c=$s->accept){print $c qq(hello\\n); close $c}",
        ],
    )
    assert listener.stdout is not None
    assert (await asyncio.wait_for(listener.stdout.readline(), 30)) == b"listening\n"
    try:
        address = (await sh(runtime, first, "hostname -I")).split()[0]
        gateway = address.rsplit(".", 1)[0] + ".1"
        connect = (
            "perl -MIO::Socket::INET -e '$c=IO::Socket::INET->new(PeerAddr=>shift,"
            "PeerPort=>shift,Timeout=>3); print $c ? qq(connected\\n) : qq(refused\\n)' {} {}"
        )
        # Its own workspace reaches it; the other one does not.
        assert await sh(runtime, first, connect.format(address, 8080)) == "connected\n"
        assert await sh(runtime, second, connect.format(address, 8080)) == "refused\n"
        # Nor the node (a listener in dockerd's namespace, on its bridge's gateway and beyond).
        # Every address of dockerd's namespace: the node as far as a container can tell.
        everywhere = "0.0.0.0"  # noqa: S104
        node = OutsideHost(namespace=docker_engine.namespace.name, address=everywhere).listen()
        try:
            node_port = node.getsockname()[1]
            assert await sh(runtime, second, connect.format(gateway, node_port)) == "refused\n"
            inner = docker_engine.namespace.address
            assert await sh(runtime, second, connect.format(inner, node_port)) == "refused\n"
        finally:
            node.close()
        # The internet (the outside host) is reachable.
        server = docker_engine.outside.listen()
        try:
            port = server.getsockname()[1]
            assert (
                await sh(runtime, second, connect.format(docker_engine.outside.address, port))
                == "connected\n"
            )
        finally:
            server.close()
    finally:
        await runtime.kill(listener)


async def test_a_memory_limit_is_enforced(
    runtime: DevcontainerRuntime, docker_base_image: str, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "origin", docker_base_image)
    handle = await runtime.create(spec_for(repo, memory_bytes=96 * 1024 * 1024, pids=64), print)
    result = await runtime.exec(
        handle,
        ["perl", "-e", '$x = "a" x (400 * 1024 * 1024); print "survived\\n"'],
        timeout_seconds=EXEC_TIMEOUT_SECONDS,
    )
    assert result.exit_code == 137 and b"survived" not in result.stdout
    inspected = await runtime.engine.container(str(handle.state["container"]))
    assert inspected is not None
    assert inspected["HostConfig"]["Memory"] == 96 * 1024 * 1024
    assert inspected["HostConfig"]["PidsLimit"] == 64
    assert inspected["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    # The workspace lives on.
    assert await sh(runtime, handle, "echo alive") == "alive\n"


async def test_rebuild_keeps_the_checkout_and_applies_the_changed_config(
    runtime: DevcontainerRuntime, docker_base_image: str, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "origin", docker_base_image, {"containerEnv": {"STAGE": "one"}})
    handle = await runtime.create(spec_for(repo, "rebuilt"), print)
    await sh(runtime, handle, "echo work in progress > wip.txt")
    # The user changes devcontainer.json in the workspace, and rebuilds.
    config = handle.repo / ".devcontainer" / "devcontainer.json"
    settings = {"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev"}
    settings["containerEnv"] = {"STAGE": "two"}
    await sh(runtime, handle, f"cat > {config} <<'EOF'\n{json.dumps(settings)}\nEOF")
    lines: list[str] = []
    rebuilt = await runtime.rebuild(handle, WorkspaceRebuild(id=handle.workspace_id), lines.append)
    assert rebuilt.state["container"] != handle.state["container"]
    assert await sh(runtime, rebuilt, "cat wip.txt; echo $STAGE") == "work in progress\ntwo\n"
    assert await runtime.engine.container(str(handle.state["container"])) is None


async def test_a_config_that_does_not_build_offers_the_default_image(
    runtime: DevcontainerRuntime, docker_base_image: str, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "origin", docker_base_image)
    (repo / ".devcontainer" / "Dockerfile").write_text(
        f"FROM {docker_base_image}\nRUN echo the build breaks here && false\n"
    )
    git(repo, "commit", "-q", "-am", "break the build")
    with pytest.raises(WorkspaceUnbuilt) as caught:
        await runtime.create(spec_for(repo, "broken"), print)
    assert "did not build" in caught.value.message
    assert "--default-image" in caught.value.message
    unbuilt = caught.value.handle
    assert await runtime.status(unbuilt) is RuntimeStatus.UNBUILT
    handle = await runtime.rebuild(
        unbuilt, WorkspaceRebuild(id=unbuilt.workspace_id, default_image=True), print
    )
    assert await sh(runtime, handle, "cat README.md; id -un") == "hello\nroot\n"


async def test_credentials_reach_the_process_only(
    runtime: DevcontainerRuntime,
    docker_engine: DockerEngine,
    docker_base_image: str,
    tmp_path: Path,
) -> None:
    handle = await runtime.create(spec_for(make_repo(tmp_path / "o", docker_base_image)), print)
    secret = "sk-" + new_id("tok")
    process = await runtime.spawn_process(
        handle, ["sh", "-c", 'echo "$API_KEY"; sleep 60'], env={"API_KEY": secret}
    )
    assert process.stdout is not None
    assert (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip() == secret
    try:
        inspected = docker_engine.docker("inspect", str(handle.state["container"])).stdout
        assert secret not in inspected
        cmdline = await asyncio.to_thread(Path(f"/proc/{process.pid}/cmdline").read_bytes)
        assert secret.encode() not in cmdline
        # Nothing of it on the node's disk.
        found = await asyncio.to_thread(
            subprocess.run,
            ["grep", "-rl", secret, str(runtime.data_dir)],
            capture_output=True,
            check=False,
        )
        assert found.stdout == b""
    finally:
        await runtime.kill(process)
    assert await sh(runtime, handle, "ps -eo args | grep -c '^sleep 60$' || true") == "0\n"


async def test_a_killed_process_ends_inside_the_container_too(
    runtime: DevcontainerRuntime, docker_base_image: str, tmp_path: Path
) -> None:
    handle = await runtime.create(spec_for(make_repo(tmp_path / "o", docker_base_image)), print)
    process = await runtime.spawn_process(
        handle, ["sh", "-c", "sleep 300 & sleep 301 & echo started; wait"]
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 30) == b"started\n"
    await runtime.kill(process)
    assert "sleep 30" not in await sh(runtime, handle, "ps -eo args")


async def test_a_real_agent_starts_in_an_image_without_nodejs(
    runtime: DevcontainerRuntime, docker_base_image: str, tmp_path: Path
) -> None:
    """claude-agent-acp (from npm, in the node's agent cache) answers `initialize` with the
    node's own Node.js, mounted read-only: the image has none."""
    claude = builtin_agents()["claude"].launch(endpoint=None, extra_args=[])
    installer = AgentInstaller(runtime.agents_dir, network=network_environment())
    argv, install_dir = await installer.ensure(claude, print)
    handle = await runtime.create(spec_for(make_repo(tmp_path / "o", docker_base_image)), print)
    process = await runtime.spawn_agent(
        handle,
        AgentProgram(argv=tuple(argv), install_dir=install_dir),
        env={"HOME": "/var/lib/corral/.agents/claude"},
        progress=print,
    )
    assert process.stdin is not None and process.stdout is not None
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}
    process.stdin.write(json.dumps(request).encode() + b"\n")
    try:
        answer = json.loads(await asyncio.wait_for(process.stdout.readline(), 120))
        assert answer["result"]["protocolVersion"] == 1
    finally:
        await runtime.kill(process)
    with pytest.raises(RuntimeError_):
        runtime.command(handle.model_copy(update={"state": {}}), ["true"])
