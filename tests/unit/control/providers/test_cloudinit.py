"""The cloud-config a new node's machine gets: what it writes where, with which permissions,
and that the join token is its only secret, in one place."""

from __future__ import annotations

from typing import Any

import pytest

from corral.control.providers import cloudinit
from corral.control.providers.base import MachineRequest, NodeBootstrap
from tests.support.cloudnodes import join_settings, read_user_data, written_files

TOKEN = "cnj_Zm9vYmFy-_0123456789abcdef"
CA = "-----BEGIN CERTIFICATE-----\n" + "QUJD" * 400 + "\n-----END CERTIFICATE-----\n"


def request(**bootstrap: str | None) -> MachineRequest:
    values: dict[str, Any] = {
        "control_url": "https://corral.example.com:8443",
        "join_token": TOKEN,
        "node_version": "0.1.0",
        "package_url": "https://corral.example.com:8443/api/v1/nodes/package",
        "progress_url": "https://corral.example.com:8443/api/v1/nodes/bootstrap",
        **bootstrap,
    }
    return MachineRequest(
        "nod_01x",
        "x",
        "usr_01x",
        "ins_01x",
        NodeBootstrap(**values),
        "cx23",
        "fsn1",
    )


def test_node_env_holds_the_control_url_and_the_token_for_root_alone():
    data = cloudinit.user_data(request())
    entry = written_files(data)[cloudinit.NODE_ENV_PATH]
    assert (entry["permissions"], entry["owner"]) == ("0600", "root:root")
    assert join_settings(data) == {
        "CORRAL_NODE_CONTROL_URL": "https://corral.example.com:8443",
        "CORRAL_NODE_JOIN_TOKEN": TOKEN,
    }
    # The token is the only secret, written once: nowhere but node.env.
    assert data.count(TOKEN) == 1 and TOKEN in entry["content"]
    assert read_user_data(data)["runcmd"] == [[cloudinit.BOOTSTRAP_SCRIPT_PATH]]
    assert read_user_data(data)["ssh_pwauth"] is False


def test_the_unit_runs_the_node_from_its_venv_and_restarts_it():
    unit = written_files(cloudinit.user_data(request()))[cloudinit.UNIT_PATH]["content"]
    lines = unit.splitlines()
    assert "ExecStart=/opt/corral/venv/bin/corral node run --data-dir /var/lib/corral/node" in lines
    assert f"EnvironmentFile={cloudinit.NODE_ENV_PATH}" in lines
    assert "Restart=on-failure" in lines
    assert "WantedBy=multi-user.target" in lines


def test_a_private_ca_is_trusted_through_the_system_bundle():
    data = cloudinit.user_data(request(ca_certificate=CA))
    assert written_files(data)[cloudinit.CA_CERTIFICATE_PATH]["content"] == CA
    assert join_settings(data)["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    steps = cloudinit.bootstrap_steps(request(ca_certificate=CA).bootstrap)
    assert steps[0] == "trusting the control plane certificate"
    assert "SSL_CERT_FILE" not in join_settings(cloudinit.user_data(request()))


def test_it_stays_far_below_the_smallest_clouds_user_data_limit():
    keys = tuple(f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{n:040d} user{n}@host" for n in range(5))
    data = cloudinit.user_data(
        MachineRequest(
            "nod_01x",
            "x",
            "usr_01x",
            "ins_01x",
            request(ca_certificate=CA).bootstrap,
            ssh_public_keys=keys,
        )
    )
    assert len(data.encode()) < 16 * 1024  # AWS's limit; Hetzner's is 32 KiB
    assert read_user_data(data)["ssh_authorized_keys"] == list(keys)


@pytest.mark.parametrize(
    "bootstrap",
    [
        {"control_url": "https://corral.example.com/ x"},
        {"control_url": 'https://corral.example.com/"'},
        {"join_token": "tok$(reboot)"},
        {"join_token": "tok\nSSL_CERT_FILE=/tmp/evil"},
        {"progress_url": "https://x.example/`id`"},
        {"node_version": "0.1.0; rm -rf /"},
    ],
)
def test_values_a_shell_or_systemd_would_misread_are_refused(bootstrap):
    with pytest.raises(ValueError):
        cloudinit.user_data(request(**bootstrap))
