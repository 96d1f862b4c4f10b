"""The bootstrap script of a node's cloud-init user data, run for real by bash: its directories
moved under a temporary root, apt-get, python3, systemctl and update-ca-certificates replaced by
stubs that log their arguments (and stand in for what they would do), curl real but logged,
talking to a control plane stand-in on 127.0.0.1 that records the reported steps and serves
the node package.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corral.control.providers import cloudinit
from corral.control.providers.base import MachineRequest, NodeBootstrap
from tests.support.cloudnodes import written_files

TOKEN = "cnj_bootstraptoken-0123456789"
WHEEL = b"not really a wheel"
CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUT3N0\n-----END CERTIFICATE-----\n"
STUBS = {
    "apt-get": """echo "apt-get $*" >> "$CALLS"
case " $* " in *" install "*) [ -z "${FAIL_INSTALL:-}" ] || exit 100;; esac""",
    "update-ca-certificates": 'echo "update-ca-certificates $*" >> "$CALLS"',
    "python3": """echo "python3 $*" >> "$CALLS"
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "pip $*" >> "$CALLS"\\n' > "$3/bin/pip"
  chmod 755 "$3/bin/pip"
fi""",
    # Starting the unit stands for the node joining: it saves its credential.
    "systemctl": """echo "systemctl $*" >> "$CALLS"
case "$*" in *enable*) mkdir -p "$NODE_DIR" && echo '{}' > "$NODE_DIR/node.json";; esac""",
    "curl": 'echo "curl $*" >> "$CALLS"\nexec /usr/bin/curl "$@"',
}


@dataclass
class ControlPlane:
    """Records the steps reported and the package downloads; `refuse_reports` answers the
    reports 404."""

    url: str = ""
    refuse_reports: bool = False
    reports: list[tuple[str | None, dict[str, str]]] = field(default_factory=list)
    downloads: list[str | None] = field(default_factory=list)


@pytest.fixture
def control_plane() -> Iterator[ControlPlane]:
    plane = ControlPlane()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            plane.reports.append((self.headers["Authorization"], body))
            self.send_response(404 if plane.refuse_reports else 204)
            self.end_headers()

        def do_GET(self) -> None:
            plane.downloads.append(self.headers["Authorization"])
            self.send_response(200)
            self.send_header("Content-Length", str(len(WHEEL)))
            self.end_headers()
            self.wfile.write(WHEEL)

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    plane.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield plane
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class Run:
    root: Path
    returncode: int
    output: str
    calls: list[str]

    @property
    def node_env(self) -> str:
        return (self.root / cloudinit.NODE_ENV_PATH.lstrip("/")).read_text()


def bootstrap(plane: ControlPlane, ca: str | None = None) -> NodeBootstrap:
    return NodeBootstrap(
        control_url=plane.url,
        join_token=TOKEN,
        node_version="0.1.0",
        package_url=f"{plane.url}/api/v1/nodes/package",
        progress_url=f"{plane.url}/api/v1/nodes/bootstrap",
        ca_certificate=ca,
    )


def run_bootstrap(tmp_path: Path, node: NodeBootstrap, **env: str) -> Run:
    """Write what cloud-init would (below `root`), and run the script as cloud-init would."""
    root = tmp_path / "root"
    request = MachineRequest("nod_01x", "x", "usr_01x", "ins_01x", node, "cx23", "fsn1")

    def moved(text: str) -> str:
        for directory in ("/etc/corral", "/opt/corral", "/var/lib/corral"):
            text = text.replace(directory, f"{root}{directory}")
        return text

    for path, entry in written_files(cloudinit.user_data(request)).items():
        if path.startswith(("/etc/corral/", "/opt/corral/")):
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(moved(entry["content"]))
            target.chmod(int(entry["permissions"], 8))
    stubs, temp = tmp_path / "stubs", tmp_path / "tmp"
    stubs.mkdir()
    temp.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    calls = tmp_path / "calls.log"
    calls.touch()
    finished = subprocess.run(
        [str(root / cloudinit.BOOTSTRAP_SCRIPT_PATH.lstrip("/"))],
        env={
            "PATH": f"{stubs}:/usr/bin:/bin",
            "CALLS": str(calls),
            "NODE_DIR": str(root / cloudinit.NODE_DATA_DIR.lstrip("/")),
            "TMPDIR": str(temp),
            "HOME": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert list(temp.iterdir()) == []  # the header file with the token is gone
    return Run(
        root, finished.returncode, finished.stdout + finished.stderr, calls.read_text().splitlines()
    )


def test_a_bootstrap_reports_each_step_installs_the_node_and_drops_the_spent_token(
    tmp_path, control_plane
):
    node = bootstrap(control_plane, ca=CA)
    run = run_bootstrap(tmp_path, node)
    assert run.returncode == 0, run.output

    steps = cloudinit.bootstrap_steps(node)
    assert steps[0] == "trusting the control plane certificate"
    assert control_plane.reports == [(f"Bearer {TOKEN}", {"step": step}) for step in steps]
    assert control_plane.downloads == [f"Bearer {TOKEN}"]
    wheel = run.root / "opt/corral/corral-0.1.0-py3-none-any.whl"
    assert wheel.read_bytes() == WHEEL
    venv = run.root / "opt/corral/venv"
    programs = [call for call in run.calls if not call.startswith(("curl", "apt-get"))]
    assert programs == [
        "update-ca-certificates ",
        f"python3 -m venv {venv}",
        f"pip install -q --no-input --disable-pip-version-check --retries 5 {wheel}",
        "systemctl daemon-reload",
        "systemctl enable --now corral-node.service",
    ]
    installed = next(call for call in run.calls if " install " in call)
    assert "docker.io" in installed and "python3-venv" in installed and "git" in installed
    # The token was on no command line, and once the node joined it left node.env.
    assert TOKEN not in "\n".join(run.calls)
    assert run.node_env == f"CORRAL_NODE_CONTROL_URL={control_plane.url}\n" + (
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n"
    )


def test_a_failing_step_is_reported_and_ends_the_bootstrap(tmp_path, control_plane):
    node = bootstrap(control_plane)
    run = run_bootstrap(tmp_path, node, FAIL_INSTALL="1")
    assert run.returncode == 100, run.output
    assert [body["step"] for _, body in control_plane.reports] == [
        "updating the package lists",
        "installing Docker, git and Python",
        "failed: installing Docker, git and Python",
    ]
    assert control_plane.downloads == []
    assert f"CORRAL_NODE_JOIN_TOKEN={TOKEN}" in run.node_env


def test_reports_the_control_plane_refuses_do_not_stop_the_bootstrap(tmp_path, control_plane):
    node = bootstrap(control_plane)
    control_plane.refuse_reports = True
    run = run_bootstrap(tmp_path, node)
    assert run.returncode == 0, run.output
    assert [body["step"] for _, body in control_plane.reports] == cloudinit.bootstrap_steps(node)
    assert "systemctl enable --now corral-node.service" in run.calls
