"""Corral's settings: one model per area under a root read from `CORRAL_*` and `corral.toml`.

Precedence, highest first: values passed in code (CLI flags), environment variables, the
`corral.toml` file in the data directory, the defaults below. Nested areas use a double underscore
in the environment (`CORRAL_AUTH__LOGIN_LINK_TTL_SECONDS=600`) and a table in the file (`[auth]`).
Settings are read once at start-up and passed down; no other code reads the environment.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from corral.netenv import EnvName

__all__ = [
    "ApiSettings",
    "AuthSettings",
    "ClientSettings",
    "GitHubSettings",
    "HetznerSettings",
    "HttpSettings",
    "IdleSettings",
    "NodeSettings",
    "PlacementSettings",
    "ProjectSettings",
    "ProvidersSettings",
    "Settings",
    "SettingsArea",
    "SshProviderSettings",
    "default_data_dir",
    "load_settings",
    "settings_problems",
]

SETTINGS_FILE_NAME = "corral.toml"
DATABASE_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
"""The database URL schemes we take, and the async driver each is used through."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("corral", appauthor=False))


class SettingsArea(BaseModel):
    """One area of settings (a table in a settings file, a nested model in the environment)."""

    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class AuthSettings(SettingsArea):
    login_link_ttl_seconds: int = Field(
        900, gt=0, description="How long a one-time login link stays valid."
    )
    invite_ttl_seconds: int = Field(
        7 * 24 * 3600, gt=0, description="How long an invite link stays valid."
    )
    session_ttl_seconds: int = Field(
        14 * 24 * 3600, gt=0, description="How long a browser session lasts after sign-in."
    )
    login_attempts_per_window: int = Field(
        10, gt=0, description="Failed login-link attempts allowed per client address per window."
    )
    login_attempt_window_seconds: int = Field(
        60, gt=0, description="The window over which failed login attempts are counted."
    )
    owner_name: str = Field("owner", description="Name of the owner account made on first start.")


class ApiSettings(SettingsArea):
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Largest request body accepted.")
    default_page_size: int = Field(50, gt=0, description="Items per page when `limit` is unset.")
    max_page_size: int = Field(200, gt=0, description="Largest `limit` a list accepts.")
    metrics_require_auth: bool = Field(
        True, description="Whether /metrics needs a signed-in user or API token."
    )


class HttpSettings(SettingsArea):
    """Limits of the HTTP server itself, below the API: what one client may make a connection
    hold, and how many connections there may be. See `corral.control.httplimits`."""

    max_request_head_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request head (request line and headers together); a larger one is "
        "answered 431 and its connection closed.",
    )
    max_header_count: int = Field(
        100, ge=1, description="Most header fields in one request; more are answered 431."
    )
    max_url_bytes: int = Field(
        8 * 1024,
        ge=256,
        description="Longest request target (path and query string); a longer one is answered 414.",
    )
    request_head_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a client may take to send a request head, counted from connecting "
        "(or from the first byte of a later request on a kept-alive connection); a slower one "
        "is answered 408, or just closed if it sent nothing.",
    )
    keep_alive_timeout_seconds: int = Field(
        5, gt=0, description="How long an idle kept-alive connection stays open between requests."
    )
    max_connections: int = Field(
        3840,
        ge=1,
        description="Open connections (HTTP and WebSocket together); one over this is answered "
        "503 and closed at once, so a flood cannot use up the process's file descriptors. The "
        "default fits a thousand node links with their viewers, and with the spare descriptors "
        "a common hard open-file limit of 4096.",
    )


class ProjectSettings(SettingsArea):
    repo_check_timeout_seconds: float = Field(
        30.0, gt=0, description="How long `git ls-remote` may take when a project is checked."
    )


class NodeSettings(SettingsArea):
    """How the control plane treats node daemons."""

    heartbeat_interval_seconds: float = Field(
        15.0, gt=0, description="How often nodes report health; told to each node at link time."
    )
    missed_heartbeats_before_stale: int = Field(
        3, ge=1, description="Beats a node may miss before it is marked stale."
    )
    join_token_ttl_seconds: int = Field(900, gt=0, description="How long a join token is valid.")
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="How long a request to a node may take before it fails."
    )
    relink_grace_seconds: float = Field(
        10.0, ge=0, description="How long a terminal viewer waits for its node to relink."
    )
    terminal_link_window_bytes: int = Field(
        256 * 1024,
        ge=4096,
        description=(
            "Terminal output one node link may have in flight, shared by its open terminals: "
            "what a keystroke's echo may wait behind when others flood."
        ),
    )
    terminal_min_window_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="The least in flight each terminal may have, however many share the link.",
    )


