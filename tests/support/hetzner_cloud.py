"""What the fake Hetzner API (tests/support/hetzner_api.py) holds and how it answers: servers,
firewalls and actions, in the Cloud API's JSON shapes. No HTTP and no clock here: the API
module serves it, and moves servers along in time.

GET /server_types, /locations, /pricing (tests/support/hetzner_catalog.py); GET /servers
(label_selector, name and status filters); GET /servers/{id}, /servers/{id}/actions; POST
/servers/{id}/actions/poweron; GET /actions/{id}; GET/POST /firewalls; GET/DELETE
/firewalls/{id}; POST /firewalls/{id}/actions/set_rules. POST /servers and DELETE
/servers/{id} are `create_server` and `delete_server`, called by the API. Lists page with
page/per_page and `meta.pagination`; errors are Hetzner's body, {"error": {"code", "message",
"details"}}. Hetzner's rules hold: server and firewall names are unique (409
`uniqueness_error`), labels are checked, user data stays under 32 KiB, and a firewall still
applied to a server cannot be deleted (422 `resource_in_use`).
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support import hetzner_catalog as catalog
from tests.support.cloudnodes import Boot

__all__ = ["ApiError", "FakeAction", "FakeFirewall", "FakeServer", "HetznerCloud", "RateLimited"]

USER_DATA_LIMIT_BYTES = 32 * 1024
RATE_LIMIT = 3600
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?")
_LABEL = re.compile(r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?")
_PROTOCOLS = ("tcp", "udp", "icmp", "esp", "gre")
Answer = tuple[int, dict[str, Any] | None]
"""A status and the JSON body (None: no body)."""


class ApiError(Exception):
    """Answered as Hetzner does: {"error": {"code", "message", "details"}}."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class RateLimited(ApiError):
    def __init__(self, reset: int) -> None:
        super().__init__(429, "rate_limit_exceeded", f"limit of {RATE_LIMIT} requests per hour")
        self.reset = reset


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FakeAction:
    id: int
    command: str
    resources: list[dict[str, Any]]
    status: str = "running"
    started: datetime = field(default_factory=_now)
    finished: datetime | None = None
    error: dict[str, str] | None = None

    def finish(self) -> None:
        self.status, self.finished = "success", _now()

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command": self.command,
            "status": self.status,
            "progress": 100 if self.status == "success" else 0,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "resources": self.resources,
            "error": self.error,
        }


@dataclass
class FakeServer:
    id: int
    name: str
    labels: dict[str, str]
    server_type: str
    location: str
    image: str
    user_data: str
    firewall_ids: list[int]
    status: str = "initializing"
    created: datetime = field(default_factory=_now)
    action_ids: list[int] = field(default_factory=list)
    boot: Boot = field(default_factory=Boot)
    """How far it got booting: the steps it reported, its node daemon (`boot.node`)."""


@dataclass
class FakeFirewall:
    id: int
    name: str
    labels: dict[str, str]
    rules: list[dict[str, Any]]
    server_ids: list[int] = field(default_factory=list)
    created: datetime = field(default_factory=_now)

    def json(self) -> dict[str, Any]:
        empty: dict[str, Any] = {
            "description": None,
            "source_ips": [],
            "destination_ips": [],
            "port": None,
        }
        return {
            "id": self.id,
            "name": self.name,
            "labels": self.labels,
            "rules": [{**empty, **rule} for rule in self.rules],
            "applied_to": [{"type": "server", "server": {"id": i}} for i in self.server_ids],
            "created": self.created.isoformat(),
        }


