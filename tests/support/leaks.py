"""Looking for a secret where it must not be: in a file a test's processes wrote, or in the
environment of any process still running (which is where a token handed to a long-lived
process, or left behind by a git that outlived its command, would show)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["assert_in_no_file_or_environ"]


def assert_in_no_file_or_environ(
    base: Path, secrets: Sequence[str], *, skip: Sequence[Path] = ()
) -> None:
    """No file under `base` (but those under `skip`, such as a fake forge's own store) and no
    `/proc/*/environ` holds any of `secrets`. Files the test may not read are passed over."""
    needles = [secret.encode() for secret in secrets]
    assert needles and all(needles), "no secret to look for: the check would prove nothing"
    for path in base.rglob("*"):
        if any(path.is_relative_to(s) for s in skip) or path.is_symlink() or not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except PermissionError:
            continue
        assert not any(n in data for n in needles), f"a secret is in {path}"
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            data = environ.read_bytes()
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
        assert not any(n in data for n in needles), f"a secret is in {environ}"
