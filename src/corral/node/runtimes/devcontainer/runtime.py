"""The `devcontainer` runtime: each workspace is a dev container on the node's Docker engine.

    <workspaces_dir>/<workspace id>/      (on the node, 0700)
        <name>/    the checkout: volume corral-<id>-checkout, at the config's workspaceFolder
        home/      agents' HOMEs and logins: volume corral-<id>-home, at /var/lib/corral

Both are named volumes bound to those directories, so they outlive the container: a rebuild
makes a new container from a changed devcontainer.json on the same checkout. The node clones
the repository itself (`corral.node.runtimes.gitclone`), reads and builds the configuration with
the dev container CLI (`.config`), and makes the container through the engine's API: on a
network of its own (`corral-<id>`, whose bridge the firewall keeps from the node), with the
workspace's limits, no new privileges, labels naming the workspace and the node, and the
node's agent and tool caches mounted read-only, so an image without Node.js still runs agents.

Processes run through `docker exec` as the configuration's remote user. A killed `docker exec`
client leaves its process running in the container, so each carries a random marker in its
environment, by which the node ends it (`corral.processes.kill_marked`). Values of the
environment (an agent's credentials) reach the client through its own environment (`-e NAME`),
never its arguments, so they are not in `docker inspect` or the process list; names that would
change how the client itself runs (LD_*, DOCKER_*, PATH) are given on its command line instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import platform
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from corral.errors import InvalidInput
from corral.netenv import NO_PROXY_VARIABLES, PROXY_VARIABLES, NetworkEnvironment
from corral.node.identity import load_identity
from corral.node.npmcache import NpmCache
from corral.node.runtimes._area import DEFAULT_PATH, Area, give_tree, remove_tree
from corral.node.runtimes.base import (
    AgentProgram,
    ProcessSpec,
    Progress,
    Runtime,
    RuntimeError_,
    RuntimeStatus,
    WorkspaceHandle,
    WorkspaceUnbuilt,
)
from corral.node.runtimes.devcontainer.config import (
    BuildFailed,
    DevcontainerCli,
    ResolvedConfig,
    find_config,
)
from corral.node.runtimes.devcontainer.engine import DockerEngine, EngineError
from corral.node.runtimes.devcontainer.firewall import Firewall
from corral.node.runtimes.devcontainer.users import ContainerUser, find_user
from corral.node.runtimes.gitclone import clone_checkout
from corral.node.workspacefiles import FileOwner, WorkspaceFiles
from corral.processes import PROCESS_MARKER_VARIABLE
from corral.protocol.messages import (
    NodeIsolation,
    WorkspaceLimits,
    WorkspaceRebuild,
    WorkspaceSpec,
)

__all__ = ["DevcontainerRuntime", "DevcontainerSettings"]

log = logging.getLogger("corral.runtimes.devcontainer")

HOME_MOUNT = "/var/lib/corral"
DEFAULT_SOURCE = "the node's default image"
AGENTS_MOUNT = "/opt/corral/agents"
TOOLS_MOUNT = "/opt/corral/tools"
LABEL_WORKSPACE = "dev.corral.workspace"
LABEL_NODE = "dev.corral.node"
_KEEP_RUNNING = "trap 'exit 0' TERM; while sleep 3600 & wait $!; do :; done"
# Names the docker client itself would act on: their values go on its command line, not in
# its environment (glibc's loader variables, Go's, Docker's own, and what says where it is).
_CLIENT_NAMES = re.compile(
    r"^(LD_|GO|DOCKER_|XDG_|GCONV_|MALLOC_|LOCPATH$|NLSPATH$|LOCALDOMAIN$|HOSTALIASES$|"
    r"RES_OPTIONS$|RESOLV_|TZDIR$|TMPDIR$|NIS_PATH$|GETCONF_DIR$|PATH$|HOME$|SSL_CERT|"
    r"(HTTPS?|ALL|NO)_PROXY$)",
    re.IGNORECASE,
)
_CONTAINER_ENV_REF = re.compile(r"\$\{containerEnv:([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_SAFE_CAPABILITIES = frozenset({"SYS_PTRACE"})
_NAME = re.compile(r"[^a-z0-9._-]+")


class DevcontainerSettings(BaseModel):
    docker_host: str | None = Field(
        None,
        description="The Docker engine (a unix socket URL); default: DOCKER_HOST, else "
        "unix:///var/run/docker.sock.",
    )
    docker_cli: str = Field("docker", description="The docker client, for `docker exec`.")
    docker_netns: str | None = Field(
        None,
        description="The network namespace dockerd runs in (a path such as /run/netns/NAME), "
        "when not the node's own: the firewall rules go there.",
    )
    firewall: bool = Field(
        True,
        description="Refuse connections from workspaces to the node and to link-local "
        "addresses (a cloud's metadata service) with iptables rules.",
    )
    default_image: str = Field(
        "mcr.microsoft.com/devcontainers/base:bookworm",
        description="The image of a workspace whose repository has no devcontainer.json.",
    )
    cli_version: str = Field("0.89.0", description="The @devcontainers/cli version used.")
    tools_dir: Path | None = Field(
        None,
        description="Where the dev container CLI and Node.js are installed (default: `tools/` "
        "in the node's data directory); shown read-only to every container.",
    )
    node_version: str = Field(
        "22.23.5",
        description="The Node.js (npm's node-linux-<arch> build) mounted into containers to "
        "run agents, whatever their image has.",
    )
    cpus: float | None = Field(2.0, gt=0, description="CPUs of a workspace that asks for none.")
    memory_bytes: int | None = Field(
        4 * 1024**3, gt=0, description="Memory of a workspace that asks for none."
    )
    pids: int | None = Field(4096, gt=0, description="Processes of a workspace that asks for none.")
    bridge_prefix: str = Field(
        "crl-",
        pattern=r"^[a-z][a-z0-9-]{1,5}$",
        description="Names of the workspaces' bridge interfaces begin with this.",
    )
    clone_timeout_seconds: float = Field(600.0, gt=0, description="How long a clone may take.")
    build_timeout_seconds: float = Field(
        1800.0, gt=0, description="How long reading and building a configuration may take."
    )
    lifecycle_timeout_seconds: float = Field(
        1800.0, gt=0, description="How long each of postCreateCommand and the like may take."
    )
    stop_grace_seconds: int = Field(5, ge=0, description="From SIGTERM to SIGKILL on stop.")


class DevcontainerRuntime(Runtime):
    name: ClassVar[str] = "devcontainer"
    settings_model: ClassVar[type[BaseModel]] = DevcontainerSettings
    enforces_limits = True

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        data_dir: Path,
        settings: DevcontainerSettings | None = None,
        network: NetworkEnvironment | None = None,
        agents_dir: Path | None = None,
    ) -> None:
        super().__init__(
            workspaces_dir.resolve(),
            data_dir=data_dir.resolve(),
            network=network,
            agents_dir=agents_dir,
        )
        self.settings = settings or DevcontainerSettings()
        docker_host = self.settings.docker_host or os.environ.get(
            "DOCKER_HOST", "unix:///var/run/docker.sock"
        )
        self.docker_host = docker_host
        self.engine = DockerEngine(docker_host)  # raises for a non-unix DOCKER_HOST
        if os.geteuid() != 0:
            raise RuntimeError_(
                "the devcontainer runtime needs the node to run as root: it gives each "
                "checkout to its container's user and ends processes inside containers",
                reason="devcontainer_needs_root",
            )
        socket = docker_host.removeprefix("unix://")
        if not Path(socket).exists():
            raise RuntimeError_(f"Docker is not running here ({socket} does not exist)")
        self._docker = shutil.which(self.settings.docker_cli)
        if self._docker is None:
            raise RuntimeError_(f"the docker client ({self.settings.docker_cli}) is not installed")
        prefix = self.settings.bridge_prefix
        self.firewall = Firewall([f"{prefix}+", "docker0"], netns=self.settings.docker_netns)
        problems = []
        if self.settings.firewall:
            problem = self.firewall.problem()
            if problem is not None:
                raise RuntimeError_(problem, reason="firewall_unavailable")
        else:
            problems.append("the firewall is off: workspaces can reach the node's services")
        problems += [
            f"{name} names a proxy on the node's loopback, which containers cannot reach"
            for name in self.network.loopback_proxies()
        ]
        self.isolation = NodeIsolation(
            sandbox="container",
            user="container_user",
            network="isolated" if self.settings.firewall else "bridge",
            file_access="openat2",
            problems=problems,
        )
        self.default_limits = WorkspaceLimits(
            cpus=self.settings.cpus,
            memory_bytes=self.settings.memory_bytes,
            pids=self.settings.pids,
        )
        self.tools_dir = (self.settings.tools_dir or self.data_dir / "tools").resolve()
        self.tools = NpmCache(self.tools_dir, network=self.network)
        self._state_dir = self.data_dir / "devcontainer"
        self._docker_config = self._state_dir / "docker-config"
        self._firewall_applied = False

    # -- making a workspace ----------------------------------------------------------------------

    async def create(self, spec: WorkspaceSpec, progress: Progress) -> WorkspaceHandle:
        """See `Runtime.create`: leftovers of an earlier attempt are removed and the work redone.
        A configuration that does not build leaves the checkout (`WorkspaceUnbuilt`)."""
        area = self._area(spec.id, _checkout_name(spec.name))
        await self._remove(spec.id, area.root)
        await self._prepare()
        try:
            area.make_dirs()
            await asyncio.gather(
                clone_checkout(
                    spec,
                    area,
                    network=self.network,
                    timeout_seconds=self.settings.clone_timeout_seconds,
                    forbidden=(self.data_dir, self.workspaces_dir),
                    progress=progress,
                ),
                self._make_storage(spec.id, area),
            )
            area.ready_marker.touch()
        except BaseException:
            await self._remove(spec.id, area.root)
            raise
        unbuilt = self._handle(
            spec.id, area, folder=f"/workspaces/{area.checkout}", state={"checkout": area.checkout}
        )
        try:
            return await self._build_and_run(unbuilt, spec.limits, progress, default_image=False)
        except BuildFailed as exc:
            raise WorkspaceUnbuilt(exc.message, unbuilt) from None
        except BaseException:
            await self._remove(spec.id, area.root)
            raise

    async def rebuild(
        self, handle: WorkspaceHandle, request: WorkspaceRebuild, progress: Progress
    ) -> WorkspaceHandle:
        """See `Runtime.rebuild`. The image is built before the old container goes, so a
        configuration that does not build leaves the workspace as it was."""
        self._area_of(handle)
        await self._prepare()
        return await self._build_and_run(
            handle, request.limits, progress, default_image=request.default_image, rebuild=True
        )

    async def _prepare(self) -> None:
        if self.settings.firewall and not self._firewall_applied:
            await self.firewall.apply()
            self._firewall_applied = True
        for directory in (self.agents_dir, self.tools_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        self._state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._docker_config.mkdir(exist_ok=True, mode=0o700)

    async def _make_storage(self, workspace_id: str, area: Area) -> None:
        """The workspace's network and its two volumes (bound to directories of its area)."""
        labels = self._labels(workspace_id)
        bridge = self.settings.bridge_prefix + hashlib.sha256(workspace_id.encode()).hexdigest()
        await asyncio.gather(
            self.engine.create_network(
                {
                    "Name": f"corral-{workspace_id}",
                    "Driver": "bridge",
                    "CheckDuplicate": True,
                    "Labels": labels,
                    "Options": {
                        "com.docker.network.bridge.name": bridge[:15],
                        "com.docker.network.bridge.enable_icc": "false",
                    },
                }
            ),
            *(
                self.engine.create_volume(
                    {
                        "Name": f"corral-{workspace_id}-{kind}",
                        "Driver": "local",
                        "DriverOpts": {"type": "none", "o": "bind", "device": str(directory)},
                        "Labels": labels,
                    }
                )
                for kind, directory in (("checkout", area.repo), ("home", area.home))
            ),
        )

    async def _build_and_run(
        self,
        handle: WorkspaceHandle,
        limits: WorkspaceLimits,
        progress: Progress,
        *,
        default_image: bool,
        rebuild: bool = False,
    ) -> WorkspaceHandle:
        area = self._area_of(handle)
        config = await self._resolve(area, progress, default_image=default_image, rebuild=rebuild)
        folder = config.workspace_folder or f"/workspaces/{area.checkout}"
        image = await self.engine.image(config.image)
        if image is None and config.source != DEFAULT_SOURCE and not rebuild:
            # Built before, and removed since (an image prune): build it again.
            config = await self._resolve(area, progress, default_image=False, rebuild=True)
            image = await self.engine.image(config.image)
        if image is None:
            progress(f"pulling {config.image}")
            await self.engine.pull(config.image, progress)
            image = await self.engine.image(config.image)
        if image is None:
            raise BuildFailed(f"the image {config.image} ({config.source}) is not on this node")
        self._refuse_unsafe(config)
        ignored = [
            name
            for name, value in (
                ("mounts", config.mounts),
                ("runArgs", config.run_args),
                ("securityOpt", config.security_opt),
            )
            if value
        ]
        if ignored:
            progress(
                f"ignored {', '.join(ignored)} of {config.source}: Corral decides a workspace "
                "container's mounts, network and security options"
            )
        progress(f"starting a container of {config.image} ({config.source})")
        old = str(handle.state.get("container") or "")
        if old:
            await self.engine.remove_container(old)
        container = await self.engine.create_container(
            f"corral-{handle.workspace_id}",
            self._container_body(handle.workspace_id, area, config, folder, limits),
        )
        try:
            user = await self._user(container, config, image)
            if os.geteuid() == 0:
                owner = FileOwner(user.uid, user.gid)
                await asyncio.to_thread(give_tree, area.repo, owner)
                await asyncio.to_thread(give_tree, area.home, owner)
            await self.engine.start_container(container)
        except BaseException:
            await self.engine.remove_container(container)
            raise
        state: dict[str, Any] = {
            "container": container,
            "image": config.image,
            "user": user.model_dump(),
            "path": _image_path(image, config),
            "remote_env": _resolve_remote_env(config, image),
            "post_start": config.post_start,
            "checkout": area.checkout,
        }
        made = self._handle(handle.workspace_id, area, folder=folder, state=state)
        for name, commands in (
            ("onCreateCommand", config.on_create),
            ("updateContentCommand", config.update_content),
            ("postCreateCommand", config.post_create),
            ("postStartCommand", config.post_start),
        ):
            await self._lifecycle(made, name, commands, progress)
        return made

    async def _resolve(
        self, area: Area, progress: Progress, *, default_image: bool, rebuild: bool
    ) -> ResolvedConfig:
        config = None if default_image else find_config(area.repo)
        if config is None:
            if not default_image:
                progress("the repository has no devcontainer.json: using the default image")
            return ResolvedConfig(image=self.settings.default_image, source=DEFAULT_SOURCE)
        return await self._cli().resolve(area.repo, config, progress, rebuild=rebuild)

    def _cli(self) -> DevcontainerCli:
        async def program(progress: Progress) -> list[str]:
            directory = await self.tools.ensure(
                "@devcontainers/cli", self.settings.cli_version, progress
            )
            script = directory / "node_modules" / "@devcontainers" / "cli" / "devcontainer.js"
            node = shutil.which("node") or str(await self._node_binary(progress))
            return [node, str(script), "--docker-path", str(self._docker)]

        tmp = self._state_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {
            **self.network.tool_env(),
            "DOCKER_HOST": self.docker_host,
            "DOCKER_CONFIG": str(self._docker_config),
            "TMPDIR": str(tmp),
            "PATH": os.environ.get("PATH", DEFAULT_PATH),
        }
        return DevcontainerCli(
            program,
            env=env,
            cache_dir=self._state_dir / "configs",
            timeout_seconds=self.settings.build_timeout_seconds,
        )

    def _refuse_unsafe(self, config: ResolvedConfig) -> None:
        """What would let a repository's configuration reach the node or other workspaces."""
        if config.privileged:
            raise BuildFailed(
                f"{config.source} asks for a privileged container, which Corral does not run: "
                "it would control the node"
            )
        unsafe = [
            cap
            for cap in config.cap_add
            if cap.upper().removeprefix("CAP_") not in _SAFE_CAPABILITIES
        ]
        if unsafe:
            raise BuildFailed(
                f"{config.source} asks for capabilities Corral does not give: {', '.join(unsafe)}"
            )

    def _container_body(
        self,
        workspace_id: str,
        area: Area,
        config: ResolvedConfig,
        folder: str,
        limits: WorkspaceLimits,
    ) -> dict[str, Any]:
        cpus = limits.cpus or self.default_limits.cpus
        memory = limits.memory_bytes or self.default_limits.memory_bytes
        pids = limits.pids or self.default_limits.pids
        host: dict[str, Any] = {
            "NetworkMode": f"corral-{workspace_id}",
            "Mounts": [
                _volume(f"corral-{workspace_id}-checkout", folder),
                _volume(f"corral-{workspace_id}-home", HOME_MOUNT),
                _bind(self.agents_dir, AGENTS_MOUNT),
                _bind(self.tools_dir, TOOLS_MOUNT),
            ],
            "SecurityOpt": ["no-new-privileges"],
            "CapAdd": [cap.upper() for cap in config.cap_add],
            "Init": config.init,
            "RestartPolicy": {"Name": "no"},
        }
        if cpus:
            host["NanoCpus"] = int(cpus * 1e9)
        if memory:
            host["Memory"] = memory
            host["MemorySwap"] = memory
        if pids:
            host["PidsLimit"] = pids
        body: dict[str, Any] = {
            "Image": config.image,
            "Hostname": _checkout_name(area.checkout)[:63],
            "Env": [f"{k}={v}" for k, v in {**self._proxies(), **config.container_env}.items()],
            "WorkingDir": folder,
            "Labels": self._labels(workspace_id),
            "HostConfig": host,
        }
        if config.container_user:
            body["User"] = config.container_user
        if config.override_command:
            body["Entrypoint"] = ["/bin/sh", "-c", _KEEP_RUNNING]
            body["Cmd"] = []
        return body

    async def _user(
        self, container: str, config: ResolvedConfig, image: dict[str, Any]
    ) -> ContainerUser:
        wanted = (
            config.remote_user or config.container_user or image["Config"].get("User") or "root"
        )
        passwd = await self.engine.read_file(container, "/etc/passwd")
        return find_user(wanted, passwd or b"", source=config.source)

    async def _lifecycle(
        self, handle: WorkspaceHandle, name: str, commands: Sequence[Any], progress: Progress
    ) -> None:
        for command in commands:
            parts = list(command.values()) if isinstance(command, dict) else [command]
            for part in parts:
                argv = ["/bin/sh", "-c", part] if isinstance(part, str) else [str(a) for a in part]
                progress(f"running {name}: {' '.join(argv)[:300]}")
                result = await self.exec(
                    handle, argv, timeout_seconds=self.settings.lifecycle_timeout_seconds
                )
                for line in (result.stdout + result.stderr).decode(errors="replace").splitlines():
                    if line.strip():
                        progress(line[:4000])
                if result.exit_code != 0:
                    raise RuntimeError_(
                        f"{name} failed (exit {result.exit_code}): {' '.join(argv)[:300]}",
                        reason="lifecycle_failed",
                    )

    # -- running -------------------------------------------------------------------------------

    async def start(self, handle: WorkspaceHandle) -> None:
        container = self._container(handle)
        self._firewall_applied = False  # a restarted dockerd may have rebuilt its chains
        await self._prepare()
        await self.engine.start_container(container)
        commands = handle.state.get("post_start")
        if isinstance(commands, list):
            await self._lifecycle(handle, "postStartCommand", commands, lambda _line: None)

    async def stop(self, handle: WorkspaceHandle) -> None:
        container = str(handle.state.get("container") or "")
        if container:
            await self.engine.stop_container(
                container, grace_seconds=self.settings.stop_grace_seconds
            )

    async def delete(self, handle: WorkspaceHandle) -> None:
        await self._remove(handle.workspace_id, self._area_of(handle).root)

    async def _remove(self, workspace_id: str, root: Path) -> None:
        """Everything of the workspace's: containers by label, its network and volumes, its
        area. Each step tolerates what is already gone."""
        for found in await self.engine.containers(f"{LABEL_WORKSPACE}={workspace_id}"):
            await self.engine.remove_container(str(found["Id"]))
        await self.engine.remove_network(f"corral-{workspace_id}")
        for kind in ("checkout", "home"):
            await self.engine.remove_volume(f"corral-{workspace_id}-{kind}")
        await asyncio.to_thread(remove_tree, root)

    async def status(self, handle: WorkspaceHandle) -> RuntimeStatus:
        area = self._area_of(handle)
        if not area.ready_marker.exists() or not area.repo.is_dir():
            return RuntimeStatus.MISSING
        container = str(handle.state.get("container") or "")
        if not container:
            return RuntimeStatus.UNBUILT
        try:
            found = await self.engine.container(container)
        except EngineError:
            return RuntimeStatus.STOPPED
        if found is None:
            return RuntimeStatus.UNBUILT
        return RuntimeStatus.RUNNING if found["State"].get("Running") else RuntimeStatus.STOPPED

    def command(
        self,
        handle: WorkspaceHandle,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        readable: Sequence[Path] = (),
        tty: bool = False,
    ) -> ProcessSpec:
        """See `Runtime.command`: `docker exec` as the configuration's remote user. `readable`
        is ignored: the node's agent and tool caches are mounted read-only in every container."""
        if not argv:
            raise InvalidInput("no command to run", reason="empty_command")
        container = self._container(handle)
        user = ContainerUser.model_validate(handle.state["user"])
        directory = self._container_path(handle, cwd) if cwd is not None else handle.repo
        marker = secrets.token_hex(16)
        values = {
            "PATH": str(handle.state.get("path") or DEFAULT_PATH),
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "HOME": user.home,
            "USER": user.name,
            "LOGNAME": user.name,
            "SHELL": user.shell,
            **self._proxies(),
            **{
                k: str(v)
                for k, v in (handle.state.get("remote_env") or {}).items()  # type: ignore[union-attr]
                if v is not None
            },
            **(env or {}),
            PROCESS_MARKER_VARIABLE: marker,
        }
        client_env = {"PATH": os.environ.get("PATH", DEFAULT_PATH)}
        flags: list[str] = []
        for name, value in values.items():
            if _CLIENT_NAMES.match(name):
                flags += ["-e", f"{name}={value}"]
            else:
                flags += ["-e", name]
                client_env[name] = value
        assert self._docker is not None
        full = [
            self._docker,
            "--host",
            self.docker_host,
            "--config",
            str(self._docker_config),
            "exec",
            "-i",
            *(["-t"] if tty else []),
            "-u",
            f"{user.uid}:{user.gid}",
            "-w",
            str(directory),
            *flags,
            container,
            *argv,
        ]
        return ProcessSpec(argv=tuple(full), env=client_env, cwd=self.data_dir, marker=marker)

    def shell(self, handle: WorkspaceHandle) -> tuple[str, ...]:
        user = ContainerUser.model_validate(handle.state["user"])
        return (user.shell, "-l")

    def files(self, handle: WorkspaceHandle, *, max_read_bytes: int) -> WorkspaceFiles:
        area = self._area_of(handle)
        user = ContainerUser.model_validate(handle.state.get("user") or {})
        owner = FileOwner(user.uid, user.gid) if os.geteuid() == 0 else None
        return WorkspaceFiles(
            (area.repo, area.home),
            seen_as=(handle.repo, handle.home),
            owner=owner,
            max_read_bytes=max_read_bytes,
        )

    async def spawn_agent(
        self,
        handle: WorkspaceHandle,
        program: AgentProgram,
        *,
        env: Mapping[str, str],
        progress: Progress,
    ) -> asyncio.subprocess.Process:
        """The agent's program, from the agent cache as mounted in the container, with the
        node's own Node.js build first on its PATH (the image need have none)."""
        node = await self._node_binary(progress)
        argv = [self._in_container(Path(part)) for part in program.argv]
        image_path = str(handle.state.get("path") or DEFAULT_PATH)
        node_bin = self._in_container(node.parent)
        return await self.spawn_process(
            handle, argv, env={**env, "PATH": f"{node_bin}:{image_path}"}
        )

    async def _node_binary(self, progress: Progress) -> Path:
        arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        package = f"node-linux-{arch}"
        directory = await self.tools.ensure(package, self.settings.node_version, progress)
        return directory / "node_modules" / package / "bin" / "node"

    def _in_container(self, path: Path) -> str:
        """A path of the node's agent or tool cache as containers see it; others as they are."""
        for directory, mount in ((self.agents_dir, AGENTS_MOUNT), (self.tools_dir, TOOLS_MOUNT)):
            with contextlib.suppress(ValueError):
                return f"{mount}/{path.relative_to(directory)}".rstrip("/.")
        return str(path)

    # -- small things --------------------------------------------------------------------------

    def _area(self, workspace_id: str, checkout: str) -> Area:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", workspace_id):
            raise InvalidInput(f"{workspace_id!r} is not a workspace id", reason="invalid_id")
        return Area(self.workspaces_dir / workspace_id, checkout=checkout)

    def _area_of(self, handle: WorkspaceHandle) -> Area:
        checkout = handle.state.get("checkout")
        if not isinstance(checkout, str) or checkout != _checkout_name(checkout):
            raise InvalidInput(
                f"workspace {handle.workspace_id} has no checkout on this node",
                reason="foreign_workspace",
            )
        return self._area(handle.workspace_id, checkout)

    def _handle(
        self, workspace_id: str, area: Area, *, folder: str, state: dict[str, Any]
    ) -> WorkspaceHandle:
        return WorkspaceHandle(
            workspace_id=workspace_id,
            runtime=self.name,
            repo=Path(folder),
            home=Path(HOME_MOUNT),
            state=state,
        )

    def _container(self, handle: WorkspaceHandle) -> str:
        container = str(handle.state.get("container") or "")
        if not container:
            raise RuntimeError_(
                f"workspace {handle.workspace_id} has no container: rebuild it",
                reason="workspace_unbuilt",
            )
        return container

    def _container_path(self, handle: WorkspaceHandle, cwd: Path) -> Path:
        path = cwd if cwd.is_absolute() else handle.repo / cwd
        normal = Path(os.path.normpath(path))
        for root in (handle.repo, handle.home):
            if normal == root or root in normal.parents:
                return normal
        raise InvalidInput(f"{cwd} is outside the workspace", reason="path_outside_workspace")

    def _labels(self, workspace_id: str) -> dict[str, str]:
        identity = load_identity(self.data_dir)
        return {
            LABEL_WORKSPACE: workspace_id,
            LABEL_NODE: identity.node_id if identity is not None else "",
        }

    def _proxies(self) -> dict[str, str]:
        names = (*PROXY_VARIABLES, *NO_PROXY_VARIABLES)
        return {k: v for k, v in self.network.values.items() if k in names}