class PlacementSettings(SettingsArea):
    """Where new workspaces go (see docs/nodes.md, Placement): the loop that places them, and the
    limits it keeps to."""

    interval_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the placement loop looks at pending workspaces when nothing wakes "
        "it (a new workspace, a node linking or reporting does, at once).",
    )
    max_workspaces_per_node: int | None = Field(
        None,
        ge=1,
        description="Most workspaces one node holds, stopped ones included (unset: no limit "
        "beyond its CPUs and memory).",
    )
    max_running_workspaces_per_user: int | None = Field(
        None,
        ge=1,
        description="Most workspaces one user may have running (or being made, started or "
        "rebuilt) at once; more wait in `pending`, and starting one is refused (unset: no "
        "limit).",
    )


class SessionSettings(SettingsArea):
    """How agent sessions run."""

    permission_timeout_seconds: float | None = Field(
        None,
        gt=0,
        description="Answer a permission request nobody answered with reject after this long "
        "(unset: it waits for a person however long it takes).",
    )


class IdleSettings(SettingsArea):
    """When running workspaces that nobody uses stop by themselves (`corral.control.services.idle`).

    A workspace is idle while nobody types in its terminals or watches them or its chats, and no
    agent turn runs or waits for permission in it."""

    default_timeout_minutes: float = Field(
        30.0,
        ge=0,
        description="Stop a running workspace after it has been idle this long, unless its "
        "project or the workspace itself sets its own timeout; 0: never.",
    )
    check_interval_seconds: float = Field(
        30.0, gt=0, description="How often the control plane looks for idle workspaces."
    )
    activity_write_interval_seconds: float = Field(
        30.0,
        gt=0,
        description="How often a workspace's latest activity (typing, an attached viewer) is "
        "written to the database: at most once per workspace per interval, however fast "
        "someone types. Keep it well below the shortest idle timeout when several control "
        "plane processes share the database.",
    )


class ReplicaSettings(SettingsArea):
    """How control plane processes sharing one PostgreSQL database work as one (`corral.control.
    replicas`): each holds some nodes' links and forwards to the others what it does not hold."""

    advertise_url: str | None = Field(
        None,
        description="URL the other replicas reach this one at (its own address on the private "
        "network, not the load balancer's); derived from host and port when unset, which only "
        "replicas on one machine can use.",
    )
    heartbeat_interval_seconds: float = Field(
        2.0, gt=0, description="How often a replica tells the database it is alive."
    )
    dead_after_seconds: float = Field(
        10.0,
        gt=0,
        description="A replica silent this long is taken as gone: the node links it held are "
        "forgotten until their nodes link again elsewhere.",
    )
    forward_timeout_margin_seconds: float = Field(
        5.0,
        ge=0,
        description="What a forwarded node request may take beyond the request's own timeout "
        "(the hop to the replica holding the link).",
    )


class HetznerSettings(SettingsArea):
    """The Hetzner Cloud provider (`corral.control.providers.hetzner`)."""

    api_endpoint: str = Field(
        "https://api.hetzner.cloud/v1",
        description="The Hetzner Cloud API's base URL (passed to `hcloud`); tests point it at "
        "their local API server.",
    )
    image: str = Field("debian-12", description="The image new servers boot.")
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="How long one API request may take."
    )
    action_timeout_seconds: float = Field(
        300.0, gt=0, description="How long Corral waits for an action (create, delete) to finish."
    )
    poll_interval_seconds: float = Field(
        1.0, gt=0, description="How often a running action's progress is asked for."
    )


class SshProviderSettings(SettingsArea):
    """The SSH provider (`corral.control.providers.ssh`): nodes on servers the user already has."""

    connect_timeout_seconds: float = Field(
        20.0, gt=0, description="How long connecting and logging in over SSH may take."
    )
    install_timeout_seconds: float = Field(
        900.0, gt=0, description="How long installing the node on a server may take."
    )
    install_dir: str = Field(
        "/opt/corral", description="Where the node daemon is installed on the server."
    )


