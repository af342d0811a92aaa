"""Cohort queries over each patient's latest visit, and their CSV export (researchers included:
each row is the allow-listed ``cohort_row`` view of ``data/registry/deid_allowlist.yaml``)."""

from __future__ import annotations

import io
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifnscope.criteria.cadm import CADM_CATEGORIES
from ifnscope.criteria.iim_2017 import DM_SUBGROUPS
from ifnscope.registry.auth import Actor
from ifnscope.registry.csvsafe import csv_writer
from ifnscope.registry.inputs import ActivityScore, SignatureName
from ifnscope.registry.models import IfnScore, Patient, Sample, Treatment, Visit
from ifnscope.registry.services._rows import patient_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.deidentify import for_actor
from ifnscope.registry.services.patients import patient_summary
from ifnscope.registry.services.views import ExportFile, PatientSummary

# The CSV's columns: the fields of the cohort_row view (data/registry/deid_allowlist.yaml), with
# the identifying ones only in a clinician's file.
CSV_COLUMNS = ("pseudonym", "sex", "visits", "last_visit", "latest_verdict")
IDENTIFIED_COLUMNS = ("name", "mrn")


class CohortQuery(BaseModel):
    """Patients whose latest visit matches every given condition."""

    picture: Literal["dermatomyositis", "lupus"] | None = Field(
        default=None, description="dermatomyositis: IIM with a DM subgroup, CADM, or skin favouring DM"
    )
    # Strict: a JSON 0 is not false, "14" is not a number (the web form converts its text first).
    model_config = ConfigDict(extra="forbid", strict=True)

    # The same rules as the web form's (registry.inputs): a score 0-100, a catalogue signature.
    min_cdasi_activity: ActivityScore | None = None
    min_clasi_activity: ActivityScore | None = None
    ifn_high: SignatureName | None = Field(
        default=None, description="A signature whose latest call must be 'high'"
    )
    not_on_ifn_targeted: bool = False


def cohort(s: Session, actor: Actor, q: CohortQuery) -> list[PatientSummary]:
    actor.require("read_deidentified")
    # Deleted visits and patients (``deleted_at`` set) are not part of any cohort.
    live = Visit.deleted_at.is_(None) & Patient.deleted_at.is_(None)
    latest = (
        select(Visit.patient_id, func.max(Visit.visit_date).label("d"))
        .join(Patient, Patient.id == Visit.patient_id)
        .where(live)
        .group_by(Visit.patient_id)
        .subquery()
    )
    stmt = (
        select(Visit)
        .join(Patient, Patient.id == Visit.patient_id)
        .join(latest, (Visit.patient_id == latest.c.patient_id) & (Visit.visit_date == latest.c.d))
        .where(live)
    )
    visits = {v.patient_id: v for v in s.scalars(stmt.order_by(Visit.id))}  # the last of a day wins
    out = []
    for pid, v in visits.items():
        if q.picture == "dermatomyositis" and not (
            v.iim_subgroup in DM_SUBGROUPS
            or v.cadm_category in CADM_CATEGORIES
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
            from ifnscope.registry.services.scores import sample_is_live  # samples of deleted visits out

            row = s.execute(
                select(IfnScore.call)
                .join(Sample, IfnScore.sample_id == Sample.id)
                .where(Sample.patient_id == pid, IfnScore.signature == q.ifn_high, sample_is_live())
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
                    Treatment.patient_id == pid,
                    Treatment.ifn_targeted.is_(True),
                    Treatment.stopped.is_(None),
                    Treatment.status == "active",  # planned or denied by the payer: not on it
                    Treatment.deleted_at.is_(None),
                )
            )
            if current:
                continue
        out.append(for_actor(actor, "cohort_row", patient_summary(s, actor, patient_row(s, pid))))
    write_audit(s, actor, "cohort_query", None, f"{len(out)} patients")
    return out


def cohort_csv(s: Session, actor: Actor, q: CohortQuery) -> ExportFile:
    """The cohort as a CSV file, one row per patient: for researchers the allow-listed cohort row
    (pseudonym, sex, number of visits, the last visit as days since the first, the latest
    verdict), for clinicians the name and MRN too. Audited with the number of rows."""
    rows = cohort(s, actor, q)
    columns = (*IDENTIFIED_COLUMNS, *CSV_COLUMNS) if actor.identified else CSV_COLUMNS
    buf = io.StringIO()
    w = csv_writer(buf)  # formula cells escaped (CSV injection)
    w.writerow(columns)
    for row in rows:
        values = row.model_dump()
        w.writerow(["" if values[c] is None else values[c] for c in columns])
    write_audit(s, actor, "cohort_export", None, f"{len(rows)} patients")
    return ExportFile(filename="cohort.csv", media_type="text/csv; charset=utf-8", content=buf.getvalue())
