"""The Hetzner Cloud provider: one server per node, made with the official `hcloud` library,
bootstrapped by cloud-init (`cloudinit.py`), behind a firewall with no inbound port.

hcloud is synchronous, so each piece of work runs in a worker thread (`asyncio.to_thread`),
and everything read from what hcloud returns is read there too: a model hcloud holds only in
part fetches the rest over the network when an attribute is read. Waiting for Hetzner's
actions (a server being made or deleted) happens here, on the event loop, so that it can be
cancelled and ends within `action_timeout_seconds`.

Retrying belongs to the reconciler, which backs off and keeps the provisioning deadline. hcloud
would retry too, up to five times with sleeps of up to a minute in the worker thread, and it
retries a POST that timed out; so each request is made once here (`_one_attempt`), and a
failure becomes a `ProviderError` saying whether trying again may help.

Finding earlier work: every server and firewall carries the labels `corral-instance`,
`corral-node` and `corral-owner`. `create_machine` first looks for the node's server by label,
so a create whose answer was lost (a timeout, a control plane killed meanwhile) is found
rather than made again. Server names are unique in a Hetzner project, so two creates that both
missed the first one cannot both succeed: the second gets `uniqueness_error` and finds the
first by label.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import requests
from hcloud import APIException, Client
from hcloud.firewalls import Firewall, FirewallRule
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType
from hcloud.servers import Server, ServerCreatePublicNetwork

from corral import __version__
from corral.control.providers import _hcloud, cloudinit
from corral.control.providers.base import (
    LABEL_INSTANCE,
    LABEL_NODE,
    LABEL_OWNER,
    Machine,
    MachineRequest,
    MachineType,
    Progress,
    Provider,
    ProviderError,
    Region,
)
from corral.settings import HetznerSettings, ProvidersSettings

__all__ = ["MAX_USER_DATA_BYTES", "HetznerProvider", "server_name"]

MAX_USER_DATA_BYTES = 32 * 1024
"""Hetzner refuses larger user data."""
_SSH_RULE = FirewallRule(
    direction=FirewallRule.DIRECTION_IN,
    protocol=FirewallRule.PROTOCOL_TCP,
    port="22",
    source_ips=["0.0.0.0/0", "::/0"],
    description="SSH, opened by the node's owner",
)
T = TypeVar("T")


def server_name(request: MachineRequest) -> str:
    """The server's name, a hostname: the node's name and the end of its id, so that two
    Corral installations sharing a Hetzner project do not take each other's names."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node_name.lower()).strip("-")[:40].strip("-")
    tail = re.sub(r"[^a-z0-9]", "", request.node_id.lower())[-6:]
    return f"corral-{slug or 'node'}-{tail}"