class ProvidersSettings(SettingsArea):
    """Providers make and remove nodes (docs/providers.md), driven by the reconcilers."""

    enabled: list[str] = Field(
        ["local", "ssh", "hetzner"], description="The providers users may make nodes with."
    )
    reconcile_interval_seconds: float = Field(
        10.0,
        gt=0,
        description="How often the node reconciler looks at nodes being made, removed or idle "
        "when nothing wakes it.",
    )
    provision_timeout_seconds: float = Field(
        900.0,
        gt=0,
        description="A node not ready this long after it was asked for goes to `error` and its "
        "machine is deleted.",
    )
    retry_min_seconds: float = Field(
        5.0, gt=0, description="The first wait before retrying a failed provider call."
    )
    retry_max_seconds: float = Field(
        120.0, gt=0, description="The longest wait between retries of a failed provider call."
    )
    lease_seconds: float = Field(
        120.0,
        gt=0,
        description="How long one control plane process holds a node while working on it; "
        "another may take it over after that (the first one died).",
    )
    orphan_sweep_interval_seconds: float = Field(
        300.0, gt=0, description="How often the providers' machines are checked for orphans."
    )
    orphan_grace_seconds: float = Field(
        900.0,
        ge=0,
        description="A machine labelled with this instance but with no live node is deleted "
        "once it is this old (time for a crashed creation to be finished first).",
    )
    node_idle_minutes: float = Field(
        30.0,
        ge=0,
        description="Delete a cloud node that has run no workspace for this long; 0: never.",
    )
    warm_nodes: int = Field(
        0,
        ge=0,
        description="Idle cloud nodes kept anyway (per user), so new workspaces start fast.",
    )
    max_nodes_per_user: int | None = Field(
        None, ge=0, description="Most cloud and SSH nodes one user may have (unset: no limit)."
    )
    autoscale_wait_seconds: float = Field(
        10.0,
        ge=0,
        description="How long a workspace waits for room before its user's default node "
        "(`corral node default`) is asked for: a node linking or a workspace stopping may "
        "free room first.",
    )
    max_monthly_spend: float | None = Field(
        None,
        ge=0,
        description="Most one user's cloud nodes may cost in a calendar month, in the "
        "provider's currency; a node whose price would pass it is refused (unset: no limit).",
    )
    allow_loopback_control_url: bool = Field(
        False,
        description="Give new cloud machines a loopback control URL (public_url unset): only "
        "for machines that run on this host, as the tests' do.",
    )
    hetzner: HetznerSettings = Field(default_factory=HetznerSettings)
    ssh: SshProviderSettings = Field(default_factory=SshProviderSettings)


class GitHubSettings(SettingsArea):
    """GitHub or GitHub Enterprise Server (docs/github.md): sign-in, the GitHub App that reaches
    private repositories, and pull requests."""

    web_url: str = Field(
        "https://github.com",
        description="GitHub's web address (sign-in pages, clone URLs); a GitHub Enterprise "
        "Server's address, e.g. https://github.example.com.",
    )
    api_url: str = Field(
        "https://api.github.com",
        description="GitHub's REST API (https://HOST/api/v3 on GitHub Enterprise Server).",
    )
    client_id: str | None = Field(
        None,
        description='An OAuth app\'s client id for "Sign in with GitHub"; unset: the GitHub '
        "App's own (made from Settings, GitHub).",
    )
    client_secret: SecretStr | None = Field(None, description="That OAuth app's client secret.")
    allowed_organizations: list[str] = Field(
        default_factory=list,
        description="Members of these GitHub organisations may sign in without an invite "
        "(they get a member account); others need an invite, then link GitHub to it.",
    )
    request_timeout_seconds: float = Field(
        20.0, gt=0, description="How long one request to GitHub's API may take."
    )
    co_author_trailer: bool = Field(
        True,
        description="End the commits Corral makes for a chat with a `Co-authored-by` trailer "
        "naming the agent.",
    )
    git_timeout_seconds: float = Field(
        300.0, gt=0, description="How long committing and pushing a chat's work may take."
    )


