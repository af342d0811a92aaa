"""Session cookies, CSRF protection, the upload limit and protective response headers.

- **Sessions** are Starlette's signed cookie (``ifnscope_session``; HttpOnly, SameSite=Lax,
  Secure when ``cookie_secure``). The cookie holds the user id and the session's CSRF token,
  nothing clinical. A login replaces the whole session (no session fixation) and lasts
  ``session_hours``; the user is looked up on every request, so a deactivated user is out at
  once.
- **CSRF**: a request authenticated by the cookie that changes state (POST, PUT, PATCH,
  DELETE) must carry the session's token in the ``X-CSRF-Token`` header or a ``csrf_token``
  form field; requests with an ``Authorization: Bearer`` API token are exempt (a browser never
  adds that header on its own). Templates get the token from :func:`csrf_token`.
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
_USER_KEY = "user_id"
_CSRF_KEY = "csrf"


# ----------------------------------------------------------------------------- sessions


def login_session(request: HTTPConnection, user_id: int) -> str:
    """Start a fresh session for ``user_id``; returns the new CSRF token."""
    request.session.clear()
    token = secrets.token_urlsafe(32)
    request.session.update({_USER_KEY: user_id, _CSRF_KEY: token})
    return token


def logout_session(request: HTTPConnection) -> None:
    request.session.clear()


def session_user_id(request: HTTPConnection) -> int | None:
    if "session" not in request.scope:
        return None
    uid = request.session.get(_USER_KEY)
    return uid if isinstance(uid, int) else None


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


class SecurityHeadersMiddleware:
    """nosniff, no framing, no referrer across sites; API answers are never cached."""

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
                if is_api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, _send)
