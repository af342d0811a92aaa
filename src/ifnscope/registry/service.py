"""What the registry does, as functions of a session and an actor (the web app and the API call these).

Every function checks the actor's permission, writes the audit log for every patient it reads or
changes, and returns plain pydantic views, de-identified for researchers. Transactions belong to
the caller (``Registry.transaction``): a request either commits everything it did or nothing.

Clinical content never reaches a log: the audit log records who, what action and which patient
id; log messages carry ids and counts only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ifnscope import __version__
from ifnscope.clinical.therapy import is_ifn_targeted
from ifnscope.errors import RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.models import AuditEvent, IfnScore, Patient, Sample, SavedReference, Treatment, Visit

_PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class Registry:
    """An engine and its sessions; ``transaction()`` is one unit of work."""

    def __init__(self, engine: Engine) -> None:
        from ifnscope.registry.db import session_factory

        self.engine = engine
        self._sessions = session_factory(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s


def audit(
    s: Session, actor: Actor, action: str, patient_id: int | None = None, detail: str | None = None
) -> None:
    s.add(
        AuditEvent(
            user_id=actor.user_id,
            username=actor.username,
            action=action,
            patient_id=patient_id,
            detail=detail,
            via=actor.via,
        )
    )


# --------------------------------------------------------------------------------- views


class PatientSummary(BaseModel):
    id: int
    pseudonym: str
    name: str | None = Field(description="Only for clinicians and admins")
    mrn: str | None = Field(description="Only for clinicians and admins")
    sex: str | None
    visits: int
    last_visit: str | None = Field(description="Date (clinicians) or year (researchers)")
    latest_verdict: str | None = Field(description="IIM category / CLE-vs-DM picture at the last visit")


class VisitView(BaseModel):
    id: int
    patient_id: int
    visit_date: str | None = Field(description="Calendar date (clinicians); null for researchers")
    visit_year: int
    days_since_first_visit: int
    iim_category: str | None
    iim_subgroup: str | None
    cadm_category: str | None
    sle_classified: bool | None
    favours: str | None
    cdasi_activity: float | None
    cdasi_damage: float | None
    clasi_activity: float | None
    clasi_damage: float | None
    ifnscope_version: str
    case: dict[str, Any] | None = None
    assessment: dict[str, Any] | None = None


class ScoreView(BaseModel):
    sample_id: int
    sample: str
    visit_id: int | None
    collected_on: str | None
    days_since_first_visit: int | None
    tissue: str | None
    signature: str
    method: str
    score: float | None
    call: str | None
    genes_found: int
    genes_total: int
    reference: str | None


class TreatmentView(BaseModel):
    id: int
    recorded_as: str
    agent: str | None
    pathway_level: str | None
    ifn_targeted: bool
    started: str | None = Field(description="As recorded (clinicians); the year only (researchers)")
    stopped: str | None
    started_days: int | None = Field(
        default=None, description="Days since the first visit (a partial date counts from its first day)"
    )
    stopped_days: int | None = None
    response: str | None
    dose: str | None


class PatientRecord(BaseModel):
    patient: PatientSummary
    birth_date: str | None
    visits: list[VisitView]
    scores: list[ScoreView]
    treatments: list[TreatmentView]
    deidentified: bool


# ------------------------------------------------------------------------------ patients


def _pseudonym(s: Session) -> str:
    while True:
        code = "P-" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(6))
        if s.scalar(select(Patient.id).where(Patient.pseudonym == code)) is None:
            return code


def _patient(s: Session, patient_id: int) -> Patient:
    p = s.get(Patient, patient_id)
    if p is None:
        raise RegistryError(f"no patient {patient_id}", code="registry.not-found")
    return p


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
    if sex not in (None, "female", "male", "other", "unknown"):
        raise RegistryError(f"sex {sex!r}: expected female, male, other or unknown", code="registry.invalid")
    mrn = (mrn or "").strip() or None
    if mrn and s.scalar(select(Patient.id).where(Patient.mrn == mrn)) is not None:
        raise RegistryError("a patient with this MRN already exists", code="registry.conflict")
    p = Patient(
        pseudonym=_pseudonym(s),
        name=(name or "").strip() or None,
        mrn=mrn,
        birth_date=birth_date,
        sex=sex,
        created_by=actor.user_id,
    )
    s.add(p)
    s.flush()
    audit(s, actor, "create_patient", p.id)
    return _summary(s, actor, p)


def _summary(s: Session, actor: Actor, p: Patient) -> PatientSummary:
    last = s.scalar(
        select(Visit).where(Visit.patient_id == p.id).order_by(Visit.visit_date.desc(), Visit.id.desc())
    )
    n = s.scalar(select(func.count()).select_from(Visit).where(Visit.patient_id == p.id)) or 0
    verdict = None
    if last is not None:
        parts = []
        if last.iim_category and last.iim_category != "not_met":
            parts.append(
                f"{last.iim_category} IIM"
                + (f" ({last.iim_subgroup.replace('_', ' ')})" if last.iim_subgroup else "")
            )
        if last.sle_classified:
            parts.append("SLE (2019)")
        if last.favours and last.favours != "indeterminate":
            parts.append(f"skin favours {last.favours}")
        verdict = "; ".join(parts) or "no classification met"
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
    audit(s, actor, "list_patients", None, f"{len(rows)} patients" + (" (search)" if query else ""))
    return [_summary(s, actor, p) for p in rows]


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
    p = _patient(s, patient_id)
    if sex is not None and sex not in ("female", "male", "other", "unknown"):
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
    audit(s, actor, "update_patient", p.id)
    return _summary(s, actor, p)


def delete_patient(s: Session, actor: Actor, patient_id: int) -> None:
    actor.require("write_patients")
    s.delete(_patient(s, patient_id))
    audit(s, actor, "delete_patient", patient_id)


# -------------------------------------------------------------------------------- visits


def _first_visit_date(s: Session, patient_id: int) -> dt.date | None:
    return s.scalar(select(func.min(Visit.visit_date)).where(Visit.patient_id == patient_id))


def _complete(index: dict[str, Any] | None, key: str) -> float | None:
    """A score only when every item was scored (a partial sum is a lower bound, not a value)."""
    if not index:
        return None
    done = index.get("activity_complete") if key == "activity" else index.get("damage_complete")
    return float(index[key]) if done else None


def deidentify_case(case: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    """The case without free text and with the pseudonym as id (for researchers)."""
    out = dict(case)
    out["id"] = pseudonym
    for key in ("title", "source"):
        out.pop(key, None)
    out["lesions"] = [{k: v for k, v in les.items() if k != "note"} for les in out.get("lesions") or []]
    out["medications"] = [
        {k: v for k, v in m.items() if k not in ("note", "started", "stopped")}
        for m in out.get("medications") or []
    ]
    if isinstance(out.get("activity"), dict) and isinstance(out["activity"].get("baseline"), dict):
        out["activity"] = {
            **out["activity"],
            "baseline": {k: v for k, v in out["activity"]["baseline"].items() if k != "date"},
        }
    return out


_DATE_KEYS = frozenset({"started", "stopped", "baseline_date", "date"})


def deidentify_assessment(assessment: dict[str, Any], case: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    """The stored assessment without what ``deidentify_case`` removes from the case: the title,
    free-text notes (the assessment quotes lesion notes in its evidence text) and calendar dates
    (medication start/stop, the activity baseline), which become years."""
    notes = [
        str(item["note"])
        for key in ("lesions", "medications")
        for item in case.get(key) or []
        if isinstance(item, dict) and item.get("note")
    ]
    dates = {
        str(m[k])
        for m in case.get("medications") or []
        if isinstance(m, dict)
        for k in ("started", "stopped")
        if m.get(k)
    }
    baseline = (
        (case.get("activity") or {}).get("baseline") if isinstance(case.get("activity"), dict) else None
    )
    if isinstance(baseline, dict) and baseline.get("date"):
        dates.add(str(baseline["date"]))
    for key in ("title", "source"):
        if isinstance(case.get(key), str) and case[key].strip():
            notes.append(case[key])

    def text(s: str) -> str:
        for note in sorted(notes, key=len, reverse=True):
            s = s.replace(f" ({note})", "")  # how lesion notes are quoted in evidence text
            if len(note) >= 12:  # a short note ("red") would hit ordinary words
                s = s.replace(note, "[withheld]")
        for d in dates:
            s = s.replace(d, d[:4])
        return s

    def walk(x: Any, key: str | None = None) -> Any:
        if isinstance(x, dict):
            return {k: walk(v, k) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, str):
            return x[:4] if key in _DATE_KEYS and len(x) >= 4 and x[:4].isdigit() else text(x)
        return x

    out: dict[str, Any] = walk(assessment)
    out["case_id"] = pseudonym
    out["title"] = None
    return out


def _visit_view(v: Visit, actor: Actor, first: dt.date | None, pseudonym: str, full: bool) -> VisitView:
    case = assessment = None
    if full:
        case = v.case if actor.identified else deidentify_case(v.case, pseudonym)
        assessment = v.assessment
        if not actor.identified:
            assessment = deidentify_assessment(v.assessment, v.case, pseudonym)
    return VisitView(
        id=v.id,
        patient_id=v.patient_id,
        visit_date=v.visit_date.isoformat() if actor.identified else None,
        visit_year=v.visit_date.year,
        days_since_first_visit=(v.visit_date - (first or v.visit_date)).days,
        iim_category=v.iim_category,
        iim_subgroup=v.iim_subgroup,
        cadm_category=v.cadm_category,
        sle_classified=v.sle_classified,
        favours=v.favours,
        cdasi_activity=v.cdasi_activity,
        cdasi_damage=v.cdasi_damage,
        clasi_activity=v.clasi_activity,
        clasi_damage=v.clasi_damage,
        ifnscope_version=v.ifnscope_version,
        case=case,
        assessment=assessment,
    )


def add_visit(
    s: Session,
    actor: Actor,
    patient_id: int,
    case: Any,
    visit_date: dt.date | None = None,
) -> VisitView:
    """Validate and assess a case (a :class:`Case` or its JSON/YAML structure) and store it as a
    visit; medications with a recognised agent are added to the patient's treatments."""
    from ifnscope.assessment import assess
    from ifnscope.case.model import Case
    from ifnscope.case.reader import validate_case

    actor.require("write_patients")
    p = _patient(s, patient_id)
    c = case if isinstance(case, Case) else validate_case(case)
    a = assess(c)
    crit = a.criteria
    act = a.to_json_dict().get("activity") or {}
    v = Visit(
        patient_id=p.id,
        visit_date=visit_date or dt.date.today(),
        case=c.model_dump(mode="json", exclude_none=True),
        assessment=a.to_json_dict(),
        ifnscope_version=__version__,
        iim_category=crit["eular_acr_iim_2017"].category,
        iim_subgroup=crit["eular_acr_iim_2017"].subgroup,
        cadm_category=crit["sontheimer_cadm"].category,
        sle_classified=crit["eular_acr_sle_2019"].classified,
        favours=a.differential.favours,
        cdasi_activity=_complete(act.get("cdasi"), "activity"),
        cdasi_damage=_complete(act.get("cdasi"), "damage"),
        clasi_activity=_complete(act.get("clasi"), "activity"),
        clasi_damage=_complete(act.get("clasi"), "damage"),
        created_by=actor.user_id,
    )
    s.add(v)
    s.flush()
    _sync_treatments(s, p, a)
    audit(s, actor, "add_visit", p.id, f"visit {v.id}")
    return _visit_view(v, actor, _first_visit_date(s, p.id), p.pseudonym, full=True)


