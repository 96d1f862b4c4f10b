"""The cloud-config user data that turns a fresh Debian machine into a Corral node.

Any cloud that runs cloud-init at first boot (Hetzner, DigitalOcean, Vultr, Scaleway, AWS, GCP)
takes it as it is. On the machine it:

1. writes `/etc/corral/node.env` (0600, root): the control URL and the join token, the only
   secret the machine is given (single-use, and it expires with the provisioning deadline);
   `/etc/corral/bootstrap.env` (where to download the node and report progress, no secret); the
   control plane's CA, when it has a private one; the `corral-node.service` unit; and a
   bootstrap script;
2. runs the script once. Each step ("installing Docker, git and Python") is reported to
   `bootstrap.progress_url` with the join token as the bearer token, best-effort: a report that
   fails never stops the bootstrap. A step that fails is reported as "failed: <step>" and ends
   the script (`set -eu`);
3. the script starts the node daemon, which joins with the token and then keeps its own
   credential in its data directory. The spent token is then removed from node.env: by the
   script once the node has joined, and by the unit before every start after that (a node
   offered a spent token would try to join again and fail).

The join token also stays in cloud-init's copy of the user data (root only) and in the cloud's
metadata service, where workspace processes could read it; by the time a workspace exists the
token has been traded for the node's credential and is worth nothing.

Written as JSON, which is YAML too: cloud-init reads it with its YAML loader (and `cloud-init
schema` accepts it), while `json` needs no YAML library and cannot get the quoting wrong.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from corral.control.nodepackage import node_package_name
from corral.control.providers.base import MachineRequest, NodeBootstrap

__all__ = [
    "BOOTSTRAP_ENV_PATH",
    "BOOTSTRAP_SCRIPT_PATH",
    "CA_CERTIFICATE_PATH",
    "NODE_DATA_DIR",
    "NODE_ENV_PATH",
    "UNIT_PATH",
    "bootstrap_steps",
    "user_data",
]

NODE_ENV_PATH = "/etc/corral/node.env"
BOOTSTRAP_ENV_PATH = "/etc/corral/bootstrap.env"
BOOTSTRAP_SCRIPT_PATH = "/opt/corral/bootstrap.sh"
UNIT_PATH = "/etc/systemd/system/corral-node.service"
CA_CERTIFICATE_PATH = "/usr/local/share/ca-certificates/corral-control-plane.crt"
"""Where update-ca-certificates picks it up, into the system bundle below."""
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
NODE_DATA_DIR = "/var/lib/corral/node"
VENV = "/opt/corral/venv"
JOIN_TIMEOUT_SECONDS = 900
"""How long the script waits for the node to join before leaving the token to expire."""

# Docker for the devcontainer runtime; bubblewrap and slirp4netns sandbox the host runtime's
# workspaces; Node.js and npm install the agents and the dev container CLI.
PACKAGES = (
    "ca-certificates",
    "curl",
    "git",
    "python3-venv",
    "docker.io",
    "bubblewrap",
    "slirp4netns",
    "nodejs",
    "npm",
)

# A token or URL goes into node.env, which both systemd and a shell read: nothing that either
# would take for quoting, escaping or expansion.
_ENV_VALUE = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+")
_VERSION = re.compile(r"[A-Za-z0-9.+!_]+")

_SCRIPT_HEAD = rf"""#!/bin/bash
# Makes this machine a Corral node; written by the control plane, run once by cloud-init.
set -euo pipefail
. {BOOTSTRAP_ENV_PATH}
export DEBIAN_FRONTEND=noninteractive
step=starting
auth=$(mktemp)
report() {{
  # Best-effort: a report that fails never stops the bootstrap.
  command -v curl >/dev/null || return 0
  curl -fsS -o /dev/null --connect-timeout 5 --max-time 15 --retry 3 --retry-delay 2 \
    --retry-connrefused -H @"$auth" -H 'Content-Type: application/json' \
    --data "{{\"step\": \"$1\"}}" "$CORRAL_PROGRESS_URL" || true
}}
begin() {{ step=$1; echo "corral bootstrap: $1"; report "$1"; }}
apt_get() {{ apt-get -q -y -o DPkg::Lock::Timeout=600 -o Acquire::Retries=5 "$@"; }}
trap 'code=$?; [ "$code" = 0 ] || report "failed: $step"; rm -f "$auth"' EXIT
# The header file keeps the token off every command line (printf is a shell builtin).
printf 'Authorization: Bearer %s\n' "$(sed -n 's/^CORRAL_NODE_JOIN_TOKEN=//p' {NODE_ENV_PATH})" \
  > "$auth"
