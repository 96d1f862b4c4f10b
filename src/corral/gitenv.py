"""How Corral runs git: never prompting, and never using the host user's git configuration.

Both the control plane (checking a project's repository) and nodes (cloning it) run git on
behalf of a user. Without this, git would wait on a password prompt, or quietly authenticate
with the machine owner's credential helper or `~/.git-credentials` for a repository the user
named, and read the owner's config. A private repository is reached with a credential of
Corral's own, handed to git by `credential_helper` for one command.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from corral.netenv import NETWORK_VARIABLES

__all__ = [
    "BRANCH_PATTERN",
    "BRANCH_RULES",
    "GIT_CONFIG_ARGS",
    "MAX_BRANCH_CHARS",
    "credential_helper",
    "git_env",
    "validate_branch",
]

# Put before the git subcommand: no credential helper, whatever a config file says.
GIT_CONFIG_ARGS = ("-c", "credential.helper=", "-c", "core.askPass=")

_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    # No ssh config, agent or key of the machine's user: a user must not clone with them.
    "GIT_SSH_COMMAND": "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes "
    "-o IdentityFile=/dev/null -o IdentityAgent=none -o StrictHostKeyChecking=accept-new",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file",
    "LC_ALL": "C",
}
# git reaches remotes as the machine does: through its proxies, trusting its CAs.
_KEEP = ("PATH", "HOME", "TMPDIR", *NETWORK_VARIABLES)

MAX_BRANCH_CHARS = 255
# git check-ref-format's rules for a branch name, as one pattern: the API's schema publishes it,
# so it avoids what JSON Schema's regular expressions lack (it is used with `re.fullmatch`).
BRANCH_PATTERN = re.compile(
    r"^(?!@$)(?![-/.])(?!.*(?:\.\.|@\{|//|/\.|\.lock(?:/|$)|[/.]$))"
    rf"[^\x00-\x20\x7f~^:?*\[\\]{{1,{MAX_BRANCH_CHARS}}}$"
)
BRANCH_RULES = (
    f"a branch name is 1-{MAX_BRANCH_CHARS} characters without spaces, control characters, "
    "'~', '^', ':', '?', '*', '[', '\\', '..', '@{' or '//'; it does not start with '-', '/' "
    "or '.', end with '/', '.' or '.lock', nor is it '@'"
)


def git_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for git: only what it needs from `base` (default: this process's), the
    network variables among it (see `corral.netenv`)."""
    source = os.environ if base is None else base
    return {**{k: source[k] for k in _KEEP if k in source}, **_GIT_ENV}


# git runs a helper starting with "!" as a shell command, with the action ("get", "store",
# "erase") as its argument and the request ("protocol=https", "host=github.com", ...) on stdin.
# This one answers "get" with the variables below, and only for the host and protocol they name:
# a checkout's config that rewrites the remote (`url.*.insteadOf`) gets nothing for another host.
_HELPER = (
    '!f() { test "$1" = get || exit 0; p=; h=; '
    'while IFS= read -r line && test -n "$line"; do case "$line" in '
    "protocol=*) p=${line#protocol=};; host=*) h=${line#host=};; esac; done; "
    'test "$p" = "$CORRAL_GIT_PROTOCOL" && test "$h" = "$CORRAL_GIT_HOST" || exit 0; '
    'printf \'username=%s\\npassword=%s\\n\' "$CORRAL_GIT_USERNAME" "$CORRAL_GIT_PASSWORD"; }; f'
)


def credential_helper(
    *, protocol: str, host: str, username: str, password: str
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The git options (after `GIT_CONFIG_ARGS`) and environment that give git one basic-auth
    credential for `protocol://host`, for one command.

    The secret is in the environment of that git process (and of the helper it runs) only: never
    in a file, an argument (`ps` shows those to every user) or the repository's config. git
    itself never stores it: the helper ignores "store"."""
    env = {
        "CORRAL_GIT_PROTOCOL": protocol,
        "CORRAL_GIT_HOST": host,
        "CORRAL_GIT_USERNAME": username,
        "CORRAL_GIT_PASSWORD": password,
    }
    return ("-c", f"credential.helper={_HELPER}"), env


def validate_branch(branch: str) -> str | None:
    """None if `branch` is a valid branch name, else the rules it breaks (without echoing it:
    the message goes back to whoever sent the name)."""
    return None if BRANCH_PATTERN.fullmatch(branch) else BRANCH_RULES