def _sync_treatments(s: Session, p: Patient, a: Any) -> None:
    """Medications of the case become treatment rows (one per name and start, updated in place)."""
    existing = {(t.recorded_as.lower(), t.started): t for t in p.treatments}
    for h in a.therapy.history:
        key = (h.recorded_as.lower(), h.started)
        level = h.pathway_level
        row = existing.get(key)
        if row is None:
            row = Treatment(patient_id=p.id, recorded_as=h.recorded_as, started=h.started)
            s.add(row)
            p.treatments.append(row)
            existing[key] = row
        row.agent = h.agent
        row.pathway_level = level
        row.ifn_targeted = is_ifn_targeted(level)
        row.stopped = h.stopped or row.stopped
        row.response = h.response or row.response
        row.dose = h.dose or row.dose


def get_visit(s: Session, actor: Actor, visit_id: int) -> VisitView:
    actor.require("read_deidentified")
    v = s.get(Visit, visit_id)
    if v is None:
        raise RegistryError(f"no visit {visit_id}", code="registry.not-found")
    audit(s, actor, "read_visit", v.patient_id, f"visit {v.id}")
    return _visit_view(v, actor, _first_visit_date(s, v.patient_id), v.patient.pseudonym, full=True)


# -------------------------------------------------------------------- treatments, scores


