"""Every error the web app returns has one shape: ``{"error": {code, message, field?, issues?}}``.

- An :class:`IfnscopeError` keeps its stable code; the HTTP status follows from the code
  (:func:`status_for`).
- FastAPI's request validation errors become ``request.invalid`` with ``field`` as the dotted
  path (``body.visit_date``, ``query.limit``) and one issue per problem.
- Starlette's HTTP errors (unknown route, wrong method) become ``request.*`` codes.
- A database integrity error (e.g. a unique MRN) becomes ``registry.conflict`` without the
  database's message (it may quote the values).
- A value the database refuses (``DataError``: a NUL character, text longer than its column, a
  number out of range) becomes 422 ``registry.invalid``. The request types
  (``web.api.types``) refuse such values first; this is the backstop, so PostgreSQL and SQLite
  answer alike.
- A database that cannot be reached, is read-only, is full, or cancels a statement at its
  timeout (``OperationalError``, a read-only transaction, the pool's checkout timeout) becomes
  503 ``registry.unavailable`` with ``Retry-After``; the log names the kind of failure and the
  exception type, never the database's message (it may quote SQL parameters, i.e. patient data).
- Anything else is a bug: 500 ``internal`` with no detail in the body; the log gets the exception
  type and the stack frames, but not the exception's message (it may quote patient data).

Pages (HTML) may render errors themselves: set ``app.state.html_error_renderer`` to
``fn(request, status, error_dict) -> Response``; it is used for requests outside ``/api`` that
accept ``text/html``.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ifnscope.errors import IfnscopeError, format_loc

log = logging.getLogger("ifnscope.web")

HtmlErrorRenderer = Callable[[Request, int, dict[str, Any]], Response]

_EXACT: dict[str, int] = {
    "registry.not-found": 404,
    "registry.conflict": 409,
    "registry.duplicate": 409,
    "registry.forbidden": 403,
    "registry.too-large": 413,
    "registry.invalid": 422,
    "registry.migration": 500,
    "registry.unavailable": 503,
    "auth.required": 401,
    "auth.invalid": 401,
    "auth.csrf": 403,
    "auth.throttled": 429,  # too many failed logins; Retry-After says when to try again
    # The server was installed without an optional part (e.g. the PDF report without ifnscope[pdf]).
    "install.missing-extra": 501,
    "fhir.too-large": 413,
    "cds.unknown-service": 404,
    "cds.request": 400,
    "cds.prefetch": 412,  # CDS Hooks: the data the service needs could not be had
    "fhir.server": 502,  # the FHIR server the request named refused or failed
}
_PREFIX_422 = ("case.", "matrix.", "signature.", "reference.", "fhir.")
_HTTP_CODES = {
    400: "request.invalid",
    401: "auth.required",
    403: "registry.forbidden",
    404: "request.not-found",
    405: "request.method-not-allowed",
    413: "registry.too-large",
    415: "request.unsupported-media-type",
}


def status_for(code: str) -> int:
    """The HTTP status of an error code (documented in docs/api.md)."""
    if code in _EXACT:
        return _EXACT[code]
    if code.startswith(_PREFIX_422):
        return 422
    if code.startswith("data."):
        return 500  # ifnscope's own data is malformed: a bug, but a named one
    if code.startswith("auth."):
        return 401
    return 400


def error_body(
    code: str,
    message: str,
    *,
    field: str | None = None,
    issues: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    if issues:
        err["issues"] = issues
    return {"error": err}


def error_response(
    request: Request | None,
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> Response:
    if request is not None:
        renderer: HtmlErrorRenderer | None = getattr(request.app.state, "html_error_renderer", None)
        if renderer is not None and _wants_html(request):
            return renderer(request, status, body["error"])
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def _ifnscope_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IfnscopeError)
    status = status_for(exc.code)
    issues = [i.to_dict() for i in exc.issues] or None
    field = format_loc(exc.loc) if exc.loc else None
    log.info("request refused: %s (%d)", exc.code, status)  # the code only: messages may quote input
    body = error_body(exc.code, exc.message, field=field, issues=issues)
    body["error"].update({k: v for k, v in exc.details.items() if k not in body["error"]})
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry)} if isinstance(retry, int) else None
    return error_response(request, status, body, headers=headers)


def _dotted(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = []
    for e in exc.errors():
        path = _dotted(e.get("loc", ()))
        issue: dict[str, Any] = {"code": "request.invalid", "path": path, "message": e.get("msg", "invalid")}
        if e.get("type") == "json_invalid" and e.get("ctx", {}).get("error"):
            issue["message"] = f"JSON decode error: {e['ctx']['error']}"
        issues.append(issue)
    first = issues[0] if issues else {"path": None, "message": "invalid request"}
    n = len(issues)
    message = f"{first['path']}: {first['message']}" if n == 1 else f"{n} problems in the request"
    return error_response(
        request, 422, error_body("request.invalid", message, field=first["path"], issues=issues)
    )


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"request.http-{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such page or API endpoint"
    return error_response(request, exc.status_code, error_body(code, message), headers=exc.headers)


def _integrity_error(request: Request, exc: Exception) -> Response:
    log.info("request refused: database integrity (%s)", type(exc.__cause__ or exc).__name__)
    return error_response(
        request,
        409,
        error_body("registry.conflict", "the change conflicts with an existing record (e.g. the same MRN)"),
    )


def _data_error(request: Request, exc: Exception) -> Response:
    log.info(
        "request refused: database refused a value (%s)", type(getattr(exc, "orig", None) or exc).__name__
    )
    return error_response(
        request,
        422,
        error_body(
            "registry.invalid",
            "a value was refused by the database: text too long for its field, a NUL character, "
            "or a number out of range",
        ),
    )


# Kinds of database failure, found by SQLSTATE (PostgreSQL) or by the driver's fixed wording
# (SQLite), for the log line and the message: never the driver's message itself.
_SQLSTATE_REASONS = {
    "57014": "statement timeout",
    "55P03": "lock timeout",
    "25006": "read-only transaction",
    "53100": "disk full",
    "57P01": "server shutting down",
    "57P03": "server starting up",
    "53300": "too many connections",
}
_SQLITE_REASONS = (
    ("readonly", "read-only database"),
    ("read-only", "read-only database"),
    ("locked", "database locked"),
    ("disk is full", "disk full"),
    ("unable to open", "cannot open the database file"),
    ("disk i/o error", "disk I/O error"),
)


def unavailable_reason(exc: BaseException) -> str:
    """A short, fixed description of why the database failed (no data from the message)."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return "no free database connection"
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return _SQLSTATE_REASONS.get(sqlstate, f"SQLSTATE {sqlstate}")
    if type(orig).__module__.startswith("psycopg"):
        return "cannot connect or connection lost"  # connection errors carry no SQLSTATE
    text = str(orig).lower()
    for needle, reason in _SQLITE_REASONS:
        if needle in text:
            return reason
    return "database error"


