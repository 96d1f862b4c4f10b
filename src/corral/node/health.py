"""What a node reports in its heartbeat: capacity and use of this machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NamedTuple

__all__ = ["MachineHealth", "WorkspaceCapacity", "read_machine_health"]


class WorkspaceCapacity(NamedTuple):
    """What the node offers its workspaces, from its settings; None: the whole machine."""

    cpus: float | None
    memory_bytes: int | None


class MachineHealth:
    def __init__(
        self,
        cpus: int,
        memory_total: int,
        memory_used: int,
        disk_total: int,
        disk_used: int,
        load1: float,
    ) -> None:
        self.cpus, self.load1 = cpus, load1
        self.memory_total, self.memory_used = memory_total, memory_used
        self.disk_total, self.disk_used = disk_total, disk_used


def _meminfo() -> tuple[int, int]:
    fields: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                fields[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return 0, 0
    total = fields.get("MemTotal", 0)
    return total, total - fields.get("MemAvailable", total)


def read_machine_health(data_dir: Path) -> MachineHealth:
    memory_total, memory_used = _meminfo()
    disk = shutil.disk_usage(data_dir)
    return MachineHealth(
        cpus=os.cpu_count() or 0,
        memory_total=memory_total,
        memory_used=memory_used,
        disk_total=disk.total,
        disk_used=disk.used,
        load1=os.getloadavg()[0],
    )
