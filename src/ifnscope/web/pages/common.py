"""What every page module shares: the templates and their filters, the page headers (CSP,
``no-store``), form helpers, ``render`` and the HTML error renderer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from ifnscope import __version__
from ifnscope.presentation.words import capital, words
from ifnscope.registry.auth import Actor
from ifnscope.web.security import CSP, csrf_token, verify_csrf

if TYPE_CHECKING:
    from ifnscope.case.vocabulary import Vocabulary

WEB = Path(__file__).resolve().parents[1]
STATIC = WEB / "static"
TEMPLATES = Jinja2Templates(directory=str(WEB / "templates"))
TEMPLATES.env.globals["version"] = __version__
TEMPLATES.env.filters["words"] = words
TEMPLATES.env.filters["capital"] = lambda s: capital(str(s))


def pathway_words(level: str | None) -> str:
    """A type I IFN pathway level's short label, as the therapy knowledge base writes it."""
    from ifnscope.clinical.therapy import knowledge_base

    levels: dict[str, str] = {lv.key: lv.short for lv in knowledge_base().pathway_levels}
    return levels.get(str(level), words(level) or "—")


TEMPLATES.env.filters["pathway"] = pathway_words

PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}


# ---------------------------------------------------------------------------- forms


async def _form(request: Request) -> FormData:
    return await request.form()


async def _checked_form(request: Request) -> FormData:
    """The form, after the CSRF check (for POSTs made before or without a login)."""
    form = await request.form()
    await verify_csrf(request)
    return form


Form = Annotated[FormData, Depends(_form)]
CheckedForm = Annotated[FormData, Depends(_checked_form)]


def form_fields(form: FormData) -> dict[str, str | list[str]]:
    """A submitted form as a plain mapping (keys with several values as lists; files left out)."""
    out: dict[str, str | list[str]] = {}
    for key in form:
        vals = [v for v in form.getlist(key) if isinstance(v, str)]
        if vals:
            out[key] = vals if len(vals) > 1 else vals[0]
    return out


def form_text(form: Mapping[str, Any], key: str, limit: int = 500) -> str:
    """One text field, stripped and cut to ``limit`` characters ("" when missing or a file)."""
    v = form.get(key)
    return v.strip()[:limit] if isinstance(v, str) else ""


@cache
def vocab() -> Vocabulary:
    from ifnscope.case.vocabulary import vocabulary

    return vocabulary()


def age_on(birth: str | None, on: dt.date) -> float | None:
    """Age in whole years on a day, from an ISO birth date (None without one)."""
    if not birth:
        return None
    b = dt.date.fromisoformat(birth)
    years = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
    return max(0, years)


# --------------------------------------------------------------------------- render


def render(
    request: Request,
    template: str,
    actor: Actor | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    ctx = {
        "actor": actor,
        "csrf": csrf_token(request),
        "can_write": bool(actor and actor.can("write_patients")),
        "identified": bool(actor and actor.identified),
        "path": request.url.path,
        **context,
    }
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status, headers=PAGE_HEADERS)


def to_login(request: Request) -> RedirectResponse:
    """To the login form, and back to this page afterwards."""
    path = request.url.path
    target = "/login" if path in ("/", "/login") else f"/login?next={quote(path)}"
    return RedirectResponse(target, status_code=303)


def safe_next(value: str | None) -> str:
    """A local path to go to after the login; anything else is "/" (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


_ERROR_TITLES = {
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Not accepted",
}


def render_error(request: Request, status: int, error: dict[str, Any]) -> Response:
    """The HTML error renderer (``app.state.html_error_renderer``)."""
    if status == 401:
        return to_login(request)
    code = str(error.get("code", ""))
    message = str(error.get("message", ""))
    if code == "auth.csrf":
        message = (
            "This form was not accepted: its security token is missing or has expired (for example "
            "after logging in again in another tab). Go back, reload the page and submit it again."
        )
    elif status == 404 and code.startswith("request."):
        message = "There is no page at this address."
    title = _ERROR_TITLES.get(status, "Something went wrong")
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {
            "actor": None,
            "csrf": "",
            "can_write": False,
            "identified": False,
            "path": request.url.path,
            "status": status,
            "title": title,
            "message": message,
            "code": code,
        },
        status_code=status,
        headers=PAGE_HEADERS,
    )
