"""The `devcontainer` runtime: workspaces as dev containers on the node's Docker engine."""

from corral.node.runtimes.devcontainer.runtime import DevcontainerRuntime, DevcontainerSettings

__all__ = ["DevcontainerRuntime", "DevcontainerSettings"]
