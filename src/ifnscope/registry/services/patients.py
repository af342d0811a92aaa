"""Patients: create, find, change, delete; the whole record, its export and its timeline.

Identifying fields (name, MRN, birth date) leave this module only for actors that may read them;
a search is audited with the number of patients it returned, never its text.

A likely duplicate (the same MRN, or the same normalised name and birth date) is refused with the
existing patient's id (``registry.conflict`` for an MRN, which is unique; ``registry.duplicate``
for name and birth date, which the caller may confirm). Changes and deletions keep the earlier
version with a reason; a deleted patient (and its visits and treatments) leaves every list.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from typing import Any, Literal, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ifnscope.errors import RegistryError
from ifnscope.presentation import latest_line
from ifnscope.registry.auth import Actor
from ifnscope.registry.csvsafe import csv_writer
from ifnscope.registry.inputs import check_birth_date, check_patient
from ifnscope.registry.models import Patient, Visit
from ifnscope.registry.services._rows import live_treatments, live_visits, patient_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.deidentify import deidentified, for_actor, new_pseudonym
from ifnscope.registry.services.scores import patient_scores
from ifnscope.registry.services.treatments import treatment_view
from ifnscope.registry.services.versions import record_version, require_reason, soft_delete
from ifnscope.registry.services.views import DuplicateCandidate, ExportFile, PatientRecord, PatientSummary
from ifnscope.registry.services.visits import visit_view

SEXES = ("female", "male", "other", "unknown")


def has_patients(s: Session) -> bool:
    """Whether the registry holds any patient (demo seeding; no actor, nothing audited)."""
    return bool(s.scalar(select(func.count()).select_from(Patient)))


def normalised_name(name: str | None) -> str:
    """A name compared for duplicates: accents, case, punctuation and word order ignored
    ("Roe, Jane" and "jane  ROE" match; "José" and "Jose" match)."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    words = "".join(ch if ch.isalnum() else " " for ch in text).split()
    return " ".join(sorted(words))


def _duplicates(
    s: Session,
    *,
    name: str | None,
    mrn: str | None,
    birth_date: dt.date | None,
    exclude: int | None = None,
) -> list[DuplicateCandidate]:
    out: dict[int, DuplicateCandidate] = {}

    def add(p: Patient, why: str) -> None:
        out.setdefault(
            p.id,
            DuplicateCandidate(
                id=p.id,
                pseudonym=p.pseudonym,
                name=p.name,
                mrn=p.mrn,
                birth_date=p.birth_date.isoformat() if p.birth_date else None,
                why=why,
            ),
        )

    live = Patient.deleted_at.is_(None)
    if mrn:
        for p in s.scalars(select(Patient).where(Patient.mrn == mrn, live)):
            if p.id != exclude:
                add(p, "same_mrn")
    key = normalised_name(name)
    if key and birth_date is not None:
        for p in s.scalars(select(Patient).where(Patient.birth_date == birth_date, live)):
            if p.id != exclude and normalised_name(p.name) == key:
                add(p, "same_name_and_birth_date")
    return list(out.values())


def find_duplicates(
    s: Session,
    actor: Actor,
    *,
    name: str | None = None,
    mrn: str | None = None,
    birth_date: dt.date | None = None,
) -> list[DuplicateCandidate]:
    """Patients a new record would likely duplicate (the new-patient form's warning)."""
    actor.require("write_patients")
    actor.require("read_identified")
    found = _duplicates(s, name=name, mrn=(mrn or "").strip() or None, birth_date=birth_date)
    for d in found:
        write_audit(s, actor, "duplicate_check", d.id, d.why)
    return found


def _refuse_duplicates(found: list[DuplicateCandidate], confirmed: bool) -> None:
    same_mrn = [d for d in found if d.why == "same_mrn"]
    if same_mrn:
        err = RegistryError(
            f"patient {same_mrn[0].id} already has this MRN", code="registry.conflict", loc=("mrn",)
        )
        err.details = {"existing_patient_id": same_mrn[0].id}
        raise err
    if found and not confirmed:
        ids = [d.id for d in found]
        err = RegistryError(
            f"likely duplicate of patient {ids[0]} (same name and birth date); send "
            "confirm_duplicate to record a different patient",
            code="registry.duplicate",
        )
        err.details = {"existing_patient_id": ids[0], "duplicates": ids}
        raise err


def create_patient(
    s: Session,
    actor: Actor,
    *,
    name: str | None = None,
    mrn: str | None = None,
    birth_date: dt.date | None = None,
    sex: str | None = None,
    confirm_duplicate: bool = False,
) -> PatientSummary:
    """A new patient. A likely duplicate is refused with the existing patient's id: the same
    MRN always (``registry.conflict``), the same name and birth date unless ``confirm_duplicate``
    (``registry.duplicate``)."""
    actor.require("write_patients")
    if sex not in (None, *SEXES):
        raise RegistryError(f"sex {sex!r}: expected female, male, other or unknown", code="registry.invalid")
    check_patient(name, mrn, birth_date)  # the rules the web form and the API apply (registry.inputs)
    mrn = (mrn or "").strip() or None
    _refuse_duplicates(_duplicates(s, name=name, mrn=mrn, birth_date=birth_date), confirm_duplicate)
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


