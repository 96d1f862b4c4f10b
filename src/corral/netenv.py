"""The network environment: the variables that say how a machine reaches the network.

Behind a company proxy, or a TLS-inspecting one with its own certificate authority, nothing
gets out unless every program that connects is told: npm installing an agent, git cloning a
project, and the agents and tools in a workspace. These variables are the one list of what to
pass on, from the control plane to its local node and from a node to what it runs. Nothing on
the list is a secret of Corral's (npm settings that carry credentials are left out), and a
setting (`network_variables`) adds names a machine needs beyond it.

Values are checked when read: a proxy must be a URL with a host, a trust-store path must exist.
A bad one is left out, with a problem naming the variable and why, so a typo costs a warning
rather than every download.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import SplitResult, urlsplit

from pydantic import StringConstraints

__all__ = [
    "CA_BUNDLE_VARIABLES",
    "NETWORK_VARIABLES",
    "PROXY_VARIABLES",
    "TRUST_STORE_VARIABLES",
    "EnvName",
    "NetworkEnvironment",
    "is_loopback_host",
    "network_environment",
    "network_variables",
    "proxy_for",
]

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
"""The name of an environment variable."""

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")
TRUST_STORE_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "npm_config_cafile",
)
"""Variables that name a certificate file or directory: a sandbox must show what they name."""
CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""The trust-store variables Python programs and curl read (OpenSSL's own, and requests' and
curl's bundles): what Corral's own clients trust beyond the system's store. The others are
tools' own (git's, npm's, Node's), passed on to those tools only."""
NETWORK_VARIABLES = (*PROXY_VARIABLES, *NO_PROXY_VARIABLES, *TRUST_STORE_VARIABLES)
NPM_PREFIX = "npm_config_"
# npm settings that hold credentials or client keys: never passed on.
_SECRET_NPM_SETTING = re.compile(r"auth|token|pass|secret|key|otp|cert$", re.IGNORECASE)
_PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
_WILDCARD_HOST = "0.0.0.0"  # noqa: S104  (connecting to it reaches this machine)
_MAX_VALUE_CHARS = 4096
_TOOL_BASICS = ("PATH", "HOME", "LANG", "TMPDIR")


@dataclass(frozen=True)
class NetworkEnvironment:
    """The variables to pass on (`values`), and why any that were set were left out."""

    values: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return sorted(self.values)

    def tool_env(self) -> dict[str, str]:
        """An environment for a tool the node runs itself (npm, git): this process's basics
        and the checked network variables, nothing else of the node's environment."""
        basics = {k: v for k, v in os.environ.items() if k in _TOOL_BASICS}
        return {**basics, **self.values}

    def readable_paths(self) -> list[str]:
        """The files and directories the trust-store variables name."""
        return sorted({v for k, v in self.values.items() if k in TRUST_STORE_VARIABLES})

    def loopback_proxies(self) -> list[str]:
        """The proxy variables whose proxy is on this machine's loopback."""
        found = []
        for name in PROXY_VARIABLES:
            value = self.values.get(name)
            if value is not None and _on_this_machine(_proxy_url(value).hostname or ""):
                found.append(name)
        return found


def network_variables(
    environ: Mapping[str, str] | None = None, *, extra: Sequence[str] = ()
) -> dict[str, str]:
    """The network variables set in `environ` (default: this process's) as they are, `extra`
    names included, npm settings that carry credentials left out."""
    source = os.environ if environ is None else environ
    names = [*NETWORK_VARIABLES, *extra]
    names += sorted(k for k in source if k.startswith(NPM_PREFIX) and k not in names)
    return {
        name: source[name]
        for name in names
        if source.get(name, "").strip() and not _secret_npm_setting(name)
    }


def network_environment(
    environ: Mapping[str, str] | None = None, *, extra: Sequence[str] = ()
) -> NetworkEnvironment:
    """`network_variables`, checked: a bad value is left out, with a problem saying why."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, value in network_variables(environ, extra=extra).items():
        problem = _problem(name, value)
        if problem is None:
            values[name] = value
        else:
            problems.append(f"{name} is left out: {problem}")
    return NetworkEnvironment(values, problems)


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy to reach `url` through, from the proxy variables (`NO_PROXY` honoured), or
    None. A loopback address never goes through a proxy: a node beside its control plane
    (`corral up`) must reach it directly whatever the machine's proxy is."""
    source = os.environ if environ is None else environ
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or _on_this_machine(host):
        return None
    no_proxy = source.get("no_proxy") or source.get("NO_PROXY") or ""
    if _bypassed(host, no_proxy):
        return None
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        value = source.get(name, "").strip()
        if value and _proxy_problem(value) is None:
            return value
    return None


def is_loopback_host(host: str) -> bool:
    """Whether `host`, as written in a URL, names this machine's loopback: `localhost` (which
    RFC 6761 reserves for it), an address in 127.0.0.0/8, or ::1. Judged by the name alone,
    never by resolving it: a resolver's answer can change between a check and a connection."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _on_this_machine(host: str) -> bool:
    return is_loopback_host(host) or host == _WILDCARD_HOST


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether `NO_PROXY` exempts `host`, as curl reads it: `*`, or a name that is the host or
    one of its parent domains (a leading dot is optional; a port is ignored)."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.lower().split(","):
        name = entry.strip().lstrip(".")
        if name.startswith("[") and "]" in name:
            name = name[1 : name.index("]")]
        elif name.count(":") == 1:
            name = name.split(":")[0]
        if name == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


def _secret_npm_setting(name: str) -> bool:
    if not name.startswith(NPM_PREFIX) or name == "npm_config_cafile":
        return False
    return bool(_SECRET_NPM_SETTING.search(name[len(NPM_PREFIX) :]))


def _problem(name: str, value: str) -> str | None:
    """What is wrong with `value`, or None."""
    if len(value) > _MAX_VALUE_CHARS or any(ord(c) < 32 for c in value):
        return "its value is too long or holds control characters"
    if name in PROXY_VARIABLES:
        return _proxy_problem(value)
    if name in TRUST_STORE_VARIABLES and not os.path.exists(value):
        return f"{value} does not exist"
    return None


def _proxy_url(value: str) -> SplitResult:
    """A proxy setting as a URL: `host:port` alone means http, as curl and npm read it."""
    return urlsplit(value if "://" in value else f"http://{value}")


def _proxy_problem(value: str) -> str | None:
    try:
        parts = _proxy_url(value)
        port = parts.port
    except ValueError:
        return "it is not a URL"
    if parts.scheme not in _PROXY_SCHEMES:
        return f"{parts.scheme!r} is not a proxy scheme ({', '.join(_PROXY_SCHEMES)})"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "its port is 0"
    return None