class Settings(BaseSettings):
    """The root of all settings; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix="CORRAL_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the database, the key file and runtime files live.",
    )
    host: str = Field("127.0.0.1", description="Address the control plane listens on.")
    port: int = Field(8420, ge=0, le=65535, description="Port the control plane listens on.")
    public_url: str | None = Field(
        None,
        description="URL users and nodes reach the control plane at (https behind a reverse "
        "proxy that holds the certificate); derived from host and port when unset.",
    )
    tls_certfile: Path | None = Field(
        None,
        description="PEM certificate (chain, leaf first) to serve HTTPS with, without a "
        "reverse proxy; its key is in `tls_keyfile`, or in this file when that is unset.",
    )
    tls_keyfile: Path | None = Field(
        None,
        description="PEM private key of `tls_certfile`, unencrypted (readable by Corral only).",
    )
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (client address for rate limits, https for cookies).",
    )
    database_url: str | None = Field(
        None,
        description="PostgreSQL (postgresql://USER:PASSWORD@HOST/DATABASE) or SQLite "
        "(sqlite:///PATH); defaults to SQLite in the data directory. Either is used through "
        "its async driver (asyncpg, aiosqlite), which the URL may name or leave out.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Base64 of 32 random bytes that encrypts credentials; "
        "defaults to a generated key file in the data directory.",
    )
    network_variables: list[EnvName] = Field(
        default_factory=list,
        description="Environment variables to pass to the local node beyond the network list "
        "(proxies, trust stores, npm_config_*: see corral.netenv), e.g. a company's own CA "
        "variable. Names only; never put a secret here.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = Field(
        "json", description="JSON lines for machines, or plain text for a person."
    )
    auth: AuthSettings = Field(default_factory=AuthSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    projects: ProjectSettings = Field(default_factory=ProjectSettings)
    nodes: NodeSettings = Field(default_factory=NodeSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    idle: IdleSettings = Field(default_factory=IdleSettings)
    replicas: ReplicaSettings = Field(default_factory=ReplicaSettings)
    providers: ProvidersSettings = Field(default_factory=ProvidersSettings)
    github: GitHubSettings = Field(default_factory=GitHubSettings)

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                "must be the base64 encoding of exactly 32 random bytes "
                "(make one with: openssl rand -base64 32)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_names_a_driver_we_have(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, separator, rest = value.partition("://")
        driver = DATABASE_DRIVERS.get(scheme.lower())
        if not separator or not rest:
            raise ValueError("must be a URL such as postgresql://USER:PASSWORD@HOST/DATABASE")
        if driver is None:
            # Only the scheme: the rest may hold a password.
            raise ValueError(
                f"Corral stores its data in PostgreSQL (postgresql://) or SQLite (sqlite:///), "
                f"not {scheme}://"
            )
        return f"{driver}://{rest}"

    @model_validator(mode="after")
    def _keyfile_has_a_certificate(self) -> Settings:
        if self.tls_keyfile is not None and self.tls_certfile is None:
            raise ValueError("tls_keyfile needs tls_certfile, the certificate it belongs to")
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'corral.db'}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return self.local_url

    @property
    def local_url(self) -> str:
        """The URL this machine reaches the control plane at directly: the address it listens
        on (loopback for a wildcard), https when it serves TLS itself, never through a proxy."""
        wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104
        host = wildcard.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_certfile is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Read settings, with `corral.toml` taken from the data directory that applies.

    The data directory has to be known before the file in it can be read, so it is resolved first
    from the argument, then `CORRAL_DATA_DIR`, then the platform default.
    """
    if data_dir is None:
        from_env = os.environ.get("CORRAL_DATA_DIR")
        data_dir = Path(from_env) if from_env else default_data_dir()
    toml_path = Path(data_dir).expanduser() / SETTINGS_FILE_NAME

    class _SettingsFromFile(Settings):
        model_config = SettingsConfigDict(toml_file=toml_path if toml_path.is_file() else None)

    return _SettingsFromFile(data_dir=Path(data_dir).expanduser(), **overrides)


def settings_problems(exc: ValidationError) -> list[str]:
    """Each error of invalid settings on one line for a person: the setting's dotted name, then
    what is wrong; a validator's own message without pydantic's "Value error, " before it, and
    a check of several settings (no name) as its message alone."""
    problems = []
    for error in exc.errors():
        message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {message}" if where else message)
    return problems


def default_client_config_dir() -> Path:
    return Path(platformdirs.user_config_dir("corral", appauthor=False))


class ClientSettings(BaseSettings):
    """Settings of the `corral` CLI as a client of a control plane (not of the server itself)."""

    model_config = SettingsConfigDict(env_prefix="CORRAL_", extra="ignore")

    config_dir: Path = Field(
        default_factory=default_client_config_dir,
        description="Where `corral login` saves the control plane's URL and an API token.",
    )
    url: str | None = Field(None, description="Control plane URL; overrides the saved one.")
    token: SecretStr | None = Field(None, description="API token; overrides the saved one.")
    timeout_seconds: float = Field(60.0, gt=0, description="How long one API call may take.")
    debug: bool = Field(False, description="Print tracebacks of unexpected CLI failures.")
