"""Follow-ups to correctable records, on SQLite and PostgreSQL: reconciling the duplicate
treatment rows stored before migration 0003 (service and ``ifnscope admin
reconcile-treatments``), the letter of medical necessity carrying the registry's identifiers for
clinicians, and the samples of a deleted visit leaving the record, timeline, exports and cohorts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ifnscope.case.reader import load_case
from ifnscope.errors import RegistryError
from ifnscope.registry import services
from ifnscope.registry.models import AuditEvent, IfnScore, RecordVersion, Sample, Treatment
from ifnscope.registry.services import CohortQuery
from ifnscope.registry.services.treatments import reconcile_treatments

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed-cadm.yaml"
PASSWORD = "correct horse battery"


# Rows as the registry stored them before 0003: one row per visit's name and start (agent
# resolved, status from the migration), so "antihistamine" and "antihistamines" and methotrexate
# twice. The third methotrexate row started after the first course stopped: a course of its own.
OLD_ROWS: list[dict[str, Any]] = [
    {"recorded_as": "antihistamine", "agent": "antihistamine"},
    {"recorded_as": "Methotrexate", "agent": "methotrexate", "started": "2024-02", "dose": "15 mg"},
    {"recorded_as": "antihistamines", "agent": "antihistamine", "response": "none"},
    {
        "recorded_as": "MTX",
        "agent": "methotrexate",
        "started": "2024-02-10",
        "stopped": "2025-03",
        "response": "inadequate",
        "status": "stopped",
    },
    {"recorded_as": "foo cream", "agent": None},
    {"recorded_as": "Foo  creams", "agent": None, "started": "2025"},
    {"recorded_as": "methotrexate", "agent": "methotrexate", "started": "2025-09"},
]


def _old_list(reg: Any, name: str = "Old Meds") -> tuple[int, list[int]]:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name=name).id
        ids = []
        for values in OLD_ROWS:
            row = Treatment(patient_id=pid, ifn_targeted=False, **{"status": "active", **values})
            s.add(row)
            s.flush()
            ids.append(row.id)
    return pid, ids


def _live(reg: Any, pid: int) -> dict[int, Any]:
    with reg.transaction() as s:
        return {t.id: t for t in services.get_record(s, reg.doc, pid).treatments}


# ----------------------------------------------------------------------- reconciling


def test_reconciling_merges_old_duplicates_and_keeps_them_as_versions(reg: Any) -> None:
    pid, ids = _old_list(reg)
    other, _ = _old_list(reg, "Second Patient")
    with reg.transaction() as s:
        merges = reconcile_treatments(s, reg.doc, pid)
    assert [(m.patient_id, m.treatment_id, m.agent, m.merged) for m in merges] == [
        (pid, ids[0], "antihistamine", [ids[2]]),
        (pid, ids[1], "methotrexate", [ids[3]]),
        (pid, ids[4], None, [ids[5]]),
    ]
    live = _live(reg, pid)
    assert sorted(live) == [ids[0], ids[1], ids[4], ids[6]]
    assert live[ids[0]].response == "none"
    mtx = live[ids[1]]
    assert (mtx.recorded_as, mtx.started, mtx.stopped, mtx.response, mtx.dose, mtx.status) == (
        "Methotrexate",  # as first recorded
        "2024-02",  # the earliest start
        "2025-03",  # the later record's stop and response
        "inadequate",
        "15 mg",  # kept: the later record left it out
        "stopped",
    )
    assert live[ids[4]].started == "2025"
    assert live[ids[6]].started == "2025-09"  # a new course after the first had stopped
    assert len(_live(reg, other)) == len(OLD_ROWS)  # one patient asked for: the other untouched
    with reg.transaction() as s:
        gone = s.get(Treatment, ids[3])
        assert gone is not None
        assert gone.deleted_at is not None
        assert gone.deleted_by == reg.doc.user_id
        assert gone.stopped == "2025-03"  # the row itself is not changed
        v = services.get_version(s, reg.doc, "treatment", ids[3], 1)
        assert (v.action, v.reason, v.snapshot["recorded_as"]) == (
            "delete",
            f"reconciled into treatment {ids[1]}",
            "MTX",
        )
        kept = services.get_version(s, reg.doc, "treatment", ids[1], 1)
        assert kept.action == "update"
        assert kept.snapshot["stopped"] is None  # the kept row as it was before the merge
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "reconcile_treatment")))
        assert sorted(e.detail or "" for e in events) == sorted(
            [
                f"treatment {ids[2]} v1 into {ids[0]}",
                f"treatment {ids[3]} v1 into {ids[1]}",
                f"treatment {ids[5]} v1 into {ids[4]}",
            ]
        )
        assert {e.patient_id for e in events} == {pid}
    with reg.transaction() as s:  # every patient; done twice it changes nothing more
        assert [m.patient_id for m in reconcile_treatments(s, reg.doc)] == [other] * 3
        assert reconcile_treatments(s, reg.doc) == []
    # A later visit's medications join the reconciled rows rather than a merged-away one.
    with reg.transaction() as s:
        services.add_treatment(s, reg.doc, pid, name="antihistamines", dose="10 mg")
    assert live[ids[0]].dose is None
    assert _live(reg, pid)[ids[0]].dose == "10 mg"
    assert len(_live(reg, pid)) == 4


def test_reconciling_is_for_clinicians_and_admins(reg: Any) -> None:
    pid, _ = _old_list(reg)
    with reg.transaction() as s, pytest.raises(RegistryError) as ei:
        reconcile_treatments(s, reg.res, pid)
    assert ei.value.code == "registry.forbidden"
    with reg.transaction() as s, pytest.raises(RegistryError) as ei:
        reconcile_treatments(s, reg.doc, pid + 1000)
    assert ei.value.code == "registry.not-found"
    assert len(_live(reg, pid)) == len(OLD_ROWS)


def test_the_cli_reconciles_with_a_dry_run_first(reg: Any) -> None:
    from ifnscope.cli import app as cli

    pid, ids = _old_list(reg, "Cli Patientname")
    runner = CliRunner()
    dry = runner.invoke(cli, ["admin", "reconcile-treatments", "--dry-run", "--database-url", reg.url])
    assert dry.exit_code == 0, dry.output
    assert f"patient {pid}: treatment {ids[1]} (methotrexate) <- {ids[3]}" in dry.output
    assert "would merge 3 treatment rows into 3" in dry.output
    assert "Patientname" not in dry.output
    assert "foo" not in dry.output.lower()  # names as typed stay out
    assert len(_live(reg, pid)) == len(OLD_ROWS)  # the dry run changed nothing
    with reg.transaction() as s:
        assert s.scalar(select(RecordVersion.id).limit(1)) is None
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "reconcile_treatment")) is None
    done = runner.invoke(cli, ["admin", "reconcile-treatments", "--database-url", reg.url])
    assert done.exit_code == 0, done.output
    assert "merged 3 treatment rows into 3" in done.output
    assert sorted(_live(reg, pid)) == [ids[0], ids[1], ids[4], ids[6]]
    with reg.transaction() as s:
        via = {e.via for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "reconcile_treatment"))}
    assert via == {"cli"}
    again = runner.invoke(cli, ["admin", "reconcile-treatments", "--database-url", reg.url])
    assert "merged 0 treatment rows into 0" in again.output


# ---------------------------------------------------------------------------- letter


def test_the_letter_carries_the_registry_identifiers_for_clinicians(reg: Any) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(
            s,
            reg.doc,
            name="Ottilie Letterwright",
            mrn="MRN-LTR-7",
            birth_date=dt.date(1971, 8, 9),
            sex="female",
        ).id
        vid = services.add_visit(s, reg.doc, pid, load_case(SEED), dt.date(2025, 6, 1)).id
        _, letter = services.letter_for_visit(s, reg.doc, vid, "ivig")
    patient = next(x for x in letter.sections if x.heading == "Patient")
    assert patient.paragraphs[:3] == [
        "Name: Ottilie Letterwright.",
        "Date of birth: 1971-08-09.",
        "Medical record number: MRN-LTR-7.",
    ]
    assert "Ottilie Letterwright" in letter.text
    assert not any("name" in g.lower() and "patient" in g.lower() for g in letter.gaps), letter.gaps
    assert not any("date of birth" in g.lower() for g in letter.gaps), letter.gaps
    assert "Insurance identifiers (not held in the registry)" in letter.gaps
    with reg.transaction() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "download_letter")))
        assert [(e.patient_id, e.detail) for e in events] == [(pid, f"visit {vid} ivig")]
    with reg.transaction() as s, pytest.raises(RegistryError) as ei:
        services.letter_for_visit(s, reg.res, vid, "ivig")
    assert ei.value.code == "registry.forbidden"


def test_the_letter_names_what_the_registry_lacks(reg: Any) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="Nobirth Known").id
        vid = services.add_visit(s, reg.doc, pid, load_case(SEED), dt.date(2025, 6, 1)).id
        _, letter = services.letter_for_visit(s, reg.doc, vid, "ivig")
    assert "Patient date of birth (not recorded in the registry)" in letter.gaps
    assert "Medical record number" not in letter.text


def test_the_letter_page_shows_identifiers_and_refuses_researchers(tmp_path: Path) -> None:
    from ifnscope.registry.auth import insert_user
    from ifnscope.web import Settings, create_app
    from tests.web.test_pages import PASSWORD as WEB_PASSWORD
    from tests.web.test_pages import Browser, form_from_case, seed_doc

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}"))
    with app.state.registry.transaction() as s:
        for username, role in (("doc", "clinician"), ("res", "researcher")):
            insert_user(s, username, WEB_PASSWORD, role)  # type: ignore[arg-type]
    try:
        doc, res = Browser(app, "doc"), Browser(app, "res")
        r = doc.post(
            "/patients/new", {"name": "Pagename Lettertest", "birth_date": "1980-02-03", "mrn": "MRN-PG-1"}
        )
        pid = int(r.headers["location"].rsplit("/", 1)[1])
        form = form_from_case(seed_doc())
        form["visit_date"] = "2025-06-01"
        r = doc.post(f"/patients/{pid}/visits/new", form)
        vid = int(r.headers["location"].rsplit("/", 1)[1])
        letter = doc.get(f"/visits/{vid}/letter.html", params={"agent": "ivig"})
        assert letter.status_code == 200
        assert "Name: Pagename Lettertest." in letter.text
        assert "Date of birth: 1980-02-03." in letter.text
        assert "not held in the case file" not in letter.text
        refused = res.get(f"/visits/{vid}/letter.html", params={"agent": "ivig"})
        assert refused.status_code == 403
        assert "Pagename" not in refused.text
    finally:
        app.state.registry.engine.dispose()


# --------------------------------------------------------------------------- samples


def _scored_visits(reg: Any) -> tuple[int, int, int, list[int]]:
    """A patient with two visits, a sample of each (the later called high) and one without a visit."""
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="Sample Owner").id
        v1 = services.add_visit(s, reg.doc, pid, load_case(SEED), dt.date(2025, 3, 1)).id
        v2 = services.add_visit(s, reg.doc, pid, load_case(SEED), dt.date(2025, 6, 1)).id
        samples = []
        for visit, day, call in (
            (v1, dt.date(2025, 3, 1), "low"),
            (None, dt.date(2025, 4, 1), "low"),
            (v2, dt.date(2025, 6, 1), "high"),
        ):
            smp = Sample(patient_id=pid, visit_id=visit, label=f"S-{day.isoformat()}", collected_on=day)
            s.add(smp)
            s.flush()
            s.add(
                IfnScore(
                    sample_id=smp.id,
                    signature="rice6",
                    method="zscore_mean",
                    score=2.5 if call == "high" else 0.1,
                    call=call,
                    genes_found=6,
                    genes_total=6,
                )
            )
            samples.append(smp.id)
    return pid, v1, v2, samples


def test_samples_of_a_deleted_visit_leave_the_record_timeline_exports_and_cohorts(reg: Any) -> None:
    pid, v1, v2, samples = _scored_visits(reg)
    query = CohortQuery(ifn_high="rice6")
    with reg.transaction() as s:
        assert [x.sample_id for x in services.get_record(s, reg.doc, pid).scores] == samples
        assert [p.id for p in services.cohort(s, reg.res, query)] == [pid]
        services.delete_visit(s, reg.doc, v2, reason="entered for the wrong patient")
    with reg.transaction() as s:
        assert [x.sample_id for x in services.get_record(s, reg.doc, pid).scores] == samples[:2]
        assert [x["sample_id"] for x in services.timeline(s, reg.res, pid)["scores"]] == samples[:2]
        csv = services.export_record(s, reg.doc, pid, "csv")
        scored_on = [line.split(",")[2] for line in csv.splitlines() if line.startswith("ifn_score,")]
        assert scored_on == ["2025-03-01", "2025-04-01"]
        assert "S-2025-06-01" not in str(services.export_record(s, reg.doc, pid, "json"))
        # the latest live sample is low: the patient leaves the IFN-high cohort
        assert services.cohort(s, reg.res, query) == []
        services.delete_visit(s, reg.doc, v1, reason="duplicate")
        # a sample stored without a visit stays
        assert [x.sample_id for x in services.get_record(s, reg.doc, pid).scores] == [samples[1]]
        assert s.get(Sample, samples[2]) is not None  # kept in the database, like the visit
