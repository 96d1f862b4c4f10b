"""A repository's dev container configuration, read and built with the dev container CLI.

The CLI (`@devcontainers/cli`, pinned, installed into the node's tool cache like agents are)
does what only it does right: JSONC, variable substitution, merging an image's own metadata,
building a Dockerfile with features. Corral then runs the container itself (see
`corral.node.runtimes.devcontainer.runtime`), because the CLI's `up` costs several times what
`docker run` does and cannot add what Corral must (its network, limits and mounts).

What the CLI said about a configuration is kept in `<data>/devcontainer/configs/<key>.json`,
keyed by the content of the configuration's files, so a second workspace of the same repository
starts without running the CLI at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from corral.node.runtimes.base import Progress, RuntimeError_
from corral.processes import run_tool

__all__ = [
    "CONFIG_LOCATIONS",
    "IMAGE_REPOSITORY",
    "BuildFailed",
    "DevcontainerCli",
    "ResolvedConfig",
    "config_key",
    "find_config",
    "key_from_commit",
]

log = logging.getLogger("corral.runtimes.devcontainer")

CONFIG_LOCATIONS = (".devcontainer/devcontainer.json", ".devcontainer.json")
"""Where the CLI looks, in its order (`.devcontainer/<name>/devcontainer.json` too, below)."""
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_FILES = 500
IMAGE_REPOSITORY = "corral-devcontainer"
"""Images built from repositories' configurations are tagged `corral-devcontainer:<key>`."""
_TAIL_LINES = 40


class BuildFailed(RuntimeError_):
    """The repository's configuration could not be read or built: the message says why and how
    to go on with the node's default image instead."""

    reason = "devcontainer_build_failed"


class ResolvedConfig(BaseModel):
    """What Corral runs a container from: the CLI's merged configuration, trimmed to what is
    used, and the image to run (the configuration's, or the one built from its Dockerfile)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    image: str
    workspace_folder: str | None = None
    """The configuration's own `workspaceFolder`; None: `/workspaces/<checkout>`."""
    container_env: dict[str, str] = Field(default_factory=dict)
    remote_env: dict[str, str | None] = Field(default_factory=dict)
    container_user: str | None = None
    remote_user: str | None = None
    override_command: bool = True
    init: bool = False
    privileged: bool = False
    cap_add: list[str] = Field(default_factory=list)
    security_opt: list[str] = Field(default_factory=list)
    mounts: list[JsonValue] = Field(default_factory=list)
    run_args: list[str] = Field(default_factory=list)
    on_create: list[JsonValue] = Field(default_factory=list)
    update_content: list[JsonValue] = Field(default_factory=list)
    post_create: list[JsonValue] = Field(default_factory=list)
    post_start: list[JsonValue] = Field(default_factory=list)
    source: str = "default image"
    """Where it came from, for the provisioning log: a file of the repository, or the default."""


def find_config(repo: Path) -> Path | None:
    """The repository's devcontainer.json, as the CLI would find it; None if it has none."""
    for location in CONFIG_LOCATIONS:
        candidate = repo / location
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    folder = repo / ".devcontainer"
    if folder.is_dir() and not folder.is_symlink():
        nested = sorted(folder.glob("*/devcontainer.json"))
        if nested:
            return nested[0]
    return None


def config_files(config: str) -> str:
    """The folder (relative to the repository, `""` for its root) whose files make up the
    configuration at `config`: `.devcontainer/...` for one in there (its Dockerfile, scripts),
    only the file itself for a `.devcontainer.json` at the root."""
    return ".devcontainer" if config.startswith(".devcontainer/") else ""


def key_of(config: str, blobs: dict[str, str]) -> str:
    """The configuration's digest from the git blob ids of its files (`blobs`: path relative to
    the repository -> blob id): the same whether read from the commit or the working tree."""
    folder = config_files(config)
    digest = hashlib.sha256(config.encode() + b"\0")
    for path in sorted(blobs):
        if path == config or (folder and path.startswith(folder + "/")):
            digest.update(f"{path}\0{blobs[path]}\0".encode())
    return digest.hexdigest()[:32]


def config_key(config: Path, repo: Path) -> str:
    """The digest of the configuration as it is on disk (`key_of`, with git's blob ids computed
    here). Links are not followed and large files left out, as git would store a link."""
    relative = str(config.relative_to(repo))
    folder = config_files(relative)
    paths = [config]
    if folder:
        paths += [p for p in (repo / folder).rglob("*") if p.is_file() and not p.is_symlink()]
    blobs = {}
    for path in paths[:MAX_CONFIG_FILES]:
        data = _read_small(path)
        if data is not None:
            blobs[str(path.relative_to(repo))] = _blob_id(data)
    return key_of(relative, blobs)


