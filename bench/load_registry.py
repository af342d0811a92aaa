"""Load and crash test of the registry server: many clients writing at once, and a killed server.

1. Concurrency: CLIENTS threads each add VISITS visits (the seed case, as JSON) to their own
   patients through the HTTP API at the same time. Counts every acknowledged write, then counts
   the visits in the database itself: the two must be equal (nothing lost, nothing doubled).
2. Crash: clients keep writing while the server process is killed with SIGKILL; the server is
   restarted on the same database and every visit that was acknowledged (201 with an id) must
   be there.

Usage: python bench/load_registry.py [--database-url URL] [--clients 16] [--visits 25]
Without --database-url a temporary SQLite file is used; PostgreSQL:
--database-url postgresql+psycopg://postgres@127.0.0.1:5432/<db> (the database must exist).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.server import ServerProcess, scalar, users_with_token  # noqa: E402 - shared with the tests

SEED = ROOT / "examples" / "seed-cadm.yaml"
PASSWORD = "load-test-password"


def writer(base: str, token: str, patient: int, n: int, case: dict[str, Any], out: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        for k in range(n):
            t = time.perf_counter()
            try:
                r = c.post(
                    f"/api/patients/{patient}/visits",
                    json={"visit_date": f"2025-01-{k % 28 + 1:02d}", "case": case},
                )
            except httpx.HTTPError as exc:
                out["errors"].append(type(exc).__name__)
                if out.get("stop_on_error"):
                    return
                continue
            out["latency"].append(time.perf_counter() - t)
            if r.status_code == 201:
                out["acknowledged"].append(r.json()["id"])
            else:
                out["errors"].append(f"{r.status_code} {r.text[:120]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--visits", type=int, default=25)
    a = ap.parse_args()
    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="ifnscope-load-"))
    url = a.database_url or f"sqlite:///{tmp / 'registry.sqlite3'}"
    env = {**os.environ, "IFNSCOPE_DATABASE_URL": url}
    case = yaml.safe_load(SEED.read_text())
    case.pop("expected", None)

    tok = users_with_token(url, env, ["loader"], PASSWORD)

    server = ServerProcess(url, env)
    server.start()
    try:
        h = {"Authorization": f"Bearer {tok}"}
        pids = [
            httpx.post(
                server.base + "/api/patients", json={"name": f"Load {i}"}, headers=h, timeout=30
            ).json()["id"]
            for i in range(a.clients)
        ]
        before = scalar(url, "select count(*) from visits")
        out: dict[str, Any] = {"acknowledged": [], "errors": [], "latency": []}
        t0 = time.perf_counter()
        threads = [
            threading.Thread(target=writer, args=(server.base, tok, p, a.visits, case, out)) for p in pids
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        after = scalar(url, "select count(*) from visits")
        lat = sorted(out["latency"])
        result = {
            "database": url.split(":")[0],
            "clients": a.clients,
            "attempted": a.clients * a.visits,
            "acknowledged": len(out["acknowledged"]),
            "errors": len(out["errors"]),
            "visits_before": before,
            "visits_after": after,
            "lost": len(out["acknowledged"]) - (after - before),
            "visits_per_s": round(len(out["acknowledged"]) / wall, 1),
            "latency_p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
            "latency_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        }
        print("concurrency:", json.dumps(result), flush=True)

        # crash: kill the server while clients write
        crash: dict[str, Any] = {"acknowledged": [], "errors": [], "latency": [], "stop_on_error": True}
        threads = [
            threading.Thread(target=writer, args=(server.base, tok, p, 10_000, case, crash)) for p in pids[:8]
        ]
        for t in threads:
            t.start()
        time.sleep(3)
        server.stop(signal.SIGKILL)
        for t in threads:
            t.join()
        server.start()
        missing = []
        with httpx.Client(base_url=server.base, headers=h, timeout=30) as c:
            for vid in crash["acknowledged"]:
                if c.get(f"/api/visits/{vid}").status_code != 200:
                    missing.append(vid)
        print(
            "crash:",
            json.dumps(
                {
                    "acknowledged_before_kill": len(crash["acknowledged"]),
                    "missing_after_restart": len(missing),
                }
            ),
            flush=True,
        )
        if result["lost"] or result["errors"] or missing:
            sys.exit(1)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
