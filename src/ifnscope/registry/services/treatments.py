"""Treatments: one reconciled medication list per patient. Each row is a medication (or drug
class) as first recorded, its knowledge-base agent and whether it targets the type I interferon
pathway, with start, stop, response and a status (active, stopped, planned, or denied by the
payer with the denial's date and reason).

Reconciling: medications from a visit's case, or added by hand, join the row of the same agent
(``find_agent``: "MTX" and "methotrexate", "antihistamine" and "antihistamines") or, when the
name is not recognised, of the same normalised name; a later visit updates that row instead of
adding a duplicate. A new row starts only when the earlier course had stopped before the new
start date. Lists stored before this rule (migration 0003) are merged by the same rule, on
request: :func:`reconcile_treatments`.

Correcting a row keeps the earlier version (``services.versions``); filling in something not
yet recorded (a stop date, the response) needs no reason, overwriting what was recorded does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ifnscope.case.model import NEVER_TAKEN
from ifnscope.clinical.therapy import is_ifn_targeted
from ifnscope.errors import RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import check_partial_date
from ifnscope.registry.models import Patient, Treatment
from ifnscope.registry.services._rows import first_visit_date, live_treatments, patient_row, treatment_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.deidentify import deidentified
from ifnscope.registry.services.versions import record_version, require_reason, soft_delete
from ifnscope.registry.services.views import TreatmentView

if TYPE_CHECKING:
    from ifnscope.assessment import Assessment

TREATMENT_STATUSES = ("active", "stopped", "planned", "refused", "denied_by_payer")
_EDITABLE = ("name", "started", "stopped", "response", "dose", "status", "denied_on", "denial_reason")
_PARTIAL_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")


def reconcile_key(name: str, agent: str | None) -> str:
    """What makes two recorded medications the same row: the agent, else the normalised name
    (without a plural 's')."""
    from ifnscope.clinical.drugs import normalise

    if agent:
        return f"agent:{agent}"
    return "name:" + normalise(name).rstrip("s")


def _resolved(name: str) -> tuple[str | None, str | None]:
    from ifnscope.clinical.therapy import find_agent, knowledge_base

    agent = find_agent(name)
    return agent, (knowledge_base().agents[agent].pathway.level if agent else None)


def _after(started: str | None, stopped: str | None) -> bool:
    """Whether a course starting ``started`` began after one that stopped ``stopped``."""
    if not started or not stopped:
        return False
    n = min(len(started), len(stopped))
    return started[:n] > stopped[:n]


def _match(p: Patient, key: str, started: str | None) -> Treatment | None:
    """The live row a medication joins: same key, and not a course that ended before it began."""
    return _match_in(live_treatments(p), key, started)


def _match_in(rows: Sequence[Treatment], key: str, started: str | None) -> Treatment | None:
    """The latest of ``rows`` with the same key whose course had not ended before ``started``."""
    for t in reversed(rows):
        if reconcile_key(t.recorded_as, t.agent) == key and not _after(started, t.stopped):
            return t
    return None


def _merge_course(
    row: Treatment, *, started: str | None, stopped: str | None, response: str | None, dose: str | None
) -> None:
    """A later record of the same course joins ``row``: the earliest start; the later record's
    stop, response and dose when it has them (what it leaves out is kept); a start makes a
    planned or refused treatment active, a stop makes an active one stopped."""
    if started and (not row.started or _earlier(started, row.started)):
        row.started = started
    row.stopped = stopped or row.stopped
    row.response = response or row.response
    row.dose = dose or row.dose
    if started and row.status in ("planned", "refused", "denied_by_payer"):
        row.status = "active"  # the record shows it started (planned, or a refusal overturned)
    if row.stopped and row.status == "active":
        row.status = "stopped"


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    """The row's values checked as the case format checks a medication, plus the status fields."""
    from ifnscope.case.model import Medication

    try:
        med = Medication(
            name=values["name"],
            started=values.get("started"),
            stopped=values.get("stopped"),
            response=values.get("response"),
            dose=values.get("dose"),
        )
    except Exception as exc:
        raise RegistryError(f"treatment: {exc}", code="registry.invalid") from exc
    status = values.get("status") or ("stopped" if med.stopped else "active")
    if status not in TREATMENT_STATUSES:
        raise RegistryError(
            f"treatment status {status!r}: expected one of {', '.join(TREATMENT_STATUSES)}",
            code="registry.invalid",
            loc=("status",),
        )
    if status == "active" and med.stopped:
        status = "stopped"
    denied_on = values.get("denied_on") or None
    if denied_on is not None and not _PARTIAL_DATE.match(str(denied_on)):
        raise RegistryError(
            "treatment: denied_on: write the date as YYYY, YYYY-MM or YYYY-MM-DD",
            code="registry.invalid",
            loc=("denied_on",),
        )
    reason = (values.get("denial_reason") or "").strip() or None
    if reason is not None and len(reason) > 2000:
        raise RegistryError("treatment: the denial reason is too long", code="registry.invalid")
    return {
        "name": med.name,
        "started": med.started,
        "stopped": med.stopped,
        "response": med.response,
        "dose": med.dose,
        "status": status,
        "denied_on": denied_on,
        "denial_reason": reason,
    }