def add_treatment(
    s: Session,
    actor: Actor,
    patient_id: int,
    *,
    name: str,
    started: str | None = None,
    stopped: str | None = None,
    response: str | None = None,
    dose: str | None = None,
) -> TreatmentView:
    from ifnscope.case.model import Medication
    from ifnscope.clinical.therapy import find_agent, knowledge_base

    actor.require("write_patients")
    p = _patient(s, patient_id)
    try:
        med = Medication(name=name, started=started, stopped=stopped, response=response, dose=dose)
    except Exception as exc:
        raise RegistryError(f"treatment: {exc}", code="registry.invalid") from exc
    agent = find_agent(med.name)
    level = knowledge_base().agents[agent].pathway.level if agent else None
    row = Treatment(
        patient_id=p.id,
        recorded_as=med.name,
        agent=agent,
        pathway_level=level,
        ifn_targeted=is_ifn_targeted(level),
        started=med.started,
        stopped=med.stopped,
        response=med.response,
        dose=med.dose,
    )
    s.add(row)
    s.flush()
    audit(s, actor, "add_treatment", p.id, f"treatment {row.id}")
    return _treatment_view(row, actor, _first_visit_date(s, p.id))


def update_treatment(
    s: Session, actor: Actor, treatment_id: int, *, stopped: str | None = None, response: str | None = None
) -> TreatmentView:
    from ifnscope.case.model import Medication

    actor.require("write_patients")
    row = s.get(Treatment, treatment_id)
    if row is None:
        raise RegistryError(f"no treatment {treatment_id}", code="registry.not-found")
    try:
        med = Medication(
            name=row.recorded_as,
            started=row.started,
            stopped=stopped or row.stopped,
            response=response or row.response,
        )
    except Exception as exc:
        raise RegistryError(f"treatment: {exc}", code="registry.invalid") from exc
    row.stopped, row.response = med.stopped, med.response
    audit(s, actor, "update_treatment", row.patient_id, f"treatment {row.id}")
    return _treatment_view(row, actor, _first_visit_date(s, row.patient_id))


