"""A minimal Debian image for the Docker tests, built here with debootstrap and cached between
test runs, because no image registry is reachable from the machines the tests run on.

`base_image(engine)` returns a reference like `corral-test/bookworm:minbase-amd64-1a2b3c4d5e6f`
after making sure `engine` has it. The first build takes about half a minute (debootstrap from
the machine's Debian mirror); later runs import the cached archive in about a second, and a
dockerd that already has the tag skips even that.

What is in it: Debian's `minbase` (essential and required packages: bash, coreutils, perl-base
for small TCP servers and clients in tests, and passwd, whose `useradd` gives a devcontainer
its normal user) plus `ca-certificates` (agents speak TLS), `procps` (`ps`, `pkill`, to see
what a runtime left running) and `python3` (the scripted agent runs in a dev container as a
user's own agent would, on the image's Python). Not Node.js: a runtime must bring its own,
and the tests check that it does. Documentation, man pages, translations and apt's lists and
caches are removed.

The cache: `$CORRAL_TEST_CACHE/images`, else `~/.cache/corral-tests/images`, one zstd-packed
tar per key. The key covers the suite, variant, architecture, packages and `RECIPE` (raise it
when the trimming or packing changes), so a change builds a new archive; old ones can be
deleted at any time. The archive is written under a temporary name and renamed, and a lock
(flock) on the directory lets one test process build while the others wait for it.

The mirror and proxy come from this machine's apt configuration (or `$CORRAL_TEST_DEBIAN_MIRROR`,
and `$http_proxy`/`$https_proxy`), checked with one request before debootstrap runs, so an
unreachable mirror fails within seconds with its name; debootstrap's whole run is bounded too.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.support.docker import DOCKER_TIMEOUT_SECONDS, DockerEngine
from tests.support.mounts import unmount_below

__all__ = [
    "BASE",
    "ImageSpec",
    "Progress",
    "base_image",
    "cache_dir",
    "debian_mirror",
    "rootfs_archive",
]

Progress = Callable[[str], None]
RECIPE = 1
"""Part of every key: raise it when `_trim` or `_pack` changes what an archive holds."""
MIRROR_CHECK_SECONDS = 15.0
DEBOOTSTRAP_TIMEOUT_SECONDS = 600.0
"""About 30 s here; a slow mirror may take minutes, a stuck one must not take forever."""
PACK_TIMEOUT_SECONDS = 120.0
LOCK_WAIT_SECONDS = DEBOOTSTRAP_TIMEOUT_SECONDS + 2 * PACK_TIMEOUT_SECONDS
"""Another process's whole build, at its slowest."""
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_POLL_SECONDS = 0.5
_LOG_TAIL_LINES = 25
_TRIMMED = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/log",
)
_PER_PACKAGE = {
    "Retrieving": "downloading",
    "Validating": "downloading",
    "Extracting": "extracting",
    "Unpacking": "unpacking",
    "Configuring": "configuring",
}


@dataclass(frozen=True)
class ImageSpec:
    """What debootstrap is asked for."""

    suite: str = "bookworm"
    variant: str = "minbase"
    include: tuple[str, ...] = ("ca-certificates", "procps", "python3")

    @property
    def key(self) -> str:
        recipe = [self.suite, self.variant, _arch(), sorted(self.include), RECIPE]
        digest = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:12]
        return f"{self.variant}-{_arch()}-{digest}"

    @property
    def tag(self) -> str:
        return f"corral-test/{self.suite}:{self.key}"

    @property
    def archive_name(self) -> str:
        return f"debian-{self.suite}-{self.key}.tar.zst"


BASE = ImageSpec()


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def base_image(
    engine: DockerEngine, spec: ImageSpec = BASE, progress: Progress = _to_stderr
) -> str:
    """The image's reference, imported into `engine` unless it has it already, built first
    unless the cache has it. `progress` is told what a long build is doing."""
    if engine.docker("image", "inspect", spec.tag, check=False).returncode == 0:
        return spec.tag
    archive = rootfs_archive(spec, progress=progress)
    _import(engine, archive, spec.tag)
    return spec.tag


def cache_dir() -> Path:
    root = os.environ.get("CORRAL_TEST_CACHE") or Path.home() / ".cache" / "corral-tests"
    return Path(root) / "images"


