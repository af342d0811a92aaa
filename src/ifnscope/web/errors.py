"""Every error the web app returns has one shape: ``{"error": {code, message, field?, issues?}}``.

- An :class:`IfnscopeError` keeps its stable code; the HTTP status follows from the code
  (:func:`status_for`).
- FastAPI's request validation errors become ``request.invalid`` with ``field`` as the dotted
  path (``body.visit_date``, ``query.limit``) and one issue per problem.
- Starlette's HTTP errors (unknown route, wrong method) become ``request.*`` codes.
- A database integrity error (e.g. a unique MRN) becomes ``registry.conflict`` without the
  database's message (it may quote the values).
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
    "auth.required": 401,
    "auth.invalid": 401,
    "auth.csrf": 403,
    "auth.throttled": 429,  # too many failed logins; Retry-After says when to try again
    # The server was installed without an optional part (e.g. the PDF report without ifnscope[pdf]).
    "install.missing-extra": 501,
}
_PREFIX_422 = ("case.", "matrix.", "signature.", "reference.")
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
    from sqlalchemy.exc import IntegrityError

    app.add_exception_handler(IfnscopeError, _ifnscope_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_middleware(InternalErrorMiddleware)