def _unavailable(request: Request, exc: Exception) -> Response:
    orig = getattr(exc, "orig", None) or exc
    reason = unavailable_reason(exc)
    log.error("database unavailable: %s (%s)", reason, type(orig).__name__)
    return error_response(
        request,
        503,
        error_body(
            "registry.unavailable", f"the registry database is unavailable ({reason}); try again later"
        ),
        headers={"Retry-After": "5"},
    )


def _internal_db_error(request: Request, exc: Exception) -> Response:
    """PostgreSQL reports a read-only transaction (a standby, ``default_transaction_read_only``)
    as an internal error: that one is 503; any other is a bug."""
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == "25006":
        return _unavailable(request, exc)
    raise exc


def log_internal_error(exc: BaseException, where: str) -> None:
    """Type and stack frames only; the message is left out unless IFNSCOPE_DEBUG=1."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    detail = f": {exc}" if os.environ.get("IFNSCOPE_DEBUG") == "1" else ""
    log.error("internal error %s%s in %s\n%s", type(exc).__name__, detail, where, frames.rstrip())


INTERNAL_BODY = error_body("internal", "internal error")


class InternalErrorMiddleware:
    """Turn any exception that got past the handlers into a 500 with no detail.

    Starlette's own ``ServerErrorMiddleware`` answers too, but then re-raises, and the server
    prints the exception with its message; this middleware stops it here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception as exc:
            route = scope.get("route")
            log_internal_error(exc, f"{scope.get('method')} {getattr(route, 'path', '(no route)')}")
            if started:  # too late for an error response; the server closes the connection
                raise
            await JSONResponse(INTERNAL_BODY, status_code=500)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    from sqlalchemy.exc import DataError, IntegrityError, InternalError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    app.add_exception_handler(IfnscopeError, _ifnscope_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(PoolTimeout, _unavailable)
    app.add_exception_handler(InternalError, _internal_db_error)
    app.add_middleware(InternalErrorMiddleware)
