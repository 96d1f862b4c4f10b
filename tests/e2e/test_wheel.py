"""The wheel a user installs carries the web app: built with `python -m build` (the source
distribution, then the wheel from it, as `pipx install` of a source tree does), installed into a
fresh virtualenv, run with no Node.js on the PATH, and `/` loaded in Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import UI_TIMEOUT_MS, chromium
from tests.support.processes import corral_env, corral_server

PROJECT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_SECONDS = 600.0


def _run(*argv: str, cwd: Path | None = None) -> None:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin` directory of a fresh virtualenv with only Corral's wheel (and its locked
    dependencies) installed."""
    base = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "build", "--outdir", str(base / "dist"), str(PROJECT))
    wheels = list((base / "dist").glob("corral-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert "corral/control/static/index.html" in names
    assert any(n.startswith("corral/control/static/assets/") for n in names)
    uv = shutil.which("uv")
    assert uv, "uv makes the virtualenv (scripts/install.sh puts it on the PATH)"
    venv = base / "venv"
    _run(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    _run(
        uv, "pip", "sync", "--quiet", "--python", python, str(PROJECT / "requirements/runtime.lock")
    )
    _run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", str(wheels[0]))
    yield venv / "bin"


def test_the_installed_wheel_serves_the_web_app_without_nodejs(
    installed: Path, tmp_path: Path
) -> None:
    # Only the virtualenv on the PATH: no Node.js, no npm, nothing of the source tree.
    env = corral_env(tmp_path / "home", None, PATH=str(installed))
    with corral_server(
        tmp_path / "data",
        env,
        command="up",
        extra_args=["--no-browser"],
        corral=installed / "corral",
    ) as server:
        assert server.link is not None
        with chromium() as browser:
            page = browser.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(server.link)
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            page.close()
