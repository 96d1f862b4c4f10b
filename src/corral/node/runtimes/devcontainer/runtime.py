"""The `devcontainer` runtime: each workspace is a dev container on the node's Docker engine.

    <workspaces_dir>/<workspace id>/      (on the node, 0700)
        <name>/    the checkout: volume corral-<id>-checkout, at the config's workspaceFolder
        home/      agents' HOMEs and logins: volume corral-<id>-home, at /var/lib/corral

Both are named volumes bound to those directories, so they outlive the container: a rebuild
makes a new container from a changed devcontainer.json on the same checkout. The node clones
the repository itself (`corral.node.runtimes.gitclone`), reads and builds the configuration with
the dev container CLI (`.config`), and makes the container through the engine's API (`.engine`,
`.container`): on a network of its own (`.networks`) that the firewall keeps from the node
(`.firewall`), with the workspace's limits. Processes run through `docker exec` as the
configuration's remote user (`.execs`); agents run on a Node.js of the node's (`.tools`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from corral.errors import InvalidInput
from corral.netenv import NO_PROXY_VARIABLES, PROXY_VARIABLES, NetworkEnvironment
from corral.node.identity import load_identity
from corral.node.runtimes._area import DEFAULT_PATH, Area, give_tree, remove_tree
from corral.node.runtimes.base import (
    AgentProgram,
    ExecResult,
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
    ResolvedConfig,
)
from corral.node.runtimes.devcontainer.container import (
    AGENTS_MOUNT,
    HOME_MOUNT,
    LABEL_NODE,
    LABEL_WORKSPACE,
    TOOLS_MOUNT,
    ContainerPlan,
    container_body,
    ignored_fields,
    image_path,
    refuse_unsafe,
    resolve_remote_env,
    run_lifecycle,
)
from corral.node.runtimes.devcontainer.engine import DockerEngine, EngineError
from corral.node.runtimes.devcontainer.execs import container_path, exec_command, find_docker
from corral.node.runtimes.devcontainer.firewall import Firewall
from corral.node.runtimes.devcontainer.images import Images
from corral.node.runtimes.devcontainer.networks import NetworkPool
from corral.node.runtimes.devcontainer.settings import DevcontainerSettings
from corral.node.runtimes.devcontainer.tools import DevcontainerTools
from corral.node.runtimes.devcontainer.users import ContainerUser, find_user
from corral.node.runtimes.gitclone import clone_checkout, write_files
from corral.node.workspacefiles import FileOwner, WorkspaceFiles
from corral.protocol.messages import WorkspaceLimits, WorkspaceRebuild, WorkspaceSpec

__all__ = ["DevcontainerRuntime"]

log = logging.getLogger("corral.runtimes.devcontainer")

_NAME = re.compile(r"[^a-z0-9._-]+")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


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
        """Raises `RuntimeError_` when the runtime cannot work here: no Docker, no docker
        client, no firewall (unless turned off), or a node that is not root."""
        super().__init__(
            workspaces_dir.resolve(),
            data_dir=data_dir.resolve(),
            network=network,
            agents_dir=agents_dir,
        )
        self.settings = settings = settings or DevcontainerSettings()
        state_dir = self.data_dir / "devcontainer"
        self.docker = find_docker(settings, config_dir=state_dir / "docker-config", cwd=data_dir)
        self.engine = DockerEngine(self.docker.host)
        self.firewall = Firewall(
            [f"{settings.bridge_prefix}+", "docker0"], netns=settings.docker_netns
        )
        self.isolation = self.firewall.isolation(
            enabled=settings.firewall, loopback_proxies=self.network.loopback_proxies()
        )
        self.default_limits = WorkspaceLimits(
            cpus=settings.cpus, memory_bytes=settings.memory_bytes, pids=settings.pids
        )
        self.tools_dir = (settings.tools_dir or self.data_dir / "tools").resolve()
        self.tools = DevcontainerTools(
            self.tools_dir, state_dir, docker=self.docker, settings=settings, network=self.network
        )
        self.networks = NetworkPool(
            self.engine,
            bridge_prefix=settings.bridge_prefix,
            spare_file=state_dir / "spare-network",
            labels=lambda: self._labels(""),
        )
        self.images = Images(self.engine, self.tools, settings.default_image, self.network)
        self._state_dir = state_dir
        self._firewall_applied = False
        self._users: dict[tuple[str, str], ContainerUser] = {}
        self._node_id = ""

    async def close(self) -> None:
        await self.networks.close()
        await self.engine.close()

    # -- making a workspace ----------------------------------------------------------------------

    async def create(self, spec: WorkspaceSpec, progress: Progress) -> WorkspaceHandle:
        """See `Runtime.create`: leftovers of an earlier attempt are removed and the work redone.
        A configuration that does not build leaves the checkout (`WorkspaceUnbuilt`).

        When the commit's configuration was seen before (most workspaces of a project), the
        container is made and started while git writes the checkout's files, which is most of
        a clone's time; otherwise the files come first, for the dev container CLI to read."""
        started = time.monotonic()
        area = self._area(spec.id, _checkout_name(spec.name))
        await self._remove(spec.id, area.root)
        await self._prepare()
        try:
            area.make_dirs()
            clone = clone_checkout(
                spec,
                area,
                network=self.network,
                timeout_seconds=self.settings.clone_timeout_seconds,
                forbidden=(self.data_dir, self.workspaces_dir),
                progress=progress,
                files=False,
                credentials=self.credentials,
            )
            await asyncio.gather(clone, self._make_volumes(spec.id, area))
        except BaseException:
            await self._remove(spec.id, area.root)
            raise
        files = asyncio.create_task(
            write_files(
                area,
                network=self.network,
                timeout_seconds=self.settings.clone_timeout_seconds,
                progress=progress,
            )
        )
        unbuilt = self._handle(spec.id, area, f"/workspaces/{area.checkout}", {})
        try:
            config = await self.images.known(area)
            if config is None:
                await files
                config = await self.images.resolve(
                    area, progress, default_image=False, rebuild=False
                )
            made = await self._run(unbuilt, config, spec.limits, progress, files=files)
        except BuildFailed as exc:
            await files
            area.ready_marker.touch()
            raise WorkspaceUnbuilt(exc.message, unbuilt) from None
        except BaseException:
            files.cancel()
            await asyncio.gather(files, return_exceptions=True)
            await self._remove(spec.id, area.root)
            raise
        area.ready_marker.touch()
        elapsed = (time.monotonic() - started) * 1000
        log.info("made workspace %s in %.0f ms", spec.id, elapsed, extra={"workspace_id": spec.id})
        return made

    async def rebuild(
        self, handle: WorkspaceHandle, request: WorkspaceRebuild, progress: Progress
    ) -> WorkspaceHandle:
        """See `Runtime.rebuild`. The image is built before the old container goes, so a
        configuration that does not build leaves the workspace as it was."""
        area = self._area_of(handle)
        await self._prepare()
        config = await self.images.resolve(
            area, progress, default_image=request.default_image, rebuild=True
        )
        return await self._run(handle, config, request.limits, progress, rebuilt=True)

    async def _prepare(self) -> None:
        if self.settings.firewall and not self._firewall_applied:
            await self.firewall.apply()
            self._firewall_applied = True
        for directory in (self.agents_dir, self.tools_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.docker.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def _make_volumes(self, workspace_id: str, area: Area) -> None:
        """The checkout's and home's volumes, bound to directories of the workspace's area."""
        for kind, directory in (("checkout", area.repo), ("home", area.home)):
            await self.engine.create_volume(
                {
                    "Name": f"corral-{workspace_id}-{kind}",
                    "Driver": "local",
                    "DriverOpts": {"type": "none", "o": "bind", "device": str(directory)},
                    "Labels": self._labels(workspace_id),
                }
            )

    async def _run(
        self,
        handle: WorkspaceHandle,
        config: ResolvedConfig,
        limits: WorkspaceLimits,
        progress: Progress,
        *,
        rebuilt: bool = False,
        files: asyncio.Task[None] | None = None,
    ) -> WorkspaceHandle:
        """Make and start the container of `config`, replacing the workspace's old one; when
        `files` are still being written, wait for them before the checkout is given to the
        container's user and its lifecycle commands run."""
        area = self._area_of(handle)
        config, image = await self.images.image(
            area, config, progress, rebuilt=rebuilt, files=files
        )
        refuse_unsafe(config)
        ignored = ignored_fields(config)
        if ignored:
            progress(
                f"ignored {', '.join(ignored)} of {config.source}: Corral decides a workspace "
                "container's mounts, network and security options"
            )
        progress(f"starting a container of {config.image} ({config.source})")
        old = str(handle.state.get("container") or "")
        if old:
            await self.engine.remove_container(old)
        folder = config.workspace_folder or f"/workspaces/{area.checkout}"
        plan = ContainerPlan(
            workspace_id=handle.workspace_id,
            network=str(handle.state.get("network") or "") or await self.networks.take(area.root),
            folder=folder,
            hostname=area.checkout,
            labels=self._labels(handle.workspace_id),
            limits=_with_defaults(limits, self.default_limits),
            env=self._proxies(),
            agents_dir=self.agents_dir,
            tools_dir=self.tools_dir,
        )
        container = await self.engine.create_container(
            f"corral-{handle.workspace_id}", container_body(plan, config)
        )
        try:
            user = await self._user(container, config, image)
            await self.engine.start_container(container)
            self.networks.refill()
            if files is not None:
                await files
            owner = FileOwner(user.uid, user.gid)
            await asyncio.to_thread(give_tree, area.repo, owner)
            await asyncio.to_thread(give_tree, area.home, owner)
        except BaseException:
            await self.engine.remove_container(container)
            raise
        state: dict[str, Any] = {
            "container": container,
            "network": plan.network,
            "image": config.image,
            "user": user.model_dump(),
            "path": image_path(image, config),
            "remote_env": resolve_remote_env(config, image),
            "post_start": config.post_start,
        }
        made = self._handle(handle.workspace_id, area, folder, state)
        for name, commands in (
            ("onCreateCommand", config.on_create),
            ("updateContentCommand", config.update_content),
            ("postCreateCommand", config.post_create),
            ("postStartCommand", config.post_start),
        ):
            await self._lifecycle(made, name, commands, progress)
        return made

    async def _user(
        self, container: str, config: ResolvedConfig, image: dict[str, Any]
    ) -> ContainerUser:
        """The user processes run as, from the image's /etc/passwd; kept per image, which does
        not change (a rebuilt image has an id of its own)."""
        wanted = config.remote_user or config.container_user or image["Config"].get("User")
        key = (str(image.get("Id")), wanted or "root")
        if key not in self._users:
            passwd = await self.engine.read_file(container, "/etc/passwd")
            self._users[key] = find_user(key[1], passwd or b"", source=config.source)
        return self._users[key]

    async def _lifecycle(
        self, handle: WorkspaceHandle, name: str, commands: Sequence[Any], progress: Progress
    ) -> None:
        async def run(argv: list[str]) -> ExecResult:
            timeout = self.settings.lifecycle_timeout_seconds
            return await self.exec(handle, argv, timeout_seconds=timeout)

        await run_lifecycle(run, name, commands, progress)

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
            grace = self.settings.stop_grace_seconds
            await self.engine.stop_container(container, grace_seconds=grace)

    async def delete(self, handle: WorkspaceHandle) -> None:
        await self._remove(handle.workspace_id, self._area_of(handle).root)

    async def _remove(self, workspace_id: str, root: Path) -> None:
        """Everything of the workspace's: containers by label, its network and volumes, its
        area. Each step tolerates what is already gone."""
        for found in await self.engine.containers(f"{LABEL_WORKSPACE}={workspace_id}"):
            await self.engine.remove_container(str(found["Id"]))
        await self.networks.remove(root)
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
        remote_env = handle.state.get("remote_env")
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
                str(k): str(v)
                for k, v in (remote_env if isinstance(remote_env, dict) else {}).items()
                if v is not None
            },
            **(env or {}),
        }
        directory = container_path(handle, cwd) if cwd is not None else handle.repo
        return exec_command(
            self.docker, container, user, argv, directory=directory, values=values, tty=tty
        )

    def shell(self, handle: WorkspaceHandle) -> tuple[str, ...]:
        user = ContainerUser.model_validate(handle.state["user"])
        return (user.shell, "-l")

    def files(self, handle: WorkspaceHandle, *, max_read_bytes: int) -> WorkspaceFiles:
        area = self._area_of(handle)
        user = ContainerUser.model_validate(handle.state.get("user") or {})
        return WorkspaceFiles(
            (area.repo, area.home),
            seen_as=(handle.repo, handle.home),
            owner=FileOwner(user.uid, user.gid),
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
        node = await self.tools.node_binary(progress)
        argv = [self._in_container(Path(part)) for part in program.argv]
        path = f"{self._in_container(node.parent)}:{handle.state.get('path') or DEFAULT_PATH}"
        return await self.spawn_process(handle, argv, env={**env, "PATH": path})

    def _in_container(self, path: Path) -> str:
        """A path of the node's agent or tool cache as containers see it; others as they are."""
        for directory, mount in ((self.agents_dir, AGENTS_MOUNT), (self.tools_dir, TOOLS_MOUNT)):
            with contextlib.suppress(ValueError):
                return f"{mount}/{path.relative_to(directory)}".rstrip("/.")
        return str(path)

    # -- small things --------------------------------------------------------------------------

    def _area(self, workspace_id: str, checkout: str) -> Area:
        if not _ID.fullmatch(workspace_id):
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
        self, workspace_id: str, area: Area, folder: str, state: dict[str, Any]
    ) -> WorkspaceHandle:
        return WorkspaceHandle(
            workspace_id=workspace_id,
            runtime=self.name,
            repo=Path(folder),
            home=Path(HOME_MOUNT),
            state={**state, "checkout": area.checkout},
        )

    def _container(self, handle: WorkspaceHandle) -> str:
        container = str(handle.state.get("container") or "")
        if not container:
            raise RuntimeError_(
                f"workspace {handle.workspace_id} has no container: rebuild it",
                reason="workspace_unbuilt",
            )
        return container

    def _labels(self, workspace_id: str) -> dict[str, str]:
        """Labels naming the node (and the workspace): the node's id is read from its identity
        file once it has one, not again for every volume, network and container."""
        if not self._node_id:
            identity = load_identity(self.data_dir)
            self._node_id = identity.node_id if identity is not None else ""
        node = self._node_id
        return (
            {LABEL_WORKSPACE: workspace_id, LABEL_NODE: node}
            if workspace_id
            else {LABEL_NODE: node}
        )

    def _proxies(self) -> dict[str, str]:
        names = (*PROXY_VARIABLES, *NO_PROXY_VARIABLES)
        return {k: v for k, v in self.network.values.items() if k in names}


def _checkout_name(name: str) -> str:
    return _NAME.sub("-", name.lower()).strip("-.")[:64] or "workspace"


def _with_defaults(limits: WorkspaceLimits, defaults: WorkspaceLimits) -> WorkspaceLimits:
    return WorkspaceLimits(
        cpus=limits.cpus or defaults.cpus,
        memory_bytes=limits.memory_bytes or defaults.memory_bytes,
        pids=limits.pids or defaults.pids,
    )
