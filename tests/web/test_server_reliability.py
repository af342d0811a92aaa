"""A real server process: concurrent clients lose nothing, and a killed server loses no
acknowledged visit (the full load test with numbers is bench/load_registry.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed-cadm.yaml"
PASSWORD = "reliability-password"


def _cli(env: dict[str, str], *args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def server(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    env = {**os.environ, "IFNSCOPE_DATABASE_URL": url}
    env.pop("IFNSCOPE_NO_FAST_EXIT", None)
    _cli(
        env,
        "admin",
        "create-user",
        "writer",
        "--role",
        "clinician",
        "--password",
        PASSWORD,
        "--database-url",
        url,
    )
    token = _cli(env, "admin", "create-token", "writer", "--name", "test", "--database-url", url).strip()
    srv = ServerProcess(url, env)
    srv.start()
    srv.token = token  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _case() -> dict[str, Any]:
    doc = yaml.safe_load(SEED.read_text())
    doc.pop("expected", None)
    return doc


def _count(url: str) -> int:
    eng = create_engine(url)
    with eng.connect() as c:
        n = int(c.execute(text("select count(*) from visits")).scalar_one())
    eng.dispose()
    return n


def _writer(
    base: str, token: str, pid: int, n: int, acked: list[int], errors: list[str], stop_on_error: bool
) -> None:
    case = _case()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for k in range(n):
            try:
                r = c.post(
                    f"/api/patients/{pid}/visits",
                    json={"visit_date": f"2025-02-{k % 28 + 1:02d}", "case": case},
                )
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                if stop_on_error:
                    return
                continue
            if r.status_code == 201:
                acked.append(r.json()["id"])
            else:
                errors.append(f"{r.status_code}: {r.text[:200]}")


def _patients(srv: Any, n: int) -> list[int]:
    h = {"Authorization": f"Bearer {srv.token}"}
    return [
        httpx.post(srv.base + "/api/patients", json={"name": f"R{i}"}, headers=h).json()["id"]
        for i in range(n)
    ]


def test_concurrent_clients_lose_nothing(server: Any) -> None:
    pids = _patients(server, 6)
    before = _count(server.url)
    acked: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_writer, args=(server.base, server.token, p, 8, acked, errors, False))
        for p in pids
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(acked) == 48
    assert len(set(acked)) == 48
    assert _count(server.url) - before == 48


def test_a_killed_server_loses_no_acknowledged_visit(server: Any) -> None:
    pids = _patients(server, 4)
    acked: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_writer, args=(server.base, server.token, p, 10_000, acked, errors, True))
        for p in pids
    ]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(acked) < 12 and time.time() < deadline:
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    for t in threads:
        t.join()
    assert len(acked) >= 12, errors
    server.start()
    h = {"Authorization": f"Bearer {server.token}"}
    missing = [v for v in acked if httpx.get(f"{server.base}/api/visits/{v}", headers=h).status_code != 200]
    assert missing == []
    assert _count(server.url) >= len(acked)  # a write in flight at the kill may have committed unacknowledged


def test_serve_without_users_says_how_to_create_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if k != "IFNSCOPE_DATABASE_URL"}
    srv = ServerProcess(url, env)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        srv.proc = subprocess.Popen(
            [sys.executable, "-m", "ifnscope", "serve", "--port", str(srv.port), "--database-url", url],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 60
        while "no users yet" not in log.read_text() and time.time() < deadline:
            time.sleep(0.2)
    finally:
        srv.stop()
    text = log.read_text()
    assert "ifnscope admin create-user NAME --role admin" in text
    assert f"http://127.0.0.1:{srv.port}/" in text
