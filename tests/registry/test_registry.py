"""The registry on SQLite and PostgreSQL: migrations, permissions, de-identification, audit,
treatments, cohorts, export, and concurrent writers."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import undefer

from ifnscope.case.reader import load_case
from ifnscope.errors import AuthError, CaseValidationError, RegistryError
from ifnscope.registry import auth, migrate, services
from ifnscope.registry.db import Registry, make_engine
from ifnscope.registry.models import AuditEvent, Base, Patient, User, Visit
from ifnscope.registry.services import CohortQuery
from tests.helpers import make_case

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed-cadm.yaml"
ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"
PASSWORD = "correct horse battery"


def _patient_with_visits(reg: Any) -> int:
    with reg.transaction() as s:
        p = services.create_patient(s, reg.doc, name="Jane Roe", mrn="MRN-001", sex="female")
        services.add_visit(s, reg.doc, p.id, load_case(ACTIVITY), dt.date(2025, 3, 1))
        services.add_visit(s, reg.doc, p.id, load_case(SEED), dt.date(2025, 6, 1))
    return p.id


# ----------------------------------------------------------------------------- migrations


def test_migrations_build_the_models_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # a second run is a no-op
    assert migrate.current(engine) == migrate.head()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    engine.dispose()


def test_a_failed_migration_leaves_the_database_as_it_was(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    reg = Registry(engine)
    with reg.transaction() as s:
        doc = auth.actor_for(auth.insert_user(s, "doc", PASSWORD, "clinician"), "cli")
        services.create_patient(s, doc, name="Kept Patient")

    head = migrate.head()  # the broken migration follows the real head
    scripts = tmp_path / "migrations"
    shutil.copytree(Path(migrate.__file__).parent / "migrations", scripts)
    (scripts / "versions" / "0999_broken.py").write_text(
        '"""A migration that fails half way."""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n"
        f'revision = "0999"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n'
        "def upgrade():\n"
        '    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))\n'
        '    op.add_column("patients", sa.Column("extra", sa.String(10)))\n'
        '    op.execute("UPDATE patients SET name = NULL")\n'
        '    raise RuntimeError("boom")\n\n'
        "def downgrade():\n    pass\n"
    )
    real = migrate._config

    def patched() -> Any:
        cfg = real()
        cfg.set_main_option("script_location", str(scripts))
        return cfg

    monkeypatch.setattr(migrate, "_config", patched)
    with pytest.raises(RegistryError) as ei:
        migrate.upgrade(engine)
    assert ei.value.code == "registry.migration"
    assert "rolled back" in ei.value.message
    engine.dispose()
    engine = make_engine(db_url)
    assert "half_done" not in migrate.tables(engine)
    assert "extra" not in {c["name"] for c in inspect(engine).get_columns("patients")}
    assert migrate.current(engine) == head
    with engine.connect() as c:
        assert c.execute(text("select name from patients")).scalar_one() == "Kept Patient"
    engine.dispose()


def test_large_json_columns_are_lz4_compressed_on_postgresql(db_url: str) -> None:
    """Migration 0004: pglz cost 2.1 ms of PostgreSQL's CPU per visit written, LZ4 0.5 ms."""
    import importlib

    lz4 = importlib.import_module("ifnscope.registry.migrations.versions.0004_lz4_json")
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with engine.connect() as c:
        available = lz4.lz4_available(c)
    if engine.dialect.name == "sqlite":
        assert not available  # nothing to do on SQLite
        engine.dispose()
        return
    if not available:
        engine.dispose()
        pytest.skip("this PostgreSQL has no LZ4 (older than 14, or built without it)")
    reg = Registry(engine)
    with reg.transaction() as s:
        doc = auth.actor_for(auth.insert_user(s, "doc", PASSWORD, "clinician"), "cli")
        p = services.create_patient(s, doc, name="Jane Roe")
        services.add_visit(s, doc, p.id, load_case(SEED), dt.date(2025, 6, 1))
    with engine.connect() as c:
        declared = dict(
            c.execute(
                text(
                    "select a.attrelid::regclass::text || '.' || a.attname, a.attcompression "
                    "from pg_attribute a where a.attname in ('case', 'assessment', 'content', 'snapshot') "
                    "and a.attrelid::regclass::text in ('visits', 'ifn_references', 'record_versions')"
                )
            ).all()
        )
        stored = c.execute(text("select pg_column_compression(assessment) from visits")).scalar_one()
    assert declared == {f"{t}.{col}": "l" for t, col in lz4.COLUMNS}
    assert stored == "lz4"  # a 170 KB assessment is compressed, with LZ4
    engine.dispose()


# ---------------------------------------------------------------------------- permissions


