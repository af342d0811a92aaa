"""The clinicians' web pages: server-rendered Jinja2 with htmx (vendored, no CDN, no request
leaves the server's origin).

``install(app)`` (called by the app factory) includes the page router, mounts ``/static`` and
sets the HTML error renderer (a login redirect for 401, an error page otherwise).

========================================  ======================================================
``GET/POST /login``, ``POST /logout``      the session cookie (CSRF token in every form)
``GET /``, ``POST /patients/search``       patient list; the search text goes in a POST body,
                                           never in a URL (so never in a log)
``GET/POST /patients/new``                 a new patient (clinicians)
``GET /patients/{id}``                     summary, timeline plot, visits, treatments, scores
``POST /patients/{id}/treatments``,        record a treatment / its stop date
``POST /treatments/{id}/stop``
``GET/POST /patients/{id}/visits/new``     the case form
``POST /patients/{id}/visits/upload``      the same from a pasted or uploaded case file
``GET /fragments/{lesion,medication}-row/{n}``  one more form row (htmx)
``GET /visits/{id}``                       the assessment
``GET /visits/{id}/report.{html,pdf}``     the clinician's report of the stored case
``GET/POST /cohort``                       cohort query
========================================  ======================================================

Every read and change goes through ``registry.service`` (permissions, de-identification for
researchers, the audit log); the pages only hide what a role may not do. Responses carry a
Content-Security-Policy that allows this origin's scripts only, and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from ifnscope import __version__
from ifnscope.errors import AuthError, CaseParseError, CaseValidationError, IfnscopeError, RegistryError
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.services import CohortQuery, PatientRecord
from ifnscope.web import forms
from ifnscope.web.deps import Authenticated, DbSession, MaybeActor
from ifnscope.web.security import csrf_token, login_session, logout_session, verify_csrf

log = logging.getLogger("ifnscope.web")

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.globals["version"] = __version__
TEMPLATES.env.filters["words"] = lambda s: str(s or "").replace("_", " ")
PATHWAY_WORDS = {
    "producer": "IFN producers (pDC)",
    "sensor": "nucleic-acid sensors",
    "ligand": "IFN ligand",
    "receptor": "IFN receptor",
    "signalling": "JAK/TYK2 signalling",
    "not_ifn_specific": "not IFN-specific",
}
TEMPLATES.env.filters["capital"] = lambda s: str(s)[:1].upper() + str(s)[1:]
TEMPLATES.env.filters["pathway"] = lambda s: PATHWAY_WORDS.get(str(s), str(s or "—").replace("_", " "))

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
PATIENT_LIST_LIMIT = 200

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------------- plumbing


async def _form(request: Request) -> FormData:
    return await request.form()


async def _checked_form(request: Request) -> FormData:
    """The form, after the CSRF check (for POSTs made before or without a login)."""
    form = await request.form()
    await verify_csrf(request)
    return form


Form = Annotated[FormData, Depends(_form)]
CheckedForm = Annotated[FormData, Depends(_checked_form)]


def _plain(form: FormData) -> dict[str, str | list[str]]:
    """A submitted form as a plain mapping (keys with several values as lists; files left out)."""
    out: dict[str, str | list[str]] = {}
    for key in form:
        vals = [v for v in form.getlist(key) if isinstance(v, str)]
        if vals:
            out[key] = vals if len(vals) > 1 else vals[0]
    return out


def _text(form: Mapping[str, Any], key: str, limit: int = 500) -> str:
    v = form.get(key)
    return v.strip()[:limit] if isinstance(v, str) else ""


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


def _to_login(request: Request) -> RedirectResponse:
    path = request.url.path
    target = "/login" if path in ("/", "/login") else f"/login?next={quote(path)}"
    return RedirectResponse(target, status_code=303)


def _safe_next(value: str | None) -> str:
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
        return _to_login(request)
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


def install(app: FastAPI) -> None:
    """Include the pages, mount ``/static`` and set the HTML error renderer."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.state.html_error_renderer = render_error


# ---------------------------------------------------------------------------- login


@router.get("/login")
def login_page(request: Request, actor: MaybeActor) -> Response:
    if actor is not None:
        return RedirectResponse("/", status_code=303)
    return render(
        request,
        "login.html",
        None,
        next=_safe_next(request.query_params.get("next")),
        username="",
        error=None,
        logged_out=request.query_params.get("out") == "1",
    )


