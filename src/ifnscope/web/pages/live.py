"""The live assessment on the case form: as findings are clicked, htmx posts the whole form here
and swaps the answer into the panel beside it, like the calculators clinicians know.

``POST /visits/live`` parses the form exactly as saving it would (``web.forms``), assesses the
case and returns an HTML fragment (``_live.html``) laid out from the one presentation model
(``presentation.from_assessment``), so it reads as the visit page will once saved. Nothing is
stored and no patient is read (the form carries no patient id), so nothing is audited; an age
left empty is computed from the birth date the form carries, as saving does.

The request needs a clinician's or admin's login and the CSRF token (htmx sends the
``X-CSRF-Token`` header set on ``<body hx-headers>``). The login is checked in its own short
transaction and the assessment runs outside the database slot. Input that is invalid or records
nothing yet gets a short message in the panel (status 200, so htmx swaps it), never an error page.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ifnscope.errors import CaseError, CaseValidationError, IfnscopeError
from ifnscope.registry.auth import Actor
from ifnscope.web import forms
from ifnscope.web.deps import actor_briefly
from ifnscope.web.pages.common import age_on, form_fields, render

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)

# Fields of the form that are not part of the case.
_NOT_CASE = ("csrf_token", "_add", "visit_date", "_birth_date")
# At most this many problems are listed in the panel (the full list comes on saving).
_MAX_PROBLEMS = 5


def _problems(err: CaseValidationError, data: forms.FormInput) -> list[str]:
    out = []
    for issue in err.issues[:_MAX_PROBLEMS]:
        name = forms.field_for(issue.loc, data)
        where = forms.field_label(name) if name else issue.path
        out.append(f"{where}: {forms.describe_issue(issue)}")
    return out


def _fill_age(data: dict[str, str | list[str]]) -> None:
    """An empty age filled from the birth date at the visit date, as saving does, so that the
    panel shows what the saved visit will (age at onset is an item of the IIM criteria). The form
    carries the birth date it already shows the clinician; nothing is read or stored."""
    if forms.value(data, "patient.age_years"):
        return
    try:
        birth = dt.date.fromisoformat(forms.value(data, "_birth_date"))
        visit = dt.date.fromisoformat(forms.value(data, "visit_date"))
    except ValueError:
        return
    if birth <= visit <= dt.date.today():
        age = age_on(birth.isoformat(), visit)
        if age is not None:
            data["patient.age_years"] = f"{age:g}"


def live_context(form: FormData) -> dict[str, Any]:
    """What the panel shows for a submitted form: ``view`` (the presentation model) or ``message``
    and ``problems`` when there is nothing to assess yet or the input is invalid."""
    from ifnscope.assessment import assess
    from ifnscope.case.reader import validate_case
    from ifnscope.presentation import from_assessment
    from ifnscope.registry.services import require_content

    data = form_fields(form)
    _fill_age(data)
    for key in _NOT_CASE:
        data.pop(key, None)
    try:
        doc = forms.case_from_form(data, case_id="live")
        case = validate_case(doc)
    except CaseValidationError as err:
        more = len(err.issues) - _MAX_PROBLEMS
        return {
            "message": "Not assessed: correct the form first.",
            "problems": _problems(err, data),
            "more": max(0, more),
        }
    except IfnscopeError as err:
        return {"message": f"Not assessed: {err.message}", "problems": [], "more": 0}
    try:
        require_content(case)
    except CaseError:
        return {
            "message": "Nothing to assess yet: record a finding, a lesion or a laboratory result.",
            "problems": [],
            "more": 0,
        }
    view = from_assessment(assess(case))
    return {
        "view": view,
        "age_missing": not forms.value(data, "patient.age_years"),
        "message": "",
        "problems": [],
        "more": 0,
    }


def _render(request: Request, actor: Actor, form: FormData) -> Response:
    return render(request, "_live.html", actor, **live_context(form))


@router.post("/visits/live")
async def live_assessment(request: Request) -> Response:
    """The live assessment panel for the case form as it stands (nothing saved, nothing audited)."""
    actor = await actor_briefly(request)  # 401 without a login, 403 without the CSRF token
    actor.require("write_patients")  # clinicians and admins: the form is theirs
    form = await request.form()
    return await run_in_threadpool(_render, request, actor, form)
