"""The `devcontainer` runtime: workspaces as dev containers on the node's Docker engine."""

from corral.node.runtimes.devcontainer.runtime import DevcontainerRuntime
from corral.node.runtimes.devcontainer.settings import DevcontainerSettings

__all__ = ["DevcontainerRuntime", "DevcontainerSettings"]
