"""Which remotes are SSH remotes, how known_hosts names their host, and the message for a host
key that is not the pinned one."""

from __future__ import annotations

import pytest

from corral.gitssh import SshRemote, host_key_problem, known_hosts_name, parse_ssh_remote


@pytest.mark.parametrize(
    ("repo", "remote"),
    [
        (
            "git@github.com:acme/widgets.git",
            SshRemote("github.com", None, "git", "acme/widgets.git"),
        ),
        ("github.com:acme/w", SshRemote("github.com", None, None, "acme/w")),
        ("ssh://git@example.com/srv/r.git", SshRemote("example.com", None, "git", "/srv/r.git")),
        ("ssh://me@127.0.0.1:2222/srv/r", SshRemote("127.0.0.1", 2222, "me", "/srv/r")),
        ("git+ssh://host/r", SshRemote("host", None, None, "/r")),
    ],
)
def test_ssh_remotes(repo: str, remote: SshRemote) -> None:
    assert parse_ssh_remote(repo) == remote


@pytest.mark.parametrize(
    "repo",
    [
        "https://github.com/acme/widgets.git",
        "http://host/r",
        "file:///srv/r",
        "/srv/r",
        "./dir:with/colon",
        "git://host/r",
        "ssh://host:notaport/r",
    ],
)
def test_not_ssh_remotes(repo: str) -> None:
    assert parse_ssh_remote(repo) is None


def test_known_hosts_names_a_port_other_than_22() -> None:
    assert known_hosts_name("github.com", None) == "github.com"
    assert known_hosts_name("github.com", 22) == "github.com"
    assert known_hosts_name("127.0.0.1", 2222) == "[127.0.0.1]:2222"


def test_a_refused_host_key_names_the_host() -> None:
    said = [
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
        "Host key verification failed.",
        "fatal: Could not read from remote repository.",
    ]
    message = host_key_problem(said, "ssh://git@example.com:2222/r.git")
    assert message is not None
    assert message.startswith("the host key of [example.com]:2222 changed")
    assert host_key_problem(["Permission denied (publickey)."], "git@h:r") is None