def test_roles_and_permissions(reg: Any) -> None:
    with reg.transaction() as s, pytest.raises(RegistryError) as ei:
        services.create_patient(s, reg.res, name="Nope")
    assert ei.value.code == "registry.forbidden"
    with reg.transaction() as s, pytest.raises(RegistryError):
        services.audit_log(s, reg.doc)
    with reg.transaction() as s:
        assert services.audit_log(s, reg.adm) == []


def test_researchers_see_a_deidentified_record(reg: Any) -> None:
    pid = _patient_with_visits(reg)
    with reg.transaction() as s:
        rec = services.get_record(s, reg.res, pid, full_visits=True)
    assert rec.deidentified
    assert rec.patient.name is None
    assert rec.patient.mrn is None
    assert rec.patient.pseudonym.startswith("P-")
    assert rec.patient.last_visit == "day 92"  # no calendar date, not even the year
    assert [v.visit_year for v in rec.visits] == [None, None]
    assert [v.visit_date for v in rec.visits] == [None, None]
    assert [v.days_since_first_visit for v in rec.visits] == [0, 92]
    case = rec.visits[1].case
    assert case is not None
    assert case["id"] == rec.patient.pseudonym
    assert "title" not in case
    assert "source" not in case
    assert all("note" not in les for les in case["lesions"])
    assert rec.visits[1].assessment["case_id"] == rec.patient.pseudonym
    text_of_record = rec.model_dump_json()
    assert "Jane" not in text_of_record
    assert "MRN-001" not in text_of_record
    with reg.transaction() as s:
        full = services.get_record(s, reg.doc, pid)
    assert full.patient.name == "Jane Roe"
    assert [v.visit_date for v in full.visits] == ["2025-03-01", "2025-06-01"]


def test_search_matches_names_for_clinicians_and_pseudonyms_for_researchers(reg: Any) -> None:
    pid = _patient_with_visits(reg)
    with reg.transaction() as s:
        assert [p.id for p in services.list_patients(s, reg.doc, "roe")] == [pid]
        assert services.list_patients(s, reg.res, "roe") == []
        pseudo = services.get_record(s, reg.doc, pid).patient.pseudonym
        assert [p.id for p in services.list_patients(s, reg.res, pseudo.lower())] == [pid]


def test_the_audit_log_records_who_did_what_to_which_patient_and_nothing_clinical(reg: Any) -> None:
    pid = _patient_with_visits(reg)
    with reg.transaction() as s:
        services.get_record(s, reg.res, pid)
        services.list_patients(s, reg.doc, "Jane Roe")
        services.export_record(s, reg.doc, pid, "csv")
    with reg.transaction() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    actions = [(e.username, e.action, e.patient_id) for e in events]
    assert ("doc", "create_patient", pid) in actions
    assert ("doc", "add_visit", pid) in actions
    assert ("res", "read_patient", pid) in actions
    assert ("doc", "export_patient", pid) in actions
    dump = " ".join(f"{e.action} {e.detail}" for e in events)
    assert "Jane" not in dump
    assert "Roe" not in dump
    assert "MRN" not in dump


# ---------------------------------------------------------------------- visits and records


def test_a_visit_stores_the_case_its_assessment_and_the_cohort_numbers(reg: Any) -> None:
    pid = _patient_with_visits(reg)
    with reg.transaction() as s:
        # case and assessment load on first use (deferred columns): ask for them here
        visits = list(
            s.scalars(
                select(Visit)
                .options(undefer(Visit.case), undefer(Visit.assessment))
                .where(Visit.patient_id == pid)
                .order_by(Visit.visit_date)
            )
        )
    first, second = visits
    assert first.cdasi_activity == 36.0
    assert first.favours == "dermatomyositis"
    assert second.iim_category == "probable"
    assert second.iim_subgroup == "amyopathic_dermatomyositis"
    assert second.cadm_category == "amyopathic"
    assert second.assessment["criteria"]["eular_acr_iim_2017"]["score"] == 6.5
    assert second.case["id"] == "seed-cadm"


def test_a_bad_case_is_refused_and_nothing_is_stored(reg: Any) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="A").id
    bad = {"format": "ifnscope-case/1", "id": "x", "findings": {"pruritis": "present"}}
    with pytest.raises(CaseValidationError) as ei, reg.transaction() as s:
        services.add_visit(s, reg.doc, pid, bad)
    assert ei.value.issues[0].suggestion == "pruritus"
    with reg.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 0


def test_medications_become_treatments_once(reg: Any) -> None:
    pid = _patient_with_visits(
        reg
    )  # the seed case lists four medications; the activity example lists its own
    with reg.transaction() as s:
        before = services.get_record(s, reg.doc, pid).treatments
        services.add_visit(s, reg.doc, pid, load_case(SEED), dt.date(2025, 9, 1))  # same medications again
        after = services.get_record(s, reg.doc, pid).treatments
    assert len(after) == len(before)
    mtx = next(t for t in after if t.agent == "methotrexate")
    assert mtx.response == "inadequate"
    assert mtx.ifn_targeted is False


