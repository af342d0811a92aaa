"""FastAPI dependencies shared by the API and the pages.

::

    from ifnscope.web.deps import Authenticated, DbSession, require

    @router.get("/patients/{patient_id}")
    def read(patient_id: int, actor: Authenticated, s: DbSession): ...

    @router.post("/patients")
    def create(actor: Annotated[Actor, Depends(require("write_patients"))], s: DbSession): ...

- :data:`DbSession`: one SQLAlchemy session per request, in one transaction that commits when
  the endpoint returns (before the response is sent, so a failed commit is an error response)
  and rolls back when it raises. The same session is shared by every dependency of a request.
- :data:`Authenticated` (:func:`current_actor`): the :class:`Actor` from an
  ``Authorization: Bearer ifn_...`` API token (``via="api"``) or the session cookie, whose id
  must name a live row of ``web_sessions`` (``via="web"``); 401 ``auth.required`` /
  ``auth.invalid`` otherwise. Cookie-authenticated requests that change state must pass the
  CSRF check (``security.verify_csrf``).
- :data:`MaybeActor` (:func:`optional_actor`): the same without raising (``None`` when nobody
  is logged in) and without the CSRF check, for pages that redirect to a login form.
- :func:`require`: an actor that has a permission (403 ``registry.forbidden`` otherwise).
- :func:`inline_read`: a decorator for cheap sync read endpoints, which then run in the event
  loop when their session is a SQLite read (see there).

Why reads on SQLite stay in the event loop: a query on the local file takes well under a
millisecond, while handing work to a worker thread and back cost about 1 ms of CPU per hop under
load (the threads and the event loop contend for the GIL). A read of a patient made three hops
(identify, endpoint, response validation); without them the server needs half the CPU per read
(docs/benchmarks.md, issue 11).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ifnscope.errors import AuthError
from ifnscope.registry import services
from ifnscope.registry.auth import Actor, Permission
from ifnscope.registry.db import LoopBatcher, Registry, deferred_writes
from ifnscope.web.security import SAFE_METHODS, logout_session, session_id, verify_csrf
from ifnscope.web.settings import Settings

T = TypeVar("T")
P = ParamSpec("P")

_INLINE = "ifnscope_inline"  # Session.info key: this session's queries may run in the event loop


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def db_session(request: Request) -> AsyncIterator[Session]:
    """The request's session and transaction.

    A request first waits for a database slot in the event loop (``app.state.db_limiter``: one
    at a time on SQLite, which has one writer anyway; a few fewer than the connection pool on
    PostgreSQL), and only then takes worker threads. Waiting inside a thread instead (SQLite's
    busy timeout, the pool's checkout) lets waiting requests hold every worker thread while the
    request holding the lock needs one to finish: the server stalls under load.

    GET and HEAD requests read (``Registry.read_transaction``): on SQLite they take no write
    lock and have slots of their own (``app.state.read_limiter``); their audit events are
    group-committed after the read (``registry.db.LoopBatcher``), and the request waits for that
    commit (in the event loop, not a thread) before its response is sent."""
    registry = get_registry(request)
    reading = request.method in ("GET", "HEAD")
    limiter: anyio.CapacityLimiter = (
        request.app.state.read_limiter if reading else request.app.state.db_limiter
    )
    async with limiter:
        if reading and registry.engine.dialect.name == "sqlite":
            # Opening and ending a SQLite read is no I/O worth a thread: the session connects
            # lazily (in the endpoint's thread) and ending a read-only transaction writes nothing.
            # On PostgreSQL ending it is a round trip to the server: that goes to a thread below.
            tx = registry.read_transaction()
            s = tx.__enter__()
            s.info[_INLINE] = True
            try:
                yield s
            except BaseException as exc:
                tx.__exit__(type(exc), exc, exc.__traceback__)
                raise
            else:
                tx.__exit__(None, None, None)
        else:
            tx = registry.read_transaction() if reading else registry.transaction()
            s = await run_in_threadpool(tx.__enter__)
            try:
                yield s
            except BaseException as exc:
                with anyio.CancelScope(shield=True):  # roll back even if the client went away
                    await run_in_threadpool(tx.__exit__, type(exc), exc, exc.__traceback__)
                raise
            else:
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(tx.__exit__, None, None, None)  # commit
    if reading:
        pending = deferred_writes(s)
        if pending:
            with anyio.CancelScope(shield=True):
                await _batcher(request, registry).commit(pending)


def _batcher(request: Request, registry: Registry) -> LoopBatcher:
    """The :class:`LoopBatcher` of the running event loop (one per server process; test clients
    may run the same app in several loops, one after another)."""
    loop = asyncio.get_running_loop()
    batchers: dict[asyncio.AbstractEventLoop, LoopBatcher] = request.app.state.batchers
    batcher = batchers.get(loop)
    if batcher is None:
        batchers.clear()  # a loop that was replaced has nothing left to commit: its requests waited
        batcher = batchers[loop] = LoopBatcher(registry.committer)
    return batcher


DbSession = Annotated[Session, Depends(db_session, scope="function")]


async def in_transaction(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(session, *args, **kwargs)`` in its own short transaction (with a database slot).

    For endpoints that do slow work between database steps (scoring an upload): they take no
    :data:`DbSession`, so the slot and SQLite's write lock are held only while ``fn`` runs."""
    limiter: anyio.CapacityLimiter = request.app.state.db_limiter
    registry = get_registry(request)

    def run() -> T:
        with registry.transaction() as s:
            return fn(s, *args, **kwargs)

    async with limiter:
        return await run_in_threadpool(run)


async def assess_in_turn(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run CPU-bound ``fn(*args)`` (validating and assessing a case) in a worker thread, one at a
    time per server process (``app.state.cpu_limiter``).

    Python runs one thread at a time; twenty assessments side by side finish no sooner, but
    their threads trade the interpreter lock back and forth: at 20 clients a visit write took 36
    ms of CPU that way and 25 ms in turn (docs/benchmarks.md)."""
    limiter: anyio.CapacityLimiter = request.app.state.cpu_limiter
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


async def actor_briefly(request: Request) -> Actor:
    """:func:`current_actor` in its own short transaction instead of the request's."""
    actor = await in_transaction(request, lambda s: _identify(request, s))
    if actor is None:
        raise AuthError("log in, or send 'Authorization: Bearer <API token>'", code="auth.required")
    if request.state.auth_via == "session" and request.method not in SAFE_METHODS:
        await verify_csrf(request)
    return actor


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("use the header 'Authorization: Bearer <API token>'", code="auth.invalid")
    return token


def _identify(request: Request, s: Session) -> Actor | None:
    """The actor, None when no credentials were sent; raises on wrong ones."""
    token = _bearer(request)
    if token is not None:
        actor = services.token_actor(s, token)
        request.state.auth_via = "token"
        return actor
    sid = session_id(request)
    if sid is None:
        return None
    settings = get_settings(request)
    try:
        actor = services.session_actor(
            s,
            sid,
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
            lifetime=dt.timedelta(hours=settings.session_hours),
        )
    except AuthError:
        logout_session(request)
        raise
    request.state.auth_via = "session"
    return actor


def runs_inline(s: Session) -> bool:
    """Whether ``s`` is a SQLite read, whose queries run in the event loop (see the module's docstring)."""
    return bool(s.info.get(_INLINE))


async def _identify_in_place(request: Request, s: Session) -> Actor | None:
    return _identify(request, s) if runs_inline(s) else await run_in_threadpool(_identify, request, s)


async def current_actor(request: Request, s: DbSession) -> Actor:
    actor = await _identify_in_place(request, s)
    if actor is None:
        raise AuthError("log in, or send 'Authorization: Bearer <API token>'", code="auth.required")
    if request.state.auth_via == "session" and request.method not in SAFE_METHODS:
        await verify_csrf(request)
    return actor


async def optional_actor(request: Request, s: DbSession) -> Actor | None:
    try:
        return await _identify_in_place(request, s)
    except AuthError:
        return None


Authenticated = Annotated[Actor, Depends(current_actor)]
MaybeActor = Annotated[Actor | None, Depends(optional_actor)]


def require_briefly(permission: Permission) -> Callable[..., Coroutine[Any, Any, Actor]]:
    """:func:`require` in its own short transaction (:func:`actor_briefly`), for endpoints that do
    slow work (assessing a case) before they write with :func:`in_transaction`."""

    async def _check(request: Request) -> Actor:
        actor = await actor_briefly(request)
        actor.require(permission)
        return actor

    _check.__name__ = f"require_briefly_{permission}"
    return _check


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Actor]]:
    """A dependency: the current actor, if it has ``permission``."""

    async def _check(actor: Authenticated) -> Actor:
        actor.require(permission)
        return actor

    _check.__name__ = f"require_{permission}"
    return _check


def inline_read(
    *, unless: str | None = None
) -> Callable[[Callable[P, T]], Callable[P, Coroutine[Any, Any, T]]]:
    """Run a sync endpoint in the event loop when its :data:`DbSession` is a SQLite read, else in
    a worker thread as FastAPI would (its response is then validated in the loop: one hop, not two).

    Only for endpoints whose work is a few indexed queries (a patient's record, a visit): a slow
    one in the event loop would hold up every other request while it runs. ``unless`` names a
    parameter that makes a call heavy when true (``full``: every visit's case and assessment
    decoded): such calls go to a worker thread."""

    def decorate(endpoint: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(endpoint)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            light = unless is None or not kwargs.get(unless)
            if light and any(isinstance(v, Session) and runs_inline(v) for v in kwargs.values()):
                return endpoint(*args, **kwargs)
            return await run_in_threadpool(endpoint, *args, **kwargs)

        return run

    return decorate
