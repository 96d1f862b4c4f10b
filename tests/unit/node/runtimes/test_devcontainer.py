"""The devcontainer runtime's own logic, without Docker: its reading of a configuration, the
container's user, and how `docker exec` is put together (what the containers do is in
tests/integration/test_devcontainer_runtime.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.errors import InvalidInput
from corral.netenv import NetworkEnvironment
from corral.node.runtimes.base import WorkspaceHandle
from corral.node.runtimes.devcontainer import DevcontainerRuntime, DevcontainerSettings
from corral.node.runtimes.devcontainer.config import BuildFailed, find_config, from_merged
from corral.node.runtimes.devcontainer.container import resolve_remote_env
from corral.node.runtimes.devcontainer.users import find_user
from corral.processes import PROCESS_MARKER_VARIABLE

PASSWD = b"""root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
dev:x:1000:1000::/home/dev:/bin/zsh
"""


def test_the_merged_configuration_gives_what_corral_runs() -> None:
    merged = {
        "remoteUser": "dev",
        "containerEnv": {"A": "1", "B": None},
        "remoteEnv": {"PATH": "${containerEnv:PATH}:/x", "UNSET": None},
        "postCreateCommands": ["make setup", ["echo", "hi"]],
        "postStartCommand": "echo started",
        "overrideCommand": False,
        "capAdd": ["SYS_PTRACE"],
    }
    config = from_merged(merged, image="img", source=".devcontainer/devcontainer.json")
    assert config.image == "img"
    assert config.workspace_folder is None  # the runtime names it after the checkout
    assert config.container_env == {"A": "1"}
    assert config.post_create == ["make setup", ["echo", "hi"]]
    assert config.post_start == ["echo started"]
    assert config.override_command is False
    assert config.cap_add == ["SYS_PTRACE"]
    own = from_merged({"workspaceFolder": "/src"}, image="img", source="x")
    assert own.workspace_folder == "/src"


def test_remote_env_fills_in_the_containers_variables() -> None:
    config = from_merged(
        {
            "containerEnv": {"TOOLS": "/opt/tools"},
            "remoteEnv": {
                "PATH": "${containerEnv:PATH}:${containerEnv:TOOLS}",
                "MISSING": "${containerEnv:NOPE:fallback}",
            },
        },
        image="img",
        source="x",
    )
    image = {"Config": {"Env": ["PATH=/usr/bin:/bin"]}}
    assert resolve_remote_env(config, image) == {
        "PATH": "/usr/bin:/bin:/opt/tools",
        "MISSING": "fallback",
    }


def test_the_containers_user_is_found_by_name_or_number() -> None:
    dev = find_user("dev", PASSWD, source="x")
    assert (dev.uid, dev.gid, dev.home, dev.shell) == (1000, 1000, "/home/dev", "/bin/zsh")
    assert find_user("1000", PASSWD, source="x").name == "dev"
    assert find_user("1000:50", PASSWD, source="x").gid == 50
    assert find_user("daemon", PASSWD, source="x").shell == "/bin/sh"  # nologin: no terminal
    assert find_user("4242", PASSWD, source="x").uid == 4242  # numbers need no entry
    with pytest.raises(BuildFailed) as caught:
        find_user("vscode", PASSWD, source=".devcontainer.json")
    assert "vscode" in caught.value.message and ".devcontainer.json" in caught.value.message


def test_a_configuration_is_found_where_the_cli_looks(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None
    (tmp_path / ".devcontainer" / "python").mkdir(parents=True)
    (tmp_path / ".devcontainer" / "python" / "devcontainer.json").write_text("{}")
    assert find_config(tmp_path) == tmp_path / ".devcontainer" / "python" / "devcontainer.json"
    (tmp_path / ".devcontainer.json").write_text("{}")
    assert find_config(tmp_path) == tmp_path / ".devcontainer.json"
    (tmp_path / ".devcontainer" / "devcontainer.json").symlink_to("/etc/passwd")
    assert find_config(tmp_path) == tmp_path / ".devcontainer.json"  # a link is not followed


@pytest.fixture
def runtime(tmp_path: Path) -> DevcontainerRuntime:
    socket = tmp_path / "docker.sock"
    socket.touch()  # only looked for: nothing here talks to an engine
    settings = DevcontainerSettings(docker_host=f"unix://{socket}", firewall=False)
    return DevcontainerRuntime(
        tmp_path / "workspaces", data_dir=tmp_path, settings=settings, network=NetworkEnvironment()
    )


def handle() -> WorkspaceHandle:
    return WorkspaceHandle(
        workspace_id="wsp_01m95jkde22bx0ramshrz8e7cj",
        runtime="devcontainer",
        repo=Path("/workspaces/demo"),
        home=Path("/var/lib/corral"),
        state={
            "container": "c0ffee",
            "user": {"name": "dev", "uid": 1000, "gid": 1000, "home": "/home/dev"},
            "path": "/usr/bin:/bin",
            "checkout": "demo",
        },
    )


def test_values_reach_docker_exec_through_its_environment(runtime: DevcontainerRuntime) -> None:
    spec = runtime.command(
        handle(), ["claude"], env={"ANTHROPIC_API_KEY": "sk-secret", "LD_PRELOAD": "/x.so"}
    )
    argv = list(spec.argv)
    assert "sk-secret" not in " ".join(argv)
    assert argv[argv.index("ANTHROPIC_API_KEY") - 1] == "-e"
    assert spec.env["ANTHROPIC_API_KEY"] == "sk-secret"
    # What would change how the docker client itself runs never goes into its environment.
    assert "LD_PRELOAD" not in spec.env and "LD_PRELOAD=/x.so" in argv
    assert spec.env[PROCESS_MARKER_VARIABLE] == spec.marker
    assert argv[-2:] == ["c0ffee", "claude"]
    assert argv[argv.index("-u") + 1] == "1000:1000"
    assert argv[argv.index("-w") + 1] == "/workspaces/demo"
    assert "-t" not in argv and "-t" in runtime.command(handle(), ["sh"], tty=True).argv


def test_a_working_directory_outside_the_workspace_is_refused(
    runtime: DevcontainerRuntime,
) -> None:
    relative = runtime.command(handle(), ["ls"], cwd=Path("src")).argv
    assert relative[relative.index("-w") + 1] == "/workspaces/demo/src"
    inside = runtime.command(handle(), ["ls"], cwd=Path("/var/lib/corral/.agents"))
    assert "/var/lib/corral/.agents" in inside.argv
    for outside in ("/etc", "../other", "/workspaces/demo/../../etc"):
        with pytest.raises(InvalidInput):
            runtime.command(handle(), ["ls"], cwd=Path(outside))
