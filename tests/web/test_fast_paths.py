"""The server's fast paths (issue 11, item 7) keep their promises: a SQLite read stays in the
event loop, assessments run one at a time per process, JSON columns store what json.dumps would."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from types import SimpleNamespace
from typing import Any

import anyio
import fastapi.routing
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ifnscope.registry.db import _to_json
from ifnscope.web import deps
from tests.helpers import ROOT
from tests.registry_db import clinician_token


def test_a_sqlite_read_makes_no_worker_thread_hop(web_app: FastAPI, db_url: str, monkeypatch: Any) -> None:
    app = web_app
    h = {"Authorization": f"Bearer {clinician_token(app, 'fastreader')}"}
    c = TestClient(app)
    pid = c.post("/api/patients", json={"name": "Inline Reader"}, headers=h).json()["id"]
    hops: list[str] = []
    real = deps.run_in_threadpool

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(deps, "run_in_threadpool", counting)  # identify, inline_read's fallback
    monkeypatch.setattr(fastapi.routing, "run_in_threadpool", counting)  # sync endpoints, validation
    for path in (f"/api/patients/{pid}", "/api/auth/tokens", "/api/auth/me"):
        r = c.get(path, headers=h)
        assert r.status_code == 200, r.text
    assert c.get(f"/api/patients/{pid}", headers=h).json()["patient"]["name"] == "Inline Reader"
    if db_url.startswith("sqlite"):
        assert hops == []  # identify, the record and its validation all ran in the event loop
    else:
        assert "get_patient" in hops  # PostgreSQL: network round trips go to a worker thread
    hops.clear()
    full = c.get(f"/api/patients/{pid}", params={"full": "true"}, headers=h)
    assert full.status_code == 200
    assert "get_patient" in hops  # every visit's JSON decoded: too heavy for the event loop


def test_assessments_run_one_at_a_time_in_a_process() -> None:
    state = SimpleNamespace(cpu_limiter=anyio.CapacityLimiter(1))
    request: Any = SimpleNamespace(app=SimpleNamespace(state=state))
    lock = threading.Lock()
    running = peak = 0

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return i

    async def many() -> list[int]:
        return list(await asyncio.gather(*(deps.assess_in_turn(request, work, i) for i in range(5))))

    assert asyncio.run(many()) == [0, 1, 2, 3, 4]
    assert peak == 1


def test_json_columns_store_what_json_dumps_would() -> None:
    from ifnscope.assessment import assess
    from ifnscope.case.reader import validate_case

    case = yaml.safe_load((ROOT / "examples" / "seed-cadm.yaml").read_text())
    case.pop("expected", None)
    doc = assess(validate_case(case)).to_json_dict()
    assert json.loads(_to_json(doc)) == json.loads(json.dumps(doc))
    odd = {"nan": math.nan, "inf": math.inf, 1: "int key", "text": "Ünïcode ✓"}
    back = json.loads(_to_json(odd))
    assert math.isnan(back["nan"])  # written as json.dumps writes them
    assert back["inf"] == math.inf
    assert back["1"] == "int key"
    assert back["text"] == "Ünïcode ✓"
