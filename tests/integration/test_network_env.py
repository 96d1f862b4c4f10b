"""The network variables of the machine `corral up` runs on reach its local node and, through it,
the workspaces: proxies, trust stores and npm settings, checked, with credentials left out and
bad values named in `corral node show`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nodes import Api, exchange, open_viewer, terminal_url
from tests.support.processes import corral_env, corral_server, run_cli
from tests.support.sessions import make_repo
from tests.support.waits import eventually_sync

WAIT_SECONDS = 60.0
CA_TEXT = "a company's certificate authority"


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside the sandbox's allow-list, as a company's CA bundle may be."""
    path = Path(tempfile.mkdtemp(prefix="corral-netenv-", dir="/var/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


async def test_up_passes_the_network_environment_to_its_node_and_workspaces(
    tmp_path: Path, outside: Path
) -> None:
    ca = outside / "company-ca.pem"
    ca.write_text(CA_TEXT)
    ca.chmod(0o644)
    env = corral_env(
        tmp_path / "home",
        None,
        CORRAL_NETWORK_VARIABLES='["COMPANY_CA"]',
        HTTPS_PROXY="http://proxy.example:3128",
        NO_PROXY="localhost,.internal",
        ALL_PROXY="socks5://127.0.0.1:1080",
        HTTP_PROXY="http://user:s3cret@:3128",
        NODE_EXTRA_CA_CERTS=str(outside / "missing.pem"),
        npm_config_cafile=str(ca),
        npm_config__authToken="npm-t0ken",
        COMPANY_CA="company",
    )
    repo = make_repo(tmp_path / "repo", {"README.md": "net\n"})
    with corral_server(tmp_path / "data", env, command="up", extra_args=["--no-browser"]) as up:
        assert up.link is not None
        api = Api(up.url, exchange(up.url, up.link))
        try:
            eventually_sync(
                lambda: next(
                    (n for n in api.get("/nodes")["items"] if "network" in n["capacity"]), None
                ),
                "the local node's heartbeat",
                wait_seconds=WAIT_SECONDS,
                context=up.stderr,
            )
            cli = corral_env(tmp_path / "cli", CORRAL_URL=up.url, CORRAL_TOKEN=api.token)
            shown = run_cli("node", "show", "local", env=cli)
            api.post("/projects", {"name": "demo", "repo": str(repo)})
            workspace = api.post("/workspaces", {"project": "demo", "name": "w", "node": "local"})
            api.workspace_running(workspace["id"])
            terminal = api.post(f"/workspaces/{workspace['id']}/terminals", {})
            url = terminal_url(up.url, workspace["id"], terminal["id"])
            async with open_viewer(url, headers=api.headers) as viewer:
                proxy, cafile, token, company = await viewer.run(
                    [
                        'echo "$HTTPS_PROXY $NO_PROXY"',
                        'cat "$npm_config_cafile"',
                        'echo "token=${npm_config__authToken:-none}"',
                        'echo "company=$COMPANY_CA"',
                    ]
                )
        finally:
            api.close()
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    passed = set(text.split("network variables passed on: ")[1].split(" HTTP_PROXY")[0].split(", "))
    # This machine's own trust-store variables (CI sets several) are passed on too.
    assert {"ALL_PROXY", "COMPANY_CA", "HTTPS_PROXY", "NO_PROXY", "npm_config_cafile"} <= passed
    assert not {"HTTP_PROXY", "NODE_EXTRA_CA_CERTS", "npm_config__authToken"} & passed, text
    assert "HTTP_PROXY is left out: it names no host" in text
    assert f"NODE_EXTRA_CA_CERTS is left out: {outside / 'missing.pem'} does not exist" in text
    assert "ALL_PROXY names a proxy on the node's loopback" in text
    for secret in ("s3cret", "npm-t0ken", "authToken"):
        assert secret not in shown.stdout and secret not in up.stderr()
    assert proxy[0].split() == ["http://proxy.example:3128", "localhost,.internal"]
    assert cafile[0].strip() == CA_TEXT, "the file a trust-store variable names is shown"
    assert token[0].strip() == "token=none"
    assert company[0].strip() == "company=company"