class HetznerCloud:
    """The project's servers, firewalls and actions, behind one lock (the API answers in its
    own thread while tests read from theirs)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._servers: dict[int, FakeServer] = {}
        self._firewalls: dict[int, FakeFirewall] = {}
        self._actions: dict[int, FakeAction] = {}
        self._ids = itertools.count(1)
        self.stuck: set[str] = set()
        """Commands whose actions never finish."""

    def route(self, method: str, path: str, query: Any, body: dict[str, Any] | None) -> Answer:
        for route_method, pattern, handler in _ROUTES:
            found = re.fullmatch(pattern, path)
            if found and method == route_method:
                return handler(self, query, body, *(int(group) for group in found.groups()))
        raise ApiError(404, "not_found", f"no route {method} {path}")

    # -- what tests read ---------------------------------------------------------------------

    def servers(self) -> list[FakeServer]:
        with self.lock:
            return [copy.copy(server) for server in self._servers.values()]

    def server(self, server_id: int) -> FakeServer | None:
        with self.lock:
            server = self._servers.get(server_id)
            return copy.copy(server) if server is not None else None

    def firewalls(self) -> list[FakeFirewall]:
        with self.lock:
            return [copy.deepcopy(firewall) for firewall in self._firewalls.values()]

    # -- the catalog -------------------------------------------------------------------------

    def _list_server_types(self, query: Any, _: Any) -> Answer:
        found = [t for t in catalog.SERVER_TYPES if query.get("name") in (None, t["name"])]
        return 200, _page(found, query, "server_types")

    def _get_server_type(self, _: Any, __: Any, type_id: int) -> Answer:
        return 200, {"server_type": _named(catalog.SERVER_TYPES, type_id, "server type")}

    def _list_locations(self, query: Any, _: Any) -> Answer:
        found = [x for x in catalog.LOCATIONS if query.get("name") in (None, x["name"])]
        return 200, _page(found, query, "locations")

    def _get_location(self, _: Any, __: Any, location_id: int) -> Answer:
        return 200, {"location": _named(catalog.LOCATIONS, location_id, "location")}

    def _pricing(self, _: Any, __: Any) -> Answer:
        return 200, catalog.pricing()

    # -- servers -----------------------------------------------------------------------------

    def _list_servers(self, query: Any, _: Any) -> Answer:
        selector, statuses = query.get("label_selector", ""), query.getlist("status")
        with self.lock:
            found = [
                self._server_json(s)
                for s in sorted(self._servers.values(), key=lambda s: s.id)
                if _selects(selector, s.labels)
                and query.get("name") in (None, s.name)
                and (not statuses or s.status in statuses)
            ]
        return 200, _page(found, query, "servers")

    def _get_server(self, _: Any, __: Any, server_id: int) -> Answer:
        with self.lock:
            return 200, {"server": self._server_json(self._existing_server(server_id))}

    def create_server(self, body: dict[str, Any]) -> tuple[FakeServer, list[FakeAction]]:
        """Record a server `initializing`, with its running create and start actions."""
        name = str(body.get("name", ""))
        if not _NAME.fullmatch(name):
            raise ApiError(400, "invalid_input", f"invalid server name {name!r}")
        server_type = _named(catalog.SERVER_TYPES, body.get("server_type"), "server type")
        image = _named(catalog.IMAGES, body.get("image"), "image")
        location = body.get("location") or "fsn1"
        _named(catalog.LOCATIONS, location, "location")
        place = next((p for p in server_type["locations"] if p["name"] == location), None)
        what = f"{server_type['name']} in {location}"
        if place is None or place["deprecation"] is not None:
            raise ApiError(422, "invalid_input", f"{what} is not offered")
        if not place["available"]:
            raise ApiError(412, "resource_unavailable", f"{what} is sold out")
        user_data = str(body.get("user_data") or "")
        if len(user_data.encode()) > USER_DATA_LIMIT_BYTES:
            raise ApiError(400, "invalid_input", "user_data is larger than 32 KiB")
        labels = _labels(body.get("labels"))
        firewall_ids = [int(f["firewall"]) for f in body.get("firewalls") or []]
        with self.lock:
            if any(s.name == name for s in self._servers.values()):
                raise ApiError(409, "uniqueness_error", "server name is already used")
            firewalls = [self._existing_firewall(i) for i in firewall_ids]
            server = FakeServer(
                next(self._ids), name, labels, server_type["name"], location, image["name"],
                user_data, firewall_ids,
            )  # fmt: skip
            for firewall in firewalls:
                firewall.server_ids.append(server.id)
            resources = [{"id": server.id, "type": "server"}]
            actions = [
                self._new_action("create_server", resources),
                self._new_action("start_server", resources),
            ]
            server.action_ids = [action.id for action in actions]
            self._servers[server.id] = server
        return server, actions

    def created(self, server: FakeServer, actions: list[FakeAction]) -> dict[str, Any]:
        """POST /servers' answer."""
        with self.lock:
            return {
                "server": self._server_json(server),
                "action": actions[0].json(),
                "next_actions": [action.json() for action in actions[1:]],
                "root_password": None,
            }

    def finish_creating(self, server: FakeServer, actions: list[FakeAction]) -> bool:
        """The server is made and running; False when its create action is stuck."""
        with self.lock:
            if "create_server" in self.stuck:
                return False
            for action in actions:
                action.finish()
            server.status = "running"
            return True

    def delete_server(self, server_id: int) -> tuple[FakeServer, FakeAction]:
        with self.lock:
            server = self._existing_server(server_id)
            action = self._new_action("delete_server", [{"id": server_id, "type": "server"}])
            server.status = "deleting"
            return server, action

    def finish_deleting(self, server: FakeServer, action: FakeAction) -> None:
        """The server is gone, and its firewalls are free; not when delete actions are stuck."""
        with self.lock:
            if "delete_server" in self.stuck:
                return
            self._servers.pop(server.id, None)
            for firewall in self._firewalls.values():
                if server.id in firewall.server_ids:
                    firewall.server_ids.remove(server.id)
            action.finish()

    def _power_on(self, _: Any, __: Any, server_id: int) -> Answer:
        with self.lock:
            server = self._existing_server(server_id)
            action = self._new_action("start_server", [{"id": server_id, "type": "server"}])
            action.finish()
            server.status = "running"
        return 201, {"action": action.json()}

    def _server_actions(self, query: Any, _: Any, server_id: int) -> Answer:
        statuses = query.getlist("status")
        with self.lock:
            server = self._existing_server(server_id)
            found = [
                self._actions[i].json()
                for i in server.action_ids
                if not statuses or self._actions[i].status in statuses
            ]
        return 200, _page(found, query, "actions")

    def _get_action(self, _: Any, __: Any, action_id: int) -> Answer:
        with self.lock:
            action = self._actions.get(action_id)
            if action is None:
                raise ApiError(404, "not_found", f"action {action_id} not found")
            return 200, {"action": action.json()}

    # -- firewalls ---------------------------------------------------------------------------

    def _list_firewalls(self, query: Any, _: Any) -> Answer:
        selector = query.get("label_selector", "")
        with self.lock:
            found = [
                f.json()
                for f in sorted(self._firewalls.values(), key=lambda f: f.id)
                if _selects(selector, f.labels) and query.get("name") in (None, f.name)
            ]
        return 200, _page(found, query, "firewalls")

    def _get_firewall(self, _: Any, __: Any, firewall_id: int) -> Answer:
        with self.lock:
            return 200, {"firewall": self._existing_firewall(firewall_id).json()}

    def _create_firewall(self, _: Any, body: dict[str, Any]) -> Answer:
        name, labels = str(body.get("name", "")), _labels(body.get("labels"))
        rules = [_rule(rule) for rule in body.get("rules") or []]
        with self.lock:
            if not name or any(f.name == name for f in self._firewalls.values()):
                raise ApiError(409, "uniqueness_error", "firewall name is already used")
            firewall = FakeFirewall(next(self._ids), name, labels, rules)
            self._firewalls[firewall.id] = firewall
            return 201, {"firewall": firewall.json(), "actions": []}

    def _set_rules(self, _: Any, body: dict[str, Any], firewall_id: int) -> Answer:
        with self.lock:
            firewall = self._existing_firewall(firewall_id)
            firewall.rules = [_rule(rule) for rule in (body or {}).get("rules") or []]
            resources = [{"id": firewall_id, "type": "firewall"}]
            action = self._new_action("set_firewall_rules", resources)
            action.finish()
            return 201, {"actions": [action.json()]}

    def _delete_firewall(self, _: Any, __: Any, firewall_id: int) -> Answer:
        with self.lock:
            if self._existing_firewall(firewall_id).server_ids:
                raise ApiError(422, "resource_in_use", "firewall is still applied to servers")
            del self._firewalls[firewall_id]
        return 204, None

    # -- with the lock held ------------------------------------------------------------------

    def _new_action(self, command: str, resources: list[dict[str, Any]]) -> FakeAction:
        action = FakeAction(next(self._ids), command, resources)
        self._actions[action.id] = action
        return action

    def _existing_server(self, server_id: int) -> FakeServer:
        server = self._servers.get(server_id)
        if server is None:
            raise ApiError(404, "not_found", f"server {server_id} not found")
        return server

    def _existing_firewall(self, firewall_id: int) -> FakeFirewall:
        firewall = self._firewalls.get(firewall_id)
        if firewall is None:
            raise ApiError(404, "not_found", f"firewall {firewall_id} not found")
        return firewall

    def _server_json(self, server: FakeServer) -> dict[str, Any]:
        server_type = _named(catalog.SERVER_TYPES, server.server_type, "server type")
        # Documentation addresses (TEST-NET-3, 2001:db8::/32): never anyone's.
        ipv4 = {"ip": f"203.0.113.{server.id % 250 + 1}", "dns_ptr": "static.example.invalid"}
        ipv6 = {"ip": f"2001:db8:{server.id:x}::/64", "dns_ptr": []}
        return {
            "id": server.id,
            "name": server.name,
            "status": server.status,
            "created": server.created.isoformat(),
            "public_net": {
                "ipv4": {"id": server.id * 10 + 1, "blocked": False, **ipv4},
                "ipv6": {"id": server.id * 10 + 2, "blocked": False, **ipv6},
                "floating_ips": [],
                "firewalls": [{"id": i, "status": "applied"} for i in server.firewall_ids],
            },
            "private_net": [],
            "server_type": server_type,
            "location": _named(catalog.LOCATIONS, server.location, "location"),
            "image": _named(catalog.IMAGES, server.image, "image"),
            "iso": None,
            "rescue_enabled": False,
            "locked": False,
            "backup_window": None,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 20 * 10**12,
            "protection": {"delete": False, "rebuild": False},
            "labels": server.labels,
            "volumes": [],
            "load_balancers": [],
            "primary_disk_size": server_type["disk"],
            "placement_group": None,
        }


