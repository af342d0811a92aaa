"""The patient list and search, a new patient (with the duplicate-patient warning), the patient
page (summary, timeline plot, visits, treatments, scores), the correction and deletion forms for
the patient and its treatments (each with a reason), and the history of earlier versions."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ifnscope.errors import RegistryError
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import MSG_BIRTH_EARLY, MSG_BIRTH_FUTURE, PatientInput, form_errors
from ifnscope.registry.services import SEXES, TREATMENT_STATUSES, PatientRecord
from ifnscope.web.api.types import DbId
from ifnscope.web.deps import Authenticated, DbSession, MaybeActor
from ifnscope.web.pages.common import Form, age_on, form_text, render, to_login, vocab
from ifnscope.web.pages.upload import upload_context

if TYPE_CHECKING:
    from ifnscope.web.plots import TimelinePlot

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)

PATIENT_LIST_LIMIT = 200


@router.get("/")
def patient_list(request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return to_login(request)
    rows = services.list_patients(s, actor, None, limit=PATIENT_LIST_LIMIT)
    return render(request, "patients.html", actor, rows=rows, q="", limit=PATIENT_LIST_LIMIT)


@router.post("/patients/search")
def patient_search(request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    """The search text arrives in the POST body: it is neither in the URL nor logged."""
    q = form_text(form, "q", 200)
    rows = services.list_patients(s, actor, q or None, limit=PATIENT_LIST_LIMIT)
    log.info("patient list (web): %d rows%s", len(rows), " (search)" if q else "")
    if request.headers.get("HX-Request") == "true":
        return render(request, "_patient_table.html", actor, rows=rows, q=q, limit=PATIENT_LIST_LIMIT)
    return render(request, "patients.html", actor, rows=rows, q=q, limit=PATIENT_LIST_LIMIT)


@router.get("/patients/new")
def new_patient_page(request: Request, actor: MaybeActor) -> Response:
    if actor is None:
        return to_login(request)
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
    values = {k: form_text(form, k, 200) for k in ("name", "mrn", "sex", "birth_date")}
    confirmed = form_text(form, "confirm_duplicate", 10) == "yes"
    duplicates: list[Any] = []
    errors: dict[str, str] = {}
    birth: dt.date | None = None
    try:  # the rules the API applies too (registry.inputs)
        body = PatientInput.model_validate(
            {k: v or None for k, v in values.items()} | {"name": values["name"]}
        )
        birth = body.birth_date
    except ValidationError as exc:
        errors = form_errors(exc)
        if "birth_date" in errors and errors["birth_date"] not in (MSG_BIRTH_FUTURE, MSG_BIRTH_EARLY):
            errors["birth_date"] = "Enter the date as YYYY-MM-DD."
        if "sex" in errors:
            errors["sex"] = "Choose female, male, other or unknown."
    if not errors:
        try:
            p = services.create_patient(
                s,
                actor,
                name=values["name"],
                mrn=values["mrn"] or None,
                birth_date=birth,
                sex=values["sex"] or None,
                confirm_duplicate=confirmed,
            )
        except RegistryError as err:
            if err.code not in ("registry.conflict", "registry.duplicate"):
                raise
            duplicates = services.find_duplicates(
                s, actor, name=values["name"], mrn=values["mrn"] or None, birth_date=birth
            )
            if err.code == "registry.conflict":
                errors["mrn"] = "Another patient has this MRN."
        else:
            log.info("patient %d created (web)", p.id)
            return RedirectResponse(f"/patients/{p.id}", status_code=303)
    return render(
        request,
        "patient_new.html",
        actor,
        409 if duplicates and not errors else 422,
        values=values,
        errors=errors,
        duplicates=duplicates,
        sexes=SEXES,
        today=dt.date.today().isoformat(),
    )


_PLOT_LOCK = threading.Lock()  # guards the cache: a plot is drawn once, then reused
_PLOT_CACHE: OrderedDict[str, TimelinePlot] = OrderedDict()
_PLOT_CACHE_SIZE = 64


def _timeline_data(rec: PatientRecord) -> dict[str, Any]:
    """What ``services.timeline`` returns, built from a record already read (one audit entry)."""
    return {
        "patient": rec.patient.model_dump(),
        "visits": [v.model_dump(exclude={"case", "assessment"}) for v in rec.visits],
        "scores": [x.model_dump() for x in rec.scores],
        "treatments": [t.model_dump() for t in rec.treatments],
    }


def _plot(data: dict[str, Any]) -> TimelinePlot:
    import json

    from ifnscope.web.plots import timeline_plot

    key = json.dumps(
        {"today": dt.date.today(), **{k: data[k] for k in ("visits", "scores", "treatments")}},
        sort_keys=True,
        default=str,
    )  # the plot runs to today: tomorrow's is another plot
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
    dated = bool(rec.visits) and any(t.started or t.started_days is not None for t in rec.treatments)
    return scored or dated or any(x.score is not None for x in rec.scores)


def _patient_page(
    request: Request,
    actor: Actor,
    s: Session,
    patient_id: DbId,
    status: int = 200,
    treatment: dict[str, Any] | None = None,
    edit: dict[str, Any] | None = None,
    **extra: Any,  # more context for partials (the upload's result)
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
        age=age_on(rec.birth_date, dt.date.today()),
        plot_svg=Markup(plot.svg) if plot else None,  # built by plots.py, labels escaped by matplotlib
        not_drawn=plot.not_drawn if plot else [],
        plot=plot,
        visits=sorted(rec.visits, key=lambda v: (v.days_since_first_visit, v.id), reverse=True),
        treatment=treatment or {"values": {}, "errors": {}},
        edit=edit or {"values": {}, "errors": {}},
        responses=vocab().medication_response,
        statuses=TREATMENT_STATUSES,
        sexes=SEXES,
        **upload_context(s, actor),
        **extra,
    )


@router.get("/patients/{patient_id}")
def patient_page(patient_id: DbId, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return to_login(request)
    return _patient_page(request, actor, s, patient_id)


@router.post("/patients/{patient_id}/treatments")
def add_treatment(
    patient_id: DbId, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    actor.require("write_patients")
    values = {k: form_text(form, k, 200) for k in _TREATMENT_FIELDS}
    values["denial_reason"] = form_text(form, "denial_reason", 2000)
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Enter the medication."
    if not errors:
        try:
            t = services.add_treatment(
                s,
                actor,
                patient_id,
                **{k: v or None for k, v in values.items() if k != "name"},
                name=values["name"],
            )
        except RegistryError as err:
            if err.code != "registry.invalid":
                raise
            errors["form"] = _treatment_message(err.message)
        else:
            log.info("patient %d: treatment %d added (web)", patient_id, t.id)
            return RedirectResponse(f"/patients/{patient_id}#treatments", status_code=303)
    return _patient_page(request, actor, s, patient_id, 422, {"values": values, "errors": errors})


_TREATMENT_FIELDS = ("name", "started", "stopped", "response", "dose", "status", "denied_on", "denial_reason")


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
    if "denied_on" in text:
        return "Denied on: write the date as YYYY, YYYY-MM or YYYY-MM-DD."
    if "reason for the change" in text:
        return "Give the reason for the correction."
    return text.splitlines()[0][:200] if text else "The treatment was not accepted."


@router.post("/treatments/{treatment_id}/stop")
def stop_treatment(
    treatment_id: DbId, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    actor.require("write_patients")
    stopped = form_text(form, "stopped", 20)
    patient_id = _int(form_text(form, "patient_id", 20))
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


# ------------------------------------------------------------ corrections, deletions, history


def _reason_message(err: RegistryError) -> str:
    if err.loc == ("reason",):
        return "Give the reason for the change (kept with the earlier version)."
    return err.message


@router.post("/patients/{patient_id}/edit")
def edit_patient(
    patient_id: DbId, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    """Correct the patient's details; the record as it was is kept with the reason."""
    actor.require("write_patients")
    values = {k: form_text(form, k, 200) for k in ("name", "mrn", "sex", "birth_date")}
    reason = form_text(form, "reason", 500)
    errors: dict[str, str] = {}
    birth: dt.date | None = None
    if values["birth_date"]:
        try:
            birth = dt.date.fromisoformat(values["birth_date"])
        except ValueError:
            errors["birth_date"] = "Enter the date as YYYY-MM-DD."
    if values["sex"] and values["sex"] not in SEXES:
        errors["sex"] = "Choose female, male, other or unknown."
    if not reason:
        errors["reason"] = "Give the reason for the change (kept with the earlier version)."
    if not errors:
        try:
            services.update_patient(
                s,
                actor,
                patient_id,
                reason=reason,
                confirm_duplicate=form_text(form, "confirm_duplicate", 10) == "yes",
                name=values["name"],
                mrn=values["mrn"],
                birth_date=birth,
                sex=values["sex"] or None,
            )
        except RegistryError as err:
            if err.code not in ("registry.invalid", "registry.conflict", "registry.duplicate"):
                raise
            key = {"registry.conflict": "mrn", "registry.duplicate": "name"}.get(err.code, "form")
            errors[key] = err.message if key != "form" else _reason_message(err)
        else:
            log.info("patient %d corrected (web)", patient_id)
            return RedirectResponse(f"/patients/{patient_id}", status_code=303)
    edit = {"values": {**values, "reason": reason}, "errors": errors, "open": "patient"}
    return _patient_page(request, actor, s, patient_id, 422, edit=edit)