def test_treatments_and_the_ifn_targeted_rule(reg: Any) -> None:
    with reg.transaction() as s:
        pid = services.create_patient(s, reg.doc, name="B").id
        ani = services.add_treatment(s, reg.doc, pid, name="Saphnelo", started="2025-01")
        hcq = services.add_treatment(s, reg.doc, pid, name="Plaquenil", started="2024-06", response="partial")
        assert (ani.agent, ani.pathway_level, ani.ifn_targeted) == ("anifrolumab", "receptor", True)
        assert (hcq.agent, hcq.ifn_targeted) == ("hydroxychloroquine", False)  # antimalarials: indirect
        stopped = services.update_treatment(s, reg.doc, ani.id, stopped="2025-06", response="inadequate")
        assert stopped.stopped == "2025-06"
        with pytest.raises(RegistryError):
            services.update_treatment(s, reg.doc, ani.id, stopped="2024-01")  # before it started


def test_cohort_query(reg: Any) -> None:
    dm = _patient_with_visits(reg)  # latest visit: the seed case, CDASI not recorded
    with reg.transaction() as s:
        active = services.create_patient(s, reg.doc, name="C").id
        services.add_visit(s, reg.doc, active, load_case(ACTIVITY), dt.date(2025, 5, 1))  # CDASI-A 36
        lupus = services.create_patient(s, reg.doc, name="D").id
        acle = make_case(
            {"acute_cutaneous_lupus": "present", "oral_ulcers": "present"},
            labs={"ana_titer": 640, "antibodies": {"dsdna": "positive"}},
        )
        services.add_visit(s, reg.doc, lupus, acle, dt.date(2025, 5, 1))
    q = CohortQuery(picture="dermatomyositis", min_cdasi_activity=14)
    with reg.transaction() as s:
        assert [p.id for p in services.cohort(s, reg.res, q)] == [active]
        everyone_dm = services.cohort(s, reg.res, CohortQuery(picture="dermatomyositis"))
        assert {p.id for p in everyone_dm} == {dm, active}
        assert [p.id for p in services.cohort(s, reg.res, CohortQuery(picture="lupus"))] == [lupus]
        services.add_treatment(s, reg.doc, active, name="anifrolumab", started="2025-05")
    q2 = CohortQuery(picture="dermatomyositis", min_cdasi_activity=14, not_on_ifn_targeted=True)
    with reg.transaction() as s:
        assert services.cohort(s, reg.res, q2) == []
        names = [p.name for p in services.cohort(s, reg.res, q)]
    assert names == [None]  # researchers: no names


def test_export_csv_and_json(reg: Any) -> None:
    import csv
    import io
    import json

    pid = _patient_with_visits(reg)
    with reg.transaction() as s:
        rows = list(csv.DictReader(io.StringIO(services.export_record(s, reg.res, pid, "csv"))))
        doc = json.loads(services.export_record(s, reg.doc, pid, "json"))
    cdasi = [r for r in rows if r["item"] == "cdasi_activity"]
    assert cdasi[0]["value"] == "36.0"
    assert cdasi[0]["date_or_year"] == "day 0"  # researchers: days since the first visit
    assert all(r["patient"].startswith("P-") for r in rows)
    assert doc["patient"]["name"] == "Jane Roe"
    assert len(doc["visits"]) == 2
    assert doc["visits"][1]["assessment"]["criteria"]["eular_acr_iim_2017"]["category"] == "probable"


# ------------------------------------------------------------------------------- accounts


