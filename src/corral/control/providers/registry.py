"""Finding a provider class by its registered name, through the `corral.providers` entry points.

As for the node's runtimes: a provider shipped in another package registers in its own
`pyproject.toml`, is enabled by name in `[providers] enabled`, and nothing is imported until a
node asks for it.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from corral.control.providers.base import Provider
from corral.errors import InvalidInput
from corral.settings import ProvidersSettings

__all__ = ["GROUP", "load_provider", "open_provider", "provider_names"]

GROUP = "corral.providers"


def provider_names() -> list[str]:
    """The names of every installed provider, sorted."""
    return sorted({entry.name for entry in entry_points(group=GROUP)})


def load_provider(name: str, settings: ProvidersSettings) -> type[Provider]:
    """The class of the enabled provider `name`; `InvalidInput` naming the enabled ones if
    there is none."""
    matches = entry_points(group=GROUP).select(name=name)
    if name not in settings.enabled or not matches:
        known = ", ".join(n for n in provider_names() if n in settings.enabled) or "none"
        raise InvalidInput(
            f"there is no provider named {name!r} (enabled: {known})",
            reason="unknown_provider",
            details=[{"field": "body.provider"}],
        )
    entry = next(iter(matches))
    try:
        loaded = entry.load()
    except ImportError as exc:  # a plugin whose package is broken or half installed
        raise InvalidInput(
            f"the provider {name!r} cannot be loaded: {exc}", reason="invalid_provider"
        ) from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Provider)):
        raise InvalidInput(
            f"the provider {name!r} ({entry.value}) is not a Provider class",
            reason="invalid_provider",
        )
    return loaded


def open_provider(name: str, settings: ProvidersSettings, secret: str | None) -> Provider:
    """A provider ready for one use with the user's opened credential."""
    return load_provider(name, settings).open(settings, secret)
