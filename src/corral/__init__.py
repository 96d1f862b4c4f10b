"""Corral: run AI coding agents in sandboxed workspaces on machines you own."""

__version__ = "0.1.0"
__all__ = ["__version__"]
