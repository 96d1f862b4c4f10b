"""Reading and writing a workspace's files for an agent, tried the way an attacker in the
workspace would: links out, `..`, FIFOs, huge files, and trees that change during the call."""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.errors import InvalidInput, NotFound
from corral.node.workspacefiles import FileOwner, WorkspaceFiles

SECRET = "secret outside the workspace"
RACE_ROUNDS = 2000


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    repo, home, outside = tmp_path / "ws" / "repo", tmp_path / "ws" / "home", tmp_path / "out"
    for directory in (repo, home, outside):
        directory.mkdir(parents=True)
    (outside / "secret").write_text(SECRET)
    (repo / "hello.py").write_text("one\ntwo\nthree\n")
    return repo, home, outside


@pytest.fixture
def files(layout: tuple[Path, Path, Path]) -> WorkspaceFiles:
    repo, home, _ = layout
    return WorkspaceFiles([repo, home], max_read_bytes=1024)


def test_reads_a_file_by_absolute_or_relative_path(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path]
) -> None:
    repo, _, _ = layout
    assert files.read_text(str(repo / "hello.py")) == "one\ntwo\nthree\n"
    assert files.read_text("hello.py", line=2, limit=1) == "two\n"


def test_a_link_that_stays_inside_is_followed(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path]
) -> None:
    repo, _, _ = layout
    (repo / "sub").mkdir()
    (repo / "sub" / "link").symlink_to("../hello.py")
    assert files.read_text(str(repo / "sub" / "link")).startswith("one")


@pytest.mark.parametrize(
    "make_link",
    [
        pytest.param(lambda repo, out: (repo / "l").symlink_to(out / "secret"), id="absolute"),
        pytest.param(
            lambda repo, out: (repo / "l").symlink_to(os.path.relpath(out / "secret", repo)),
            id="relative",
        ),
        pytest.param(
            lambda repo, out: (repo / "l").symlink_to(
                f"/proc/{os.getpid()}/root" + str(out / "secret")
            ),
            id="magic",
        ),
    ],
)
def test_a_link_out_of_the_workspace_is_refused(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path], make_link: object
) -> None:
    repo, _, outside = layout
    make_link(repo, outside)  # type: ignore[operator]
    with pytest.raises(InvalidInput) as caught:
        files.read_text(str(repo / "l"))
    assert caught.value.reason == "path_outside_workspace"
    with pytest.raises(InvalidInput):
        files.write_text(str(repo / "l"), "overwritten")
    assert (outside / "secret").read_text() == SECRET


def test_paths_outside_or_climbing_out_are_refused(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path]
) -> None:
    repo, _, outside = layout
    for path in (str(outside / "secret"), f"{repo}/../../out/secret", "../../out/secret", "/"):
        with pytest.raises(InvalidInput) as caught:
            files.read_text(path)
        assert caught.value.reason == "path_outside_workspace", path
    with pytest.raises(InvalidInput):
        files.write_text(f"{repo}/../../out/new", "x")
    assert not (outside / "new").exists()


def test_a_missing_file_is_not_found_and_a_directory_is_not_a_file(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path]
) -> None:
    repo, _, _ = layout
    with pytest.raises(NotFound):
        files.read_text(str(repo / "missing.txt"))
    with pytest.raises(InvalidInput) as caught:
        files.read_text(str(repo))
    assert caught.value.reason == "not_a_file"
    assert not files.exists(str(repo / "missing.txt"))
    assert files.exists(str(repo / "hello.py"))


def test_a_fifo_is_refused_without_blocking(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path]
) -> None:
    repo, _, _ = layout
    os.mkfifo(repo / "pipe")
    for call in (
        lambda: files.read_text(str(repo / "pipe")),
        lambda: files.write_text(str(repo / "pipe"), "x"),
    ):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.reason == "not_a_file"