_ROUTES: list[tuple[str, str, Callable[..., Answer]]] = [
    ("GET", r"/server_types", HetznerCloud._list_server_types),
    ("GET", r"/server_types/(\d+)", HetznerCloud._get_server_type),
    ("GET", r"/locations", HetznerCloud._list_locations),
    ("GET", r"/locations/(\d+)", HetznerCloud._get_location),
    ("GET", r"/pricing", HetznerCloud._pricing),
    ("GET", r"/servers", HetznerCloud._list_servers),
    ("GET", r"/servers/(\d+)", HetznerCloud._get_server),
    ("GET", r"/servers/(\d+)/actions", HetznerCloud._server_actions),
    ("POST", r"/servers/(\d+)/actions/poweron", HetznerCloud._power_on),
    ("GET", r"/actions/(\d+)", HetznerCloud._get_action),
    ("GET", r"/firewalls", HetznerCloud._list_firewalls),
    ("POST", r"/firewalls", HetznerCloud._create_firewall),
    ("GET", r"/firewalls/(\d+)", HetznerCloud._get_firewall),
    ("DELETE", r"/firewalls/(\d+)", HetznerCloud._delete_firewall),
    ("POST", r"/firewalls/(\d+)/actions/set_rules", HetznerCloud._set_rules),
]


