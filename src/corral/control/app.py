"""The control plane's app factory: builds settings-driven state and wires the routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from corral import __version__
from corral.control import githubweb, health, web
from corral.control.api import replicas
from corral.control.api.constants import API_PREFIX
from corral.control.api.errors import install_error_handlers
from corral.control.api.openapi import install_openapi
from corral.control.api.routes import api_router
from corral.control.bootstrap import Prepared, prepare
from corral.control.db.engine import create_engine
from corral.control.live import (
    Broker,
    ChangeFeed,
    LocalBroker,
    SessionHub,
    ViewerSockets,
    tracked_db_session_factory,
)
from corral.control.live.pgbroker import BROKER_KEY_PURPOSE, PostgresBroker, asyncpg_dsn
from corral.control.middleware import BodyLimitMiddleware, RequestContextMiddleware
from corral.control.nodelink.progress import ProvisioningLogs
from corral.control.nodelink.registry import NodeRegistry
from corral.control.ratelimit import AttemptLimiter
from corral.control.reconcilers import (
    enforce_idle_policy_forever,
    mark_stale_nodes_forever,
    place_workspaces_forever,
    reconcile_nodes_forever,
    sweep_orphans_forever,
)
from corral.control.replicas.directory import LinkDirectory
from corral.control.replicas.signing import SIGNING_KEY_PURPOSE, ReplicaSigner
from corral.control.secretbox import load_secret_box
from corral.control.services.provisioning import Provisioning
from corral.control.services.sessions.ingester import Ingester
from corral.control.state import AppState
from corral.errors import CorralError
from corral.ids import new_id
from corral.settings import Settings

__all__ = ["OnReady", "create_app", "create_state"]

log = logging.getLogger("corral.control")

OnReady = Callable[[AppState, Prepared], Awaitable[None]]


def create_state(settings: Settings) -> AppState:
    """The app's state. On PostgreSQL the process is one of possibly several replicas: its
    live feeds go through PostgreSQL and it reaches nodes linked to the others through them."""
    engine = create_engine(settings.effective_database_url)
    secret_box = load_secret_box(settings)
    replica_id = new_id("rep")
    postgres = engine.dialect.name == "postgresql"
    broker: Broker = (
        PostgresBroker(
            asyncpg_dsn(settings.effective_database_url),
            replica_id,
            secret_box.derive(BROKER_KEY_PURPOSE),
        )
        if postgres
        else LocalBroker()
    )
    change_feed = ChangeFeed(broker)
    db = tracked_db_session_factory(engine, change_feed)
    placement_due = asyncio.Event()
    session_hub = SessionHub(broker)
    replicas = (
        LinkDirectory(
            db,
            broker,
            settings.replicas,
            ReplicaSigner(secret_box.derive(SIGNING_KEY_PURPOSE), replica_id),
            replica_id=replica_id,
            url=settings.replicas.advertise_url or settings.local_url,
            key_id=secret_box.current_key_id,
            request_timeout_seconds=settings.nodes.request_timeout_seconds,
        )
        if postgres
        else None
    )
    node_registry = NodeRegistry()
    if replicas is not None:
        node_registry.use_directory(replicas)
    return AppState(
        settings=settings,
        engine=engine,
        db=db,
        broker=broker,
        replicas=replicas,
        node_registry=node_registry,
        placement_due=placement_due,
        provisioning=Provisioning(
            db=db, settings=settings, secret_box=secret_box, on_ready=placement_due.set
        ),
        change_feed=change_feed,
        session_hub=session_hub,
        ingester=Ingester(db, session_hub),
        viewer_sockets=ViewerSockets(broker),
        provisioning_logs=ProvisioningLogs(broker),
        secret_box=secret_box,
        login_limiter=AttemptLimiter(
            settings.auth.login_attempts_per_window, settings.auth.login_attempt_window_seconds
        ),
        metrics=CollectorRegistry(),
    )


async def start_replica(state: AppState) -> None:
    """Join the other replicas (PostgreSQL only): listen to the broker, then say where this
    replica is reached and learn which node links the others hold."""
    try:
        if isinstance(state.broker, PostgresBroker):
            await state.broker.start()
        if state.replicas is not None:
            await state.replicas.start()
    except BaseException:
        await stop_replica(state)
        raise


async def stop_replica(state: AppState) -> None:
    if state.replicas is not None:
        await state.replicas.stop()
    if isinstance(state.broker, PostgresBroker):
        await state.broker.close()


def create_app(settings: Settings, *, on_ready: OnReady | None = None) -> FastAPI:
    """Build the app; its lifespan migrates the database, makes the owner, then calls `on_ready`."""
    state = create_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            prepared = await prepare(state)
            await start_replica(state)
        except CorralError as exc:
            # A cause the user can act on (the database, another replica's key): one line. The
            # server then says that start-up failed and exits (see `corral.control.server`).
            log.error("cannot start: %s", exc.message)
            raise
        except Exception:
            log.exception("start-up failed")
            raise
        sweeper = asyncio.create_task(mark_stale_nodes_forever(state), name="stale-node-sweeper")
        placer = asyncio.create_task(place_workspaces_forever(state), name="placement")
        idler = asyncio.create_task(enforce_idle_policy_forever(state), name="idle-policy")
        provisioner = asyncio.create_task(reconcile_nodes_forever(state), name="node-reconciler")
        orphans = asyncio.create_task(sweep_orphans_forever(state), name="orphan-sweeper")
        if on_ready is not None:
            await on_ready(state, prepared)
        try:
            yield
        finally:
            tasks = [sweeper, placer, idler, provisioner, orphans, *state.background]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await state.node_registry.close_all("the control plane is shutting down")
            await state.ingester.finish()
            await stop_replica(state)
            await state.engine.dispose()

    app = FastAPI(
        title="Corral",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.corral = state
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(api_router)
    app.include_router(health.router)
    # The web app's assets, before its catch-all page route (in `web.router`).
    app.mount(
        "/assets", StaticFiles(directory=web.STATIC_DIR / "assets", check_dir=False), name="assets"
    )
    app.include_router(replicas.router)
    app.include_router(githubweb.router)  # before the web app's catch-all
    app.include_router(web.router)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.api.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, registry=state.metrics)
    return app