def _apply(row: Treatment, v: dict[str, Any]) -> None:
    if v["name"] != row.recorded_as:
        row.recorded_as = v["name"]
        row.agent, row.pathway_level = _resolved(v["name"])
        row.ifn_targeted = is_ifn_targeted(row.pathway_level)
    row.started, row.stopped, row.response, row.dose = v["started"], v["stopped"], v["response"], v["dose"]
    row.status, row.denied_on, row.denial_reason = v["status"], v["denied_on"], v["denial_reason"]


def _values(row: Treatment) -> dict[str, Any]:
    return {
        "name": row.recorded_as,
        "started": row.started,
        "stopped": row.stopped,
        "response": row.response,
        "dose": row.dose,
        "status": row.status,
        "denied_on": row.denied_on,
        "denial_reason": row.denial_reason,
    }


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
    status: str | None = None,
    denied_on: str | None = None,
    denial_reason: str | None = None,
) -> TreatmentView:
    """Record a treatment. The same agent (or name) already on the list with a course still
    open is updated with what is new (nothing recorded is overwritten) instead of duplicated."""
    actor.require("write_patients")
    check_partial_date(started, "started")
    check_partial_date(stopped, "stopped")
    p = patient_row(s, patient_id)
    v = _validated(
        {
            "name": name.strip(),
            "started": started,
            "stopped": stopped,
            "response": response,
            "dose": dose,
            "status": status,
            "denied_on": denied_on,
            "denial_reason": denial_reason,
        }
    )
    agent, level = _resolved(v["name"])
    row = _match(p, reconcile_key(v["name"], agent), v["started"])
    if row is not None:
        merged = _values(row)
        for k in ("started", "stopped", "response", "dose", "denied_on", "denial_reason"):
            merged[k] = merged[k] or v[k]
        if status is not None:
            merged["status"] = status
        merged = _validated(merged)
        if merged != _values(row):
            record_version(s, actor, "treatment", row, p.id, "update", "recorded again: merged")
            _apply(row, merged)
        write_audit(s, actor, "update_treatment", p.id, f"treatment {row.id} (recorded again)")
        return treatment_view(row, actor, first_visit_date(s, p.id))
    row = Treatment(
        patient_id=p.id,
        recorded_as=v["name"],
        agent=agent,
        pathway_level=level,
        ifn_targeted=is_ifn_targeted(level),
    )
    _apply(row, {**v, "name": v["name"]})
    s.add(row)
    p.treatments.append(row)
    s.flush()
    write_audit(s, actor, "add_treatment", p.id, f"treatment {row.id}")
    return treatment_view(row, actor, first_visit_date(s, p.id))


def update_treatment(
    s: Session, actor: Actor, treatment_id: int, *, reason: str | None = None, **changes: Any
) -> TreatmentView:
    """Change a treatment: ``changes`` holds only the fields to change (``None`` clears one;
    ``name``, ``started``, ``stopped``, ``response``, ``dose``, ``status``, ``denied_on``,
    ``denial_reason``). The earlier version is kept. Without a ``reason`` only empty fields may be
    filled in (a stop date, the response, a status); overwriting or clearing needs one."""
    actor.require("write_patients")
    row = treatment_row(s, treatment_id)
    unknown = sorted(set(changes) - set(_EDITABLE))
    if unknown:
        raise RegistryError(f"treatment: cannot change {', '.join(unknown)}", code="registry.invalid")
    before = _values(row)
    merged = _validated({**before, **changes})
    changed = [k for k in _EDITABLE if merged[k] != before[k]]
    if not changed:
        return treatment_view(row, actor, first_visit_date(s, row.patient_id))
    corrects = [k for k in changed if before[k] is not None and k != "status"]
    # Filling in what was not recorded needs no reason; overwriting or clearing does.
    why = require_reason(reason) if reason is not None or corrects else "added: " + ", ".join(changed)
    n = record_version(s, actor, "treatment", row, row.patient_id, "update", why)
    _apply(row, merged)
    write_audit(s, actor, "update_treatment", row.patient_id, f"treatment {row.id} v{n}")
    return treatment_view(row, actor, first_visit_date(s, row.patient_id))


def delete_treatment(s: Session, actor: Actor, treatment_id: int, *, reason: str | None) -> None:
    """Take a treatment off the list (kept, with its versions, for the history)."""
    actor.require("write_patients")
    row = treatment_row(s, treatment_id)
    why = require_reason(reason)
    n = record_version(s, actor, "treatment", row, row.patient_id, "delete", why)
    soft_delete(row, actor)
    write_audit(s, actor, "delete_treatment", row.patient_id, f"treatment {row.id} v{n}")


