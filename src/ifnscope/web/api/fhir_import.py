"""Import a patient from FHIR into the registry: a record sent as JSON (a Bundle or a resource),
or read from a FHIR server the registry is allowed to read (``IFNSCOPE_FHIR_SERVERS``), with a
bearer token, every page of every search. The record becomes the patient (name, MRN, birth date,
sex) and a visit with its case; the answer carries the import report (issue 13)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ifnscope.errors import FhirError, RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import VisitDate
from ifnscope.registry.services.fhir_import import FhirPatientImport, import_patient, prepare_fhir
from ifnscope.web.api.common import buffer_body
from ifnscope.web.deps import assess_in_turn, in_transaction, require_briefly
from ifnscope.web.openapi import created

router = APIRouter(tags=["patients"])
log = logging.getLogger("ifnscope.web")

Writer = Annotated[Actor, Depends(require_briefly("write_patients"))]
FhirId = Annotated[str, Field(pattern=r"^[A-Za-z0-9\-.]{1,64}$", description="A FHIR resource id")]


async def _store(
    request: Request,
    actor: Actor,
    imported: Any,
    visit_date: dt.date | None,
    confirm: bool,
    response: Response,
) -> FhirPatientImport:
    prepared = await assess_in_turn(request, prepare_fhir, imported)
    out: FhirPatientImport = await in_transaction(
        request, import_patient, actor, imported, prepared, visit_date=visit_date, confirm_duplicate=confirm
    )
    created(response, f"/api/patients/{out.patient.id}")
    log.info("patient %d imported from FHIR", out.patient.id)
    return out


@router.post(
    "/patients/import/fhir",
    status_code=201,
    response_model=FhirPatientImport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "A FHIR R4 Bundle (any type) or one resource"}
                }
            },
        }
    },
)
async def import_fhir_record(
    request: Request,
    _body: Annotated[None, Depends(buffer_body)],
    actor: Writer,
    response: Response,
    patient: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9\-.]{1,64}$", description="The Patient id, when the record holds several"),
    ] = None,
    visit_date: Annotated[VisitDate | None, Query(description="Default: today")] = None,
    confirm_duplicate: Annotated[
        bool, Query(description="Record the patient although one with the same name and birth date exists")
    ] = False,
) -> FhirPatientImport:
    """Import a patient from a FHIR record sent as the JSON body: 201 with the patient, the visit
    (none when the record holds nothing to assess) and the import report (every resource read,
    mapped or not and why). 422 ``fhir.*`` when the body is not one patient's FHIR record."""
    try:
        doc = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise FhirError("the body is not JSON (or nested too deeply)", code="fhir.format") from None
    imported = await assess_in_turn(request, _sync_import, doc, patient, "FHIR record (API)")
    return await _store(request, actor, imported, visit_date, confirm_duplicate, response)


def _sync_import(doc: Any, patient: str | None, source: str) -> Any:
    from ifnscope import fhir

    return fhir.import_resources(doc, patient=patient, source=source)


class FhirServerImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(
        max_length=2000, description="The FHIR server's base URL (on the registry's allow-list)"
    )
    patient_id: FhirId
    token: str | None = Field(
        default=None, max_length=10_000, description="A bearer token for the server (never stored)"
    )
    visit_date: VisitDate | None = None
    confirm_duplicate: StrictBool = False


@router.post("/patients/import/fhir-server", status_code=201, response_model=FhirPatientImport)
async def import_fhir_server(
    body: FhirServerImport, request: Request, actor: Writer, response: Response
) -> FhirPatientImport:
    """Import a patient read from a FHIR server: the Patient, its Conditions, laboratory
    Observations and medications, every page. The server must be on the registry's list
    (``IFNSCOPE_FHIR_SERVERS``; 403 otherwise); a refusal or a timeout of the server is 502
    ``fhir.server``."""
    from starlette.concurrency import run_in_threadpool

    from ifnscope.fhir._server import check_base, read_patient

    try:
        base = check_base(body.base_url)
    except FhirError as exc:
        raise RegistryError(exc.message, code="registry.invalid") from None
    allowed = {check_base(u) for u in request.app.state.settings.fhir_server_list}
    if base not in allowed:
        raise RegistryError(
            "this registry may not read that FHIR server (ask an admin to add it to IFNSCOPE_FHIR_SERVERS)",
            code="registry.forbidden",
        )
    docs = await run_in_threadpool(read_patient, body.base_url, body.token, body.patient_id)
    imported = await assess_in_turn(request, _sync_import_many, docs, body.patient_id)
    return await _store(request, actor, imported, body.visit_date, body.confirm_duplicate, response)


def _sync_import_many(docs: list[Any], patient: str) -> Any:
    from ifnscope import fhir

    return fhir.import_resources(*docs, patient=patient, source="FHIR server")
