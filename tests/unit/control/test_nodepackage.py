"""The node package: a wheel of the running Corral that pip installs, built once per version."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import corral
from corral.control.nodepackage import node_package, node_package_name

INSTALL_TIMEOUT_SECONDS = 120


def test_the_wheel_is_this_corral_without_what_only_the_control_plane_serves(
    tmp_path: Path,
) -> None:
    wheel = node_package(tmp_path)
    assert wheel.name == node_package_name() == f"corral-{corral.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"corral-{corral.__version__}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        record = archive.read(f"{dist_info}/RECORD").decode()
        contents = {name: archive.read(name) for name in names}
    assert "corral/node/main.py" in names and "corral/control/providers/ssh_node.sh" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("corral/control/static/")]
    # The installed distribution's requirements, command and entry points.
    assert f"Version: {corral.__version__}" in metadata
    requires = distribution("corral").requires or []
    assert requires and all(f"Requires-Dist: {r}\n" in metadata for r in requires)
    assert "corral = corral.cli:main" in entry_points
    assert "[corral.runtimes]" in entry_points and "[corral.providers]" in entry_points
    assert "ssh = corral.control.providers.ssh:SshProvider" in entry_points
    # RECORD lists every other file with its size and urlsafe-base64 sha256, as PEP 376 says.
    rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(record))}
    assert set(rows) == set(names)
    assert rows[f"{dist_info}/RECORD"] == ["", ""]
    for name, (digest, size) in rows.items():
        if name.endswith("/RECORD"):
            continue
        expected = base64.urlsafe_b64encode(hashlib.sha256(contents[name]).digest()).rstrip(b"=")
        assert digest == f"sha256={expected.decode()}" and int(size) == len(contents[name])


def test_the_wheel_is_built_once_and_then_taken_from_the_cache(tmp_path: Path) -> None:
    first = node_package(tmp_path)
    built = first.stat().st_mtime_ns
    again = node_package(tmp_path)
    assert again == first and again.stat().st_mtime_ns == built
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary file left


def test_pip_installs_the_wheel_and_the_node_runs_from_it(tmp_path: Path) -> None:
    wheel = node_package(tmp_path / "cache")
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", venv], check=True, timeout=INSTALL_TIMEOUT_SECONDS
    )
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", wheel],
        check=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    assert (venv / "bin" / "corral").exists()
    shown = subprocess.run(
        [
            python,
            "-c",
            "import corral, corral.node; from importlib.metadata import entry_points; "
            "print(corral.__file__, corral.__version__); "
            "print(sorted(e.name for e in entry_points(group='corral.runtimes')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert str(venv) in shown and corral.__version__ in shown, shown
    assert "'host'" in shown, shown
    # The node's own entry point needs nothing beyond the standard library to answer --help.
    helped = subprocess.run(
        [python, "-m", "corral.node", "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0 and "pty-host" in helped.stdout, helped
