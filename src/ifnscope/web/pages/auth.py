"""Login and logout: the session cookie, with a CSRF token in every form (the login form too)."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ifnscope.errors import AuthError
from ifnscope.registry import services
from ifnscope.web.deps import DbSession, MaybeActor
from ifnscope.web.logins import LoginThrottled, password_login
from ifnscope.web.pages.common import CheckedForm, form_text, render, safe_next
from ifnscope.web.security import logout_session, session_id

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, actor: MaybeActor) -> Response:
    if actor is not None:
        return RedirectResponse("/", status_code=303)
    return render(
        request,
        "login.html",
        None,
        next=safe_next(request.query_params.get("next")),
        username="",
        error=None,
        logged_out=request.query_params.get("out") == "1",
    )


@router.post("/login")
async def login_submit(request: Request, form: CheckedForm) -> Response:
    """The login form: throttled like the API login (429 and a page that says how long to
    wait), with the password checked outside any database transaction (``web.logins``)."""
    username = form_text(form, "username", 80)
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    nxt = safe_next(form_text(form, "next", 300))
    if not username or not password:
        return _login_form(request, 422, nxt, username, "Enter your username and password.")
    try:
        actor, _ = await password_login(request, username, password[:1024], via="web")
    except LoginThrottled as err:
        log.info("login refused: %s (web)", err.code)
        minutes = max(1, math.ceil(err.retry_after / 60))
        response = _login_form(
            request,
            429,
            nxt,
            username,
            f"Too many failed logins for this account or from this computer. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}, or ask an administrator to set a new password.",
        )
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    except AuthError:
        log.info("login failed (web)")  # never the username
        return _login_form(request, 401, nxt, username, "Wrong username or password.")
    log.info("login: user %d (web)", actor.user_id)
    return RedirectResponse(nxt, status_code=303)


def _login_form(request: Request, status: int, nxt: str, username: str, error: str) -> Response:
    return render(
        request, "login.html", None, status, next=nxt, username=username, error=error, logged_out=False
    )


@router.post("/logout")
def logout(request: Request, form: CheckedForm, s: DbSession) -> Response:
    """End the session: its row is deleted, so a copy of the cookie stops working too."""
    sid = session_id(request)
    if sid is not None:
        services.end_session(s, sid)
    logout_session(request)
    return RedirectResponse("/login?out=1", status_code=303)
