"""Reads and their audit events: a read takes no write lock and may not write; what it must
record is group-committed before its response leaves, and lost by nobody. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.db import GroupCommitter, LoopBatcher, Registry, defer, deferred_writes, make_engine
from ifnscope.registry.migrate import upgrade
from ifnscope.registry.models import ApiToken, AuditEvent, Patient
from tests.registry_db import clinician_token

CLI = Actor(None, "tester", "admin", "cli")


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    engine = make_engine(db_url)
    upgrade(engine)
    reg = Registry(engine)
    yield reg
    reg.close()


def _audit_count(reg: Registry, action: str) -> int:
    with reg.transaction() as s:
        return int(
            s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)) or 0
        )


def test_a_read_transaction_refuses_to_write(registry: Registry) -> None:
    def write_in_a_read() -> None:
        with registry.read_transaction() as s:
            s.add(Patient(pseudonym="P-WRITE"))
            s.flush()

    with pytest.raises(RuntimeError, match="read transaction tried to write"):
        write_in_a_read()
    with registry.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 0


def test_a_reads_audit_event_is_committed_by_the_group_commit(registry: Registry) -> None:
    with registry.transaction() as s:
        pid = services.create_patient(s, CLI, name="Group Commit").id
    before = _audit_count(registry, "read_patient")
    with registry.read_transaction() as s:
        services.get_record(s, CLI, pid)
        assert len(deferred_writes(s)) == 1  # queued, not written
    assert _audit_count(registry, "read_patient") == before  # nothing yet
    registry.committer.submit(deferred_writes(s)).result(timeout=30)
    assert _audit_count(registry, "read_patient") == before + 1
    with registry.read() as s:  # the blocking form commits on exit
        services.get_record(s, CLI, pid)
    assert _audit_count(registry, "read_patient") == before + 2


def test_a_failed_read_queues_nothing(registry: Registry) -> None:
    before = _audit_count(registry, "read_patient")
    with pytest.raises(Exception, match="no patient"), registry.read() as s:
        services.get_record(s, CLI, 999_999)
    assert _audit_count(registry, "read_patient") == before


def test_concurrent_submissions_are_all_committed_in_fewer_transactions(registry: Registry) -> None:
    begins = 0
    lock = threading.Lock()
    real = registry.transaction

    def counting_transaction():  # type: ignore[no-untyped-def]
        nonlocal begins
        with lock:
            begins += 1
        return real()

    registry.transaction = counting_transaction  # type: ignore[method-assign]
    n = 200

    def one(i: int) -> None:
        def write(s):  # type: ignore[no-untyped-def]
            s.add(AuditEvent(action="bench", detail=f"n{i}", via="cli"))

        registry.committer.submit([write]).result(timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(n)))
    registry.transaction = real  # type: ignore[method-assign]
    assert _audit_count(registry, "bench") == n
    assert begins < n  # grouped: fewer commits than writes


def test_a_failing_group_fails_every_waiter_and_the_next_group_works(registry: Registry) -> None:
    committer = GroupCommitter(registry)
    gate, entered = threading.Event(), threading.Event()

    def blocker(_s):  # type: ignore[no-untyped-def]
        entered.set()
        gate.wait(10)

    def good(s):  # type: ignore[no-untyped-def]
        s.add(AuditEvent(action="kept", via="cli"))

    def bad(_s):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    first = committer.submit([blocker])  # holds the thread so the next two form one group
    assert entered.wait(10)
    f_good, f_bad = committer.submit([good]), committer.submit([bad])
    gate.set()
    first.result(timeout=30)
    with pytest.raises(OperationalError):
        f_bad.result(timeout=30)
    with pytest.raises(OperationalError):
        f_good.result(timeout=30)  # same group: not answered as if durable
    assert _audit_count(registry, "kept") == 0
    committer.submit([good]).result(timeout=30)
    assert _audit_count(registry, "kept") == 1
    committer.close()


def _event(action: str, detail: str = "") -> Any:
    def write(s):  # type: ignore[no-untyped-def]
        s.add(AuditEvent(action=action, detail=detail, via="cli"))

    return write


def test_the_loop_batcher_hands_many_requests_to_the_committer_at_once(registry: Registry) -> None:
    sizes: list[int] = []
    real = registry.committer.submit

    def counting(writes: list[Any]) -> concurrent.futures.Future[None]:
        sizes.append(len(writes))
        return real(writes)

    registry.committer.submit = counting  # type: ignore[method-assign]
    batcher = LoopBatcher(registry.committer)

    async def requests() -> None:
        await asyncio.gather(*(batcher.commit([_event("batched", f"n{i}")]) for i in range(50)))
        await batcher.commit([_event("batched", "later")])  # a later request: a batch of its own

    asyncio.run(requests())
    assert _audit_count(registry, "batched") == 51  # every request's write is durable
    assert sum(sizes) == 51
    assert len(sizes) < 51  # and the event loop met the committer thread far fewer times
    assert sizes[-1] == 1


def test_the_loop_batcher_fails_every_request_of_a_failed_batch(registry: Registry) -> None:
    batcher = LoopBatcher(registry.committer)

    def bad(_s):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    async def requests() -> list[object]:
        together = await asyncio.gather(
            batcher.commit([_event("lost")]), batcher.commit([bad]), return_exceptions=True
        )
        await batcher.commit([_event("kept")])  # the next batch works
        return together

    results = asyncio.run(requests())
    assert all(isinstance(r, OperationalError) for r in results)
    assert _audit_count(registry, "lost") == 0  # nothing of the failed batch was half-recorded
    assert _audit_count(registry, "kept") == 1


def test_defer_writes_at_once_outside_a_read(registry: Registry) -> None:
    with registry.transaction() as s:
        defer(s, lambda w: w.add(AuditEvent(action="direct", via="cli")))
        assert deferred_writes(s) == []
    assert _audit_count(registry, "direct") == 1


# ------------------------------------------------------------------------- over HTTP


def test_every_answered_read_has_its_audit_event(web_app: FastAPI) -> None:
    app = web_app
    token = clinician_token(app)
    h = {"Authorization": f"Bearer {token}"}
    c = TestClient(app)
    pid = c.post("/api/patients", json={"name": "Audit Reader"}, headers=h).json()["id"]
    reg: Registry = app.state.registry
    before = _audit_count(reg, "read_patient")
    n = 40

    def get(_i: int) -> int:
        return c.get(f"/api/patients/{pid}", headers=h).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(get, range(n)))
    assert codes == [200] * n
    # Every response was sent after its event was committed: all are there, none missing.
    assert _audit_count(reg, "read_patient") == before + n


def test_a_read_whose_audit_cannot_be_committed_is_not_answered(web_app: FastAPI) -> None:
    app = web_app
    token = clinician_token(app)
    h = {"Authorization": f"Bearer {token}"}
    c = TestClient(app, raise_server_exceptions=False)
    pid = c.post("/api/patients", json={"name": "Never Shown"}, headers=h).json()["id"]
    reg: Registry = app.state.registry

    def fail(_writes: object) -> concurrent.futures.Future[None]:
        f: concurrent.futures.Future[None] = concurrent.futures.Future()
        f.set_exception(OperationalError("INSERT", {}, Exception("database is locked")))
        return f

    reg.committer.submit = fail  # type: ignore[method-assign]
    r = c.get(f"/api/patients/{pid}", headers=h)
    assert r.status_code >= 500
    assert "Never Shown" not in r.text


def test_token_last_use_is_recorded_at_most_once_a_minute(web_app: FastAPI) -> None:
    app = web_app
    token = clinician_token(app)
    h = {"Authorization": f"Bearer {token}"}
    c = TestClient(app)
    reg: Registry = app.state.registry
    assert c.get("/api/auth/me", headers=h).status_code == 200
    with reg.transaction() as s:
        first = s.scalar(select(ApiToken.last_used_at))
    assert first is not None
    assert c.get("/api/auth/me", headers=h).status_code == 200
    with reg.transaction() as s:
        assert s.scalar(select(ApiToken.last_used_at)) == first  # within the minute: unchanged
        s.execute(update(ApiToken).values(last_used_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
    assert c.get("/api/auth/me", headers=h).status_code == 200
    with reg.transaction() as s:
        later = s.scalar(select(ApiToken.last_used_at))
    assert later is not None
    assert later.replace(tzinfo=None) > first.replace(tzinfo=None)