@router.post("/patients/{patient_id}/delete")
def delete_patient(
    patient_id: DbId, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    """Delete the patient (kept, with its versions, out of every list)."""
    actor.require("write_patients")
    reason = form_text(form, "reason", 500)
    if not reason:
        edit = {
            "values": {},
            "errors": {"delete": "Give the reason for deleting the patient."},
            "open": "delete",
        }
        return _patient_page(request, actor, s, patient_id, 422, edit=edit)
    services.delete_patient(s, actor, patient_id, reason=reason)
    log.info("patient %d deleted (web)", patient_id)
    return RedirectResponse("/", status_code=303)


@router.post("/treatments/{treatment_id}/edit")
def edit_treatment(
    treatment_id: DbId, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    """Correct a treatment or record its status (e.g. denied by the payer)."""
    actor.require("write_patients")
    patient_id = _int(form_text(form, "patient_id", 20))
    values = {k: form_text(form, k, 200) for k in _TREATMENT_FIELDS}
    values["denial_reason"] = form_text(form, "denial_reason", 2000)
    reason = form_text(form, "reason", 500) or None
    try:
        if not values["name"]:
            raise RegistryError("treatment: enter the medication", code="registry.invalid")
        services.update_treatment(
            s, actor, treatment_id, reason=reason, **{k: v or None for k, v in values.items()}
        )
    except RegistryError as err:
        if err.code != "registry.invalid" or patient_id is None:
            raise
        errors = {f"edit-{treatment_id}": _treatment_message(err.message)}
        return _patient_page(request, actor, s, patient_id, 422, {"values": {}, "errors": errors})
    log.info("treatment %d changed (web)", treatment_id)
    return RedirectResponse(f"/patients/{patient_id}#treatments" if patient_id else "/", status_code=303)


@router.post("/treatments/{treatment_id}/delete")
def delete_treatment(
    treatment_id: DbId, request: Request, actor: Authenticated, s: DbSession, form: Form
) -> Response:
    actor.require("write_patients")
    patient_id = _int(form_text(form, "patient_id", 20))
    reason = form_text(form, "reason", 500)
    if not reason and patient_id is not None:
        errors = {f"edit-{treatment_id}": "Give the reason for deleting the treatment."}
        return _patient_page(request, actor, s, patient_id, 422, {"values": {}, "errors": errors})
    services.delete_treatment(s, actor, treatment_id, reason=reason)
    log.info("treatment %d deleted (web)", treatment_id)
    return RedirectResponse(f"/patients/{patient_id}#treatments" if patient_id else "/", status_code=303)


@router.get("/patients/{patient_id}/history")
def patient_history(patient_id: DbId, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    """Every earlier version of the patient's record, visits and treatments, with the reasons
    (clinicians and admins; the service refuses researchers)."""
    if actor is None:
        return to_login(request)
    versions = services.patient_versions(s, actor, patient_id)
    try:
        p = services.get_record(s, actor, patient_id).patient
    except RegistryError as err:
        if err.code != "registry.not-found":
            raise
        p = None  # a deleted patient: its history is still there
    return render(request, "history.html", actor, versions=versions, p=p, patient_id=patient_id, title=None)


@router.get("/versions/{entity}/{entity_id}/{version}")
def version_page(
    entity: str, entity_id: int, version: int, request: Request, actor: MaybeActor, s: DbSession
) -> Response:
    """One earlier version of a patient, visit or treatment, as it was."""
    if actor is None:
        return to_login(request)
    v = services.get_version(s, actor, entity, entity_id, version)
    case_text = None
    if entity == "visit" and isinstance(v.snapshot.get("case"), dict):
        import yaml

        case_text = yaml.safe_dump(v.snapshot["case"], sort_keys=False, allow_unicode=True)
    fields = {k: x for k, x in v.snapshot.items() if k not in ("case", "assessment")}
    return render(request, "version.html", actor, ver=v, fields=fields, case_text=case_text)
