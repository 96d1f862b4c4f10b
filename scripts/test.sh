#!/usr/bin/env bash
# Everything CI does: install test needs, lint and type-check, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
scripts/install.sh dev
scripts/build-web.sh
# The web app's generated API code (web/src/api/generated/) matches the control plane's; this
# needs web/'s packages, which build-web.sh installed.
scripts/generate-web-api.sh --check
scripts/check.sh
# The web app: its format (Prettier) and component tests (Vitest, jsdom); build-web.sh
# installed its packages and type-checked it.
(cd web && npm run lint --silent && npm test --silent)
exec .venv/bin/pytest "$@"
