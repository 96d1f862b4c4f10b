"""Finding a runtime class by its registered name, through the `corral.runtimes` entry points.

Entry points, not an import-time registry: a runtime shipped in another package registers in its
own `pyproject.toml` and is chosen by name in the node's settings, and nothing is imported until
it is chosen.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path

from corral.errors import CorralError, InvalidInput
from corral.netenv import NetworkEnvironment
from corral.node.runtimes.base import Runtime
from corral.node.settings import NodeDaemonSettings

__all__ = ["GROUP", "load_runtime", "load_runtimes", "runtime_names"]

log = logging.getLogger("corral.runtimes")

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


def load_runtimes(
    settings: NodeDaemonSettings, *, network: NetworkEnvironment, agents_dir: Path
) -> tuple[dict[str, Runtime], dict[str, str]]:
    """The node's runtimes, built from its settings, by name; and those that cannot work here
    with the reason, which the node reports rather than refusing to start (a laptop without
    Docker still runs host workspaces). Settings that are wrong are an error, not a reason."""
    unknown = set(settings.runtime_settings) - set(settings.runtimes)
    if unknown:
        raise InvalidInput(
            f"runtime_settings names runtimes the node does not run: {', '.join(sorted(unknown))}"
            f" (it runs: {', '.join(settings.runtimes)})",
            reason="invalid_settings",
        )
    runtimes: dict[str, Runtime] = {}
    unavailable: dict[str, str] = {}
    for name in settings.runtimes:
        runtime_class = load_runtime(name)
        runtime_settings = runtime_class.settings_model.model_validate(
            settings.runtime_settings.get(name, {})
        )
        try:
            runtimes[name] = runtime_class(
                settings.data_dir / "workspaces",
                data_dir=settings.data_dir,
                settings=runtime_settings,
                network=network,
                agents_dir=agents_dir,
            )
        except CorralError as exc:
            if "runtimes" in settings.model_fields_set or name in settings.runtime_settings:
                raise  # asked for by name: a node that cannot give it must not start
            log.warning("the %s runtime cannot work here: %s", name, exc.message)
            unavailable[name] = exc.message
    if not runtimes:
        raise CorralError(
            "no runtime can work on this node: "
            + "; ".join(f"{name}: {problem}" for name, problem in unavailable.items())
        )
    return runtimes, unavailable
