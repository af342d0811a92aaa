"""Throughput and latency of the registry server under concurrent clients (issue 11, item 7).

Starts a real ``ifnscope serve`` process (the same helper as the tests), creates a clinician
with an API token and one patient with the seed case as a visit, then:

- ``reads``: CLIENTS concurrent clients GET the patient's record (every read writes an audit
  event) for SECONDS;
- ``writes``: CLIENTS concurrent clients POST visits (the seed case), each to its own patient,
  for SECONDS.

Prints requests/s, p50/p95/p99 latency and error counts as JSON lines, and checks afterwards
that the audit log holds one ``read`` event per acknowledged read (nothing lost). The load
generator is asyncio + httpx in this process, so it shares the machine's cores with the server:
the figures are a floor for a server with its own machine.

With ``wrk`` installed (Debian: ``apt-get install wrk``) reads and writes are also measured
with it (``--wrk``): a C load generator takes far less of the shared CPU than Python clients do
(the Python client alone holds reads near 200/s on this 2-core machine).

Usage: python bench/bench_registry_load.py [--database-url URL] [--clients 50] [--seconds 10]
       [--mode reads|writes|both] [--workers N] [--wrk]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.server import ServerProcess, scalar, users_with_token  # noqa: E402 - shared with the tests

SEED = ROOT / "examples" / "seed-cadm.yaml"
PASSWORD = "bench-load-password-1"


async def run_load(base: str, token: str, clients: int, seconds: float, request: Any) -> dict[str, Any]:
    lat: list[float] = []
    errors: list[str] = []
    ok = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60, limits=limits
    ) as c:

        async def one(k: int) -> None:
            nonlocal ok
            i = 0
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    r = await request(c, k, i)
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                    continue
                lat.append(time.perf_counter() - t)
                i += 1
                if r.status_code < 300:
                    ok += 1
                else:
                    errors.append(f"{r.status_code} {r.text[:100]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(clients)))
        wall = time.perf_counter() - t0
    lat.sort()

    def pct(p: float) -> float | None:
        return round(1000 * lat[int(p * (len(lat) - 1))], 1) if lat else None

    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "ok": ok,
        "errors": len(errors),
        "first_errors": sorted(set(errors))[:3],
        "requests_per_s": round(ok / wall, 1),
        "p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


# wrk's --latency table stops at 50/75/90/99 %; this prints p95 too (microseconds).
WRK_PERCENTILES = """
done = function(summary, latency, requests)
  for _, p in pairs({50, 90, 95, 99}) do
    io.write(string.format("p%d_us %d\\n", p, latency:percentile(p)))
  end
end
"""


def wrk_posts(body: dict[str, Any], paths: list[str]) -> str:
    """A wrk script that POSTs ``body`` as JSON to each of ``paths`` in turn."""
    quoted = json.dumps(json.dumps(body))  # a Lua string literal: JSON's escapes are Lua's too
    listed = ", ".join(json.dumps(p) for p in paths)
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {quoted}
local paths = {{{listed}}}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i % #paths) + 1])
end
"""


def run_wrk(url: str, token: str, clients: int, seconds: float, script_text: str = "") -> dict[str, Any]:
    """wrk's figures for GET url (or what ``script_text`` sends): requests/s, latency
    percentiles, non-2xx answers."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(script_text + WRK_PERCENTILES)
    out = subprocess.run(
        ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "-s", script.name,
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script.name)

    rps = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec"))
    total = next(int(line.split()[0]) for line in out.splitlines() if "requests in" in line)
    non2xx = sum(int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line)
    return {
        "clients": clients,
        "requests": total,
        "non_2xx": non2xx,
        "requests_per_s": rps,
        **{
            f"{label}_ms": round(int(line.split()[1]) / 1000, 1)
            for line in out.splitlines()
            for label in ("p50", "p90", "p95", "p99")
            if line.startswith(f"{label}_us ")
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--mode", choices=["reads", "writes", "both"], default="both")
    ap.add_argument("--workers", type=int, default=1, help="server processes (ifnscope serve --workers)")
    ap.add_argument("--wrk", action="store_true", help="measure reads with wrk as well")
    a = ap.parse_args()
    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="ifnscope-bench-"))
    url = a.database_url or f"sqlite:///{tmp / 'registry.sqlite3'}"
    env = {**os.environ, "IFNSCOPE_DATABASE_URL": url}
    case = yaml.safe_load(SEED.read_text())
    case.pop("expected", None)
    token = users_with_token(url, env, ["bencher"], PASSWORD)

    server = ServerProcess(url, env, workers=a.workers)
    server.start()
    try:
        h = {"Authorization": f"Bearer {token}"}
        pid = httpx.post(
            server.base + "/api/patients", json={"name": "Bench Patient"}, headers=h, timeout=30
        ).json()["id"]
        r = httpx.post(
            server.base + f"/api/patients/{pid}/visits",
            json={"visit_date": "2025-01-15", "case": case},
            headers=h,
            timeout=30,
        )
        r.raise_for_status()
        db = url.split(":")[0].split("+")[0]
        if a.mode in ("reads", "both"):
            before = scalar(url, "select count(*) from audit_log where action = 'read_patient'")

            async def read(c: httpx.AsyncClient, _k: int, _i: int) -> httpx.Response:
                return await c.get(f"/api/patients/{pid}")

            res = asyncio.run(run_load(server.base, token, a.clients, a.seconds, read))
            after = scalar(url, "select count(*) from audit_log where action = 'read_patient'")
            res["audit_read_events"] = after - before
            res["audit_missing"] = res["ok"] - (after - before)
            print(json.dumps({"mode": "reads", "database": db, "workers": a.workers, **res}), flush=True)
            if a.wrk:
                res = run_wrk(server.base + f"/api/patients/{pid}", token, a.clients, a.seconds)
                after2 = scalar(url, "select count(*) from audit_log where action = 'read_patient'")
                res["audit_read_events"] = after2 - after
                print(
                    json.dumps({"mode": "reads (wrk)", "database": db, "workers": a.workers, **res}),
                    flush=True,
                )
        if a.mode in ("writes", "both"):
            # One patient per client, as clinicians write about different patients (visits of one
            # patient also update that patient's treatment rows, which writers then take in turn).
            pids = [
                httpx.post(
                    server.base + "/api/patients", json={"name": f"Writer {k}"}, headers=h, timeout=30
                ).json()["id"]
                for k in range(a.clients)
            ]

            async def write(c: httpx.AsyncClient, k: int, i: int) -> httpx.Response:
                day = i % 28 + 1
                return await c.post(
                    f"/api/patients/{pids[k]}/visits", json={"visit_date": f"2025-02-{day:02d}", "case": case}
                )

            res = asyncio.run(run_load(server.base, token, a.clients, a.seconds, write))
            print(json.dumps({"mode": "writes", "database": db, "workers": a.workers, **res}), flush=True)
            if a.wrk:
                before = scalar(url, "select count(*) from visits")
                script = wrk_posts(
                    {"visit_date": "2025-03-01", "case": case}, [f"/api/patients/{p}/visits" for p in pids]
                )
                res = run_wrk(server.base + "/", token, a.clients, a.seconds, script)
                res["visits_stored"] = scalar(url, "select count(*) from visits") - before
                print(
                    json.dumps({"mode": "writes (wrk)", "database": db, "workers": a.workers, **res}),
                    flush=True,
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
