"""Patients, their visits and treatments, exports and timelines.

Researchers read de-identified views (pseudonym, no name, MRN, birth date, free text or calendar
dates) and may not change patients or visits; the registry service enforces both and writes the
audit log. Search text (``q``) is never logged or audited: it may be a name.

Corrections (PATCH) and deletions (DELETE) of patients, visits and treatments carry a ``reason``;
the record as it was is kept as a version (``GET .../versions``, clinicians and admins only).
Neither reasons nor versions reach a log.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ifnscope.case.model import PartialDate
from ifnscope.case.model import Response as MedicationResponse
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import PARTIAL_DATE_SCHEMA, BirthDate, PatientInput
from ifnscope.registry.services import (
    PatientRecord,
    PatientSummary,
    TreatmentView,
    VersionInfo,
    VersionView,
    VisitView,
)
from ifnscope.registry.services.prepare import Prepared
from ifnscope.web.api.common import CASE_FILE_SCHEMA, VisitIn, body_doc, buffer_body, read_visit
from ifnscope.web.api.types import MAX_DB_ID, DbId, SafeText, Text80, Text120, Text200
from ifnscope.web.deps import (
    Authenticated,
    DbSession,
    assess_in_turn,
    in_transaction,
    inline_read,
    require,
    require_briefly,
)
from ifnscope.web.openapi import created, set_total

router = APIRouter(tags=["patients"])
log = logging.getLogger("ifnscope.web")

Writer = Annotated[Actor, Depends(require("write_patients"))]
Sex = Literal["female", "male", "other", "unknown"]
TreatmentStatus = Literal["active", "stopped", "planned", "refused", "denied_by_payer"]


Reason = Annotated[
    SafeText,
    Field(
        min_length=1,
        max_length=500,
        description="Why the record is corrected or deleted (kept with the earlier version; never logged)",
    ),
]
CONFIRM_DUPLICATE = Field(
    default=False,
    description="Record the patient although one with the same name and birth date exists (409 "
    "registry.duplicate otherwise). A patient with the same MRN is always refused (409 registry.conflict).",
)


class PatientIn(PatientInput):
    """A new patient (the rules shared with the web form), and the duplicate confirmation."""

    confirm_duplicate: StrictBool = CONFIRM_DUPLICATE  # a JSON true, not "yes" or 1


class PatientPatch(BaseModel):
    """Only the fields sent are changed; null clears one."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    name: Text200 | None = Field(default=None, max_length=200)
    mrn: Text80 | None = Field(default=None, max_length=80)
    birth_date: BirthDate | None = None  # the rules of a new patient (registry.inputs)
    sex: Sex | None = None
    confirm_duplicate: StrictBool = CONFIRM_DUPLICATE  # a JSON true, not "yes" or 1


class ReasonIn(BaseModel):
    """The body of a DELETE: why the record is deleted."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class VisitPatch(BaseModel):
    """A correction of a visit: a new date and/or the whole corrected case."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    visit_date: dt.date | None = Field(default=None, description="Unchanged when left out")
    case: dict[str, Any] | None = Field(
        default=None, description="The whole corrected ifnscope-case/1 document; unchanged when left out"
    )


class TreatmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text200 = Field(min_length=1, max_length=200, description="As recorded, e.g. 'anifrolumab'")
    # The case format's own types (case.model.Medication), so the schema states what is accepted.
    started: PartialDate | None = Field(
        default=None, description="YYYY, YYYY-MM or YYYY-MM-DD", json_schema_extra=PARTIAL_DATE_SCHEMA
    )
    stopped: PartialDate | None = Field(
        default=None, description="YYYY, YYYY-MM or YYYY-MM-DD", json_schema_extra=PARTIAL_DATE_SCHEMA
    )
    response: MedicationResponse | None = Field(
        default=None, description="As in the case format's medications"
    )
    dose: Text120 | None = Field(default=None, max_length=120)
    status: TreatmentStatus | None = Field(
        default=None, description="Default: stopped when a stop date is given, else active"
    )
    denied_on: PartialDate | None = Field(
        default=None,
        description="When the payer refused it: YYYY, YYYY-MM or YYYY-MM-DD",
        json_schema_extra=PARTIAL_DATE_SCHEMA,
    )
    denial_reason: SafeText | None = Field(
        default=None, max_length=2000, description="Why the payer refused it (free text, clinicians only)"
    )