async def key_from_commit(repo: Path, env: dict[str, str]) -> tuple[str, str] | None:
    """(the configuration's path, its digest) from the checkout's commit, before its files are
    written (`git clone --no-checkout`); None if the commit has no configuration."""
    listed: list[bytes] = []

    async def read(output: Any) -> None:
        listed.append(await output.read(4 * 1024 * 1024))

    argv = ["git", "-C", str(repo), "ls-tree", "-r", "-z", "HEAD", "--", *CONFIG_LOCATIONS[1:]]
    argv.append(".devcontainer")
    code = await run_tool(argv, env=env, read=read, timeout_seconds=60.0, merge_output=True)
    if code != 0:
        return None
    blobs = {}
    for entry in b"".join(listed).split(b"\0"):
        meta, _, path = entry.decode(errors="replace").partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == "blob" and fields[0] != "120000":
            blobs[path] = fields[2]
    config = _find_in(set(blobs))
    return (config, key_of(config, blobs)) if config is not None else None


def _find_in(paths: set[str]) -> str | None:
    """`find_config`'s choice among the paths of a commit."""
    for location in CONFIG_LOCATIONS:
        if location in paths:
            return location
    nested = sorted(
        p
        for p in paths
        if p.startswith(".devcontainer/") and p.count("/") == 2 and p.endswith("/devcontainer.json")
    )
    return nested[0] if nested else None


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _read_small(path: Path) -> bytes | None:
    """A regular file's bytes, if small; never blocks on a FIFO a workspace swapped in."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CONFIG_BYTES:
            return None
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read(MAX_CONFIG_BYTES)
    finally:
        os.close(fd)


class DevcontainerCli:
    """Runs the dev container CLI (its JavaScript entry, with the node's Node.js)."""

    def __init__(
        self,
        program: Callable[[Progress], Any],
        *,
        env: dict[str, str],
        cache_dir: Path,
        timeout_seconds: float,
    ) -> None:
        self._program = program
        self._env = env
        self.cache_dir = cache_dir
        self.timeout_seconds = timeout_seconds

    async def resolve(
        self, repo: Path, config: Path, progress: Progress, *, rebuild: bool
    ) -> ResolvedConfig:
        """The configuration at `config`, read and (for a Dockerfile) built into an image named
        after its files' digest (`IMAGE_REPOSITORY:<key>`), so workspaces of one configuration
        share it; from the cache when its files have not changed, unless `rebuild`."""
        key = config_key(config, repo)
        image_name = f"{IMAGE_REPOSITORY}:{key}"
        cached = self.cache_dir / f"{key}.json"
        if not rebuild:
            found = self.cached(key)
            if found is not None:
                return found
        source = str(config.relative_to(repo))
        progress(f"reading {source} with the dev container CLI")
        argv = await self._argv(progress)
        read = await self._run(
            [*argv, "read-configuration", "--include-merged-configuration"],
            repo,
            config,
            progress,
            doing=f"read {source}",
        )
        merged = _dict(read.get("mergedConfiguration")) or _dict(read.get("configuration"))
        if "dockerComposeFile" in merged:
            raise BuildFailed(
                f"{source} uses Docker Compose, which Corral's devcontainer runtime does not run "
                "yet; rebuild with the node's default image instead "
                "(`corral workspace rebuild WORKSPACE --default-image`)"
            )
        image = merged.get("image")
        if _dict(merged.get("build")) or "dockerFile" in merged or "dockerfile" in merged:
            progress(f"building the image of {source}")
            built = await self._run(
                [*argv, "build", "--image-name", image_name],
                repo,
                config,
                progress,
                doing=f"build {source}",
            )
            if built.get("outcome") != "success":
                raise _build_failed(source, built)
            image = image_name
        if not isinstance(image, str) or not image:
            raise BuildFailed(
                f"{source} names no image and no Dockerfile; rebuild with the node's default "
                "image instead (`corral workspace rebuild WORKSPACE --default-image`)"
            )
        resolved = from_merged(merged, image=image, source=source)
        self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = cached.with_suffix(".partial")
        partial.write_text(resolved.model_dump_json())
        partial.replace(cached)
        return resolved

    def cached(self, key: str) -> ResolvedConfig | None:
        """What the CLI said of the configuration with digest `key`, if it was asked before."""
        path = self.cache_dir / f"{key}.json"
        try:
            return ResolvedConfig.model_validate_json(path.read_text())
        except FileNotFoundError:
            return None
        except (ValidationError, OSError):
            log.warning("ignored an unreadable cached configuration %s", path)
            return None

    async def _argv(self, progress: Progress) -> list[str]:
        return list(await self._program(progress))

    async def _run(
        self, argv: list[str], repo: Path, config: Path, progress: Progress, *, doing: str
    ) -> dict[str, Any]:
        """Run a CLI command with JSON logs; its progress lines go to `progress` and its last
        JSON line on stdout is the answer."""
        full = [
            *argv,
            "--workspace-folder",
            str(repo),
            "--config",
            str(config),
            "--log-format",
            "json",
        ]
        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        answer: dict[str, Any] = {}

        async def read(output: Any) -> None:
            nonlocal answer
            async for raw in output:
                line = raw.decode(errors="replace").strip()
                if not line:
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    message = {"text": line}
                if not isinstance(message, dict):
                    continue
                if "outcome" in message or "configuration" in message:
                    answer = message
                    continue
                text = str(message.get("text", "")).strip()
                if text and message.get("type") in ("text", "raw", None):
                    for part in text.splitlines():
                        tail.append(part)
                        progress(part[:4000])

        try:
            code = await run_tool(
                full,
                env=self._env,
                read=read,
                timeout_seconds=self.timeout_seconds,
                merge_output=True,
            )
        except TimeoutError:
            raise BuildFailed(
                f"the dev container CLI did not {doing} within {self.timeout_seconds:g} s"
            ) from None
        except OSError as exc:
            raise BuildFailed(f"cannot run the dev container CLI: {exc.strerror or exc}") from None
        if code != 0 and not answer:
            lines = [line for line in tail if "rror" in line] or list(tail)
            raise BuildFailed(
                f"could not {doing}: {' | '.join(lines[-5:])[:1500]}; rebuild with the node's "
                "default image instead (`corral workspace rebuild WORKSPACE --default-image`)"
            )
        if answer.get("outcome") == "error":
            raise _build_failed(doing.removeprefix("build ").removeprefix("read "), answer)
        return answer


def from_merged(merged: dict[str, Any], *, image: str, source: str) -> ResolvedConfig:
    """The fields Corral uses, from the CLI's merged configuration (lifecycle commands come
    as lists there, one entry per source: features first, then the file)."""

    def strings(value: Any) -> dict[str, str]:
        return {str(k): str(v) for k, v in _dict(value).items() if v is not None}

    def commands(name: str) -> list[JsonValue]:
        plural = merged.get(f"{name}s")
        if isinstance(plural, list):
            return [c for c in plural if c]
        single = merged.get(name)
        return [single] if single else []

    # Only the file's own: the CLI's default names the first checkout it read, and what is
    # cached here serves every workspace of the configuration.
    folder = merged.get("workspaceFolder")
    run_args = merged.get("runArgs")
    return ResolvedConfig(
        image=image,
        workspace_folder=str(folder)
        if isinstance(folder, str) and folder.startswith("/")
        else None,
        container_env=strings(merged.get("containerEnv")),
        remote_env={
            str(k): (None if v is None else str(v))
            for k, v in _dict(merged.get("remoteEnv")).items()
        },
        container_user=merged.get("containerUser") or None,
        remote_user=merged.get("remoteUser") or None,
        override_command=merged.get("overrideCommand", True) is not False,
        init=merged.get("init") is True,
        privileged=merged.get("privileged") is True,
        cap_add=[str(c) for c in merged.get("capAdd") or []],
        security_opt=[str(s) for s in merged.get("securityOpt") or []],
        mounts=list(merged.get("mounts") or []),
        run_args=[str(a) for a in run_args] if isinstance(run_args, list) else [],
        on_create=commands("onCreateCommand"),
        update_content=commands("updateContentCommand"),
        post_create=commands("postCreateCommand"),
        post_start=commands("postStartCommand"),
        source=source,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _build_failed(source: str, answer: dict[str, Any]) -> BuildFailed:
    said = " ".join(
        str(answer.get(key) or "").strip() for key in ("message", "description")
    ).strip()
    return BuildFailed(
        f"the dev container of {source} did not build: {said[:1500] or 'no reason given'}; "
        "rebuild with the node's default image instead "
        "(`corral workspace rebuild WORKSPACE --default-image`)"
    )
