"""The container's user: who its processes run as, found in the image's own /etc/passwd.

The configuration names a user (`remoteUser`, `containerUser`, the image's `USER`) by name or
uid; the node needs the numbers, to give the checkout to that user and to run `docker exec` as
them, and the home and shell, for the environment and terminals. The passwd file is read from
the created container through the engine (no process runs), and parsed here, bounded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from corral.node.runtimes.devcontainer.config import BuildFailed

__all__ = ["ContainerUser", "find_user"]

MAX_PASSWD_LINES = 10_000


class ContainerUser(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = "root"
    uid: int = 0
    gid: int = 0
    home: str = "/root"
    shell: str = "/bin/sh"


def find_user(wanted: str, passwd: bytes, *, source: str) -> ContainerUser:
    """`wanted` (`name`, `uid` or `uid:gid`, as Docker takes them) in `passwd`'s entries."""
    name, _, group = wanted.partition(":")
    entries = []
    for line in passwd.decode(errors="replace").splitlines()[:MAX_PASSWD_LINES]:
        fields = line.split(":")
        if len(fields) >= 7 and fields[2].isdigit() and fields[3].isdigit():
            entries.append(fields)
    for fields in entries:
        if fields[0] == name or (name.isdigit() and fields[2] == name):
            shell = fields[6] if fields[6].startswith("/") else "/bin/sh"
            if shell.endswith(("/nologin", "/false")):
                shell = "/bin/sh"
            return ContainerUser(
                name=fields[0],
                uid=int(fields[2]),
                gid=int(group) if group.isdigit() else int(fields[3]),
                home=fields[5] or "/",
                shell=shell,
            )
    if name.isdigit():
        gid = int(group) if group.isdigit() else int(name)
        return ContainerUser(name=name, uid=int(name), gid=gid, home="/")
    raise BuildFailed(f"the user {name!r} that {source} runs as is not in the image's /etc/passwd")
