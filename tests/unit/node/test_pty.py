"""PtyProcess: a real shell on a real PTY — round trip, job control, resize, bounded input,
exit, and a terminate that reaches every process the shell started."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.errors import InvalidInput
from corral.node.pty import InputOverflow, PtyProcess
from corral.node.runtimes.base import ProcessSpec, RuntimeError_
from tests.support.processes import cmdline, descendants
from tests.support.waits import eventually

TIMEOUT_SECONDS = 20.0


def shell_spec(tmp_path: Path, *argv: str) -> ProcessSpec:
    return ProcessSpec(
        argv=argv or ("/bin/bash", "--norc", "--noprofile", "-i"),
        env={"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "HOME": str(tmp_path), "PS1": "$ "},
        cwd=tmp_path,
    )


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie nobody reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rindex(b")") + 2 :].split()[0] not in (b"Z", b"X")


class Output:
    """Everything a PtyProcess prints, read by a task until EOF."""

    def __init__(self, pty: PtyProcess) -> None:
        self.data = bytearray()
        self.eof = False
        self._task = asyncio.create_task(self._read(pty))

    async def _read(self, pty: PtyProcess) -> None:
        while chunk := await pty.read():
            self.data += chunk
        self.eof = True

    async def wait_for(self, needle: bytes) -> None:
        await eventually(lambda: needle in self.data, repr(needle))

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})


@pytest.fixture
async def shell(tmp_path: Path) -> AsyncIterator[tuple[PtyProcess, Output]]:
    pty = await PtyProcess.start(shell_spec(tmp_path), cols=80, rows=24)
    output = Output(pty)
    try:
        yield pty, output
    finally:
        await pty.terminate(grace_seconds=1.0)
        await output.stop()
        pty.close()


async def test_round_trip(shell: tuple[PtyProcess, Output]) -> None:
    pty, output = shell
    pty.write(b"echo $((6 * 7))\r")
    await output.wait_for(b"42")


async def test_shell_has_job_control(shell: tuple[PtyProcess, Output]) -> None:
    pty, output = shell
    pty.write(b"case $- in *m*) echo MON''ITOR;; esac\r")
    await output.wait_for(b"MONITOR")
    # Ctrl-C reaches the foreground job through the controlling terminal: once there is one
    # (bash hands the terminal to the job before it executes `sleep`, not when it echoes it).
    pty.write(b"sleep 1000\r")
    await eventually(
        lambda: any(cmdline(pid).split() == ["sleep", "1000"] for pid in descendants(pty.pid)),
        "sleep 1000 running",
    )
    pty.write(b"\x03")
    pty.write(b"echo AF''TER $?\r")
    await output.wait_for(b"AFTER 130")
    assert b"no job control" not in output.data


async def test_resize_reaches_the_program(shell: tuple[PtyProcess, Output]) -> None:
    pty, output = shell
    pty.write(b"stty size\r")
    await output.wait_for(b"24 80\r\n")
    pty.resize(120, 40)
    pty.write(b"stty size\r")
    await output.wait_for(b"40 120\r\n")
    with pytest.raises(InvalidInput):
        pty.resize(0, 10)


async def test_exit_status_and_eof(tmp_path: Path) -> None:
    pty = await PtyProcess.start(
        shell_spec(tmp_path, "/bin/sh", "-c", "echo bye; exit 3"), cols=80, rows=24
    )
    output = Output(pty)
    try:
        await eventually(lambda: output.eof, "EOF")
        assert output.data == b"bye\r\n"
        assert await pty.wait() == 3
        assert pty.returncode == 3
    finally:
        await output.stop()
        pty.close()
    pty.close()  # closing twice is harmless
    assert pty.closed
    assert await pty.read() == b""


async def test_output_ends_when_a_leftover_process_holds_the_terminal(tmp_path: Path) -> None:
    script = "trap '' HUP; sleep 1000 & echo child=$!"  # the child ignores SIGHUP from birth
    pty = await PtyProcess.start(
        shell_spec(tmp_path, "/bin/sh", "-c", script), cols=80, rows=24, exit_drain_seconds=0.2
    )
    output = Output(pty)
    try:
        await eventually(lambda: output.eof, "EOF although the child holds the terminal")
        child = int(bytes(output.data).split(b"child=")[1].split()[0])
        assert await pty.wait() == 0
        assert alive(child)
        await pty.terminate(grace_seconds=0.2)
        await eventually(lambda: not alive(child), "the leftover child to die")
    finally:
        await output.stop()
        pty.close()


async def test_terminate_kills_every_process_of_the_session(
    shell: tuple[PtyProcess, Output],
) -> None:
    pty, output = shell
    # A plain background job, and one that ignores SIGHUP: both have process groups of their own.
    pty.write(b"sleep 1000 & a=$!; (trap '' HUP; exec sleep 1000) & b=$!; echo P''IDS $a $b\r")
    await output.wait_for(b"PIDS ")
    await eventually(lambda: output.data.split(b"PIDS ")[-1].count(b"\n") > 0, "the pids")
    pids = [int(p) for p in output.data.split(b"PIDS ")[-1].split()[:2]]
    assert all(alive(pid) for pid in pids)
    assert os.getpgid(pids[1]) != pty.pid
    status = await pty.terminate(grace_seconds=0.5)
    assert status is not None
    await eventually(lambda: not any(alive(pid) for pid in pids), "the background jobs to die")
    assert not alive(pty.pid)


async def test_input_is_bounded(tmp_path: Path) -> None:
    pty = await PtyProcess.start(
        shell_spec(tmp_path, "/bin/sh", "-c", "stty raw -echo; echo READY; exec sleep 1000"),
        cols=80,
        rows=24,
        max_pending_input_bytes=64 * 1024,
    )
    output = Output(pty)
    try:
        await output.wait_for(b"READY")
        chunk = b"x" * 16 * 1024
        with pytest.raises(InputOverflow):
            for _ in range(10_000):  # the kernel takes some; then our pending buffer fills
                pty.write(chunk)
                assert pty.pending_input_bytes <= 64 * 1024
        assert pty.pending_input_bytes <= 64 * 1024
        assert pty.returncode is None
    finally:
        await pty.terminate(grace_seconds=0.2)
        await output.stop()
        pty.close()


async def test_a_program_that_cannot_start_is_a_runtime_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError_, match="could not start /nonexistent"):
        await PtyProcess.start(shell_spec(tmp_path, "/nonexistent"), cols=80, rows=24)