def sync_treatments(s: Session, p: Patient, a: Assessment, *, recorded: bool = True) -> None:
    """Medications of the case join the patient's reconciled list (see the module docstring).

    ``recorded=False`` (re-assessing an older visit) refreshes only what the rules decide (the
    agent, its pathway level, IFN-targeted) and adds medications not yet listed: a stop date,
    response or dose entered since the visit is never overwritten by the visit's older values."""
    for h in a.therapy.history:
        key = reconcile_key(h.recorded_as, h.agent)
        row = _match(p, key, h.started)
        new = row is None
        if row is None:
            # a medication the case records as never taken (planned, refused, denied by the payer)
            # enters the list with that status (case.model.NEVER_TAKEN)
            status = h.prescription if h.prescription in NEVER_TAKEN else "active"
            row = Treatment(patient_id=p.id, recorded_as=h.recorded_as, started=h.started, status=status)
            s.add(row)
            p.treatments.append(row)
        row.agent = h.agent
        row.pathway_level = h.pathway_level
        row.ifn_targeted = is_ifn_targeted(h.pathway_level)
        if not (recorded or new):
            continue
        _merge_course(row, started=h.started, stopped=h.stopped, response=h.response, dose=h.dose)


class TreatmentMerge(BaseModel):
    """Rows of one patient's list merged by :func:`reconcile_treatments` (ids and the agent key
    only: no names, nothing typed)."""

    patient_id: int
    treatment_id: int = Field(description="The row kept")
    agent: str | None = Field(description="Its knowledge-base agent; None for a name not recognised")
    merged: list[int] = Field(description="The rows merged into it, now deleted (kept as versions)")


def reconcile_treatments(s: Session, actor: Actor, patient_id: int | None = None) -> list[TreatmentMerge]:
    """Merge the duplicate rows of lists stored before reconciling existed (migration 0003):
    each live row, in the order recorded, joins an earlier row by the rule new medications follow
    (same agent, else same normalised name; a new course only when the earlier one had stopped
    before this one started) and the merge rule of a later visit (:func:`_merge_course`).

    Nothing is destroyed: the kept row's earlier values and each merged-away row are kept as
    versions, the merged-away rows are soft-deleted ("reconciled into treatment N"), and each merge
    is audited. ``patient_id``: one patient, else every patient. Run it on request (``ifnscope
    admin reconcile-treatments``), not in a migration: merging is a clinical judgement to review."""
    actor.require("write_patients")
    if patient_id is not None:
        patients = [patient_row(s, patient_id)]
    else:
        live = select(Patient).where(Patient.deleted_at.is_(None)).order_by(Patient.id)
        patients = list(s.scalars(live.options(selectinload(Patient.treatments))))
    out: list[TreatmentMerge] = []
    for p in patients:
        kept: list[Treatment] = []
        merges: dict[int, TreatmentMerge] = {}
        for t in sorted(live_treatments(p), key=lambda r: r.id):
            row = _match_in(kept, reconcile_key(t.recorded_as, t.agent), t.started)
            if row is None:
                kept.append(t)
                continue
            record_version(
                s, actor, "treatment", row, p.id, "update", f"reconciled: treatment {t.id} merged in"
            )
            _merge_course(row, started=t.started, stopped=t.stopped, response=t.response, dose=t.dose)
            row.denied_on = row.denied_on or t.denied_on
            row.denial_reason = row.denial_reason or t.denial_reason
            n = record_version(
                s, actor, "treatment", t, p.id, "delete", f"reconciled into treatment {row.id}"
            )
            soft_delete(t, actor)
            write_audit(s, actor, "reconcile_treatment", p.id, f"treatment {t.id} v{n} into {row.id}")
            merge = merges.setdefault(
                row.id, TreatmentMerge(patient_id=p.id, treatment_id=row.id, agent=row.agent, merged=[])
            )
            merge.merged.append(t.id)
        out += merges.values()
    s.flush()
    return out


def _earlier(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return a[:n] < b[:n]


def _partial_date(text: str | None) -> dt.date | None:
    """YYYY, YYYY-MM or YYYY-MM-DD as the first day it can mean."""
    if not text:
        return None
    parts = [int(x) for x in text.split("-")]
    try:
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:  # year 0, 31 February: no such day (refused on entry: inputs.check_partial_date)
        return None


@deidentified("treatment")  # researchers: the allow-list (data/registry/deid_allowlist.yaml)
def treatment_view(t: Treatment, actor: Actor, first: dt.date | None = None) -> TreatmentView:
    """The row as the actor may see it: researchers get years and day offsets, not dates, and
    never the denial's reason (free text)."""

    def days(text: str | None) -> int | None:
        d = _partial_date(text)
        return (d - first).days if (d is not None and first is not None) else None

    def year(text: str | None) -> str | None:
        return text if actor.identified else (text[:4] if text else None)

    return TreatmentView(
        started_days=days(t.started),
        stopped_days=days(t.stopped),
        id=t.id,
        recorded_as=t.recorded_as,
        agent=t.agent,
        pathway_level=t.pathway_level,
        ifn_targeted=t.ifn_targeted,
        started=year(t.started),
        stopped=year(t.stopped),
        response=t.response,
        dose=t.dose,
        status=t.status,
        denied_on=year(t.denied_on),
        denial_reason=t.denial_reason if actor.identified else None,
    )
