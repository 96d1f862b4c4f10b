#!/usr/bin/env bash
# Re-resolve the locked dependencies after pyproject.toml changes. Hashes pin every file;
# no index URL is written, so the locks install from whatever index pip or uv is set up with.
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -q -o requirements/runtime.lock
uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -q -o requirements/dev.lock