def _partial_date(text: str | None) -> dt.date | None:
    """YYYY, YYYY-MM or YYYY-MM-DD as the first day it can mean."""
    if not text:
        return None
    parts = [int(x) for x in text.split("-")]
    return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def _treatment_view(t: Treatment, actor: Actor, first: dt.date | None = None) -> TreatmentView:
    def days(text: str | None) -> int | None:
        d = _partial_date(text)
        return (d - first).days if (d is not None and first is not None) else None

    return TreatmentView(
        started_days=days(t.started),
        stopped_days=days(t.stopped),
        id=t.id,
        recorded_as=t.recorded_as,
        agent=t.agent,
        pathway_level=t.pathway_level,
        ifn_targeted=t.ifn_targeted,
        started=t.started if actor.identified else (t.started[:4] if t.started else None),
        stopped=t.stopped if actor.identified else (t.stopped[:4] if t.stopped else None),
        response=t.response,
        dose=t.dose,
    )


def save_reference(s: Session, actor: Actor, name: str, content: dict[str, Any]) -> str:
    """Store a fixed reference (the JSON ``ifnscope reference fit`` writes) under ``name``."""
    from ifnscope.signatures.reference import FixedReference

    actor.require("score")
    try:
        FixedReference.model_validate(content)
    except Exception as exc:
        raise RegistryError(
            f"not an ifnscope reference file: {str(exc)[:300]}", code="registry.invalid"
        ) from exc
    if s.scalar(select(SavedReference.id).where(SavedReference.name == name)) is not None:
        raise RegistryError(f"a reference named {name!r} already exists", code="registry.conflict")
    s.add(SavedReference(name=name, content=content))
    audit(s, actor, "save_reference", None, name[:120])
    return name


def list_references(s: Session, actor: Actor) -> list[dict[str, Any]]:
    actor.require("read_deidentified")
    return [
        {
            "name": r.name,
            "controls": r.content.get("n_controls"),
            "normalization": r.content.get("normalization"),
            "created_at": r.created_at.isoformat(),
        }
        for r in s.scalars(select(SavedReference).order_by(SavedReference.name))
    ]


