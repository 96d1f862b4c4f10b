"""Installing an agent into the node's cache, with a stand-in for npm."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from corral.node.acp.install import AgentInstaller
from corral.protocol.agents import AgentLaunch

# Writes a package under --prefix the way npm would under umask 077: readable by its owner only.
FAKE_NPM = """#!/bin/sh
while [ "$1" != "--prefix" ]; do shift; done
prefix="$2"
umask 077
mkdir -p "$prefix/node_modules/.bin" "$prefix/node_modules/agent/lib"
printf '#!/bin/sh\\necho agent\\n' > "$prefix/node_modules/agent/cli.js"
chmod 700 "$prefix/node_modules/agent/cli.js"
echo 'module.exports = 1' > "$prefix/node_modules/agent/lib/index.js"
ln -s ../agent/cli.js "$prefix/node_modules/.bin/agent"
echo "added 1 package"
"""


async def test_an_install_is_readable_by_every_workspace_user(tmp_path: Path) -> None:
    """On a root node each workspace runs as a uid of its own: the install must not be the
    node's alone, even under `corral up`'s umask 077."""
    npm = tmp_path / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(0o755)
    installer = AgentInstaller(tmp_path / "agents", npm=str(npm))
    agent = AgentLaunch.model_validate(
        {"name": "fake", "command": ["agent"], "package": "agent", "version": "1.0.0"}
    )
    lines: list[str] = []
    argv, directory = await installer.ensure(agent, lines.append)
    assert directory is not None
    assert argv == [str(directory / "node_modules" / ".bin" / "agent")]
    assert "added 1 package" in lines
    for root, directories, files in os.walk(directory):
        for name in directories:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) & 0o555 == 0o555
        for name in files:
            mode = os.lstat(os.path.join(root, name)).st_mode
            if stat.S_ISREG(mode):
                assert mode & 0o444 == 0o444, name
    cli = directory / "node_modules" / "agent" / "cli.js"
    assert cli.stat().st_mode & 0o111 == 0o111, "what its owner may run, everyone may"
    index = directory / "node_modules" / "agent" / "lib" / "index.js"
    assert index.stat().st_mode & 0o111 == 0, "nothing becomes runnable that was not"
