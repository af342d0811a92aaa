"""Records that can be corrected, on SQLite and PostgreSQL: versions with reasons, soft deletes
that leave every list, the empty-visit refusal, duplicate patients, one reconciled treatment list
and treatments denied by the payer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ifnscope.case.reader import load_case
from ifnscope.errors import CaseError, RegistryError
from ifnscope.registry import migrate, services
from ifnscope.registry.db import make_engine
from ifnscope.registry.models import AuditEvent, Patient, RecordVersion, Treatment, Visit
from ifnscope.registry.services import CohortQuery
from tests.helpers import make_case

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed-cadm.yaml"
ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"
PASSWORD = "correct horse battery"
REASON = "Wrong CK value typed: lab report says 95"  # free text that must stay out of the audit log


def _two_visits(reg: Any) -> tuple[int, int, int]:
    """A patient with the activity example (2025-03-01) and the seed case (2025-06-01)."""
    with reg.transaction() as s:
        p = services.create_patient(s, reg.doc, name="Jane Roe", mrn="MRN-001", sex="female")
        v1 = services.add_visit(s, reg.doc, p.id, load_case(ACTIVITY), dt.date(2025, 3, 1))
        v2 = services.add_visit(s, reg.doc, p.id, load_case(SEED), dt.date(2025, 6, 1))
    return p.id, v1.id, v2.id


def _audit(reg: Any, action: str) -> list[AuditEvent]:
    with reg.transaction() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        s.expunge_all()
    return rows


# ------------------------------------------------------------------------------- visits


def test_correcting_a_visit_keeps_the_old_version_and_reassesses(reg: Any) -> None:
    pid, v1, _ = _two_visits(reg)
    corrected = make_case({"heliotrope_rash": "present"}, age=40)
    with reg.transaction() as s:
        before = services.get_visit(s, reg.doc, v1)
        after = services.update_visit(
            s, reg.doc, v1, reason=REASON, case=corrected, visit_date=dt.date(2025, 3, 2)
        )
    assert before.cdasi_activity == 36.0
    assert after.visit_date == "2025-03-02"
    assert after.cdasi_activity is None  # the corrected case has no CDASI: assessed again
    assert after.case is not None
    assert after.case["findings"] == {"heliotrope_rash": "present"}
    with reg.transaction() as s:
        versions = services.list_versions(s, reg.doc, "visit", v1)
        old = services.get_version(s, reg.doc, "visit", v1, 1)
    assert [(x.version, x.action, x.reason, x.changed_by) for x in versions] == [(1, "update", REASON, "doc")]
    assert old.snapshot["visit_date"] == "2025-03-01"
    assert old.snapshot["cdasi_activity"] == 36.0
    assert old.snapshot["case"] == before.case
    events = _audit(reg, "update_visit")
    assert [(e.patient_id, e.detail) for e in events] == [(pid, f"visit {v1} v1")]


def test_a_correction_needs_a_reason_and_a_valid_case(reg: Any) -> None:
    _, v1, _ = _two_visits(reg)
    for reason in (None, "", "   "):
        with pytest.raises(RegistryError) as ei, reg.transaction() as s:
            services.update_visit(s, reg.doc, v1, reason=reason, visit_date=dt.date(2025, 3, 2))
        assert ei.value.code == "registry.invalid"
        assert ei.value.loc == ("reason",)
    with pytest.raises(CaseError) as ce, reg.transaction() as s:
        services.update_visit(s, reg.doc, v1, reason="cleared", case=make_case(age=40))
    assert ce.value.code == "case.empty"
    with pytest.raises(RegistryError) as fe, reg.transaction() as s:
        services.update_visit(s, reg.doc, v1, reason="x", visit_date=dt.date.today() + dt.timedelta(days=3))
    assert fe.value.loc == ("visit_date",)
    with reg.transaction() as s:
        assert s.get(Visit, v1).visit_date == dt.date(2025, 3, 1)
        assert s.scalar(select(func.count()).select_from(RecordVersion)) == 0


def test_a_deleted_visit_leaves_every_list_but_stays_in_the_history(reg: Any) -> None:
    pid, v1, v2 = _two_visits(reg)
    with reg.transaction() as s:
        services.update_visit(s, reg.doc, v2, reason="first correction", visit_date=dt.date(2025, 6, 2))
        assert services.get_record(s, reg.doc, pid).patient.last_visit == "2025-06-02"
        services.delete_visit(s, reg.doc, v2, reason=REASON)
    with reg.transaction() as s:
        rec = services.get_record(s, reg.doc, pid)
        assert [v.id for v in rec.visits] == [v1]
        assert rec.patient.visits == 1
        assert rec.patient.last_visit == "2025-03-01"  # the latest visit is the one before
        assert [v["id"] for v in services.timeline(s, reg.doc, pid)["visits"]] == [v1]
        assert f"visit {v2}" not in services.export_record(s, reg.doc, pid, "csv")
        cohort = services.cohort(s, reg.res, CohortQuery(picture="dermatomyositis", min_cdasi_activity=14))
        assert [p.id for p in cohort] == [pid]  # judged on the remaining latest visit (CDASI-A 36)
        with pytest.raises(RegistryError) as ei:
            services.get_visit(s, reg.doc, v2)
        assert ei.value.code == "registry.not-found"
        row = s.get(Visit, v2)
        assert row is not None
        assert row.deleted_at is not None
        assert row.deleted_by == reg.doc.user_id
        versions = services.list_versions(s, reg.doc, "visit", v2)
        assert [(x.version, x.action) for x in versions] == [(1, "update"), (2, "delete")]
        assert services.get_version(s, reg.doc, "visit", v2, 2).snapshot["visit_date"] == "2025-06-02"
        assert [x.entity_id for x in services.patient_versions(s, reg.doc, pid)] == [v2, v2]
        with pytest.raises(RegistryError):
            services.delete_visit(s, reg.doc, v2, reason="again")  # already deleted: not found
    deleted = _audit(reg, "delete_visit")
    assert [(e.patient_id, e.detail) for e in deleted] == [(pid, f"visit {v2} v2")]
    with reg.transaction() as s:
        details = " ".join(e.detail or "" for e in s.scalars(select(AuditEvent)))
    assert "lab report" not in details
    assert "correction" not in details


def test_researchers_never_see_versions(reg: Any) -> None:
    pid, v1, _ = _two_visits(reg)
    with reg.transaction() as s:
        services.update_visit(s, reg.doc, v1, reason=REASON, visit_date=dt.date(2025, 3, 2))
    for call in (
        lambda s: services.list_versions(s, reg.res, "visit", v1),
        lambda s: services.get_version(s, reg.res, "visit", v1, 1),
        lambda s: services.patient_versions(s, reg.res, pid),
        lambda s: services.update_visit(s, reg.res, v1, reason="x", visit_date=dt.date(2025, 3, 3)),
        lambda s: services.delete_visit(s, reg.res, v1, reason="x"),
    ):
        with pytest.raises(RegistryError) as ei, reg.transaction() as s:
            call(s)
        assert ei.value.code == "registry.forbidden"


# ---------------------------------------------------------------------------- empty visits


@pytest.mark.parametrize(
    "sections",
    [
        {},
        {"title": "follow-up", "patient": {"age_years": 41, "sex": "female"}},
        {"medications": [{"name": "methotrexate"}], "onset": {"age_years": 39}},
        {"findings": {}, "lesions": [], "labs": {"antibodies": {}}},
    ],
)
def test_an_empty_or_near_empty_visit_is_refused(reg: Any, sections: dict[str, Any]) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="Empty").id
    doc = {"format": "ifnscope-case/1", "id": "blank", **sections}
    with pytest.raises(CaseError) as ei, reg.transaction() as s:
        services.add_visit(s, reg.doc, pid, doc, dt.date(2025, 1, 1))
    assert ei.value.code == "case.empty"
    with reg.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 0


@pytest.mark.parametrize(
    "sections",
    [
        {"findings": {"gottron_papules": "absent"}},
        {"labs": {"antibodies": {"mda5": "positive"}}},
        {"labs": {"ck": {"value": 95, "upper_limit": 200}}},
        {"lesions": [{"site": "periorbital", "morphology": "patch"}]},
    ],
)
def test_one_recorded_item_is_enough(reg: Any, sections: dict[str, Any]) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="Some").id
        services.add_visit(s, reg.doc, pid, {"format": "ifnscope-case/1", "id": "v", **sections})


# ------------------------------------------------------------------------------ patients


def test_correcting_and_deleting_a_patient(reg: Any) -> None:
    pid, _, _ = _two_visits(reg)
    with reg.transaction() as s:
        with pytest.raises(RegistryError) as ei:
            services.update_patient(s, reg.doc, pid, reason=None, name="Jane Doe")
        assert ei.value.loc == ("reason",)
        p = services.update_patient(
            s, reg.doc, pid, reason="married name", name="Jane Doe", birth_date=dt.date(1990, 1, 2)
        )
        assert p.name == "Jane Doe"
        old = services.get_version(s, reg.doc, "patient", pid, 1)
        assert (old.snapshot["name"], old.snapshot["birth_date"]) == ("Jane Roe", None)
        services.delete_patient(s, reg.doc, pid, reason="test record")
    with reg.transaction() as s:
        assert services.list_patients(s, reg.doc) == []
        assert services.cohort(s, reg.res, CohortQuery()) == []
        with pytest.raises(RegistryError):
            services.get_record(s, reg.doc, pid)
        assert s.get(Patient, pid) is not None  # nothing destroyed
        assert services.get_version(s, reg.doc, "patient", pid, 2).snapshot["mrn"] == "MRN-001"
        again = services.create_patient(s, reg.doc, name="Jane Doe", mrn="MRN-001")  # the MRN is free again
    assert again.id != pid


def test_a_likely_duplicate_patient_is_refused_with_the_existing_id(reg: Any) -> None:
    with reg.transaction() as s:
        first = services.create_patient(
            s, reg.doc, name="José  Álvarez", mrn="MRN-9", birth_date=dt.date(1980, 5, 6)
        )
    with pytest.raises(RegistryError) as ei, reg.transaction() as s:
        services.create_patient(s, reg.doc, name="Someone Else", mrn="MRN-9")
    assert ei.value.code == "registry.conflict"
    assert ei.value.details == {"existing_patient_id": first.id}
    for name in ("alvarez, jose", "JOSE ALVAREZ"):
        with pytest.raises(RegistryError) as ei, reg.transaction() as s:
            services.create_patient(s, reg.doc, name=name, birth_date=dt.date(1980, 5, 6))
        assert ei.value.code == "registry.duplicate"
        assert ei.value.details["existing_patient_id"] == first.id
    with reg.transaction() as s:
        found = services.find_duplicates(s, reg.doc, name="Jose Alvarez", birth_date=dt.date(1980, 5, 6))
        assert [(d.id, d.why) for d in found] == [(first.id, "same_name_and_birth_date")]
        services.create_patient(
            s, reg.doc, name="José Álvarez", birth_date=dt.date(1980, 5, 7)
        )  # another day
        twin = services.create_patient(
            s, reg.doc, name="Jose Alvarez", birth_date=dt.date(1980, 5, 6), confirm_duplicate=True
        )
        assert twin.id != first.id
        with pytest.raises(RegistryError) as ei:
            services.find_duplicates(s, reg.res, name="Jose Alvarez", birth_date=dt.date(1980, 5, 6))
        assert ei.value.code == "registry.forbidden"


# ---------------------------------------------------------------------------- treatments


def test_one_reconciled_medication_list(reg: Any) -> None:
    findings = {"heliotrope_rash": "present"}
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="Meds").id
        first = make_case(
            findings, medications=[{"name": "antihistamine"}, {"name": "Methotrexate", "started": "2024-02"}]
        )
        services.add_visit(s, reg.doc, pid, first, dt.date(2025, 1, 1))
        later = make_case(
            findings,
            medications=[
                {"name": "antihistamines", "response": "none"},
                {"name": "MTX", "response": "inadequate", "stopped": "2025-03"},
                {"name": "foo cream"},
            ],
        )
        services.add_visit(s, reg.doc, pid, later, dt.date(2025, 4, 1))
        services.add_visit(
            s, reg.doc, pid, make_case(findings, medications=[{"name": "Foo  creams"}]), dt.date(2025, 5, 1)
        )
        rows = services.get_record(s, reg.doc, pid).treatments
    by = {(t.agent or t.recorded_as): t for t in rows}
    assert len(rows) == 3, [t.recorded_as for t in rows]
    assert by["antihistamine"].response == "none"
    mtx = by["methotrexate"]
    assert (mtx.recorded_as, mtx.started, mtx.stopped, mtx.response, mtx.status) == (
        "Methotrexate",
        "2024-02",
        "2025-03",
        "inadequate",
        "stopped",
    )
    with reg.transaction() as s:
        # A new course after the earlier one stopped is a row of its own.
        services.add_treatment(s, reg.doc, pid, name="methotrexate", started="2025-09")
        assert len(services.get_record(s, reg.doc, pid).treatments) == 4
        # Recording it again while that course is open joins it.
        again = services.add_treatment(s, reg.doc, pid, name="MTX", dose="15 mg weekly")
        assert again.started == "2025-09"
        assert again.dose == "15 mg weekly"
        assert len(services.get_record(s, reg.doc, pid).treatments) == 4


def test_a_treatment_denied_by_the_payer(reg: Any) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="Denied").id
        services.add_visit(s, reg.doc, pid, load_case(ACTIVITY), dt.date(2025, 5, 1))
        ivig = services.add_treatment(
            s,
            reg.doc,
            pid,
            name="IVIG",
            status="denied_by_payer",
            denied_on="2025-05-20",
            denial_reason="Insurer: not first-line for CADM",
        )
        ani = services.add_treatment(s, reg.doc, pid, name="anifrolumab", status="denied_by_payer")
        assert (ivig.agent, ivig.status, ivig.denied_on) == ("ivig", "denied_by_payer", "2025-05-20")
        res_view = {t.id: t for t in services.get_record(s, reg.res, pid).treatments}
        assert res_view[ivig.id].denial_reason is None
        assert res_view[ivig.id].denied_on is None  # researchers get no dates, not even years
        assert res_view[ivig.id].status == "denied_by_payer"
        # Denied is not "on": the patient is still not on an IFN-targeted treatment.
        q = CohortQuery(not_on_ifn_targeted=True)
        assert [p.id for p in services.cohort(s, reg.res, q)] == [pid]
        services.update_treatment(
            s, reg.doc, ani.id, reason="appeal granted", status="active", started="2025-07"
        )
        assert services.cohort(s, reg.res, q) == []
        with pytest.raises(RegistryError) as ei:
            services.update_treatment(s, reg.doc, ivig.id, status="paid")
        assert ei.value.loc == ("status",)
        # A later visit whose case records IVIG as started: the refusal was overturned.
        started = make_case(
            {"heliotrope_rash": "present"}, medications=[{"name": "Octagam", "started": "2025-08"}]
        )
        services.add_visit(s, reg.doc, pid, started, dt.date(2025, 9, 1))
        rows = [t for t in services.get_record(s, reg.doc, pid).treatments if t.agent == "ivig"]
        assert [(t.id, t.status, t.started, t.denied_on) for t in rows] == [
            (ivig.id, "active", "2025-08", "2025-05-20")
        ]


def test_treatment_corrections_need_a_reason_fillings_do_not(reg: Any) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="T").id
        t = services.add_treatment(s, reg.doc, pid, name="hydroxychloroquine", started="2024-01")
        stopped = services.update_treatment(s, reg.doc, t.id, stopped="2024-09")  # new information
        assert (stopped.stopped, stopped.status) == ("2024-09", "stopped")
        with pytest.raises(RegistryError) as ei:
            services.update_treatment(s, reg.doc, t.id, stopped="2024-10")  # overwrites: needs a reason
        assert ei.value.loc == ("reason",)
        services.update_treatment(s, reg.doc, t.id, stopped="2024-10", reason="typo in month")
        versions = services.list_versions(s, reg.doc, "treatment", t.id)
        assert [(v.version, v.reason) for v in versions] == [
            (1, "added: stopped, status"),
            (2, "typo in month"),
        ]
        services.delete_treatment(s, reg.doc, t.id, reason="never taken")
        assert services.get_record(s, reg.doc, pid).treatments == []
        row = s.get(Treatment, t.id)
        assert row is not None
        assert row.deleted_at is not None
        with pytest.raises(RegistryError) as ei:
            services.delete_treatment(s, reg.doc, t.id, reason="again")
        assert ei.value.code == "registry.not-found"


def test_migration_0003_keeps_existing_rows_and_marks_stopped_treatments(db_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(db_url)
    migrate.upgrade(engine, "0002")
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO patients (id, pseudonym, name, created_at) VALUES (1, 'P-AAAAAA', 'Old', :t)"),
            {"t": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)},
        )
        for tid, stopped in ((1, "2024-05"), (2, None)):
            c.execute(
                text(
                    "INSERT INTO treatments (id, patient_id, recorded_as, ifn_targeted, stopped, created_at) "
                    "VALUES (:id, 1, 'methotrexate', false, :stopped, :t)"
                ),
                {"id": tid, "stopped": stopped, "t": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)},
            )
    migrate.upgrade(engine)
    with engine.connect() as c:
        rows = c.execute(text("SELECT id, status, deleted_at FROM treatments ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "stopped", None), (2, "active", None)]
        assert c.execute(text("SELECT deleted_at FROM patients")).scalar_one() is None
    # Downgrading keeps the rows too (no table rebuild that would cascade-delete on SQLite).
    from alembic import command

    cfg = migrate._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert migrate.current(engine) == "0002"
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM treatments")).scalar_one() == 2
        assert c.execute(text("SELECT name FROM patients")).scalar_one() == "Old"
    assert "record_versions" not in migrate.tables(engine)
    engine.dispose()