def rootfs_archive(
    spec: ImageSpec,
    *,
    cache: Path | None = None,
    mirror: str | None = None,
    progress: Progress = _to_stderr,
) -> Path:
    """The cached archive of `spec`'s root file system, built now if it is not there."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / spec.archive_name
    if archive.exists():
        return archive
    with _locked(cache / "build.lock", progress):
        if archive.exists():  # another process built it while this one waited
            return archive
        _remove_leftovers(cache)
        _build(spec, archive, mirror or debian_mirror(spec.suite), progress)
    return archive


def debian_mirror(suite: str) -> str:
    """`$CORRAL_TEST_DEBIAN_MIRROR`, or the first http(s) apt source serving `suite`."""
    if chosen := os.environ.get("CORRAL_TEST_DEBIAN_MIRROR"):
        return chosen.rstrip("/")
    for source_type, uri, suites in _apt_sources():
        if source_type == "deb" and suite in suites and uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
    raise RuntimeError(
        f"no apt source for Debian {suite} in /etc/apt to build the test image from: "
        "set CORRAL_TEST_DEBIAN_MIRROR to a Debian mirror's URL"
    )


def _apt_sources() -> Iterator[tuple[str, str, list[str]]]:
    """(type, URI, suites) of each source, one-line (.list) and deb822 (.sources) alike."""
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        for line in _read(path).splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3:
                yield words[0], words[1], [words[2]]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", _read(path)):
            fields = dict(re.findall(r"^([\w-]+):\s*(.*)$", stanza, re.MULTILINE))
            if fields.get("Enabled", "yes").lower() == "no":
                continue
            for source_type in fields.get("Types", "").split():
                for uri in fields.get("URIs", "").split():
                    yield source_type, uri, fields.get("Suites", "").split()


def _proxy(mirror: str) -> str | None:
    """The proxy for the mirror's scheme: the environment's, else apt's (none for DIRECT)."""
    scheme = urlsplit(mirror).scheme
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        if os.environ.get(name):
            return os.environ[name]
    dump = subprocess.run(
        ["apt-config", "dump"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    found = re.search(rf'^Acquire::{scheme}::Proxy "([^"]*)";$', dump, re.MULTILINE | re.I)
    if found and found.group(1) and found.group(1).upper() != "DIRECT":
        return found.group(1)
    return None


def _build(spec: ImageSpec, archive: Path, mirror: str, progress: Progress) -> None:
    started = time.monotonic()
    progress(f"test image: building {spec.tag} with debootstrap from {mirror}, once;")
    progress(f"test image: it is kept in {archive.parent}")
    proxy = _proxy(mirror)
    _check_mirror(mirror, spec.suite, proxy)
    workdir = Path(tempfile.mkdtemp(prefix=".rootfs-", dir=archive.parent))
    try:
        rootfs = workdir / "rootfs"
        _debootstrap(spec, rootfs, mirror, proxy, workdir / "debootstrap.log", progress)
        _trim(rootfs)
        progress("test image: packing")
        _pack(rootfs, archive)
    finally:
        unmount_below(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    size_mb = archive.stat().st_size / 1e6
    progress(f"test image: built in {time.monotonic() - started:.0f} s ({size_mb:.0f} MB)")


def _check_mirror(mirror: str, suite: str, proxy: str | None) -> None:
    """One bounded request, so an unreachable mirror fails now, by name, not in debootstrap's
    retries."""
    url = f"{mirror}/dists/{suite}/InRelease"
    try:
        with httpx.Client(proxy=proxy, trust_env=False, timeout=MIRROR_CHECK_SECONDS) as client:
            response = client.head(url, follow_redirects=True)
    except httpx.HTTPError as exc:
        via = f" through the proxy {proxy}" if proxy else ""
        raise RuntimeError(
            f"the Debian mirror {mirror} is unreachable{via} ({exc!r}); the test image is "
            "built from it. Set CORRAL_TEST_DEBIAN_MIRROR to one that is reachable."
        ) from exc
    if response.status_code != 200:
        raise RuntimeError(
            f"the Debian mirror {mirror} answered {response.status_code} for {url}: "
            f"is it a Debian mirror serving {suite}? (CORRAL_TEST_DEBIAN_MIRROR chooses another)"
        )


def _debootstrap(
    spec: ImageSpec, rootfs: Path, mirror: str, proxy: str | None, log: Path, progress: Progress
) -> None:
    command = ["debootstrap", f"--variant={spec.variant}", f"--arch={_arch()}"]
    command += [f"--include={','.join(spec.include)}", spec.suite, str(rootfs), mirror]
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    if proxy:
        env.update(http_proxy=proxy, https_proxy=proxy)
    with log.open("wb") as out:
        # A session of its own: on timeout its whole group (wget, chroot, dpkg) is killed.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    shown = _follow(process, log, progress)
    if process.returncode != 0:
        details = _tail(rootfs / "debootstrap" / "debootstrap.log") or _tail(log)
        raise RuntimeError(f"debootstrap from the Debian mirror {mirror} {shown}:\n{details}")


def _follow(process: subprocess.Popen[bytes], log: Path, progress: Progress) -> str:
    """Wait for debootstrap, bounded, telling `progress` each new phase it starts. Returns how
    it ended, for an error message."""
    deadline = time.monotonic() + DEBOOTSTRAP_TIMEOUT_SECONDS
    seen, phase = 0, ""
    while True:
        try:
            process.wait(timeout=_POLL_SECONDS)
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
        lines = log.read_text(errors="replace").splitlines()
        for line in lines[seen : len(lines) if ended else -1]:  # the last may be half-written
            phase = _report(line, phase, progress)
        seen = max(seen, len(lines) if ended else len(lines) - 1)
        if ended:
            return f"exited with {process.returncode}"
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=_POLL_SECONDS * 20)
            return f"did not finish in {DEBOOTSTRAP_TIMEOUT_SECONDS:.0f} s"


def _report(line: str, phase: str, progress: Progress) -> str:
    """Pass on debootstrap's messages, one line per phase for its per-package ones."""
    level, _, message = line.partition(": ")
    if level not in ("I", "W", "E"):
        return phase
    verb = message.split(" ", 1)[0]
    current = _PER_PACKAGE.get(verb, message)
    if current != phase:
        progress(f"test image: {current}{' packages' if verb in _PER_PACKAGE else ''}")
    return current


def _trim(rootfs: Path) -> None:
    """Remove what no test reads (about 130 of 220 MB), and this machine's name and resolver,
    which debootstrap copies in (docker mounts the container's own over them)."""
    for relative in _TRIMMED:
        for child in (rootfs / relative).iterdir():
            _remove(child)
    for child in (rootfs / "usr/share/locale").iterdir():
        if child.is_dir():  # locale.alias stays
            _remove(child)
    for name in ("etc/hostname", "etc/resolv.conf"):
        (rootfs / name).write_text("")


def _pack(rootfs: Path, archive: Path) -> None:
    """`tar --numeric-owner | zstd` to a temporary name, renamed into place when complete."""
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.tmp")
    tar_command = ["tar", "--numeric-owner", "-C", str(rootfs), "--exclude=./dev/*", "-cf", "-"]
    try:
        with partial.open("wb") as out:
            tar = subprocess.Popen([*tar_command, "."], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            compress = ["zstd", "-q", "-T0", "-c"]
            zstd = subprocess.run(
                compress, stdin=tar.stdout, stdout=out, timeout=PACK_TIMEOUT_SECONDS
            )
            tar.stdout.close()
            if tar.wait(timeout=PACK_TIMEOUT_SECONDS) != 0 or zstd.returncode != 0:
                codes = f"tar {tar.returncode}, zstd {zstd.returncode}"
                raise RuntimeError(f"packing the test image failed ({codes})")
            os.fsync(out.fileno())
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)


def _import(engine: DockerEngine, archive: Path, tag: str) -> None:
    """`zstd -dc ARCHIVE | docker import`, with what a rootfs tarball does not say."""
    changes = ['CMD ["/bin/bash"]', f"ENV PATH={IMAGE_PATH}", "ENV LANG=C.UTF-8"]
    command = [engine.cli, "import"]
    for change in changes:
        command += ["--change", change]
    unpack = subprocess.Popen(["zstd", "-dc", str(archive)], stdout=subprocess.PIPE)
    assert unpack.stdout is not None
    try:
        done = subprocess.run(
            [*command, "-", tag],
            stdin=unpack.stdout,
            env=engine.env(),
            capture_output=True,
            text=True,
            timeout=DOCKER_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        unpack.stdout.close()
        unpack.wait(timeout=DOCKER_TIMEOUT_SECONDS)
    if done.returncode != 0 or unpack.returncode != 0:
        raise RuntimeError(f"importing {archive} as {tag} failed: {done.stderr.strip()}")


@contextmanager
def _locked(path: Path, progress: Progress) -> Iterator[None]:
    """Hold an exclusive flock on `path`, waiting (bounded) for another process's build."""
    with path.open("a") as file:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        told = False
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"another process has held {path} for over {LOCK_WAIT_SECONDS:.0f} s"
                    ) from None
                if not told:
                    progress("test image: waiting for another test process that is building it")
                    told = True
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _remove_leftovers(cache: Path) -> None:
    """What a build that was killed left (a half-made root file system may still have /proc
    mounted); only ever called under the lock, when no build is running."""
    for leftover in [*cache.glob(".rootfs-*"), *cache.glob(".*.tmp")]:
        unmount_below(leftover)
        _remove(leftover)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@functools.cache
def _arch() -> str:
    done = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _tail(path: Path) -> str:
    lines = _read(str(path)).splitlines()
    return "\n".join(lines[-_LOG_TAIL_LINES:])