class HetznerProvider(Provider):
    name = "hetzner"
    kind = "cloud"
    credential_kind = "hetzner"

    def __init__(self, client: Client, settings: HetznerSettings, token: str) -> None:
        self._client = client
        self._settings = settings
        self._token = token

    @classmethod
    def open(cls, settings: ProvidersSettings, secret: str | None) -> HetznerProvider:
        if not secret:
            raise ProviderError(
                "Hetzner nodes need a Hetzner Cloud API token (Read & Write): add it as a "
                "credential of kind `hetzner`",
                retryable=False,
                reason="provider_unauthorized",
            )
        hetzner = settings.hetzner
        client = Client(
            token=secret,
            api_endpoint=hetzner.api_endpoint,
            application_name="corral",
            application_version=__version__,
            poll_interval=hetzner.poll_interval_seconds,
            timeout=hetzner.request_timeout_seconds,
        )
        _hcloud.one_attempt(client)
        return cls(client, hetzner, secret)

    async def close(self) -> None:
        _hcloud.close(self._client)

    # -- sizes and places ------------------------------------------------------------------

    async def machine_types(self) -> list[MachineType]:
        pricing = await self._run("reading prices", lambda: self._client.request("GET", "/pricing"))
        currency = str(pricing.get("pricing", {}).get("currency", "EUR"))

        def read() -> list[MachineType]:
            types = self._client.server_types.get_all()
            return [t for st in types if (t := _hcloud.machine_type(st, currency)) is not None]

        found = await self._run("listing server types", read)
        return sorted(found, key=lambda t: (t.hourly_price, t.name))

    async def regions(self) -> list[Region]:
        def read() -> list[Region]:
            return [
                Region(
                    name=str(loc.name),
                    description=str(loc.description or loc.name),
                    country=str(loc.country or ""),
                )
                for loc in self._client.locations.get_all()
            ]

        return await self._run("listing locations", read)

    # -- machines ---------------------------------------------------------------------------

    async def create_machine(self, request: MachineRequest, progress: Progress) -> Machine:
        selector = f"{LABEL_INSTANCE}={request.instance_id},{LABEL_NODE}={request.node_id}"
        find = functools.partial(self._machines, selector)
        found = await self._run("looking for the node's server", find)
        if found:
            await progress("found the server made for this node earlier")
            return found[0]
        try:
            data = cloudinit.user_data(request)
        except ValueError as exc:
            raise ProviderError(
                str(exc), retryable=False, reason="provider_invalid_request"
            ) from None
        if len(data.encode()) > MAX_USER_DATA_BYTES:
            raise ProviderError(
                f"the node's cloud-init user data is larger than Hetzner's {MAX_USER_DATA_BYTES} "
                "bytes (is the CA certificate a whole bundle?)",
                retryable=False,
                reason="provider_invalid_request",
            )
        await self._run("checking the server type", functools.partial(self._check_place, request))
        await progress("making the server's firewall")
        firewall_id = await self._run(
            "making the firewall", functools.partial(self._firewall, request, selector)
        )
        await progress("creating the server")
        try:
            machine, actions = await self._run(
                "creating the server",
                functools.partial(self._create_server, request, data, firewall_id),
            )
        except ProviderError as exc:
            if exc.reason != "provider_name_taken":
                raise
            # The name is taken: by this node's own server, made by a create whose answer
            # was lost since we looked, or by someone else's.
            found = await self._run("looking for the node's server", find)
            if not found:
                raise
            return found[0]
        await progress("the server is starting")
        try:
            await self._wait(actions, "making the server")
        except ProviderError as exc:
            if exc.reason == "provider_action_failed":
                # Made but broken: gone, so that the next attempt makes a good one.
                with contextlib.suppress(ProviderError):
                    await self.delete_machine(request.node_id, machine.handle)
            raise
        running = await self._run("reading the server", functools.partial(self._machines, selector))
        await progress("the server is running; the node is being installed on it")
        return running[0] if running else machine

    async def delete_machine(self, node_id: str, handle: Mapping[str, Any]) -> None:
        ids = await self._run(
            "looking for the node's server", functools.partial(self._server_ids, node_id, handle)
        )
        if ids:
            actions = await self._run(
                "deleting the server", functools.partial(self._delete_servers, ids)
            )
            await self._wait(actions, "deleting the server")
        await self._run(
            "deleting the firewall", functools.partial(self._delete_firewalls, node_id, handle)
        )

    async def list_machines(self, instance_id: str) -> list[Machine]:
        find = functools.partial(self._machines, f"{LABEL_INSTANCE}={instance_id}")
        return await self._run("listing servers", find)

    # -- running hcloud ---------------------------------------------------------------------

    async def _run(self, doing: str, work: Callable[[], T]) -> T:
        """`work` in a worker thread, with hcloud's and requests' errors made ProviderErrors."""
        try:
            return await asyncio.to_thread(work)
        except APIException as exc:
            raise _hcloud.api_error(exc, doing, self._scrub) from exc
        except requests.Timeout as exc:
            raise ProviderError(
                f"Hetzner's API did not answer within {self._settings.request_timeout_seconds:g}"
                f" s while {doing}",
                retryable=True,
                reason="provider_timeout",
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(
                f"could not reach Hetzner's API while {doing} ({type(exc).__name__})",
                retryable=True,
                reason="provider_unreachable",
            ) from exc

    def _scrub(self, text: str) -> str:
        """Hetzner never echoes the token; this makes sure no message of ours ever does."""
        return text.replace(self._token, "[token]") if self._token else text

    async def _wait(self, action_ids: Iterable[int], doing: str) -> None:
        """Until every action has succeeded; ProviderError if one fails or time runs out."""
        timeout = self._settings.action_timeout_seconds
        deadline = time.monotonic() + timeout
        pending = tuple(action_ids)
        while pending:
            states = await self._run(doing, functools.partial(self._action_states, pending))
            for _, status, error in states:
                if status == "error":
                    raise ProviderError(
                        f"Hetzner could not finish {doing}: {self._scrub(error)}",
                        retryable=True,
                        reason="provider_action_failed",
                    )
            pending = tuple(action_id for action_id, status, _ in states if status != "success")
            remaining = deadline - time.monotonic()
            if pending and remaining <= 0:
                raise ProviderError(
                    f"Hetzner did not finish {doing} within {timeout:g} s",
                    retryable=True,
                    reason="provider_timeout",
                )
            if pending:
                await asyncio.sleep(min(self._settings.poll_interval_seconds, remaining))

    # -- the work done in worker threads ----------------------------------------------------

    def _machines(self, selector: str) -> list[Machine]:
        servers = self._client.servers.get_all(label_selector=selector)
        return [_hcloud.machine(server) for server in sorted(servers, key=lambda s: s.id or 0)]

    def _check_place(self, request: MachineRequest) -> None:
        def refused(message: str) -> ProviderError:
            return ProviderError(message, retryable=False, reason="provider_invalid_request")

        if not request.machine_type:
            raise refused("a Hetzner node needs a server type, such as cx23")
        server_type = self._client.server_types.get_by_name(request.machine_type)
        if server_type is None:
            raise refused(f"Hetzner has no server type {request.machine_type!r}")
        if request.region and self._client.locations.get_by_name(request.region) is None:
            raise refused(f"Hetzner has no location {request.region!r}")
        places = _hcloud.places(server_type)
        if request.region and places is not None:
            where = ", ".join(sorted(n for n, (_, deprecated) in places.items() if not deprecated))
            state = places.get(request.region)
            if state is None or state[1]:
                raise refused(
                    f"Hetzner does not make {request.machine_type} servers in {request.region} "
                    f"(it does in: {where or 'nowhere'})"
                )
            if not state[0]:
                raise ProviderError(
                    f"Hetzner has no {request.machine_type} servers available in "
                    f"{request.region} right now",
                    retryable=True,
                    reason="provider_unavailable",
                )

    def _firewall(self, request: MachineRequest, selector: str) -> int:
        """The node's firewall: no inbound rule (Hetzner then lets nothing in), or SSH only."""
        rules = [_SSH_RULE] if request.allow_ssh else []
        found = self._client.firewalls.get_all(label_selector=selector)
        if not found:
            try:
                created = self._client.firewalls.create(
                    name=server_name(request),
                    rules=rules,
                    # hcloud's annotation says str; the API takes (and hcloud sends) a mapping.
                    labels=_labels(request),  # type: ignore[arg-type]
                )
                return int(cast(int, created.firewall.id))
            except APIException as exc:
                if exc.code != "uniqueness_error":
                    raise
                # The name is taken, as a server's can be (see create_machine).
                found = self._client.firewalls.get_all(label_selector=selector)
                if not found:
                    raise
        if _hcloud.opens_ssh(found[0].rules or []) != request.allow_ssh:
            self._client.firewalls.set_rules(found[0], rules)
        return int(cast(int, found[0].id))

    def _create_server(
        self, request: MachineRequest, data: str, firewall_id: int
    ) -> tuple[Machine, list[int]]:
        response = self._client.servers.create(
            name=server_name(request),
            server_type=ServerType(name=request.machine_type),
            image=Image(name=self._settings.image),
            location=Location(name=request.region) if request.region else None,
            firewalls=[Firewall(id=firewall_id)],
            user_data=data,
            labels=_labels(request),
            public_net=ServerCreatePublicNetwork(enable_ipv4=True, enable_ipv6=True),
            start_after_create=True,
        )
        actions = [response.action, *(response.next_actions or [])]
        return _hcloud.machine(response.server), [a.id for a in actions]

    def _action_states(self, action_ids: tuple[int, ...]) -> list[tuple[int, str, str]]:
        states = []
        for action_id in action_ids:
            action = self._client.actions.get_by_id(action_id)
            error: dict[str, Any] = dict(action.error or {})
            message = f"{error.get('message', 'no reason given')} ({error.get('code', '?')})"
            states.append((action_id, str(action.status), message))
        return states

    def _server_ids(self, node_id: str, handle: Mapping[str, Any]) -> list[int]:
        servers = self._client.servers.get_all(label_selector=f"{LABEL_NODE}={node_id}")
        ids = [int(cast(int, server.id)) for server in servers]
        handled = handle.get("server_id")
        if isinstance(handled, int) and handled not in ids:
            server = _hcloud.missing_is_none(lambda: self._client.servers.get_by_id(handled))
            # Never a server that is not this node's, whatever the handle says.
            if server is not None and (server.labels or {}).get(LABEL_NODE) == node_id:
                ids.append(handled)
        return ids

    def _delete_servers(self, ids: list[int]) -> list[int]:
        actions = []
        for server_id in ids:
            action = _hcloud.missing_is_none(
                functools.partial(self._client.servers.delete, Server(server_id))
            )
            if action is not None:
                actions.append(action.id)
        return actions

    def _delete_firewalls(self, node_id: str, handle: Mapping[str, Any]) -> None:
        firewalls = self._client.firewalls.get_all(label_selector=f"{LABEL_NODE}={node_id}")
        ids = {int(cast(int, firewall.id)) for firewall in firewalls}
        handled = handle.get("firewall_id")
        if isinstance(handled, int) and handled not in ids:
            firewall = _hcloud.missing_is_none(lambda: self._client.firewalls.get_by_id(handled))
            if firewall is not None and (firewall.labels or {}).get(LABEL_NODE) == node_id:
                ids.add(handled)
        for firewall_id in sorted(ids):
            _hcloud.missing_is_none(
                functools.partial(self._client.firewalls.delete, Firewall(firewall_id))
            )


def _labels(request: MachineRequest) -> dict[str, str]:
    return {
        LABEL_INSTANCE: request.instance_id,
        LABEL_NODE: request.node_id,
        LABEL_OWNER: request.owner_id,
    }
