"""Providers make and remove the machines nodes run on: `local`, `ssh`, `hetzner` (base.py)."""
