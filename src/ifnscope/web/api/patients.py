"""Patients, their visits and treatments, exports and timelines.

Researchers read de-identified views (pseudonym, no name, MRN, birth date, free text or calendar
dates) and may not change patients or visits; the registry service enforces both and writes the
audit log. Search text (``q``) is never logged or audited: it may be a name.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ifnscope.case.model import Case, PartialDate
from ifnscope.case.model import Response as MedicationResponse
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import PARTIAL_DATE_SCHEMA, PatientInput
from ifnscope.registry.services import PatientRecord, PatientSummary, TreatmentView, VisitView
from ifnscope.web.api.common import CASE_FILE_SCHEMA, VisitIn, body_doc, buffer_body, read_visit
from ifnscope.web.deps import Authenticated, DbSession, require
from ifnscope.web.openapi import created, set_total

router = APIRouter(tags=["patients"])
log = logging.getLogger("ifnscope.web")

Writer = Annotated[Actor, Depends(require("write_patients"))]
Sex = Literal["female", "male", "other", "unknown"]


class PatientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    mrn: str | None = Field(default=None, max_length=80)
    sex: Sex | None = None


class TreatmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="As recorded, e.g. 'anifrolumab'")
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
    dose: str | None = Field(default=None, max_length=120)


class TreatmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stopped: PartialDate | None = Field(default=None, json_schema_extra=PARTIAL_DATE_SCHEMA)
    response: MedicationResponse | None = None


# ------------------------------------------------------------------------------ patients


@router.get("/patients", response_model=list[PatientSummary])
def list_patients(
    actor: Authenticated,
    s: DbSession,
    response: Response,
    q: Annotated[
        str | None, Query(max_length=200, description="Name, MRN or pseudonym (researchers: pseudonym)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PatientSummary]:
    """Patients, newest first. The search text is neither logged nor audited."""
    rows = services.list_patients(s, actor, q, limit=limit, offset=offset)
    set_total(response, services.count_patients(s, actor, q))
    log.info("patient list: %d rows%s", len(rows), " (search)" if q else "")
    return rows


@router.post("/patients", status_code=201, response_model=PatientSummary)
def create_patient(body: PatientInput, actor: Writer, s: DbSession, response: Response) -> PatientSummary:
    p = services.create_patient(
        s, actor, name=body.name, mrn=body.mrn, birth_date=body.birth_date, sex=body.sex
    )
    log.info("patient %d created", p.id)
    created(response, f"/api/patients/{p.id}")
    return p


@router.get("/patients/{patient_id}", response_model=PatientRecord)
def get_patient(
    patient_id: int,
    actor: Authenticated,
    s: DbSession,
    full: Annotated[bool, Query(description="Include each visit's case and assessment")] = False,
) -> PatientRecord:
    return services.get_record(s, actor, patient_id, full_visits=full)


@router.patch("/patients/{patient_id}", response_model=PatientSummary)
def update_patient(patient_id: int, body: PatientPatch, actor: Writer, s: DbSession) -> PatientSummary:
    return services.update_patient(s, actor, patient_id, name=body.name, mrn=body.mrn, sex=body.sex)


@router.delete("/patients/{patient_id}", status_code=204, response_class=Response)
def delete_patient(patient_id: int, actor: Writer, s: DbSession) -> Response:
    services.delete_patient(s, actor, patient_id)
    log.info("patient %d deleted", patient_id)
    return Response(status_code=204)


# -------------------------------------------------------------------------------- visits


async def _visit_body(request: Request) -> tuple[Case | dict[str, Any], dt.date | None]:
    return await read_visit(request)


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
def add_visit(
    patient_id: int,
    _body: Annotated[None, Depends(buffer_body)],
    actor: Writer,
    s: DbSession,
    visit: Annotated[tuple[Case | dict[str, Any], dt.date | None], Depends(_visit_body)],
    response: Response,
) -> VisitView:
    """Store a visit: the case is validated (422 ``case.invalid`` with every issue), assessed, and
    kept with its assessment; recognised medications become treatments.

    Send JSON ``{"visit_date": "YYYY-MM-DD", "case": {...}}`` or a multipart upload of a YAML/JSON
    case file (``file``, optional ``visit_date``)."""
    case, visit_date = visit
    v = services.add_visit(s, actor, patient_id, case, visit_date=visit_date)
    log.info("patient %d: visit %d added", patient_id, v.id)
    created(response, f"/api/visits/{v.id}")
    return v


@router.get("/visits/{visit_id}", response_model=VisitView)
def get_visit(visit_id: int, actor: Authenticated, s: DbSession) -> VisitView:
    """One visit with its case and assessment (de-identified for researchers)."""
    return services.get_visit(s, actor, visit_id)


@router.post("/visits/{visit_id}/reassess", response_model=VisitView)
def reassess_visit(visit_id: int, actor: Writer, s: DbSession) -> VisitView:
    """Assess the visit's stored case again with the running rules and store the new assessment.

    A visit otherwise keeps the assessment it was stored with (its ``assessment.rules_version``
    says which rules made it); this is the explicit step that brings it to the current rules."""
    v = services.reassess_visit(s, actor, visit_id)
    log.info("visit %d: re-assessed", v.id)
    return v


# ---------------------------------------------------------------------------- treatments


@router.post("/patients/{patient_id}/treatments", status_code=201, response_model=TreatmentView)
def add_treatment(
    patient_id: int, body: TreatmentIn, actor: Writer, s: DbSession, response: Response
) -> TreatmentView:
    """Record a treatment; the agent and whether it targets the interferon pathway are resolved."""
    t = services.add_treatment(
        s,
        actor,
        patient_id,
        name=body.name,
        started=body.started,
        stopped=body.stopped,
        response=body.response,
        dose=body.dose,
    )
    log.info("patient %d: treatment %d added", patient_id, t.id)
    created(response, f"/api/treatments/{t.id}")
    return t


@router.patch("/treatments/{treatment_id}", response_model=TreatmentView)
def update_treatment(treatment_id: int, body: TreatmentPatch, actor: Writer, s: DbSession) -> TreatmentView:
    """Record a stop date or the response."""
    return services.update_treatment(s, actor, treatment_id, stopped=body.stopped, response=body.response)


# ---------------------------------------------------------------------- export, timeline


@router.get(
    "/patients/{patient_id}/export",
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {}},
            "description": "The record as JSON, or as CSV (one row per visit item, score and treatment)",
        }
    },
    response_class=Response,
)
def export_patient(
    patient_id: int,
    actor: Authenticated,
    s: DbSession,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """Download the record; the file is named by the pseudonym, never the name."""
    export = services.export_file(s, actor, patient_id, fmt)
    log.info("patient %d exported (%s)", patient_id, fmt)
    return Response(
        content=export.content,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get("/patients/{patient_id}/timeline")
def timeline(patient_id: int, actor: Authenticated, s: DbSession) -> dict[str, Any]:
    """Activity scores per visit, interferon scores per sample and treatment periods: calendar
    dates for clinicians, days since the first visit for researchers."""
    return services.timeline(s, actor, patient_id)
