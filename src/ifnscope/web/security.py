"""Session cookies, CSRF protection, the upload limit and protective response headers.

- **Sessions** live in the database (``web_sessions``); the signed Starlette cookie
  (``ifnscope_session``; HttpOnly, SameSite=Lax, Secure when ``cookie_secure``) holds only the
  session's random id (stored as its SHA-256) and CSRF token, nothing clinical. A login replaces
  the whole session (no session fixation); logout deletes the row, so a copied cookie stops
  working at once, as do all of a user's sessions when they are deactivated or change their
  password. A session ends after ``session_idle_minutes`` without a request and
  ``session_hours`` after the login.
- **CSRF**: a request authenticated by the cookie that changes state (POST, PUT, PATCH,
  DELETE) must carry the session's token in the ``X-CSRF-Token`` header or a ``csrf_token``
  form field; requests with an ``Authorization: Bearer`` API token are exempt (a browser never
  adds that header on its own). Templates get the token from :func:`csrf_token`.
- **Content-Security-Policy** on every response (:class:`SecurityHeadersMiddleware`): HTML
  may run this origin's scripts only (nothing inline, no eval) and may not be framed.
- **Upload limit**: a body larger than ``max_upload_mb`` is refused with 413
  (``registry.too-large``): at once when ``Content-Length`` says so, and by counting the bytes
  as they arrive otherwise (chunked uploads).
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ifnscope.errors import AuthError

SESSION_COOKIE = "ifnscope_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_SID_KEY = "sid"
_CSRF_KEY = "csrf"


# ----------------------------------------------------------------------------- sessions


def login_session(request: HTTPConnection, session_id: str) -> str:
    """Put a fresh server-side session id in the cookie; returns the new CSRF token."""
    request.session.clear()
    token = secrets.token_urlsafe(32)
    request.session.update({_SID_KEY: session_id, _CSRF_KEY: token})
    return token


def logout_session(request: HTTPConnection) -> None:
    """Empty the cookie (the caller deletes the session's row)."""
    if "session" in request.scope:
        request.session.clear()


def session_id(request: HTTPConnection) -> str | None:
    """The server-side session id the cookie carries, if any."""
    if "session" not in request.scope:
        return None
    sid = request.session.get(_SID_KEY)
    return sid if isinstance(sid, str) and sid else None


def csrf_token(request: HTTPConnection) -> str:
    """The session's CSRF token (created if missing): put it in forms as ``csrf_token`` or send it
    as ``X-CSRF-Token``."""
    token = request.session.get(_CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_CSRF_KEY] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Raise ``auth.csrf`` unless the request carries the session's token."""
    expected = request.session.get(_CSRF_KEY) if "session" in request.scope else None
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not (isinstance(expected, str) and expected and sent and secrets.compare_digest(sent, expected)):
        raise AuthError(
            f"missing or wrong CSRF token: send the {CSRF_HEADER} header or a {CSRF_FIELD} form field "
            "(from the login response or GET /api/auth/me)",
            code="auth.csrf",
        )


# --------------------------------------------------------------------------- upload limit


def _too_large_body(limit: int) -> dict[str, Any]:
    mb = limit / (1024 * 1024)
    return {
        "error": {
            "code": "registry.too-large",
            "message": f"the request body is larger than the limit of {mb:g} MB",
        }
    }


class _BodyTooLarge(Exception):
    pass


class UploadLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 and the error JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0
        exceeded = False
        response_started = False

        async def _receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def _send(message: Message) -> None:
            nonlocal response_started
            if exceeded:  # the app answered its own error about a cut-off body: ours replaces it
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, _receive, _send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not response_started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            _too_large_body(self.max_bytes), status_code=413, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


# ------------------------------------------------------------------------------- headers


# Pages may load scripts, styles, images and fonts from this origin only: no inline script or
# event-handler attributes (templates use /static/app.js), no eval (htmx runs with allowEval
# off), no plugins, no framing. Inline style attributes stay allowed: the server-drawn SVG
# plots and Swagger UI set them, and a style cannot run code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Anything else (JSON, CSV, files) is never a document that should run or frame anything.
CSP_NON_HTML = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """A Content-Security-Policy on every response (:data:`CSP` for HTML, whatever route made
    it, error pages and ``/docs`` included; :data:`CSP_NON_HTML` otherwise), nosniff, no
    framing, no referrer across sites; API answers are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope.get("path", "").startswith("/api")

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                html = headers.get("content-type", "").startswith("text/html")
                policy = headers.get("Content-Security-Policy")
                if policy is None:
                    headers["Content-Security-Policy"] = CSP if html else CSP_NON_HTML
                elif "frame-ancestors" not in policy:  # a route's own (stricter) policy: no framing either
                    headers["Content-Security-Policy"] = f"{policy.rstrip('; ')}; frame-ancestors 'none'"
                if is_api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, _send)
