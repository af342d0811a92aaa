"""Patients: create, find, change, delete; the whole record, its export and its timeline.

Identifying fields (name, MRN, birth date) leave this module only for actors that may read them;
a search is audited with the number of patients it returned, never its text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifnscope.errors import RegistryError
from ifnscope.presentation import latest_line
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import check_patient
from ifnscope.registry.models import Patient, Visit
from ifnscope.registry.services._rows import patient_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.deidentify import new_pseudonym
from ifnscope.registry.services.scores import patient_scores
from ifnscope.registry.services.treatments import treatment_view
from ifnscope.registry.services.views import ExportFile, PatientRecord, PatientSummary
from ifnscope.registry.services.visits import visit_view

SEXES = ("female", "male", "other", "unknown")


def has_patients(s: Session) -> bool:
    """Whether the registry holds any patient (demo seeding; no actor, nothing audited)."""
    return bool(s.scalar(select(func.count()).select_from(Patient)))


def create_patient(
    s: Session,
    actor: Actor,
    *,
    name: str | None = None,
    mrn: str | None = None,
    birth_date: dt.date | None = None,
    sex: str | None = None,
) -> PatientSummary:
    actor.require("write_patients")
    if sex not in (None, *SEXES):
        raise RegistryError(f"sex {sex!r}: expected female, male, other or unknown", code="registry.invalid")
    check_patient(name, mrn, birth_date)  # the rules the web form and the API apply (registry.inputs)
    mrn = (mrn or "").strip() or None
    if mrn and s.scalar(select(Patient.id).where(Patient.mrn == mrn)) is not None:
        raise RegistryError("a patient with this MRN already exists", code="registry.conflict")
    p = Patient(
        pseudonym=new_pseudonym(s),
        name=(name or "").strip() or None,
        mrn=mrn,
        birth_date=birth_date,
        sex=sex,
        created_by=actor.user_id,
    )
    s.add(p)
    s.flush()
    write_audit(s, actor, "create_patient", p.id)
    return patient_summary(s, actor, p)


def patient_summary(s: Session, actor: Actor, p: Patient) -> PatientSummary:
    """One line of the patient list: counts and the latest verdict (no check, no audit)."""
    last = s.scalar(
        select(Visit).where(Visit.patient_id == p.id).order_by(Visit.visit_date.desc(), Visit.id.desc())
    )
    n = s.scalar(select(func.count()).select_from(Visit).where(Visit.patient_id == p.id)) or 0
    return _summary(actor, p, last, n)


def _summary(actor: Actor, p: Patient, last: Visit | None, n: int) -> PatientSummary:
    verdict = None
    if last is not None:
        verdict = latest_line(last.iim_category, last.iim_subgroup, last.sle_classified, last.favours)
    return PatientSummary(
        id=p.id,
        pseudonym=p.pseudonym,
        name=p.name if actor.identified else None,
        mrn=p.mrn if actor.identified else None,
        sex=p.sex,
        visits=n,
        last_visit=(
            None
            if last is None
            else (last.visit_date.isoformat() if actor.identified else str(last.visit_date.year))
        ),
        latest_verdict=verdict,
    )


def list_patients(
    s: Session, actor: Actor, query: str | None = None, limit: int = 100, offset: int = 0
) -> list[PatientSummary]:
    """Patients, newest first; ``query`` matches name, MRN or pseudonym (researchers: pseudonym only).

    The audit log records that a search happened and how many patients it returned, never the
    search text (it may be a name)."""
    actor.require("read_deidentified")
    stmt = select(Patient).order_by(Patient.id.desc())
    if query:
        q = f"%{query.strip().lower()}%"
        if actor.identified:
            stmt = stmt.where(
                func.lower(Patient.name).like(q)
                | func.lower(Patient.mrn).like(q)
                | func.lower(Patient.pseudonym).like(q)
            )
        else:
            stmt = stmt.where(func.lower(Patient.pseudonym).like(q))
    rows = list(s.scalars(stmt.limit(max(1, min(limit, 500))).offset(max(0, offset))))
    write_audit(s, actor, "list_patients", None, f"{len(rows)} patients" + (" (search)" if query else ""))
    return [patient_summary(s, actor, p) for p in rows]


def count_patients(s: Session, actor: Actor, query: str | None = None) -> int:
    """How many patients :func:`list_patients` finds in all (its pages' total); not audited:
    a count reveals no patient, and the list it pages is audited."""
    actor.require("read_deidentified")
    stmt = select(func.count()).select_from(Patient)
    if query:
        q = f"%{query.strip().lower()}%"
        if actor.identified:
            stmt = stmt.where(
                func.lower(Patient.name).like(q)
                | func.lower(Patient.mrn).like(q)
                | func.lower(Patient.pseudonym).like(q)
            )
        else:
            stmt = stmt.where(func.lower(Patient.pseudonym).like(q))
    return int(s.scalar(stmt) or 0)


def update_patient(
    s: Session,
    actor: Actor,
    patient_id: int,
    *,
    name: str | None = None,
    mrn: str | None = None,
    sex: str | None = None,
) -> PatientSummary:
    actor.require("write_patients")
    p = patient_row(s, patient_id)
    if sex is not None and sex not in SEXES:
        raise RegistryError(f"sex {sex!r}: expected female, male, other or unknown", code="registry.invalid")
    if mrn is not None and mrn.strip():
        other = s.scalar(select(Patient.id).where(Patient.mrn == mrn.strip(), Patient.id != p.id))
        if other is not None:
            raise RegistryError("a patient with this MRN already exists", code="registry.conflict")
    if name is not None:
        p.name = name.strip() or None
    if mrn is not None:
        p.mrn = mrn.strip() or None
    if sex is not None:
        p.sex = sex
    write_audit(s, actor, "update_patient", p.id)
    return patient_summary(s, actor, p)


def delete_patient(s: Session, actor: Actor, patient_id: int) -> None:
    actor.require("write_patients")
    s.delete(patient_row(s, patient_id))
    write_audit(s, actor, "delete_patient", patient_id)


def get_record(s: Session, actor: Actor, patient_id: int, *, full_visits: bool = False) -> PatientRecord:
    """The patient with visits, scores and treatments (``full_visits``: each visit's case and
    assessment), de-identified for researchers."""
    actor.require("read_deidentified")
    p = patient_row(s, patient_id)
    # One query for the visits serves the list, day 0, the latest visit and the count (a read of
    # a patient is the registry's commonest request).
    visits = list(p.visits)
    first = min((v.visit_date for v in visits), default=None)
    last = max(visits, key=lambda v: (v.visit_date, v.id), default=None)
    write_audit(s, actor, "read_patient", p.id)
    return PatientRecord(
        patient=_summary(actor, p, last, len(visits)),
        birth_date=p.birth_date.isoformat() if (p.birth_date and actor.identified) else None,
        visits=[visit_view(v, actor, first, p.pseudonym, full=full_visits) for v in visits],
        scores=patient_scores(s, actor, p.id, first=first),
        treatments=[treatment_view(t, actor, first) for t in p.treatments],
        deidentified=not actor.identified,
    )


def export_record(s: Session, actor: Actor, patient_id: int, fmt: Literal["json", "csv"]) -> str:
    """The whole record as JSON, or as CSV (one row per visit, score and treatment)."""
    import json

    rec = get_record(s, actor, patient_id, full_visits=fmt == "json")
    write_audit(s, actor, "export_patient", patient_id, fmt)
    if fmt == "json":
        return json.dumps(rec.model_dump(mode="json"), indent=2, ensure_ascii=False)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["kind", "patient", "date_or_year", "days_since_first_visit", "item", "value", "detail"])
    who = rec.patient.pseudonym
    for v in rec.visits:
        when = v.visit_date or str(v.visit_year)
        for item in (
            "iim_category",
            "iim_subgroup",
            "cadm_category",
            "favours",
            "cdasi_activity",
            "cdasi_damage",
            "clasi_activity",
            "clasi_damage",
        ):
            val = getattr(v, item)
            if val is not None:
                w.writerow(["visit", who, when, v.days_since_first_visit, item, val, f"visit {v.id}"])
    for sc in rec.scores:
        w.writerow(
            [
                "ifn_score",
                who,
                sc.collected_on or "",
                sc.days_since_first_visit if sc.days_since_first_visit is not None else "",
                sc.signature,
                "" if sc.score is None else f"{sc.score:.6g}",
                f"{sc.method}; call {sc.call or ''}",
            ]
        )
    for t in rec.treatments:
        w.writerow(
            [
                "treatment",
                who,
                t.started or "",
                "",
                t.recorded_as,
                t.response or "",
                f"agent {t.agent or '?'}; stopped {t.stopped or ''}; IFN-targeted {t.ifn_targeted}",
            ]
        )
    return buf.getvalue()


def export_file(s: Session, actor: Actor, patient_id: int, fmt: Literal["json", "csv"]) -> ExportFile:
    """:func:`export_record` as a download named by the pseudonym, for everyone."""
    content = export_record(s, actor, patient_id, fmt)
    return ExportFile(
        filename=f"{patient_row(s, patient_id).pseudonym}.{fmt}",
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
        content=content,
    )


def timeline(s: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    """The series behind the visit timeline: activity scores, IFN scores and treatment periods,
    on calendar dates (clinicians) or days since the first visit (researchers)."""
    rec = get_record(s, actor, patient_id)
    return {
        "patient": rec.patient.model_dump(),
        "visits": [v.model_dump() for v in rec.visits],
        "scores": [x.model_dump() for x in rec.scores],
        "treatments": [t.model_dump() for t in rec.treatments],
    }
