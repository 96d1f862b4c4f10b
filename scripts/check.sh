#!/usr/bin/env bash
# Lint, format check and type check: the same in CI as on a laptop.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests bench hatch_build.py
.venv/bin/ruff format --check src tests bench hatch_build.py
.venv/bin/mypy
# The import layers declared in pyproject.toml ([tool.importlinter]), with no exceptions.
.venv/bin/lint-imports --no-cache
