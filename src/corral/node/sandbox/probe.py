"""What confinement works on this machine, found by trying it.

Being installed is not enough: kernels and container hosts forbid namespaces, a
`/dev/net/tun` may be closed to the node's user, a seccomp profile may refuse `openat2`. So
each probe starts one sandbox through the launcher exactly as a workspace's would be started,
running `true`, and reports what went wrong in the tools' own words.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile

from corral.node.sandbox import DEFAULT_SYSTEM_PATHS, launcher_argv
from corral.node.sandbox.launcher import SandboxSpec

__all__ = ["sandbox_problem"]

PROBE_TIMEOUT_SECONDS = 20.0
_PROBE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_MESSAGE_CHARS = 300


@functools.cache
def sandbox_problem(
    *, uid: int | None, network: bool, bwrap: str = "bwrap", slirp4netns: str = "slirp4netns"
) -> str | None:
    """Why a sandbox (run as `uid`, with its own network if `network`) cannot be made here, or
    None when it can. Checked once per process for each combination."""
    tools = [(bwrap, "bubblewrap")]
    if network:
        tools.append((slirp4netns, "slirp4netns"))
    for tool, package in tools:
        if shutil.which(tool) is None:
            return f"{tool} is not installed (install the {package} package)"
    with tempfile.TemporaryDirectory(prefix="corral-probe-") as tmp:
        spec = SandboxSpec(
            command=["true"],
            cwd="/",
            tmp=tmp,
            system=list(DEFAULT_SYSTEM_PATHS),
            uid=uid,
            gid=uid,
            network=network,
            bwrap=shutil.which(bwrap) or bwrap,
            slirp4netns=shutil.which(slirp4netns) or slirp4netns,
        )
        try:
            result = subprocess.run(
                launcher_argv(spec),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env={"PATH": _PROBE_PATH},
                timeout=PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"a trial sandbox did not finish within {PROBE_TIMEOUT_SECONDS:g} s"
        except OSError as exc:
            return f"the sandbox launcher could not be started: {exc.strerror or exc}"
    if result.returncode != 0:
        message = " ".join(result.stderr.decode(errors="replace").split())
        return (message or f"a trial sandbox exited with {result.returncode}")[:_MAX_MESSAGE_CHARS]
    return None
