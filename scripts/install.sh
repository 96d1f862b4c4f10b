#!/usr/bin/env bash
# Install Corral into .venv from the locked requirements: `runtime` for running it, `dev` to test it.
set -euo pipefail
cd "$(dirname "$0")/.."
which_lock="${1:-runtime}"

need_apt=()
command -v git >/dev/null || need_apt+=(git)
# bubblewrap confines workspace processes and slirp4netns gives each a network of its own;
# without them the host runtime runs workspaces with less isolation (`corral node show` says).
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v slirp4netns >/dev/null || need_apt+=(slirp4netns)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  elif ! command -v git >/dev/null; then
    echo "Corral needs: ${need_apt[*]}; install them and run again." >&2
    exit 1
  else
    echo "note: install ${need_apt[*]} to run workspaces in a sandbox" >&2
  fi
fi

python3 - <<'PY' || { echo "Corral needs Python 3.11 or newer as python3." >&2; exit 1; }
import sys
sys.exit(sys.version_info < (3, 11))
PY

if ! command -v uv >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
[ -x .venv/bin/python ] || uv venv --quiet --python python3 .venv
uv pip sync --quiet --python .venv/bin/python "requirements/${which_lock}.lock"
uv pip install --quiet --python .venv/bin/python --no-deps -e .
