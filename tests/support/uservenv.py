"""Corral installed where a normal user can run it, to run a node daemon as one.

The tests run as root, from a checkout and a virtualenv a normal user may not reach (under
/root, or pytest's private temporary directories). So this makes a world-readable copy of the
project's sources, and a virtualenv on the system's Python (not a root-only one) with the locked
runtime dependencies, and installs the copy into it, editable. uv's cache makes it quick after
the first time on a machine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["NOBODY", "as_user", "install_for_users"]

NOBODY = 65534
PROJECT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
INSTALL_TIMEOUT_SECONDS = 600.0


def _run(*argv: str) -> None:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")


def install_for_users(base: Path) -> Path:
    """Install Corral under `base` (which everyone may traverse); return its `corral`."""
    uv = shutil.which("uv")
    assert uv, "uv installs Corral (scripts/install.sh puts it on the PATH)"
    project = base / "project"
    project.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "hatch_build.py"):
        shutil.copy(PROJECT / name, project / name)
    shutil.copytree(PROJECT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    venv = base / "venv"
    _run(uv, "venv", "--quiet", "--python", SYSTEM_PYTHON, str(venv))
    python = str(venv / "bin" / "python")
    _run(
        uv, "pip", "sync", "--quiet", "--python", python, str(PROJECT / "requirements/runtime.lock")
    )
    # Editable, from the copy: a wheel would build the web app first, which a node does not use.
    _run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", "-e", str(project))
    for path in (base, *base.rglob("*")):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o755 if path.is_dir() else 0o444))
    return venv / "bin" / "corral"


def as_user(uid: int) -> list[str]:
    """The prefix that runs a command as `uid` (and the group of that number), no other
    groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