"""

_SCRIPT_TAIL = rf"""# Once joined, the node holds its own credential; the spent token goes.
for _ in $(seq {JOIN_TIMEOUT_SECONDS // 2}); do
  if [ -s {NODE_DATA_DIR}/node.json ]; then
    sed -i '/^CORRAL_NODE_JOIN_TOKEN=/d' {NODE_ENV_PATH}
    break
  fi
  sleep 2
done
"""

_UNIT = f"""[Unit]
Description=Corral node daemon
Wants=network-online.target
After=network-online.target docker.service
StartLimitIntervalSec=0

[Service]
EnvironmentFile={NODE_ENV_PATH}
# A node that has joined must not be offered its spent join token: it would try to join again
# and fail. systemd reads EnvironmentFile again for ExecStart, after this.
ExecStartPre=-/bin/sh -c 'if [ -s {NODE_DATA_DIR}/node.json ]; then \
sed -i "/^CORRAL_NODE_JOIN_TOKEN=/d" {NODE_ENV_PATH}; fi'
ExecStart={VENV}/bin/corral node run --data-dir {NODE_DATA_DIR}
Restart=on-failure
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def bootstrap_steps(bootstrap: NodeBootstrap) -> list[str]:
    """The steps the machine reports, in order (before the node daemon joins by itself)."""
    return [step for step, _ in _steps(bootstrap)]


def user_data(request: MachineRequest) -> str:
    """The `#cloud-config` document for `request`'s machine. ValueError when a value could not
    be written safely (a URL with spaces or quotes, a token that is not URL-safe)."""
    bootstrap = request.bootstrap
    node_env = {
        "CORRAL_NODE_CONTROL_URL": _checked(bootstrap.control_url, "control URL"),
        "CORRAL_NODE_JOIN_TOKEN": _checked(bootstrap.join_token, "join token"),
    }
    files: list[dict[str, Any]] = []
    if bootstrap.ca_certificate:
        # The system bundle with the CA added, not the CA alone: the node passes this variable
        # on to npm, git and workspaces, which must still trust the public CAs.
        node_env["SSL_CERT_FILE"] = SYSTEM_CA_BUNDLE
        files.append(_file(CA_CERTIFICATE_PATH, bootstrap.ca_certificate, "0644"))
    files += [
        _file(NODE_ENV_PATH, "".join(f"{k}={v}\n" for k, v in node_env.items()), "0600"),
        _file(BOOTSTRAP_ENV_PATH, _bootstrap_env(bootstrap), "0600"),
        _file(UNIT_PATH, _UNIT, "0644"),
        _file(BOOTSTRAP_SCRIPT_PATH, _script(bootstrap), "0700"),
    ]
    config: dict[str, Any] = {
        "write_files": files,
        "runcmd": [[BOOTSTRAP_SCRIPT_PATH]],
        "ssh_pwauth": False,
    }
    if request.ssh_public_keys:
        config["ssh_authorized_keys"] = list(request.ssh_public_keys)
    return "#cloud-config\n" + json.dumps(config, indent=1) + "\n"


def _steps(bootstrap: NodeBootstrap) -> list[tuple[str, str]]:
    steps = []
    if bootstrap.ca_certificate:
        # First, so that every report and the download below trust the control plane.
        steps.append(("trusting the control plane certificate", "update-ca-certificates"))
    wheel = '"/opt/corral/$CORRAL_NODE_WHEEL"'
    steps += [
        ("updating the package lists", "apt_get update"),
        (
            "installing Docker, git and Python",
            f"apt_get install --no-install-recommends {' '.join(PACKAGES)}",
        ),
        (
            "downloading the node package",
            "curl -fsSL --connect-timeout 10 --max-time 600 --retry 5 --retry-delay 3 "
            f'--retry-connrefused -H @"$auth" -o {wheel} "$CORRAL_PACKAGE_URL"',
        ),
        (
            "installing the node package",
            f"python3 -m venv {VENV}\n{VENV}/bin/pip install -q --no-input "
            f"--disable-pip-version-check --retries 5 {wheel}",
        ),
        (
            "starting the node daemon",
            "systemctl daemon-reload\nsystemctl enable --now corral-node.service",
        ),
    ]
    return steps


def _script(bootstrap: NodeBootstrap) -> str:
    body = "".join(
        f"begin {shlex.quote(step)}\n{commands}\n" for step, commands in _steps(bootstrap)
    )
    return _SCRIPT_HEAD + body + _SCRIPT_TAIL


def _bootstrap_env(bootstrap: NodeBootstrap) -> str:
    if not _VERSION.fullmatch(bootstrap.node_version):
        raise ValueError(f"the node version {bootstrap.node_version!r} is not a version")
    values = {
        "CORRAL_PACKAGE_URL": _checked(bootstrap.package_url, "package URL"),
        "CORRAL_PROGRESS_URL": _checked(bootstrap.progress_url, "progress URL"),
        # pip installs a wheel only from a file named as a wheel, with the package's version.
        "CORRAL_NODE_WHEEL": node_package_name(bootstrap.node_version),
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def _checked(value: str, what: str) -> str:
    if not _ENV_VALUE.fullmatch(value):
        raise ValueError(f"the {what} holds characters a node's environment file cannot")
    return value


def _file(path: str, content: str, permissions: str) -> dict[str, Any]:
    return {"path": path, "content": content, "owner": "root:root", "permissions": permissions}
