"""The `fake` runtime: workspaces without git or a sandbox, for testing what calls a runtime.

Shipped in the package, as httpx ships `MockTransport`, so the node daemon and the control plane
can be tested end to end (`runtime = "fake"` in a node's settings) without cloning anything.
It keeps the same layout and on-disk state as the `host` runtime, and runs commands unconfined
in the workspace's checkout, which holds only a README. Its settings inject the failures a
caller must handle: a create that fails, and one that is slow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from corral.netenv import NetworkEnvironment
from corral.node.runtimes._area import Area, AreaRuntime
from corral.node.runtimes.base import Progress, RuntimeError_
from corral.protocol.messages import WorkspaceSpec

__all__ = ["FakeRuntime", "FakeRuntimeSettings"]


class FakeRuntimeSettings(BaseModel):
    fail_create_with: str | None = Field(
        None, description="When set, every create fails with this message (as if git said it)."
    )
    create_delay_seconds: float = Field(
        0.0, ge=0, description="How long each create waits before it makes the workspace."
    )


class FakeRuntime(AreaRuntime):
    """Workspaces whose checkout is a README; commands run in it without a sandbox."""

    name: ClassVar[str] = "fake"
    settings_model: ClassVar[type[BaseModel]] = FakeRuntimeSettings

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        data_dir: Path | None = None,
        settings: FakeRuntimeSettings | None = None,
        network: NetworkEnvironment | None = None,
        agents_dir: Path | None = None,
    ) -> None:
        """`data_dir` is accepted so every runtime is built alike, and not used."""
        super().__init__(
            workspaces_dir,
            data_dir=data_dir or workspaces_dir.parent,
            network=network,
            agents_dir=agents_dir,
        )
        self.settings = settings or FakeRuntimeSettings()

    async def _populate(self, area: Area, spec: WorkspaceSpec, progress: Progress) -> None:
        progress("Cloning into 'repo'...")
        if self.settings.create_delay_seconds:
            await asyncio.sleep(self.settings.create_delay_seconds)
        if self.settings.fail_create_with is not None:
            raise RuntimeError_(self.settings.fail_create_with, reason="clone_failed")
        _make_checkout(area, spec)
        progress("done.")

    def _wrap(
        self, area: Area, argv: Sequence[str], cwd: Path, readable: Sequence[Path]
    ) -> tuple[str, ...]:
        return tuple(argv)


def _make_checkout(area: Area, spec: WorkspaceSpec) -> None:
    """A README in place of a clone; a missing local repository fails with git's words."""
    if spec.repo.startswith("/") and not Path(spec.repo).exists():
        raise RuntimeError_(
            f"fatal: repository '{spec.repo}' does not exist", reason="clone_failed"
        )
    area.repo.mkdir()
    readme = f"# {spec.name}\n\nA fake checkout of {spec.repo} at {spec.branch}.\n"
    (area.repo / "README.md").write_text(readme)