class TreatmentPatch(BaseModel):
    """Only the fields sent are changed; null clears one. Filling in an empty field (a stop
    date, the response, a status) needs no reason; changing or clearing a recorded one does
    (422 ``registry.invalid`` at ``reason`` otherwise)."""

    model_config = ConfigDict(extra="forbid")

    reason: SafeText | None = Field(
        default=None, max_length=500, description="Why the recorded values are corrected"
    )
    name: Text200 | None = Field(default=None, min_length=1, max_length=200)
    started: PartialDate | None = Field(default=None, json_schema_extra=PARTIAL_DATE_SCHEMA)
    stopped: PartialDate | None = Field(default=None, json_schema_extra=PARTIAL_DATE_SCHEMA)
    response: MedicationResponse | None = None
    dose: Text120 | None = Field(default=None, max_length=120)
    status: TreatmentStatus | None = None
    denied_on: PartialDate | None = Field(default=None, json_schema_extra=PARTIAL_DATE_SCHEMA)
    denial_reason: SafeText | None = Field(default=None, max_length=2000)


# ------------------------------------------------------------------------------ patients


@router.get("/patients", response_model=list[PatientSummary])
def list_patients(
    actor: Authenticated,
    s: DbSession,
    response: Response,
    q: Annotated[
        Text200 | None, Query(max_length=200, description="Name, MRN or pseudonym (researchers: pseudonym)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
) -> list[PatientSummary]:
    """Patients, newest first. The search text is neither logged nor audited."""
    rows = services.list_patients(s, actor, q, limit=limit, offset=offset)
    set_total(response, services.count_patients(s, actor, q))
    log.info("patient list: %d rows%s", len(rows), " (search)" if q else "")
    return rows


@router.post("/patients", status_code=201, response_model=PatientSummary)
def create_patient(body: PatientIn, actor: Writer, s: DbSession, response: Response) -> PatientSummary:
    """Record a patient. A likely duplicate is refused with 409 and ``existing_patient_id``: the
    same MRN always (``registry.conflict``), the same name and birth date
    (``registry.duplicate``) unless ``confirm_duplicate`` is true."""
    p = services.create_patient(
        s,
        actor,
        name=body.name,
        mrn=body.mrn,
        birth_date=body.birth_date,
        sex=body.sex,
        confirm_duplicate=body.confirm_duplicate,
    )
    log.info("patient %d created", p.id)
    created(response, f"/api/patients/{p.id}")
    return p


@router.get("/patients/{patient_id}", response_model=PatientRecord)
@inline_read(unless="full")
def get_patient(
    patient_id: DbId,
    actor: Authenticated,
    s: DbSession,
    full: Annotated[bool, Query(description="Include each visit's case and assessment")] = False,
) -> PatientRecord:
    return services.get_record(s, actor, patient_id, full_visits=full)


@router.patch("/patients/{patient_id}", response_model=PatientSummary)
def update_patient(patient_id: DbId, body: PatientPatch, actor: Writer, s: DbSession) -> PatientSummary:
    """Correct the name, MRN, birth date or sex; the record as it was is kept as a version."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason", "confirm_duplicate"})
    p = services.update_patient(
        s, actor, patient_id, reason=body.reason, confirm_duplicate=body.confirm_duplicate, **changes
    )
    log.info("patient %d corrected", patient_id)
    return p


@router.delete("/patients/{patient_id}", status_code=204, response_class=Response)
def delete_patient(patient_id: DbId, body: ReasonIn, actor: Writer, s: DbSession) -> Response:
    """Delete the patient (with a reason): gone from lists, cohorts and exports, kept with its
    versions for the history."""
    services.delete_patient(s, actor, patient_id, reason=body.reason)
    log.info("patient %d deleted", patient_id)
    return Response(status_code=204)


@router.get("/patients/{patient_id}/versions", response_model=list[VersionInfo])
def patient_versions(
    patient_id: DbId, actor: Authenticated, s: DbSession, response: Response
) -> list[VersionInfo]:
    """Every earlier version of the patient's record, visits and treatments, newest first, with
    the reasons (clinicians and admins; 403 for researchers)."""
    rows = services.patient_versions(s, actor, patient_id)
    set_total(response, len(rows))
    return rows


@router.get("/patients/{patient_id}/versions/{version}", response_model=VersionView)
def patient_version(patient_id: DbId, version: DbId, actor: Authenticated, s: DbSession) -> VersionView:
    """The patient's record as it was in that version (clinicians and admins)."""
    return services.get_version(s, actor, "patient", patient_id, version)


# -------------------------------------------------------------------------------- visits


async def _visit_body(request: Request) -> tuple[Prepared, dt.date | None]:
    """The visit validated and assessed, before any database slot is taken (``prepare``)."""
    case, visit_date = await read_visit(request)
    return await assess_in_turn(request, services.prepare_visit, case), visit_date


@router.post(
    "/patients/{patient_id}/visits",
    status_code=201,
    response_model=VisitView,
    openapi_extra=body_doc(
        VisitIn.model_json_schema(),
        {
            **CASE_FILE_SCHEMA,
            "properties": {
                **CASE_FILE_SCHEMA["properties"],
                "visit_date": {"type": "string", "format": "date", "description": "Default: today"},
            },
        },
    ),
)
async def add_visit(
    patient_id: DbId,
    request: Request,
    _body: Annotated[None, Depends(buffer_body)],
    actor: Annotated[Actor, Depends(require_briefly("write_patients"))],
    visit: Annotated[tuple[Prepared, dt.date | None], Depends(_visit_body)],
    response: Response,
) -> VisitView:
    """Store a visit: the case is validated (422 ``case.invalid`` with every issue), assessed, and
    kept with its assessment; recognised medications become treatments.

    Send JSON ``{"visit_date": "YYYY-MM-DD", "case": {...}}`` or a multipart upload of a YAML/JSON
    case file (``file``, optional ``visit_date``)."""
    prepared, visit_date = visit  # the transaction below only writes
    v = await in_transaction(request, services.add_visit, actor, patient_id, prepared, visit_date=visit_date)
    log.info("patient %d: visit %d added", patient_id, v.id)
    created(response, f"/api/visits/{v.id}")
    return v


@router.get("/visits/{visit_id}", response_model=VisitView)
@inline_read()
def get_visit(visit_id: DbId, actor: Authenticated, s: DbSession) -> VisitView:
    """One visit with its case and assessment (de-identified for researchers)."""
    return services.get_visit(s, actor, visit_id)


@router.post("/visits/{visit_id}/reassess", response_model=VisitView)
def reassess_visit(visit_id: DbId, actor: Writer, s: DbSession) -> VisitView:
    """Assess the visit's stored case again with the running rules and store the new assessment.

    A visit otherwise keeps the assessment it was stored with (its ``assessment.rules_version``
    says which rules made it); this is the explicit step that brings it to the current rules."""
    v = services.reassess_visit(s, actor, visit_id)
    log.info("visit %d: re-assessed", v.id)
    return v


@router.patch("/visits/{visit_id}", response_model=VisitView)
def update_visit(visit_id: DbId, body: VisitPatch, actor: Writer, s: DbSession) -> VisitView:
    """Correct the visit's date and/or case (with a reason). The corrected case is validated
    (422 ``case.invalid``, ``case.empty``) and assessed again; the visit as it was is kept."""
    v = services.update_visit(
        s, actor, visit_id, reason=body.reason, case=body.case, visit_date=body.visit_date
    )
    log.info("visit %d corrected", v.id)
    return v


@router.delete("/visits/{visit_id}", status_code=204, response_class=Response)
def delete_visit(visit_id: DbId, body: ReasonIn, actor: Writer, s: DbSession) -> Response:
    """Delete the visit (with a reason): gone from the record, cohorts, timeline and exports;
    the patient's latest visit is the one before. Kept with its versions for the history."""
    services.delete_visit(s, actor, visit_id, reason=body.reason)
    log.info("visit %d deleted", visit_id)
    return Response(status_code=204)


@router.get("/visits/{visit_id}/versions", response_model=list[VersionInfo])
def visit_versions(
    visit_id: DbId, actor: Authenticated, s: DbSession, response: Response
) -> list[VersionInfo]:
    """The visit's earlier versions, oldest first (also of a deleted visit; clinicians and admins)."""
    rows = services.list_versions(s, actor, "visit", visit_id)
    set_total(response, len(rows))
    return rows


@router.get("/visits/{visit_id}/versions/{version}", response_model=VersionView)
def visit_version(visit_id: DbId, version: DbId, actor: Authenticated, s: DbSession) -> VersionView:
    """The visit as it was in that version: its case, assessment and date."""
    return services.get_version(s, actor, "visit", visit_id, version)


# ---------------------------------------------------------------------------- treatments


@router.post("/patients/{patient_id}/treatments", status_code=201, response_model=TreatmentView)
def add_treatment(
    patient_id: DbId, body: TreatmentIn, actor: Writer, s: DbSession, response: Response
) -> TreatmentView:
    """Record a treatment; the agent and whether it targets the interferon pathway are resolved.

    The patient has one reconciled list: the same agent (or, unrecognised, the same name) with a
    course still open is updated with what is new instead of listed twice."""
    t = services.add_treatment(s, actor, patient_id, **body.model_dump())
    log.info("patient %d: treatment %d added", patient_id, t.id)
    created(response, f"/api/treatments/{t.id}")
    return t


@router.patch("/treatments/{treatment_id}", response_model=TreatmentView)
def update_treatment(treatment_id: DbId, body: TreatmentPatch, actor: Writer, s: DbSession) -> TreatmentView:
    """Record a stop date, the response or a status (e.g. ``denied_by_payer`` with ``denied_on``
    and ``denial_reason``), or correct the treatment (with a ``reason``). Earlier values are kept."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    return services.update_treatment(s, actor, treatment_id, reason=body.reason, **changes)


@router.delete("/treatments/{treatment_id}", status_code=204, response_class=Response)
def delete_treatment(treatment_id: DbId, body: ReasonIn, actor: Writer, s: DbSession) -> Response:
    """Take the treatment off the list (with a reason); kept with its versions."""
    services.delete_treatment(s, actor, treatment_id, reason=body.reason)
    log.info("treatment %d deleted", treatment_id)
    return Response(status_code=204)


@router.get("/treatments/{treatment_id}/versions", response_model=list[VersionInfo])
def treatment_versions(
    treatment_id: DbId, actor: Authenticated, s: DbSession, response: Response
) -> list[VersionInfo]:
    """The treatment's earlier versions, oldest first (clinicians and admins)."""
    rows = services.list_versions(s, actor, "treatment", treatment_id)
    set_total(response, len(rows))
    return rows


@router.get("/treatments/{treatment_id}/versions/{version}", response_model=VersionView)
def treatment_version(treatment_id: DbId, version: DbId, actor: Authenticated, s: DbSession) -> VersionView:
    """The treatment as it was in that version."""
    return services.get_version(s, actor, "treatment", treatment_id, version)


# ---------------------------------------------------------------------- export, timeline


@router.get(
    "/patients/{patient_id}/export",
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {}, "application/fhir+json": {}},
            "description": "The record as JSON, as CSV (one row per visit item, score and treatment), "
            "or as a FHIR R4 Bundle (format=fhir; clinicians and admins)",
        }
    },
    response_class=Response,
)
def export_patient(
    patient_id: DbId,
    actor: Authenticated,
    s: DbSession,
    fmt: Annotated[Literal["json", "csv", "fhir"], Query(alias="format")] = "json",
) -> Response:
    """Download the record; the file is named by the pseudonym, never the name. ``fhir``: the
    record as a FHIR R4 Bundle (the patient, each visit's case and assessment, the interferon
    scores; clinicians and admins only)."""
    export = services.export_file(s, actor, patient_id, fmt)
    log.info("patient %d exported (%s)", patient_id, fmt)
    return Response(
        content=export.content,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get("/patients/{patient_id}/timeline")
def timeline(patient_id: DbId, actor: Authenticated, s: DbSession) -> dict[str, Any]:
    """Activity scores per visit, interferon scores per sample and treatment periods: calendar
    dates for clinicians, days since the first visit for researchers."""
    return services.timeline(s, actor, patient_id)
