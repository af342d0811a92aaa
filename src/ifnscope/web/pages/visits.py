"""Visits: the case form (findings, lesions, labs, medications ...), a pasted or uploaded case
file, the extra form rows htmx fetches, the visit page (the stored assessment), its correction
and deletion (with a reason; the case is edited as YAML), its history, and the draft letter of
medical necessity for the visit."""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from ifnscope.case.model import MedicationStatus, Route
from ifnscope.errors import (
    CaseError,
    CaseParseError,
    CaseValidationError,
    IfnscopeError,
    Issue,
    RegistryError,
)
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import visit_date_problem
from ifnscope.registry.services import PatientRecord
from ifnscope.web import forms
from ifnscope.web.api.types import DbId
from ifnscope.web.deps import (
    Authenticated,
    DbSession,
    MaybeActor,
    assess_in_turn,
    in_transaction,
    require_briefly,
)
from ifnscope.web.pages.common import (
    Form,
    age_on,
    form_fields,
    form_text,
    render,
    render_error,
    to_login,
    vocab,
)

log = logging.getLogger("ifnscope.web")
Writer = Annotated[Actor, Depends(require_briefly("write_patients"))]  # checked in a short transaction
router = APIRouter(include_in_schema=False)


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

    v = vocab()
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
        "routes": get_args(Route),
        "medication_statuses": get_args(MedicationStatus),
        "labs": v.labs_numeric,
        "antibodies": v.antibodies,
        "antibody_values": forms.ANTIBODY_VALUES,
        "antibody_halves": _halves([(k, _short_label(d), d) for k, d in v.antibodies.items()]),
        "screening_halves": _halves([(k, d, "") for k, d in v.cancer_screening.items()]),
        "ana_titres": forms.ANA_TITRES,
        "ana_labels": {t: "negative (0)" if t == 0 else f"1:{t}" for t in forms.ANA_TITRES},
        "muscle_biopsy": v.muscle_biopsy,
        "skin_biopsy": v.skin_biopsy,
        "history": v.history,
        "screening": v.cancer_screening,
        "drug_names": sorted(names),
        "activity": forms.activity_grid(),
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
def new_visit_page(patient_id: DbId, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return to_login(request)
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
    # The rules the API and the services apply too (registry.inputs).
    problem = visit_date_problem(d, dt.date.fromisoformat(birth) if birth else None)
    return (None, problem) if problem else (d, None)


def _consistency_issues(doc: dict[str, Any]) -> list[Issue]:
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
async def new_visit_submit(patient_id: DbId, request: Request, actor: Writer, form: Form) -> Response:
    """Three steps, so that checking and assessing the case hold no database slot: read the
    record, check and assess, store (each database step a short transaction of its own)."""
    rec = await in_transaction(request, services.get_record, actor, patient_id)
    checked = await run_in_threadpool(_checked_visit, request, actor, rec, form)
    if isinstance(checked, Response):
        return checked
    prepared, visit_date = checked
    v = await in_transaction(request, services.add_visit, actor, patient_id, prepared, visit_date=visit_date)
    log.info("patient %d: visit %d added (web form)", patient_id, v.id)
    return RedirectResponse(f"/visits/{v.id}", status_code=303)


def _checked_visit(
    request: Request, actor: Actor, rec: PatientRecord, form: FormData
) -> Response | tuple[services.Prepared, dt.date | None]:
    """The form's case validated and assessed, or the form again with what is wrong."""
    data = form_fields(form)
    data.pop("csrf_token", None)
    extra = form_text(form, "_add", 20)
    if extra in ("lesion", "medication"):  # "add a row" without JavaScript: the same form, one row more
        data.pop("_add", None)
        return _case_form_page(request, actor, rec, forms.FormState.from_form(data, extra=extra))
    state = forms.FormState.from_form(data)
    visit_date, date_problem = _visit_date(forms.value(data, "visit_date"), rec.birth_date)
    if date_problem:
        state.add_issue("visit_date", "visit date", date_problem)
    if not forms.value(data, "patient.age_years") and rec.birth_date and visit_date:
        age = age_on(rec.birth_date, visit_date)
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
    if case is not None and not state.summary:
        try:
            services.require_content(case)
        except CaseError as err:
            state.add_issue(None, "case", err.message + ".")
    if state.summary or case is None:
        return _case_form_page(request, actor, rec, state, 422)
    return services.prepare_visit(case), visit_date


@router.post("/patients/{patient_id}/visits/upload")
async def new_visit_upload(patient_id: DbId, request: Request, actor: Writer) -> Response:
    """Read, check and assess the case, then store it: no database slot is held meanwhile."""
    from ifnscope.case.reader import parse_case

    form = await request.form()
    rec = await in_transaction(request, services.get_record, actor, patient_id)
    text = form_text(form, "text", 2_000_000)
    name = "pasted case"
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        name = Path(upload.filename).name
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems = [{"where": name, "message": "the file is not UTF-8 text"}]
            return await run_in_threadpool(_upload_failed, request, actor, rec, "", form, problems)
    visit_date, problem = _visit_date(form_text(form, "visit_date", 20), rec.birth_date)
    errors: list[dict[str, str]] = []
    if problem:
        errors.append({"where": "visit date", "message": problem})
    if not text.strip():
        errors.append({"where": "case", "message": "paste a case or choose a case file"})
    case = None
    if not errors:
        stripped = text.lstrip()
        kind: Literal["json", "yaml"] = (
            "json" if name.lower().endswith(".json") or stripped.startswith(("{", "[")) else "yaml"
        )
        try:
            case = await run_in_threadpool(parse_case, text, file=name, kind=kind)
        except CaseValidationError as err:
            errors += [
                {"where": (f"line {i.line}: " if i.line else "") + i.path, "message": forms.describe_issue(i)}
                for i in err.issues
            ]
        except IfnscopeError as err:
            errors.append({"where": name, "message": err.message})
    if case is not None and not errors:
        try:
            services.require_content(case)
        except CaseError as err:
            errors.append({"where": name, "message": err.message})
    if errors or case is None:
        return await run_in_threadpool(_upload_failed, request, actor, rec, text, form, errors)
    prepared = await assess_in_turn(request, services.prepare_visit, case)
    v = await in_transaction(request, services.add_visit, actor, patient_id, prepared, visit_date=visit_date)
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
    upload = {"errors": errors, "text": text[:200_000], "visit_date": form_text(form, "visit_date", 20)}
    return _case_form_page(request, actor, rec, state, 422, upload)


@router.get("/fragments/{kind}-row/{n}")
def form_row(kind: str, n: int, request: Request, actor: MaybeActor) -> Response:
    """One more lesion or medication row, and the "add" button for the row after it (htmx)."""
    if actor is None:
        return to_login(request)
    if kind not in ("lesion", "medication") or not 0 <= n < 200:
        return render_error(request, 404, {"code": "request.not-found", "message": "no such row"})
    return render(
        request, "_row.html", actor, kind=kind, n=n, f=forms.FormState(data={}), spec=_form_spec(), oob=True
    )


def _visit_context(s: Session, actor: Actor, visit_id: int) -> dict[str, Any]:
    from ifnscope.activity.change import change_since_previous
    from ifnscope.data import rules_version
    from ifnscope.presentation import build

    v = services.get_visit(s, actor, visit_id)
    rec = services.get_record(s, actor, v.patient_id)  # the patient's name or pseudonym, de-identified
    visits = sorted(rec.visits, key=lambda x: (x.days_since_first_visit, x.id))
    view = build(v.assessment or {})
    return {
        "letter_agents": _letter_agents(rec) if actor.identified else [],
        "v": v,
        "p": rec.patient,
        "a": view,
        # The stored assessment is what the page and the report show; when the running rules
        # differ (or an older visit did not record them), re-assessing is offered, never automatic.
        "current_rules": rules_version(),
        "rules_changed": view.header.rules_version != rules_version(),
        "case": v.case or {},
        "visit_number": next((i for i, x in enumerate(visits, 1) if x.id == v.id), None),
        "visit_count": len(visits),
        "change": change_since_previous(rec.visits, v.id),  # since the previous scored visit
    }


@router.get("/visits/{visit_id}")
def visit_page(visit_id: DbId, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return to_login(request)
    return render(request, "visit.html", actor, **_visit_context(s, actor, visit_id))


@router.post("/visits/{visit_id}/reassess")
def reassess_visit(visit_id: DbId, actor: Authenticated, s: DbSession, form: Form) -> Response:
    """Assess the stored case again with the running rules (an explicit, audited action)."""
    v = services.reassess_visit(s, actor, visit_id)
    log.info("visit %d: re-assessed (web)", v.id)
    return RedirectResponse(f"/visits/{v.id}", status_code=303)


# ------------------------------------------------------------ correction, deletion, letter


def _letter_agents(rec: PatientRecord) -> list[tuple[str, str, bool]]:
    """(key, label, preselected) for the letter's agent list: every knowledge-base agent, the
    patient's treatments denied by the payer or planned first (the letter is usually for one)."""
    from ifnscope.clinical.therapy import knowledge_base

    wanted = [t.agent for t in rec.treatments if t.agent and t.status in ("denied_by_payer", "planned")]
    agents = knowledge_base().agents
    first = [k for k in dict.fromkeys(wanted) if k in agents]
    rest = sorted((k for k in agents if k not in first), key=lambda k: agents[k].label.lower())
    return [(k, agents[k].label, i == 0) for i, k in enumerate(first)] + [
        (k, agents[k].label, False) for k in rest
    ]


def _edit_page(
    request: Request,
    actor: Actor,
    s: Session,
    visit_id: int,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    delete_error: str | None = None,
) -> Response:
    import yaml

    actor.require("write_patients")
    v = services.get_visit(s, actor, visit_id)
    rec = services.get_record(s, actor, v.patient_id)
    case_text = yaml.safe_dump(v.case or {}, sort_keys=False, allow_unicode=True)
    vals = {"text": case_text, "visit_date": v.visit_date or "", "reason": "", **(values or {})}
    return render(
        request,
        "visit_edit.html",
        actor,
        status,
        v=v,
        p=rec.patient,
        values=vals,
        errors=errors or [],
        delete_error=delete_error,
        today=dt.date.today().isoformat(),
    )


@router.get("/visits/{visit_id}/edit")
def edit_visit_page(visit_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return to_login(request)
    return _edit_page(request, actor, s, visit_id)


@router.post("/visits/{visit_id}/edit")
def edit_visit_submit(
    visit_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    """Correct the visit (date and case, as YAML or JSON) with a reason: the visit as it was is
    kept as a version, the corrected case validated and assessed again."""
    from ifnscope.case.reader import parse_case

    actor.require("write_patients")
    values = {
        "text": form_text(form, "text", 2_000_000),
        "visit_date": form_text(form, "visit_date", 20),
        "reason": form_text(form, "reason", 500),
    }
    errors: list[dict[str, str]] = []
    if not values["reason"]:
        errors.append({"where": "reason", "message": "give the reason for the correction"})
    birth = services.get_record(s, actor, services.get_visit(s, actor, visit_id).patient_id).birth_date
    visit_date, problem = _visit_date(values["visit_date"], birth)
    if problem:
        errors.append({"where": "visit date", "message": problem})
    case = None
    if not values["text"].strip():
        errors.append({"where": "case", "message": "the case is empty"})
    else:
        kind: Literal["json", "yaml"] = "json" if values["text"].lstrip().startswith("{") else "yaml"
        try:
            case = parse_case(values["text"], file="corrected case", kind=kind)
            services.require_content(case)
        except CaseValidationError as err:
            errors += [
                {"where": (f"line {i.line}: " if i.line else "") + i.path, "message": forms.describe_issue(i)}
                for i in err.issues
            ]
        except IfnscopeError as err:
            errors.append({"where": "case", "message": err.message})
    if not errors and case is not None:
        try:
            services.update_visit(
                s, actor, visit_id, reason=values["reason"], case=case, visit_date=visit_date
            )
        except RegistryError as err:
            if err.code != "registry.invalid":
                raise
            errors.append({"where": "visit", "message": err.message})
        else:
            log.info("visit %d corrected (web)", visit_id)
            return RedirectResponse(f"/visits/{visit_id}", status_code=303)
    return _edit_page(request, actor, s, visit_id, 422, values, errors)


@router.post("/visits/{visit_id}/delete")
def delete_visit(visit_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    """Delete the visit with a reason; it stays in the patient's history."""
    actor.require("write_patients")
    reason = form_text(form, "reason", 500)
    if not reason:
        return _edit_page(
            request, actor, s, visit_id, 422, delete_error="Give the reason for deleting the visit."
        )
    patient_id = services.get_visit(s, actor, visit_id).patient_id
    services.delete_visit(s, actor, visit_id, reason=reason)
    log.info("visit %d deleted (web)", visit_id)
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


@router.get("/visits/{visit_id}/history")
def visit_history(visit_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    """The visit's earlier versions (also of a deleted visit)."""
    if actor is None:
        return to_login(request)
    versions = services.list_versions(s, actor, "visit", visit_id)
    pid = versions[0].patient_id if versions else None
    p = None
    if pid is None:
        pid = services.get_visit(s, actor, visit_id).patient_id
    try:
        p = services.get_record(s, actor, pid).patient
    except RegistryError as err:
        if err.code != "registry.not-found":
            raise
    return render(
        request,
        "history.html",
        actor,
        versions=list(reversed(versions)),
        p=p,
        patient_id=pid,
        title=f"visit {visit_id}",
    )


@router.get("/visits/{visit_id}/letter.html")
def letter_html(
    visit_id: int, request: Request, actor: MaybeActor, s: DbSession, agent: str = ""
) -> Response:
    """The visit's report with a draft letter of medical necessity for ``agent`` (for the
    clinician to complete, review and sign)."""
    from ifnscope.report.html import render_html

    if actor is None:
        return to_login(request)
    if not agent.strip():
        return render_error(
            request, 422, {"code": "request.invalid", "message": "choose the agent the letter asks for"}
        )
    v, letter = services.letter_for_visit(s, actor, visit_id, agent[:80])
    html = render_html(v.assessment or {}, v.case or {}, letter=letter)
    log.info("visit %d: letter of medical necessity (web)", v.id)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="ifnscope-visit-{v.id}-letter-{letter.agent}.html"',
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        },
    )