def prepare_scoring(
    s: Session,
    actor: Actor,
    patient_id: int,
    *,
    reference_name: str | None,
    visit_id: int | None = None,
) -> dict[str, Any] | None:
    """Check that scores may be stored for this patient (and visit) and return the saved
    reference's content. Scoring itself happens outside any transaction (``compute_scores``):
    a scoring run takes seconds and must not hold the database's write lock."""
    actor.require("score")
    p = _patient(s, patient_id)
    if visit_id is not None:
        v = s.get(Visit, visit_id)
        if v is None or v.patient_id != p.id:
            raise RegistryError(
                f"visit {visit_id} is not a visit of patient {patient_id}", code="registry.invalid"
            )
    if not reference_name:
        return None
    row = s.scalar(select(SavedReference).where(SavedReference.name == reference_name))
    if row is None:
        raise RegistryError(f"no saved reference named {reference_name!r}", code="registry.not-found")
    return dict(row.content)


def compute_scores(matrix_path: Path, signatures: list[str], reference: dict[str, Any] | None) -> Any:
    """Score an expression matrix file (no database): the :class:`ScoreRun` to store."""
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import FixedReference
    from ifnscope.signatures.scoring import score

    ref = FixedReference.model_validate(reference) if reference is not None else None
    return score(read_expression(matrix_path), signatures, reference=ref)


def store_scores(
    s: Session,
    actor: Actor,
    patient_id: int,
    run: Any,
    *,
    reference_name: str | None,
    visit_id: int | None = None,
    collected_on: dt.date | None = None,
    tissue: str | None = None,
) -> list[ScoreView]:
    """Store a scoring run's samples (all of this patient) and their scores."""
    actor.require("score")
    p = _patient(s, patient_id)
    samples: dict[str, Sample] = {}
    for name in run.samples:
        smp = Sample(
            patient_id=p.id, visit_id=visit_id, label=str(name), collected_on=collected_on, tissue=tissue
        )
        s.add(smp)
        samples[str(name)] = smp
    s.flush()
    for r in run.results:
        cut = r.cutoff.description if r.cutoff else None
        for i, name in enumerate(run.samples):
            val = float(r.scores[i])
            s.add(
                IfnScore(
                    sample_id=samples[str(name)].id,
                    signature=r.signature.name,
                    method=r.method,
                    score=val if val == val else None,  # NaN -> null
                    call=(str(r.calls[i]) or None) if r.calls is not None else None,
                    genes_found=len(r.coverage.found),
                    genes_total=r.coverage.total,
                    reference_name=reference_name,
                    cutoff_source=cut,
                )
            )
    s.flush()
    audit(s, actor, "score_samples", p.id, f"{len(samples)} samples, {len(run.results)} signatures")
    return _scores(s, actor, p.id)


def score_matrix(
    s: Session,
    actor: Actor,
    patient_id: int,
    matrix_path: Path,
    *,
    signatures: list[str],
    reference_name: str | None,
    visit_id: int | None = None,
    collected_on: dt.date | None = None,
    tissue: str | None = None,
) -> list[ScoreView]:
    """Prepare, compute and store in one call (scripts and tests; the server splits the steps so
    that the computation runs outside the transaction)."""
    reference = prepare_scoring(s, actor, patient_id, reference_name=reference_name, visit_id=visit_id)
    run = compute_scores(matrix_path, signatures, reference)
    return store_scores(
        s,
        actor,
        patient_id,
        run,
        reference_name=reference_name,
        visit_id=visit_id,
        collected_on=collected_on,
        tissue=tissue,
    )


def _scores(s: Session, actor: Actor, patient_id: int) -> list[ScoreView]:
    first = _first_visit_date(s, patient_id)
    rows = s.execute(
        select(IfnScore, Sample)
        .join(Sample, IfnScore.sample_id == Sample.id)
        .where(Sample.patient_id == patient_id)
        .order_by(Sample.collected_on, Sample.id, IfnScore.signature)
    ).all()
    out = []
    for sc, smp in rows:
        when = smp.collected_on
        out.append(
            ScoreView(
                sample_id=smp.id,
                sample=smp.label if actor.identified else f"sample {smp.id}",
                visit_id=smp.visit_id,
                collected_on=when.isoformat() if (when and actor.identified) else None,
                days_since_first_visit=(when - first).days if (when and first) else None,
                tissue=smp.tissue,
                signature=sc.signature,
                method=sc.method,
                score=sc.score,
                call=sc.call,
                genes_found=sc.genes_found,
                genes_total=sc.genes_total,
                reference=sc.reference_name,
            )
        )
    return out