def _checkout_name(name: str) -> str:
    return _NAME.sub("-", name.lower()).strip("-.")[:64] or "workspace"


def _volume(name: str, target: str) -> dict[str, Any]:
    return {"Type": "volume", "Source": name, "Target": target}


def _bind(source: Path, target: str) -> dict[str, Any]:
    return {"Type": "bind", "Source": str(source), "Target": target, "ReadOnly": True}


def _image_env(image: dict[str, Any]) -> dict[str, str]:
    pairs = [item.partition("=") for item in image.get("Config", {}).get("Env") or []]
    return {key: value for key, _, value in pairs}


def _image_path(image: dict[str, Any], config: ResolvedConfig) -> str:
    return config.container_env.get("PATH") or _image_env(image).get("PATH") or DEFAULT_PATH


def _resolve_remote_env(config: ResolvedConfig, image: dict[str, Any]) -> dict[str, str | None]:
    """remoteEnv with `${containerEnv:NAME[:default]}` filled in from the container's env."""
    container_env = {**_image_env(image), **config.container_env}

    def fill(match: re.Match[str]) -> str:
        return container_env.get(match.group(1), match.group(2) or "")

    return {
        name: None if value is None else _CONTAINER_ENV_REF.sub(fill, value)
        for name, value in config.remote_env.items()
    }
