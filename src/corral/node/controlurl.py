"""How a node reaches its control plane: which control URLs it accepts, through which proxy, and
which certificates it trusts there.

A node sends its join token once and its credential on every link. Over plain http (and ws,
the link's scheme then) both cross the network readable, and usable, by anyone on the path, so
a node accepts only an https control URL (its link then runs over wss), unless the URL names
this machine's loopback, where nothing crosses a network, or it is told `--insecure` (a network
its owner trusts). The loopback is judged by the name in the URL, never by resolving it (see
`corral.netenv.is_loopback_host`).

Trust is the machine's: the system's store as OpenSSL finds it (`SSL_CERT_FILE` and
`SSL_CERT_DIR` replace its defaults), plus the bundles the other variables of
`corral.netenv.CA_BUNDLE_VARIABLES` name, so a control plane with a company's certificate
works wherever the machine's Python and curl already trust that company's CA. Joining and the
link use the same context. `control_certificate` replaces all that with what one file holds: a
private CA (a provider's node is given its control plane's), with the URL's name checked as
usual; or, with `pin_control_certificate`, the control plane's own certificate alone, whatever
names it holds, for a node that reaches it at an address the certificate does not name
(`corral up`'s local node, at 127.0.0.1).
"""

from __future__ import annotations

import logging
import re
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from corral.errors import CorralError
from corral.netenv import CA_BUNDLE_VARIABLES, NetworkEnvironment, is_loopback_host, proxy_for

__all__ = [
    "control_plane_proxy",
    "control_plane_ssl_context",
    "control_url_problem",
    "unreachable_reason",
]

log = logging.getLogger("corral.node")
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----"
)


def control_url_problem(url: str, *, insecure: bool) -> str | None:
    """Why the node must not dial `url`, on one line saying how to fix it; None when it may.

    http is allowed to a loopback host, or to any host when `insecure`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"the control URL {url!r} is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return f"the control URL {url!r} must be an https URL with a host"
    if parts.scheme == "https" or insecure or is_loopback_host(host):
        return None
    return (
        f"refusing the control URL {url}: over http this node's join token and "
        "credential would cross the network in clear; use the control plane's https URL, "
        "or pass --insecure (CORRAL_NODE_INSECURE=1) on a network you trust"
    )


def control_plane_proxy(url: str) -> str | None:
    """The machine's proxy for reaching the control plane at `url` (never for a loopback
    address; see `corral.netenv.proxy_for`). The node's clients speak HTTP proxies only."""
    proxy = proxy_for(url)
    if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
        if "://" in proxy:
            raise CorralError(
                f"the control plane at {url} would be reached through a {proxy.split(':')[0]} "
                "proxy, which the node cannot use: use an HTTP proxy, or add the control "
                "plane's host to NO_PROXY"
            )
        proxy = f"http://{proxy}"
    return proxy


def control_plane_ssl_context(
    network: NetworkEnvironment, control_certificate: Path | None = None, *, pin: bool = False
) -> ssl.SSLContext:
    """The TLS context for joining and linking: the machine's trust store (see the module
    docstring), or, with `control_certificate`, what that file holds and nothing else: with
    `pin`, its first certificate alone, whatever names it holds.

    A bundle that does not load is left out with a warning, as OpenSSL itself skips a bad
    default; a control certificate that does not load is an error, since nothing else would do.
    """
    if control_certificate is not None:
        return _certificate_context(control_certificate, pin=pin)
    context = ssl.create_default_context()
    for name in CA_BUNDLE_VARIABLES:
        path = network.values.get(name)
        if path is None:
            continue
        try:
            if Path(path).is_dir():
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            log.warning("%s=%s is not used to trust the control plane: %s", name, path, exc)
    return context


def unreachable_reason(exc: BaseException) -> str:
    """Why a connection to the control plane failed, for its one-line error: what is wrong
    with an untrusted certificate and how to trust it, else the error's kind."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return type(exc).__name__
    return (
        f"its certificate is not trusted ({cause.verify_message}); name the CA that signed it "
        "in SSL_CERT_FILE or REQUESTS_CA_BUNDLE"
    )


def _certificate_context(path: Path, *, pin: bool) -> ssl.SSLContext:
    """Trust the certificates in `path` (CAs, or a self-signed certificate), with the URL's
    name checked; or, to `pin`, only the first, the control plane's own, whatever names it
    holds. Only the first, as trusting the intermediate after it in a chain file (certbot's
    fullchain.pem) would trust every certificate that intermediate signed."""
    try:
        certificates = _PEM_CERTIFICATE.findall(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise CorralError(f"cannot read the control plane's certificate {path}: {exc}") from None
    if not certificates:
        raise CorralError(f"{path} holds no PEM certificate for the control plane")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # An anchor that is not a self-signed root (an intermediate, a pinned leaf) ends a chain
    # only with partial chains allowed.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if pin:
        certificates = certificates[:1]
        context.check_hostname = False
    try:
        context.load_verify_locations(cadata="\n".join(certificates))
    except ssl.SSLError as exc:
        raise CorralError(f"{path} holds no usable certificate: {exc}") from None
    return context