def test_passwords_and_tokens(reg: Any) -> None:
    with reg.transaction() as s:
        assert auth.authenticate(s, "doc", PASSWORD).username == "doc"
        with pytest.raises(AuthError) as wrong:
            auth.authenticate(s, "doc", "not the password")
        with pytest.raises(AuthError) as nobody:
            auth.authenticate(s, "nobody", PASSWORD)
        assert wrong.value.message == nobody.value.message  # no user enumeration
        with pytest.raises(RegistryError, match="at least"):
            auth.insert_user(s, "short", "abc", "clinician")
        with pytest.raises(RegistryError, match="already exists"):
            auth.insert_user(s, "doc", PASSWORD, "clinician")
        user = auth.authenticate(s, "res", PASSWORD)
        token = auth.issue_token(s, user, "script")[1]
        actor = auth.actor_for_token(s, token)
        assert (actor.username, actor.role, actor.via) == ("res", "researcher", "api")
        stored = s.execute(text("select token_hash from api_tokens")).scalar_one()
        assert token not in stored  # only the hash is kept
        tid = s.execute(text("select id from api_tokens")).scalar_one()
        with pytest.raises(RegistryError):
            services.revoke_token(s, reg.doc, tid)  # not the owner, not an admin
        services.revoke_token(s, reg.res, tid)
        with pytest.raises(AuthError):
            auth.actor_for_token(s, token)


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_writers_lose_nothing(db_url: str) -> None:
    """Eight threads each add 10 visits at once; every one is committed."""
    engine = make_engine(db_url, pool_size=10) if db_url.startswith("postgresql") else make_engine(db_url)
    migrate.upgrade(engine)
    reg = Registry(engine)
    with reg.transaction() as s:
        doc = auth.actor_for(auth.insert_user(s, "doc", PASSWORD, "clinician"), "api")
        pids = [services.create_patient(s, doc, name=f"T{i}").id for i in range(8)]
    case = load_case(SEED)
    errors: list[BaseException] = []

    def work(pid: int) -> None:
        try:
            for k in range(10):
                with reg.transaction() as s:
                    services.add_visit(s, doc, pid, case, dt.date(2025, 1, 1) + dt.timedelta(days=k))
        except BaseException as exc:  # report, do not hide
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(pid,)) for pid in pids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with reg.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 80
        assert s.scalar(select(func.count()).select_from(Patient)) == 8
    engine.dispose()


def test_researchers_get_treatment_periods_as_days_since_the_first_visit(reg: Any) -> None:
    pid = _patient_with_visits(reg)  # first visit 2025-03-01
    with reg.transaction() as s:
        services.add_treatment(s, reg.doc, pid, name="anifrolumab", started="2025-04", stopped="2025-06-15")
        t = next(x for x in services.get_record(s, reg.res, pid).treatments if x.agent == "anifrolumab")
    assert (t.started, t.stopped) == (None, None)  # no calendar dates, not even years
    assert (t.started_days, t.stopped_days) == (31, 106)


def test_account_services_check_and_audit(reg: Any) -> None:
    """Logins, users and tokens go through the services: permission, work and audit together."""
    cli = auth.cli_actor()
    with reg.transaction() as s:
        assert services.has_users(s)
        actor = services.login(s, "doc", PASSWORD)
        assert (actor.username, actor.via) == ("doc", "web")
        with pytest.raises(AuthError):
            services.login(s, "doc", "not the password")
        with pytest.raises(RegistryError) as forbidden:
            services.create_user(s, reg.doc, "nurse", PASSWORD, "clinician")
        assert forbidden.value.code == "registry.forbidden"
        nurse = services.create_user(s, cli, "nurse", PASSWORD, "clinician")
        assert [u.username for u in services.list_users(s, reg.adm)][-1] == "nurse"
        with pytest.raises(RegistryError):
            services.list_users(s, reg.res)
        own = services.create_token(s, reg.res, "script")
        assert services.token_actor(s, own.token).username == "res"
        assert [t.name for t in services.list_tokens(s, reg.res)] == ["script"]
        with pytest.raises(RegistryError):
            services.create_token(s, reg.doc, "x", username="nurse")  # only admins make others' tokens
        for_nurse = services.create_token(s, cli, "etl", username="nurse")
        assert for_nurse.user_id == nurse.id
        with pytest.raises(RegistryError, match="no active user"):
            services.create_token(s, cli, "x", username="ghost")
        services.revoke_token(s, reg.res, own.id)
        with pytest.raises(AuthError):
            services.token_actor(s, own.token)
        nurse_actor = auth.actor_for(s.get(User, nurse.id), "web")  # type: ignore[arg-type]
        sid = services.start_session(s, nurse_actor)
        live = {"idle": dt.timedelta(minutes=30), "lifetime": dt.timedelta(hours=8)}
        assert services.session_actor(s, sid, **live).username == "nurse"
        s.execute(text("update users set active = false where username = 'nurse'"))
        with pytest.raises(AuthError):
            services.session_actor(s, sid, **live)
        with pytest.raises(AuthError):
            services.login(s, "nurse", PASSWORD)  # inactive
    with reg.transaction() as s:
        events = [(e.user, e.action, e.detail) for e in services.audit_log(s, reg.adm, limit=50)]
    who = cli.username
    assert ("doc", "login", None) in events
    assert (who, "create_user", f"user {nurse.id}") in events
    assert ("res", "create_token", f"token {own.id}") in events
    assert (who, "create_token", f"token {for_nurse.id} for user {nurse.id}") in events
    assert ("res", "revoke_token", f"token {own.id}") in events
    assert not any(action == "login" and user == "nurse" for user, action, _ in events)