@router.post("/login")
def login_submit(request: Request, form: CheckedForm, s: DbSession) -> Response:
    username = _text(form, "username", 80)
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    nxt = _safe_next(_text(form, "next", 300))
    if not username or not password:
        return render(
            request,
            "login.html",
            None,
            422,
            next=nxt,
            username=username,
            error="Enter your username and password.",
            logged_out=False,
        )
    try:
        actor = services.login(s, username, password[:1024], via="web")
    except AuthError:
        log.info("login failed (web)")  # never the username
        return render(
            request,
            "login.html",
            None,
            401,
            next=nxt,
            username=username,
            error="Wrong username or password.",
            logged_out=False,
        )
    assert actor.user_id is not None
    login_session(request, actor.user_id)
    log.info("login: user %d (web)", actor.user_id)
    return RedirectResponse(nxt, status_code=303)


@router.post("/logout")
def logout(request: Request, form: CheckedForm) -> Response:
    logout_session(request)
    return RedirectResponse("/login?out=1", status_code=303)


# --------------------------------------------------------------------------- patients


@router.get("/")
def patient_list(request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return _to_login(request)
    rows = services.list_patients(s, actor, None, limit=PATIENT_LIST_LIMIT)
    return render(request, "patients.html", actor, rows=rows, q="", limit=PATIENT_LIST_LIMIT)


@router.post("/patients/search")
def patient_search(request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    """The search text arrives in the POST body: it is neither in the URL nor logged."""
    q = _text(form, "q", 200)
    rows = services.list_patients(s, actor, q or None, limit=PATIENT_LIST_LIMIT)
    log.info("patient list (web): %d rows%s", len(rows), " (search)" if q else "")
    if request.headers.get("HX-Request") == "true":
        return render(request, "_patient_table.html", actor, rows=rows, q=q, limit=PATIENT_LIST_LIMIT)
    return render(request, "patients.html", actor, rows=rows, q=q, limit=PATIENT_LIST_LIMIT)


SEXES = ("female", "male", "other", "unknown")


@router.get("/patients/new")
def new_patient_page(request: Request, actor: MaybeActor) -> Response:
    if actor is None:
        return _to_login(request)
    actor.require("write_patients")
    return render(
        request,
        "patient_new.html",
        actor,
        values={},
        errors={},
        sexes=SEXES,
        today=dt.date.today().isoformat(),
    )


@router.post("/patients/new")
def new_patient_submit(request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    actor.require("write_patients")
    values = {k: _text(form, k, 200) for k in ("name", "mrn", "sex", "birth_date")}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Enter the patient's name."
    if values["sex"] and values["sex"] not in SEXES:
        errors["sex"] = "Choose female, male, other or unknown."
    birth: dt.date | None = None
    if values["birth_date"]:
        try:
            birth = dt.date.fromisoformat(values["birth_date"])
        except ValueError:
            errors["birth_date"] = "Enter the date as YYYY-MM-DD."
        else:
            if birth > dt.date.today():
                errors["birth_date"] = "The birth date is in the future."
            elif birth.year < 1900:
                errors["birth_date"] = "The birth date is before 1900."
    if not errors:
        try:
            p = services.create_patient(
                s,
                actor,
                name=values["name"],
                mrn=values["mrn"] or None,
                birth_date=birth,
                sex=values["sex"] or None,
            )
        except RegistryError as err:
            if err.code != "registry.conflict":
                raise
            errors["mrn"] = "Another patient has this MRN."
        else:
            log.info("patient %d created (web)", p.id)
            return RedirectResponse(f"/patients/{p.id}", status_code=303)
    return render(
        request,
        "patient_new.html",
        actor,
        422,
        values=values,
        errors=errors,
        sexes=SEXES,
        today=dt.date.today().isoformat(),
    )


# -------------------------------------------------------------------------- timeline

_PLOT_LOCK = threading.Lock()  # matplotlib's rc settings are process-wide
_PLOT_CACHE: OrderedDict[str, Any] = OrderedDict()
_PLOT_CACHE_SIZE = 64


def _timeline_data(rec: PatientRecord) -> dict[str, Any]:
    """What ``services.timeline`` returns, built from a record already read (one audit entry)."""
    return {
        "patient": rec.patient.model_dump(),
        "visits": [v.model_dump(exclude={"case", "assessment"}) for v in rec.visits],
        "scores": [x.model_dump() for x in rec.scores],
        "treatments": [t.model_dump() for t in rec.treatments],
    }


def _plot(data: dict[str, Any]) -> Any:
    import json

    from ifnscope.web.plots import timeline_plot

    key = json.dumps({k: data[k] for k in ("visits", "scores", "treatments")}, sort_keys=True, default=str)
    with _PLOT_LOCK:
        hit = _PLOT_CACHE.get(key)
        if hit is not None:
            _PLOT_CACHE.move_to_end(key)
            return hit
        plot = timeline_plot(data)
        _PLOT_CACHE[key] = plot
        while len(_PLOT_CACHE) > _PLOT_CACHE_SIZE:
            _PLOT_CACHE.popitem(last=False)
        return plot


def _plottable(rec: PatientRecord) -> bool:
    """Whether the timeline has anything to draw beyond the visit dates."""
    scored = any(v.cdasi_activity is not None or v.clasi_activity is not None for v in rec.visits)
    dated = bool(rec.visits) and any(t.started for t in rec.treatments)
    return scored or dated or any(x.score is not None for x in rec.scores)


def _age(birth: str | None, on: dt.date) -> float | None:
    if not birth:
        return None
    b = dt.date.fromisoformat(birth)
    years = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
    return max(0, years)


def _patient_page(
    request: Request,
    actor: Actor,
    s: Session,
    patient_id: int,
    status: int = 200,
    treatment: dict[str, Any] | None = None,
) -> Response:
    from markupsafe import Markup

    rec = services.get_record(s, actor, patient_id)
    plot = _plot(_timeline_data(rec)) if _plottable(rec) else None
    return render(
        request,
        "patient.html",
        actor,
        status,
        rec=rec,
        p=rec.patient,
        age=_age(rec.birth_date, dt.date.today()),
        plot_svg=Markup(plot.svg) if plot else None,  # built by plots.py, labels escaped by matplotlib
        not_drawn=plot.not_drawn if plot else [],
        visits=sorted(rec.visits, key=lambda v: (v.days_since_first_visit, v.id), reverse=True),
        treatment=treatment or {"values": {}, "errors": {}},
        responses=_vocab().medication_response,
    )


@router.get("/patients/{patient_id}")
def patient_page(patient_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return _to_login(request)
    return _patient_page(request, actor, s, patient_id)


@router.post("/patients/{patient_id}/treatments")
def add_treatment(
    patient_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    actor.require("write_patients")
    values = {k: _text(form, k, 200) for k in ("name", "started", "stopped", "response", "dose")}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Enter the medication."
    if not errors:
        try:
            t = services.add_treatment(
                s,
                actor,
                patient_id,
                name=values["name"],
                started=values["started"] or None,
                stopped=values["stopped"] or None,
                response=values["response"] or None,
                dose=values["dose"] or None,
            )
        except RegistryError as err:
            if err.code != "registry.invalid":
                raise
            errors["form"] = _treatment_message(err.message)
        else:
            log.info("patient %d: treatment %d added (web)", patient_id, t.id)
            return RedirectResponse(f"/patients/{patient_id}#treatments", status_code=303)
    return _patient_page(request, actor, s, patient_id, 422, {"values": values, "errors": errors})


def _treatment_message(message: str) -> str:
    """pydantic's wording, shortened: which field, and what is wrong."""
    text = message.removeprefix("treatment: ")
    if "started" in text and "pattern" in text:
        return "Started: write the date as YYYY, YYYY-MM or YYYY-MM-DD."
    if "stopped" in text and "pattern" in text:
        return "Stopped: write the date as YYYY, YYYY-MM or YYYY-MM-DD."
    if "before started" in text:
        return "The stop date is before the start date."
    if "response" in text:
        return "Response: choose one of the listed words."
    return text.splitlines()[0][:200] if text else "The treatment was not accepted."


@router.post("/treatments/{treatment_id}/stop")
def stop_treatment(
    treatment_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    actor.require("write_patients")
    stopped = _text(form, "stopped", 20)
    patient_id = _int(_text(form, "patient_id", 20))
    try:
        if not stopped:
            raise RegistryError("treatment: enter the stop date", code="registry.invalid")
        services.update_treatment(s, actor, treatment_id, stopped=stopped)
    except RegistryError as err:
        if err.code != "registry.invalid" or patient_id is None:
            raise
        msg = "Enter the stop date." if not stopped else _treatment_message(err.message)
        return _patient_page(
            request, actor, s, patient_id, 422, {"values": {}, "errors": {f"stop-{treatment_id}": msg}}
        )
    return RedirectResponse(f"/patients/{patient_id}#treatments" if patient_id else "/", status_code=303)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


# ------------------------------------------------------------------------- case form


@cache
def _vocab() -> Any:
    from ifnscope.case.vocabulary import vocabulary

    return vocabulary()


def _short_label(description: str) -> str:
    """'Anti-Jo-1 (histidyl-tRNA synthetase)' -> 'Anti-Jo-1' (the whole text stays the tooltip)."""
    return description.split(" (", 1)[0]


def _halves(items: list[Any]) -> list[list[Any]]:
    """Two columns, the first one the longer (the form shows long lists side by side)."""
    mid = (len(items) + 1) // 2
    return [items[:mid], items[mid:]]


@cache
def _form_spec() -> dict[str, Any]:
    """The case form's vocabulary, in the order the form shows it."""
    from ifnscope.clinical.drugs import all_drugs
    from ifnscope.clinical.therapy import knowledge_base

    v = _vocab()
    groups = []
    for key, title in forms.FINDING_GROUPS:
        rows = [f for f in v.findings.values() if f.group == key]
        if rows:
            groups.append({"key": key, "title": title, "rows": rows})
    names = {n.replace("_", " ") for n in knowledge_base().agents} | set(all_drugs())
    return {
        "groups": groups,
        "onset_after": v.onset_after,
        "sites": v.sites,
        "morphologies": v.morphologies,
        "colours": v.colours,
        "responses": v.medication_response,
        "labs": v.labs_numeric,
        "antibodies": v.antibodies,
        "antibody_halves": _halves([(k, _short_label(d), d) for k, d in v.antibodies.items()]),
        "screening_halves": _halves([(k, d, "") for k, d in v.cancer_screening.items()]),
        "ana_titres": forms.ANA_TITRES,
        "ana_labels": {t: "negative (0)" if t == 0 else f"1:{t}" for t in forms.ANA_TITRES},
        "muscle_biopsy": v.muscle_biopsy,
        "skin_biopsy": v.skin_biopsy,
        "history": v.history,
        "screening": v.cancer_screening,
        "drug_names": sorted(names),
    }


def _defaults(rec: PatientRecord) -> forms.FormState:
    today = dt.date.today()
    data: dict[str, list[str]] = {"visit_date": [today.isoformat()]}
    if rec.patient.sex:
        data["patient.sex"] = [rec.patient.sex]
    # The age is left empty: on saving it is computed from the birth date at the visit date
    # (which the clinician may change), unless typed in.
    return forms.FormState(data=data)


def _case_form_page(
    request: Request,
    actor: Actor,
    rec: PatientRecord,
    state: forms.FormState,
    status: int = 200,
    upload: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "visit_form.html",
        actor,
        status,
        rec=rec,
        p=rec.patient,
        f=state,
        spec=_form_spec(),
        age_hint="Empty: from the birth date at the visit date." if rec.birth_date else "",
        upload=upload or {"errors": [], "text": "", "visit_date": state.value("visit_date")},
        today=dt.date.today().isoformat(),
    )


@router.get("/patients/{patient_id}/visits/new")
def new_visit_page(patient_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return _to_login(request)
    actor.require("write_patients")
    rec = services.get_record(s, actor, patient_id)
    return _case_form_page(request, actor, rec, _defaults(rec))


def _visit_date(text: str, birth: str | None) -> tuple[dt.date | None, str | None]:
    if not text:
        return None, "Enter the visit date."
    try:
        d = dt.date.fromisoformat(text)
    except ValueError:
        return None, "Enter the visit date as YYYY-MM-DD."
    if d > dt.date.today():
        return None, "The visit date is in the future."
    if birth and d < dt.date.fromisoformat(birth):
        return None, "The visit date is before the patient's birth date."
    return d, None


def _consistency_issues(doc: dict[str, Any]) -> list[Any]:
    """The checks across keys (an onset after the visit, …) on the patient and onset sections
    alone: the validator runs them only when the whole case is valid, and a clinician should see
    every problem in one pass."""
    from ifnscope.case.reader import validate_case

    part = {k: doc[k] for k in ("format", "id", "patient", "onset") if k in doc}
    try:
        validate_case(part)
    except CaseValidationError as err:
        return [i for i in err.issues if i.code == "case.inconsistent"]
    except IfnscopeError:
        return []
    return []


def _case_id(rec: PatientRecord, visit_date: dt.date | None) -> str:
    return f"{rec.patient.pseudonym}-{(visit_date or dt.date.today()).isoformat()}"


@router.post("/patients/{patient_id}/visits/new")
def new_visit_submit(
    patient_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    actor.require("write_patients")
    rec = services.get_record(s, actor, patient_id)
    data = _plain(form)
    data.pop("csrf_token", None)
    extra = _text(form, "_add", 20)
    if extra in ("lesion", "medication"):  # "add a row" without JavaScript: the same form, one row more
        data.pop("_add", None)
        return _case_form_page(request, actor, rec, forms.FormState.from_form(data, extra=extra))
    state = forms.FormState.from_form(data)
    visit_date, date_problem = _visit_date(forms.value(data, "visit_date"), rec.birth_date)
    if date_problem:
        state.add_issue("visit_date", "visit date", date_problem)
    if not forms.value(data, "patient.age_years") and rec.birth_date and visit_date:
        age = _age(rec.birth_date, visit_date)
        data["patient.age_years"] = f"{age:g}"
        state.data["patient.age_years"] = [f"{age:g}"]
    doc = forms.case_from_form(data, case_id=_case_id(rec, visit_date))
    case = None
    try:
        from ifnscope.case.reader import validate_case

        case = validate_case(doc)
    except CaseValidationError as err:
        issues = list(err.issues)
        if all(i.code != "case.inconsistent" for i in issues):
            issues += _consistency_issues(doc)  # checked only once the fields are valid: say it now
        for issue in issues:
            state.add_issue(forms.field_for(issue.loc, data), issue.path, forms.describe_issue(issue))
    except CaseParseError as err:
        state.add_issue(None, "case", err.message)
    if state.summary or case is None:
        return _case_form_page(request, actor, rec, state, 422)
    v = services.add_visit(s, actor, patient_id, case, visit_date=visit_date)
    log.info("patient %d: visit %d added (web form)", patient_id, v.id)
    return RedirectResponse(f"/visits/{v.id}", status_code=303)


@router.post("/patients/{patient_id}/visits/upload")
async def new_visit_upload(patient_id: int, request: Request, actor: Authenticated, s: DbSession) -> Response:
    from starlette.concurrency import run_in_threadpool

    from ifnscope.case.reader import parse_case

    actor.require("write_patients")
    form = await request.form()
    rec = await run_in_threadpool(services.get_record, s, actor, patient_id)
    text = _text(form, "text", 2_000_000)
    name = "pasted case"
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        name = Path(upload.filename).name
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = ""
            errors = [{"where": name, "message": "the file is not UTF-8 text"}]
            return await run_in_threadpool(_upload_failed, request, actor, rec, "", form, errors)
    visit_date, problem = _visit_date(_text(form, "visit_date", 20), rec.birth_date)
    errors: list[dict[str, str]] = []
    if problem:
        errors.append({"where": "visit date", "message": problem})
    if not text.strip():
        errors.append({"where": "case", "message": "paste a case or choose a case file"})
    case = None
    if not errors:
        stripped = text.lstrip()
        kind = "json" if name.lower().endswith(".json") or stripped.startswith(("{", "[")) else "yaml"
        try:
            case = await run_in_threadpool(parse_case, text, file=name, kind=kind)
        except CaseValidationError as err:
            errors += [
                {"where": (f"line {i.line}: " if i.line else "") + i.path, "message": forms.describe_issue(i)}
                for i in err.issues
            ]
        except IfnscopeError as err:
            errors.append({"where": name, "message": err.message})
    if errors or case is None:
        return await run_in_threadpool(_upload_failed, request, actor, rec, text, form, errors)
    v = await run_in_threadpool(lambda: services.add_visit(s, actor, patient_id, case, visit_date=visit_date))
    log.info("patient %d: visit %d added (web upload)", patient_id, v.id)
    return RedirectResponse(f"/visits/{v.id}", status_code=303)


def _upload_failed(
    request: Request,
    actor: Actor,
    rec: PatientRecord,
    text: str,
    form: FormData,
    errors: list[dict[str, str]],
) -> Response:
    state = _defaults(rec)
    upload = {"errors": errors, "text": text[:200_000], "visit_date": _text(form, "visit_date", 20)}
    return _case_form_page(request, actor, rec, state, 422, upload)


@router.get("/fragments/{kind}-row/{n}")
def form_row(kind: str, n: int, request: Request, actor: MaybeActor) -> Response:
    """One more lesion or medication row, and the "add" button for the row after it (htmx)."""
    if actor is None:
        return _to_login(request)
    if kind not in ("lesion", "medication") or not 0 <= n < 200:
        return render_error(request, 404, {"code": "request.not-found", "message": "no such row"})
    return render(
        request, "_row.html", actor, kind=kind, n=n, f=forms.FormState(data={}), spec=_form_spec(), oob=True
    )


# ----------------------------------------------------------------------------- visits


def stored_case(doc: dict[str, Any]) -> Any:
    """The stored case (``Case.model_dump``) as a :class:`Case` again (it round-trips)."""
    from ifnscope.case.reader import validate_case

    return validate_case(doc)


def _visit_context(s: Session, actor: Actor, visit_id: int) -> dict[str, Any]:
    from ifnscope.web.present import assessment_view

    v = services.get_visit(s, actor, visit_id)
    rec = services.get_record(s, actor, v.patient_id)  # the patient's name or pseudonym, de-identified
    visits = sorted(rec.visits, key=lambda x: (x.days_since_first_visit, x.id))
    return {
        "v": v,
        "p": rec.patient,
        "a": assessment_view(v.assessment or {}),
        "case": v.case or {},
        "visit_number": next((i for i, x in enumerate(visits, 1) if x.id == v.id), None),
        "visit_count": len(visits),
    }


@router.get("/visits/{visit_id}")
def visit_page(visit_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return _to_login(request)
    return render(request, "visit.html", actor, **_visit_context(s, actor, visit_id))


def _report_html(s: Session, actor: Actor, visit_id: int, kind: str) -> tuple[str, Any]:
    from ifnscope.assessment import assess
    from ifnscope.report.html import render_html

    v = services.visit_for_report(s, actor, visit_id, kind)  # audits the read and the download
    case = stored_case(v.case or {})
    return render_html(assess(case), case), v


@router.get("/visits/{visit_id}/report.html")
def report_html(visit_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return _to_login(request)
    html, v = _report_html(s, actor, visit_id, "html")
    log.info("visit %d: HTML report (web)", v.id)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="ifnscope-visit-{v.id}.html"',
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        },
    )


@router.get("/visits/{visit_id}/report.pdf")
def report_pdf(visit_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    from ifnscope.report.html import render_pdf

    if actor is None:
        return _to_login(request)
    html, v = _report_html(s, actor, visit_id, "pdf")
    pdf = render_pdf(html)
    log.info("visit %d: PDF report (web)", v.id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="ifnscope-visit-{v.id}.pdf"',
            "Cache-Control": "no-store",
        },
    )


# ----------------------------------------------------------------------------- cohort


def _signature_names() -> list[str]:
    from ifnscope.signatures.catalog import signatures

    return sorted(signatures())


@router.get("/cohort")
def cohort_page(request: Request, actor: MaybeActor) -> Response:
    if actor is None:
        return _to_login(request)
    return render(
        request, "cohort.html", actor, values={}, errors={}, rows=None, signatures=_signature_names()
    )


@router.post("/cohort")
def cohort_submit(request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    values = {
        k: _text(form, k, 80) for k in ("picture", "min_cdasi_activity", "min_clasi_activity", "ifn_high")
    }
    values["not_on_ifn_targeted"] = "on" if _text(form, "not_on_ifn_targeted", 5) else ""
    errors: dict[str, str] = {}
    query: dict[str, Any] = {"not_on_ifn_targeted": bool(values["not_on_ifn_targeted"])}
    if values["picture"] in ("dermatomyositis", "lupus"):
        query["picture"] = values["picture"]
    elif values["picture"]:
        errors["picture"] = "Choose dermatomyositis, lupus or any."
    for key in ("min_cdasi_activity", "min_clasi_activity"):
        if values[key]:
            try:
                n = float(values[key].replace(",", "."))
            except ValueError:
                errors[key] = "Enter a number (or leave it empty)."
                continue
            if not 0 <= n <= 100:
                errors[key] = "Enter a score between 0 and 100."
            else:
                query[key] = n
    sigs = _signature_names()
    if values["ifn_high"] in sigs:
        query["ifn_high"] = values["ifn_high"]
    elif values["ifn_high"]:
        errors["ifn_high"] = "Choose a signature from the list."
    rows = None
    if not errors:
        rows = services.cohort(s, actor, CohortQuery(**query))
        log.info("cohort query (web): %d patients", len(rows))
    return render(
        request,
        "cohort.html",
        actor,
        422 if errors else 200,
        values=values,
        errors=errors,
        rows=rows,
        signatures=sigs,
    )
