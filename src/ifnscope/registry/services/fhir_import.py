"""A patient's FHIR record into the registry: the patient (name, MRN, birth date and sex from
the FHIR Patient) and a visit with the case the record gives (``ifnscope.fhir``), in one
transaction. A record with nothing to assess gives the patient without a visit."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from ifnscope.errors import CaseError
from ifnscope.registry.auth import Actor
from ifnscope.registry.services.patients import create_patient
from ifnscope.registry.services.prepare import Prepared, prepare_visit
from ifnscope.registry.services.views import PatientSummary
from ifnscope.registry.services.visits import add_visit

log = logging.getLogger("ifnscope.registry")


class FhirPatientImport(BaseModel):
    """What the import made, and the import report (ids and words, no identifiers)."""

    patient: PatientSummary
    visit_id: int | None
    no_visit_because: str | None = None
    counts: dict[str, int]
    report: list[dict[str, Any]]
    not_read: dict[str, int]


def prepare_fhir(imported: Any) -> Prepared | CaseError:
    """The case validated and assessed before the transaction (CPU work), or why there is none."""
    try:
        return prepare_visit(imported.case)
    except CaseError as exc:
        return exc


def import_patient(
    s: Session,
    actor: Actor,
    imported: Any,
    prepared: Prepared | CaseError,
    *,
    visit_date: dt.date | None = None,
    confirm_duplicate: bool = False,
) -> FhirPatientImport:
    """Create the patient of an imported record (``ifnscope.fhir.FhirImport``) and its visit."""
    actor.require("write_patients")
    who = imported.identity
    p = create_patient(
        s,
        actor,
        name=who.name,
        mrn=who.mrn,
        birth_date=who.birth_date,
        sex=who.sex,
        confirm_duplicate=confirm_duplicate,
    )
    visit_id, why = None, None
    if isinstance(prepared, CaseError):
        if prepared.code != "case.empty":
            raise prepared
        why = prepared.message
    else:
        visit_id = add_visit(s, actor, p.id, prepared, visit_date).id
    log.info("patient %d imported from FHIR (%s)", p.id, "with a visit" if visit_id else "no visit")
    out = imported.to_dict()
    return FhirPatientImport(
        patient=p,
        visit_id=visit_id,
        no_visit_because=why,
        counts=out["counts"],
        report=out["report"],
        not_read=out["not_read"],
    )
