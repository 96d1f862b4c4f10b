"""Builds the web app into Corral's wheel.

The control plane serves the web app from `src/corral/control/static/`, which is built from
`web/` and not kept in git. A wheel without it would run, but show no app at `/`; so building a
wheel (`python -m build`, `uv build`, `pipx install .`) builds the web app first, with the
same script `make up` uses, and fails with a clear message when Node.js cannot do it. Only
building needs Node.js: the wheel carries the built files. Editable installs (`make up`,
`make test`) build the web app with that script themselves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NODE_VERSION = (20, 19)
STATIC = "src/corral/control/static"


class WebAppBuildHook(BuildHookInterface[BuilderConfig]):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        _require_node()
        result = subprocess.run(
            ["bash", str(root / "scripts" / "build-web.sh")], cwd=root, check=False
        )
        if result.returncode != 0 or not (root / STATIC / "index.html").is_file():
            raise RuntimeError("building the web app failed (see npm's output above); no wheel")


def _require_node() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError(
            "building Corral's wheel needs Node.js "
            f"{'.'.join(map(str, NODE_VERSION))} or newer, with npm, to build the web app it "
            "carries; install them (only building needs them) and try again"
        )
    output = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    found = re.match(r"v(\d+)\.(\d+)", output.stdout.strip())
    if found is None or (int(found[1]), int(found[2])) < NODE_VERSION:
        raise RuntimeError(
            f"building Corral's wheel needs Node.js {'.'.join(map(str, NODE_VERSION))} or newer "
            f"for its web app; {node} is {output.stdout.strip() or 'of an unknown version'}"
        )