@deidentified("patient_summary")  # researchers: the allow-list (data/registry/deid_allowlist.yaml)
def patient_summary(s: Session, actor: Actor, p: Patient) -> PatientSummary:
    """One line of the patient list: counts and the latest verdict (no check, no audit)."""
    live = (Visit.patient_id == p.id) & Visit.deleted_at.is_(None)
    last = s.scalar(select(Visit).where(live).order_by(Visit.visit_date.desc(), Visit.id.desc()))
    n = s.scalar(select(func.count()).select_from(Visit).where(live)) or 0
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
            else (last.visit_date.isoformat() if actor.identified else _days_since_first(p, last.visit_date))
        ),
        latest_verdict=verdict,
    )


def _days_since_first(p: Patient, when: dt.date) -> str:
    """``day N``: the date as researchers see it, days since the patient's first visit."""
    first = min((v.visit_date for v in p.visits), default=when)
    return f"day {(when - first).days}"


def list_patients(
    s: Session, actor: Actor, query: str | None = None, limit: int = 100, offset: int = 0
) -> list[PatientSummary]:
    """Patients, newest first; ``query`` matches name, MRN or pseudonym (researchers: pseudonym only).

    The audit log records that a search happened and how many patients it returned, never the
    search text (it may be a name)."""
    actor.require("read_deidentified")
    live = select(Patient).where(Patient.deleted_at.is_(None)).order_by(Patient.id.desc())
    stmt = _searched(live, actor, query)
    rows = list(s.scalars(stmt.limit(max(1, min(limit, 500))).offset(max(0, offset))))
    write_audit(s, actor, "list_patients", None, f"{len(rows)} patients" + (" (search)" if query else ""))
    return [patient_summary(s, actor, p) for p in rows]


_PATIENT_FIELDS = ("name", "mrn", "birth_date", "sex")
S = TypeVar("S", bound=Select[Any])


def _searched(stmt: S, actor: Actor, query: str | None) -> S:
    """``stmt`` narrowed to the patients whose name, MRN or pseudonym contains ``query``
    (researchers: the pseudonym only), as the list and its count both need."""
    if not query:
        return stmt
    q = f"%{query.strip().lower()}%"
    if not actor.identified:
        return stmt.where(func.lower(Patient.pseudonym).like(q))
    return stmt.where(
        func.lower(Patient.name).like(q)
        | func.lower(Patient.mrn).like(q)
        | func.lower(Patient.pseudonym).like(q)
    )


def count_patients(s: Session, actor: Actor, query: str | None = None) -> int:
    """How many patients :func:`list_patients` finds in all (its pages' total); not audited:
    a count reveals no patient, and the list it pages is audited."""
    actor.require("read_deidentified")
    live = select(func.count()).select_from(Patient).where(Patient.deleted_at.is_(None))
    stmt = _searched(live, actor, query)
    return int(s.scalar(stmt) or 0)


def update_patient(
    s: Session,
    actor: Actor,
    patient_id: int,
    *,
    reason: str | None,
    confirm_duplicate: bool = False,
    **changes: Any,
) -> PatientSummary:
    """Correct the patient's name, MRN, birth date or sex (only the keys given; ``None`` or an
    empty text clears one). The record as it was is kept as a version with the reason."""
    actor.require("write_patients")
    p = patient_row(s, patient_id)
    unknown = sorted(set(changes) - set(_PATIENT_FIELDS))
    if unknown:
        raise RegistryError(f"patient: cannot change {', '.join(unknown)}", code="registry.invalid")
    sex = changes.get("sex", p.sex) or None
    if sex is not None and sex not in SEXES:
        raise RegistryError(f"sex {sex!r}: expected female, male, other or unknown", code="registry.invalid")
    birth = changes.get("birth_date", p.birth_date)
    check_birth_date(birth)  # the rules of a new patient (registry.inputs)
    after: dict[str, Any] = {
        "name": (changes.get("name", p.name) or "").strip() or None,
        "mrn": (changes.get("mrn", p.mrn) or "").strip() or None,
        "birth_date": birth,
        "sex": sex,
    }
    if all(after[k] == getattr(p, k) for k in _PATIENT_FIELDS):
        return patient_summary(s, actor, p)
    why = require_reason(reason)
    identity_changed = any(after[k] != getattr(p, k) for k in ("name", "mrn", "birth_date"))
    if identity_changed:
        found = _duplicates(
            s, name=after["name"], mrn=after["mrn"], birth_date=after["birth_date"], exclude=p.id
        )
        _refuse_duplicates(found, confirm_duplicate)
    n = record_version(s, actor, "patient", p, p.id, "update", why)
    for k in _PATIENT_FIELDS:
        setattr(p, k, after[k])
    write_audit(s, actor, "update_patient", p.id, f"patient {p.id} v{n}")
    return patient_summary(s, actor, p)