def test_reads_are_bounded(files: WorkspaceFiles, layout: tuple[Path, Path, Path]) -> None:
    repo, _, _ = layout
    (repo / "big").write_bytes(b"x" * 2048)
    with pytest.raises(InvalidInput) as caught:
        files.read_text(str(repo / "big"))
    assert caught.value.reason == "file_too_large"


def test_writes_make_the_directories_they_need(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path]
) -> None:
    _, home, _ = layout
    files.write_text(str(home / ".config" / "agent" / "settings.json"), "{}")
    assert (home / ".config" / "agent" / "settings.json").read_text() == "{}"
    files.make_dirs(str(home / ".agents" / "claude"))
    assert (home / ".agents" / "claude").is_dir()


def test_a_directory_linked_out_is_not_written_through(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path]
) -> None:
    _, home, outside = layout
    (home / ".agents").symlink_to(outside)
    with pytest.raises(InvalidInput):
        files.make_dirs(str(home / ".agents" / "claude"))
    with pytest.raises(InvalidInput):
        files.write_text(str(home / ".agents" / "made"), "x")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_what_is_made_belongs_to_the_workspace_user(layout: tuple[Path, Path, Path]) -> None:
    """The node runs as root on CI, as cloud nodes do: what it makes for the agent must not be
    root's."""
    assert os.geteuid() == 0, "the test suite runs as root (see scripts/test.sh)"
    repo, home, _ = layout
    owner = FileOwner(4242, 4343)
    files = WorkspaceFiles([repo, home], owner=owner)
    files.write_text(str(repo / "new" / "deep" / "file.txt"), "x")
    for path in (repo / "new", repo / "new" / "deep", repo / "new" / "deep" / "file.txt"):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == owner, path


# -- races -----------------------------------------------------------------------------------


def _flip_forever(stop: threading.Event, flip: object) -> None:
    while not stop.is_set():
        flip()  # type: ignore[operator]


@pytest.fixture
def racing(layout: tuple[Path, Path, Path]) -> Iterator[list[object]]:
    """Start the flippers a test appends; stop them when it ends."""
    flips: list[object] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(flip: object) -> None:
        thread = threading.Thread(target=_flip_forever, args=(stop, flip), daemon=True)
        thread.start()
        threads.append(thread)

    flips.append(start)
    yield flips
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def test_a_file_swapped_for_a_link_mid_call_never_leaks(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path], racing: list[object]
) -> None:
    repo, _, outside = layout
    target, staging = repo / "target", repo / "staging"

    def flip() -> None:
        staging.unlink(missing_ok=True)
        staging.symlink_to(outside / "secret")
        os.replace(staging, target)
        staging.write_text("inside\n")
        os.replace(staging, target)

    racing[0](flip)  # type: ignore[operator]
    leaked = written_outside = 0
    for _ in range(RACE_ROUNDS):
        with contextlib.suppress(InvalidInput, NotFound):
            leaked += SECRET in files.read_text(str(target))
        with contextlib.suppress(InvalidInput, NotFound):
            files.write_text(str(target), "agent wrote this\n")
        written_outside += (outside / "secret").read_text() != SECRET
    assert (leaked, written_outside) == (0, 0)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")


def test_a_directory_exchanged_with_a_link_mid_call_never_leaks(
    files: WorkspaceFiles, layout: tuple[Path, Path, Path], racing: list[object]
) -> None:
    repo, _, outside = layout
    (repo / "dir").mkdir()
    (repo / "dir" / "secret").write_text("inside\n")
    (repo / "link").symlink_to(outside)
    racing[0](lambda: _exchange(repo / "dir", repo / "link"))  # type: ignore[operator]
    leaked = made_outside = 0
    for _ in range(RACE_ROUNDS):
        with contextlib.suppress(InvalidInput, NotFound):
            leaked += SECRET in files.read_text(str(repo / "dir" / "secret"))
        with contextlib.suppress(InvalidInput, NotFound):
            files.write_text(str(repo / "dir" / "new" / "file"), "x")
        made_outside += (outside / "new").exists()
    assert (leaked, made_outside) == (0, 0)
