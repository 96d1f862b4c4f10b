"""Finding a runtime class by its registered name, through the `corral.runtimes` entry points.

Entry points, not an import-time registry: a runtime shipped in another package registers in its
own `pyproject.toml` and is chosen by name in the node's settings, and nothing is imported until
it is chosen.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from corral.errors import InvalidInput
from corral.node.runtimes.base import Runtime

__all__ = ["GROUP", "load_runtime", "runtime_names"]

GROUP = "corral.runtimes"


def runtime_names() -> list[str]:
    """The names of every installed runtime, sorted."""
    return sorted({entry.name for entry in entry_points(group=GROUP)})


def load_runtime(name: str) -> type[Runtime]:
    """The runtime class registered as `name`; `InvalidInput` naming the known ones if none is."""
    matches = entry_points(group=GROUP).select(name=name)
    if not matches:
        known = ", ".join(runtime_names()) or "none"
        raise InvalidInput(
            f"there is no runtime named {name!r} (known: {known})", reason="unknown_runtime"
        )
    entry = next(iter(matches))
    loaded = entry.load()
    if not (isinstance(loaded, type) and issubclass(loaded, Runtime)):
        raise InvalidInput(
            f"the runtime {name!r} ({entry.value}) is not a Runtime class",
            reason="invalid_runtime",
        )
    return loaded