def delete_patient(s: Session, actor: Actor, patient_id: int, *, reason: str | None) -> None:
    """Delete a patient: the row stays (its last version holds everything, the MRN included),
    out of every list, search, cohort and export. The MRN is released for a new record."""
    actor.require("write_patients")
    p = patient_row(s, patient_id)
    why = require_reason(reason)
    n = record_version(s, actor, "patient", p, p.id, "delete", why)
    soft_delete(p, actor)
    p.mrn = None  # unique: kept in the version, freed so a corrected record can carry it
    write_audit(s, actor, "delete_patient", patient_id, f"patient {p.id} v{n}")


@deidentified("record", pseudonym=lambda rec: rec.patient.pseudonym)  # researchers: the allow-list
def get_record(s: Session, actor: Actor, patient_id: int, *, full_visits: bool = False) -> PatientRecord:
    """The patient with visits, scores and treatments (``full_visits``: each visit's case and
    assessment), de-identified for researchers."""
    actor.require("read_deidentified")
    p = patient_row(s, patient_id)
    # One query for the visits serves the list, day 0, the latest visit and the count (a read of
    # a patient is the registry's commonest request).
    visits = live_visits(p)
    first = min((v.visit_date for v in visits), default=None)
    last = max(visits, key=lambda v: (v.visit_date, v.id), default=None)
    write_audit(s, actor, "read_patient", p.id)
    return PatientRecord(
        patient=_summary(actor, p, last, len(visits)),
        birth_date=p.birth_date.isoformat() if (p.birth_date and actor.identified) else None,
        visits=[visit_view(v, actor, first, p.pseudonym, full=full_visits) for v in visits],
        scores=patient_scores(s, actor, p.id, first=first),
        treatments=[treatment_view(t, actor, first) for t in live_treatments(p)],
        deidentified=not actor.identified,
    )


def export_record(s: Session, actor: Actor, patient_id: int, fmt: Literal["json", "csv", "fhir"]) -> str:
    """The whole record as JSON, as CSV (one row per visit, score and treatment), or as a FHIR R4
    Bundle (identified: clinicians and admins only; ``ifnscope.fhir``)."""
    import json

    if fmt == "fhir":
        actor.require("read_identified")  # a FHIR record names the patient: never de-identified
    rec = get_record(s, actor, patient_id, full_visits=fmt != "csv")
    write_audit(s, actor, "export_patient", patient_id, fmt)
    if fmt == "json":
        return json.dumps(rec.model_dump(mode="json"), indent=2, ensure_ascii=False)
    if fmt == "fhir":
        from ifnscope.fhir._export import record_to_bundle

        return json.dumps(record_to_bundle(rec.model_dump(mode="json")), indent=2, ensure_ascii=False)
    buf = io.StringIO()
    w = csv_writer(buf)  # formula cells escaped (CSV injection)
    w.writerow(["kind", "patient", "date_or_year", "days_since_first_visit", "item", "value", "detail"])
    who = rec.patient.pseudonym
    for v in rec.visits:
        when = v.visit_date or f"day {v.days_since_first_visit}"
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
                "" if t.started_days is None else t.started_days,
                t.recorded_as or t.agent or "",
                t.response or "",
                f"agent {t.agent or '?'}; stopped {t.stopped or ''}; IFN-targeted {t.ifn_targeted}; "
                f"status {t.status}",
            ]
        )
    return buf.getvalue()


def export_file(s: Session, actor: Actor, patient_id: int, fmt: Literal["json", "csv", "fhir"]) -> ExportFile:
    """:func:`export_record` as a download named by the pseudonym (FHIR: clinicians and admins)."""
    content = export_record(s, actor, patient_id, fmt)
    media = {"csv": "text/csv; charset=utf-8", "json": "application/json", "fhir": "application/fhir+json"}
    suffix = "fhir.json" if fmt == "fhir" else fmt
    return ExportFile(
        filename=f"{patient_row(s, patient_id).pseudonym}.{suffix}",
        media_type=media[fmt],
        content=content,
    )


def timeline(s: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    """The series behind the visit timeline: activity scores, IFN scores and treatment periods,
    on calendar dates (clinicians) or days since the first visit (researchers)."""
    rec = get_record(s, actor, patient_id)
    data = {
        "patient": rec.patient.model_dump(),
        "visits": [v.model_dump() for v in rec.visits],
        "scores": [x.model_dump() for x in rec.scores],
        "treatments": [t.model_dump() for t in rec.treatments],
    }
    return for_actor(actor, "timeline", data, pseudonym=rec.patient.pseudonym)