# ----------------------------------------------------------------- record, export, cohort


def get_record(s: Session, actor: Actor, patient_id: int, *, full_visits: bool = False) -> PatientRecord:
    actor.require("read_deidentified")
    p = _patient(s, patient_id)
    first = _first_visit_date(s, p.id)
    audit(s, actor, "read_patient", p.id)
    return PatientRecord(
        patient=_summary(s, actor, p),
        birth_date=p.birth_date.isoformat() if (p.birth_date and actor.identified) else None,
        visits=[_visit_view(v, actor, first, p.pseudonym, full=full_visits) for v in p.visits],
        scores=_scores(s, actor, p.id),
        treatments=[_treatment_view(t, actor, first) for t in p.treatments],
        deidentified=not actor.identified,
    )


def export_record(s: Session, actor: Actor, patient_id: int, fmt: Literal["json", "csv"]) -> str:
    """The whole record as JSON, or as CSV (one row per visit, score and treatment)."""
    import json

    rec = get_record(s, actor, patient_id, full_visits=fmt == "json")
    audit(s, actor, "export_patient", patient_id, fmt)
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


class CohortQuery(BaseModel):
    """Patients whose latest visit matches every given condition."""

    picture: Literal["dermatomyositis", "lupus"] | None = Field(
        default=None, description="dermatomyositis: IIM with a DM subgroup, CADM, or skin favouring DM"
    )
    min_cdasi_activity: float | None = None
    min_clasi_activity: float | None = None
    ifn_high: str | None = Field(default=None, description="A signature whose latest call must be 'high'")
    not_on_ifn_targeted: bool = False


def cohort(s: Session, actor: Actor, q: CohortQuery) -> list[PatientSummary]:
    actor.require("read_deidentified")
    latest = (
        select(Visit.patient_id, func.max(Visit.visit_date).label("d")).group_by(Visit.patient_id).subquery()
    )
    stmt = select(Visit).join(
        latest, (Visit.patient_id == latest.c.patient_id) & (Visit.visit_date == latest.c.d)
    )
    visits = {v.patient_id: v for v in s.scalars(stmt.order_by(Visit.id))}  # the last of a day wins
    out = []
    for pid, v in visits.items():
        if q.picture == "dermatomyositis" and not (
            v.iim_subgroup in ("dermatomyositis", "amyopathic_dermatomyositis", "juvenile_dermatomyositis")
            or v.cadm_category in ("amyopathic", "hypomyopathic")
            or v.favours == "dermatomyositis"
        ):
            continue
        if q.picture == "lupus" and not (v.sle_classified or v.favours == "lupus"):
            continue
        if q.min_cdasi_activity is not None and (
            v.cdasi_activity is None or v.cdasi_activity < q.min_cdasi_activity
        ):
            continue
        if q.min_clasi_activity is not None and (
            v.clasi_activity is None or v.clasi_activity < q.min_clasi_activity
        ):
            continue
        if q.ifn_high:
            row = s.execute(
                select(IfnScore.call)
                .join(Sample, IfnScore.sample_id == Sample.id)
                .where(Sample.patient_id == pid, IfnScore.signature == q.ifn_high)
                .order_by(Sample.collected_on.desc().nulls_last(), Sample.id.desc())
                .limit(1)
            ).first()
            if row is None or row[0] != "high":
                continue
        if q.not_on_ifn_targeted:
            current = s.scalar(
                select(func.count())
                .select_from(Treatment)
                .where(
                    Treatment.patient_id == pid, Treatment.ifn_targeted.is_(True), Treatment.stopped.is_(None)
                )
            )
            if current:
                continue
        out.append(_summary(s, actor, _patient(s, pid)))
    audit(s, actor, "cohort_query", None, f"{len(out)} patients")
    return out


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


def audit_log(
    s: Session, actor: Actor, patient_id: int | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    actor.require("manage_users")
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if patient_id is not None:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    return [
        {
            "at": e.at.isoformat(),
            "user": e.username,
            "action": e.action,
            "patient_id": e.patient_id,
            "detail": e.detail,
            "via": e.via,
        }
        for e in s.scalars(stmt)
    ]