def _page(items: list[Any], query: Any, key: str) -> dict[str, Any]:
    """One page of `items`, with Hetzner's `meta.pagination` (at most 50 a page)."""
    try:
        page = max(1, int(query.get("page", 1)))
        per_page = min(50, max(1, int(query.get("per_page", 25))))
    except ValueError:
        raise ApiError(400, "invalid_input", "page and per_page are numbers") from None
    last = max(1, -(-len(items) // per_page))
    pagination = {
        "page": page,
        "per_page": per_page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < last else None,
        "last_page": last,
        "total_entries": len(items),
    }
    return {key: items[(page - 1) * per_page : page * per_page], "meta": {"pagination": pagination}}


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Hetzner's label selector, its equality-based part: `k=v`, `k==v`, `k!=v`, `k`, `!k`."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if " in " in term or " notin " in term:
            raise ApiError(400, "invalid_input", "the fake does not do set-based selectors")
        if "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            ok = labels.get(key) != value
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            ok = labels.get(key) == value
        else:
            ok = (term.lstrip("!").strip() in labels) != term.startswith("!")
        if not ok:
            return False
    return True


def _labels(value: Any) -> dict[str, str]:
    labels = {str(key): str(label) for key, label in dict(value or {}).items()}
    for key, label in labels.items():
        name = key.rsplit("/", 1)[-1]
        if not (name and _LABEL.fullmatch(name) and _LABEL.fullmatch(label)):
            raise ApiError(400, "invalid_input", f"invalid label {key!r}={label!r}")
    return labels


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    if rule.get("direction") not in ("in", "out") or rule.get("protocol") not in _PROTOCOLS:
        raise ApiError(400, "invalid_input", f"invalid firewall rule {rule!r}")
    return dict(rule)


def _named(items: list[dict[str, Any]], wanted: Any, what: str) -> dict[str, Any]:
    for item in items:
        if wanted in (item["name"], item["id"], str(item["id"])):
            return item
    raise ApiError(404, "not_found", f"{what} {wanted!r} not found")
