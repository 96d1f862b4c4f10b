#!/usr/bin/env bash
# Build the web app (web/) into src/corral/control/static/, which the control plane serves at /.
# Needs Node.js and npm; without them Corral still runs, and / says how to get the web app.
# Skips the build when nothing in web/ changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/corral/control/static
if ! command -v npm >/dev/null; then
  echo "note: Node.js and npm are not installed; the web app is not built" >&2
  exit 0
fi
stamp="$(cd web && cat package.json package-lock.json codegen/package.json .npmrc index.html vite.config.ts tsconfig*.json \
  $(find src -type f | sort) | sha256sum | cut -d' ' -f1)"
if [ -f "$out/index.html" ] && [ "$(cat "$out/.build-stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "building the web app" >&2
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
echo "$stamp" > "$out/.build-stamp"
