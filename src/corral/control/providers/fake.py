"""An in-memory provider for tests and benchmarks: machines are dictionary entries.

It keeps the contract of `Provider` (idempotent create by node label, delete of a missing
machine is fine, listing by instance label), so the reconcilers can be exercised without a
cloud. Its machines live in a class-level dictionary shared by every instance in the process.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

from corral.control.db.base import utcnow
from corral.control.providers.base import (
    LABEL_INSTANCE,
    LABEL_NODE,
    LABEL_OWNER,
    Machine,
    MachineRequest,
    MachineType,
    Progress,
    Provider,
    ProviderError,
    Region,
)
from corral.settings import ProvidersSettings

__all__ = ["FakeProvider"]


class FakeProvider(Provider):
    name = "fake"
    kind = "cloud"
    credential_kind = None

    machines: ClassVar[dict[str, Machine]] = {}
    """Every machine made and not deleted, by id."""
    requests: ClassVar[list[MachineRequest]] = []
    """Every create asked for, in order (the bootstrap with its join token included)."""
    failures: ClassVar[dict[str, list[ProviderError]]] = {}
    """Errors the next calls of a method (`create_machine` …) raise, one each, before doing
    anything."""
    _ids: ClassVar[itertools.count[int]] = itertools.count(1)

    @classmethod
    def open(cls, settings: ProvidersSettings, secret: str | None) -> FakeProvider:
        return cls()

    @classmethod
    def reset(cls) -> None:
        cls.machines.clear()
        cls.requests.clear()
        cls.failures.clear()

    @classmethod
    def fail(cls, method: str, *errors: ProviderError) -> None:
        cls.failures.setdefault(method, []).extend(errors)

    def _maybe_fail(self, method: str) -> None:
        if self.failures.get(method):
            raise self.failures[method].pop(0)

    async def machine_types(self) -> list[MachineType]:
        self._maybe_fail("machine_types")
        return [
            MachineType(
                name="small",
                cpus=2,
                memory_bytes=4 << 30,
                disk_bytes=40 << 30,
                hourly_price=0.01,
                currency="EUR",
                regions=("here",),
            )
        ]

    async def regions(self) -> list[Region]:
        self._maybe_fail("regions")
        return [Region(name="here", description="In memory")]

    async def create_machine(self, request: MachineRequest, progress: Progress) -> Machine:
        self._maybe_fail("create_machine")
        self.requests.append(request)
        for machine in self.machines.values():
            if machine.node_id == request.node_id:
                return machine
        machine_id = str(next(self._ids))
        machine = Machine(
            id=machine_id,
            name=request.node_name,
            status="running",
            created_at=utcnow(),
            labels={
                LABEL_INSTANCE: request.instance_id,
                LABEL_NODE: request.node_id,
                LABEL_OWNER: request.owner_id,
            },
            handle={"machine_id": machine_id},
        )
        self.machines[machine_id] = machine
        await progress("the machine was made")
        return machine

    async def delete_machine(self, node_id: str, handle: Mapping[str, Any]) -> None:
        self._maybe_fail("delete_machine")
        for machine_id, machine in list(self.machines.items()):
            if machine.node_id == node_id:
                del self.machines[machine_id]

    async def list_machines(self, instance_id: str) -> list[Machine]:
        self._maybe_fail("list_machines")
        return [m for m in self.machines.values() if m.instance_id == instance_id]
