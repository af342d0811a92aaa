"""The web application factory.

``create_app(settings)`` connects to the registry database, brings it to the newest schema
(``registry.migrate.upgrade``, one transaction), seeds demo data on first start when
``settings.demo`` is on, and returns the FastAPI app with the API under ``/api`` (OpenAPI at
``/openapi.json``, interactive docs at ``/docs`` from vendored files, ``web.docs``). The
migration runs when the app is created, so a server never accepts a request on an old schema,
and ``ifnscope serve`` can tell whether demo users were created (``app.state.demo``).

HTML pages plug in through ``ifnscope.web.pages``: if that package exists and defines
``install(app)``, it is called (to include its router, mount static files and, if it wants,
set ``app.state.html_error_renderer``).

Middleware, outermost first: access log (no query strings) → upload limit → security headers →
session cookie → internal-error guard → routes.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from ifnscope import __version__
from ifnscope.web.settings import Settings

log = logging.getLogger("ifnscope.web")

DESCRIPTION = """\
Registry and decision support for cutaneous lupus and dermatomyositis: patients, visits (each a
validated case with its assessment), treatments, interferon scores, cohort queries and exports.

Authenticate with the session cookie from `POST /api/auth/login` (state-changing requests then
need the `X-CSRF-Token` header) or with `Authorization: Bearer ifn_...` (an API token from
`POST /api/auth/tokens` or `ifnscope admin create-token`). Errors are always
`{"error": {"code", "message", "field"?, "issues"?}}`; see docs/api.md.
"""

TAGS = [
    {"name": "auth", "description": "Login, logout, the current user, API tokens"},
    {"name": "patients", "description": "Patients, visits, treatments, exports and timelines"},
    {"name": "assessment", "description": "Assess a case without storing it"},
    {"name": "signatures", "description": "Saved references and interferon scores of uploaded samples"},
    {"name": "cohort", "description": "Cohort queries over the latest visits"},
    {"name": "admin", "description": "Users and the audit log (admins)"},
]


def app_from_env() -> FastAPI:
    """The app of one worker process of ``ifnscope serve --workers N`` (settings from ``IFNSCOPE_*``)."""
    return create_app(Settings.from_env())


def create_app(settings: Settings | None = None) -> FastAPI:
    from ifnscope.errors import RegistryError
    from ifnscope.registry.db import Registry, make_engine
    from ifnscope.registry.migrate import upgrade
    from ifnscope.web.api import router as api_router
    from ifnscope.web.api.cds import router as cds_router
    from ifnscope.web.docs import install_docs
    from ifnscope.web.errors import install_error_handlers
    from ifnscope.web.logins import LoginThrottle
    from ifnscope.web.logs import AccessLogMiddleware, install_uvicorn_filter
    from ifnscope.web.openapi import install as install_openapi
    from ifnscope.web.security import SESSION_COOKIE, SecurityHeadersMiddleware, UploadLimitMiddleware

    settings = settings or Settings.from_env()
    if settings.cds_clients is not None and not settings.public_url:
        # the CDS Hooks JWT audience must never come from a request's Host header
        raise RegistryError(
            "IFNSCOPE_CDS_CLIENTS needs IFNSCOPE_PUBLIC_URL (the address EHRs call, e.g. "
            "https://cds.example.org): it is the JWTs' audience",
            code="registry.invalid",
        )
    trusted = None
    if settings.cds_clients is not None:  # read before anything is opened: a bad file opens nothing
        from ifnscope.cds.trust import TrustedClients

        trusted = TrustedClients.from_file(settings.cds_clients)
    install_uvicorn_filter()
    engine = make_engine(
        settings.database_url,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
    )
    try:
        upgrade(engine)
        registry = Registry(engine)
        demo = None
        if settings.demo:
            from ifnscope.web.demo import seed_demo

            demo = seed_demo(registry)
    except BaseException:
        engine.dispose()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What start-up made (the app, the rules, the ORM's mappers) lives as long as the
        # process: moved out of the collector's generations, every later full collection
        # skips it (CPython's gc.freeze).
        gc.collect()
        gc.freeze()
        yield
        registry.close()  # commits queued audit events, then disposes of the engine

    app = FastAPI(
        title="ifnscope",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI / ReDoc from a CDN: ours is vendored
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.db_limiter = anyio.CapacityLimiter(settings.db_concurrency or _db_slots(engine))
    # SQLite readers do not block each other or the writer (WAL): they get slots of their own.
    # On PostgreSQL reads and writes share the pool, so they share its slots.
    app.state.read_limiter = (
        anyio.CapacityLimiter(_SQLITE_READ_SLOTS) if engine.dialect.name == "sqlite" else app.state.db_limiter
    )
    # Password hashes checked at once (web.logins): half the cores, so that guessing clients
    # queue among themselves and leave CPU to everyone else.
    app.state.hash_limiter = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) // 2))
    app.state.login_throttle = LoginThrottle(
        settings.login_failures_per_account,
        settings.login_failures_per_address,
        settings.login_window_minutes * 60,
    )
    app.state.cpu_limiter = anyio.CapacityLimiter(1)  # web.deps.assess_in_turn
    app.state.demo = demo
    app.state.batchers = {}  # web.deps: the group commit of each event loop's reads
    app.state.html_error_renderer = None
    app.state.cds_clients = trusted  # None: no EHR may call the CDS services (web.api.cds)

    install_error_handlers(app)  # adds the internal-error guard, the innermost middleware
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret,
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes)
    if settings.access_log:
        app.add_middleware(AccessLogMiddleware)

    app.include_router(api_router)
    app.include_router(cds_router)  # /cds-services: where CDS Hooks clients expect it, not under /api
    if settings.api_docs:
        install_docs(app)
    _install_pages(app)
    install_openapi(app)  # the truthful OpenAPI document and 405 Allow headers (web.openapi)
    return app


_SQLITE_READ_SLOTS = 8  # below the pool's 5 + 10 connections, leaving the writer and the group commit theirs


def _db_slots(engine: Any) -> int:
    """Concurrent request transactions: one on SQLite (every transaction takes the write lock),
    else a few fewer than the connection pool holds."""
    if engine.dialect.name == "sqlite":
        return 1
    pool = engine.pool
    size = getattr(pool, "size", lambda: 5)() + max(0, getattr(pool, "_max_overflow", 0))
    return max(1, min(size - 2, 32))


def _install_pages(app: FastAPI) -> None:
    if importlib.util.find_spec("ifnscope.web.pages") is None:
        return
    pages = importlib.import_module("ifnscope.web.pages")
    install = getattr(pages, "install", None)
    if callable(install):
        install(app)
