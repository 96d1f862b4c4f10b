"""The node package: a wheel of the running Corral that a remote machine pip-installs to become a
node, at exactly the control plane's version.

It is made from the installed `corral` package (an editable install's source tree in
development), without what only the control plane's own machine needs: the built web app
(`control/static`, most of the package's size: a node serves no pages) and bytecode caches.
Its metadata is the installed distribution's: the same `Requires-Dist`, the `corral` command
and the entry points (`corral.runtimes`, `corral.providers`), so what the remote installs works
as the control plane's copy does.

Written by hand as a zip with a RECORD (PEP 427) rather than with `wheel` or `hatchling`:
those are build tools, installed for development only, not with the control plane.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import zipfile
from importlib.metadata import Distribution, distribution
from pathlib import Path

import corral

__all__ = ["node_package", "node_package_name"]

_DISTRIBUTION = "corral"
_LEFT_OUT_DIRS = {"__pycache__"}
_LEFT_OUT_PATHS = {("control", "static")}
"""Package-relative directories left out: the web app, served only by the control plane."""
_LEFT_OUT_SUFFIXES = (".pyc", ".pyo")
_METADATA_FIELDS = ("Summary", "Requires-Python", "License-Expression", "Provides-Extra")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every entry's timestamp, so that the same files make the same bytes."""


def node_package_name(version: str = corral.__version__) -> str:
    """The wheel's file name, as pip requires it to be."""
    return f"{_DISTRIBUTION}-{version}-py3-none-any.whl"


def node_package(cache_dir: Path) -> Path:
    """The node package of the running Corral, built into `cache_dir` on first use and the
    cached file after that. The cache is keyed by version and by the package's files (names,
    sizes, modification times), so a development checkout whose version did not move still
    gets its current code. Safe to call from several processes at once: each builds to a
    temporary file and renames it into place."""
    package_dir = Path(corral.__file__).parent
    files = _package_files(package_dir)
    fingerprint = hashlib.sha256()
    for relative, path in files:
        stat = path.stat()
        fingerprint.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    target_dir = cache_dir / f"{corral.__version__}-{fingerprint.hexdigest()[:16]}"
    target = target_dir / node_package_name()
    if target.is_file():
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".building-", suffix=".whl", dir=target_dir)
    os.close(fd)
    try:
        _write_wheel(Path(tmp_name), files, distribution(_DISTRIBUTION))
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def _package_files(package_dir: Path) -> list[tuple[str, Path]]:
    """(path in the wheel, path on disk) of every file of the package, sorted."""
    found = []
    for root, dirs, names in os.walk(package_dir):
        relative_root = Path(root).relative_to(package_dir)
        dirs[:] = [
            d
            for d in dirs
            if d not in _LEFT_OUT_DIRS and (relative_root / d).parts not in _LEFT_OUT_PATHS
        ]
        for name in names:
            if name.endswith(_LEFT_OUT_SUFFIXES):
                continue
            path = Path(root) / name
            if path.is_file():
                found.append(((Path("corral") / relative_root / name).as_posix(), path))
    return sorted(found)


def _metadata(dist: Distribution) -> str:
    installed = dist.metadata
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {_DISTRIBUTION}",
        f"Version: {corral.__version__}",
    ]
    for name in _METADATA_FIELDS:
        lines += [f"{name}: {value}" for value in installed.get_all(name) or []]
    lines += [f"Requires-Dist: {requirement}" for requirement in dist.requires or []]
    return "\n".join(lines) + "\n"


def _entry_points(dist: Distribution) -> str:
    groups: dict[str, list[str]] = {}
    for entry in dist.entry_points:
        groups.setdefault(entry.group, []).append(f"{entry.name} = {entry.value}")
    return "".join(
        f"[{group}]\n" + "".join(f"{line}\n" for line in sorted(lines)) + "\n"
        for group, lines in sorted(groups.items())
    )


def _wheel_file() -> str:
    return (
        "Wheel-Version: 1.0\n"
        f"Generator: corral {corral.__version__}\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )


def _write_wheel(path: Path, files: list[tuple[str, Path]], dist: Distribution) -> None:
    dist_info = f"{_DISTRIBUTION}-{corral.__version__}.dist-info"
    record: list[str] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")

        for name, source in files:
            add(name, source.read_bytes())
        add(f"{dist_info}/METADATA", _metadata(dist).encode())
        add(f"{dist_info}/WHEEL", _wheel_file().encode())
        add(f"{dist_info}/entry_points.txt", _entry_points(dist).encode())
        record.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=_ZIP_TIME)
        info.external_attr = 0o644 << 16
        wheel.writestr(info, "\n".join(record) + "\n", compress_type=zipfile.ZIP_DEFLATED)
