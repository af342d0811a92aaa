"""Password guessing against the login, and what it costs everyone else.

A real ``ifnscope serve`` process (SQLite file by default). READERS threads (the other users)
work with an API token for DURATION seconds: ``--work write`` (default) adds patients
(``POST /api/patients``, which needs the database's write slot like every change and every
login), ``--work read`` sends ``GET /api/auth/me``. First alone, then while GUESSERS threads post
wrong passwords to ``POST /api/auth/login`` as fast as they are answered. Prints the other
users' requests/s, p50 and p95 in both phases, and the guessers' answers/s and status codes.

The server runs with login throttling switched off (``IFNSCOPE_LOGIN_FAILURES_PER_*=0``) so
that the guessers keep reaching the password check: this measures where the hash is checked,
not the throttle. ``--throttle`` leaves the default limits on (guessers then get 429 without
any hashing). Run it on two checkouts to compare:

    PYTHONPATH=src python bench/bench_login.py [--guessers 4] [--readers 4] [--duration 10]
    PYTHONPATH=src python bench/bench_login.py --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import collections
import os
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
from tests.server import ServerProcess, users_with_token  # noqa: E402 - shared with the tests

PASSWORD = "bench-login-password"


def reader(
    base: str, token: str, work: str, stop: threading.Event, lat: list[float], errors: list[str]
) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        n = 0
        while not stop.is_set():
            t = time.perf_counter()
            n += 1
            try:
                if work == "write":
                    r = c.post("/api/patients", json={"name": f"Bench Patient {threading.get_ident()} {n}"})
                else:
                    r = c.get("/api/auth/me")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            if r.status_code in (200, 201):
                lat.append(time.perf_counter() - t)
            else:
                errors.append(str(r.status_code))


def guesser(base: str, k: int, stop: threading.Event, codes: collections.Counter[int]) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = c.post("/api/auth/login", json={"username": "victim", "password": f"guess-{k}-{n}-xyz"})
            except httpx.HTTPError:
                codes[-1] += 1
                continue
            codes[r.status_code] += 1


def phase(base: str, token: str, work: str, readers: int, guessers: int, duration: float) -> dict[str, Any]:
    stop = threading.Event()
    lat: list[float] = []
    errors: list[str] = []
    codes: collections.Counter[int] = collections.Counter()
    threads = [
        threading.Thread(target=reader, args=(base, token, work, stop, lat, errors)) for _ in range(readers)
    ]
    threads += [threading.Thread(target=guesser, args=(base, k, stop, codes)) for k in range(guessers)]
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    lat.sort()
    return {
        "others_per_s": round(len(lat) / duration, 1),
        "others_p50_ms": round(statistics.median(lat) * 1e3, 1) if lat else None,
        "others_p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1e3, 1) if lat else None,
        "others_errors": len(errors),
        "guesses_per_s": round(sum(codes.values()) / duration, 1),
        "guess_codes": dict(codes),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--guessers", type=int, default=4)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument(
        "--work",
        choices=("write", "read"),
        default="write",
        help="what the other clients do: write (POST /api/patients, needs the write slot) or read "
        "(GET /api/auth/me)",
    )
    ap.add_argument("--throttle", action="store_true", help="keep the default login limits on")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ifnscope-login-"))
    url = a.database_url or f"sqlite:///{tmp / 'registry.sqlite3'}"
    env = {**os.environ, "IFNSCOPE_DATABASE_URL": url}
    if not a.throttle:
        env |= {"IFNSCOPE_LOGIN_FAILURES_PER_ACCOUNT": "0", "IFNSCOPE_LOGIN_FAILURES_PER_ADDRESS": "0"}
    token = users_with_token(url, env, ["reader", "victim"], PASSWORD)

    server = ServerProcess(url, env)
    server.start()
    try:
        phase(server.base, token, a.work, a.readers, 0, 2)  # warm-up
        alone = phase(server.base, token, a.work, a.readers, 0, a.duration)
        attacked = phase(server.base, token, a.work, a.readers, a.guessers, a.duration)
    finally:
        server.stop()
    throttle = "on" if a.throttle else "off"
    print(f"database: {url.split(':')[0]}; {a.readers} {a.work} clients; throttle {throttle}")
    print(f"alone:         {alone}")
    print(f"+ {a.guessers} guessers:  {attacked}")
    if alone["others_per_s"] and attacked["others_per_s"]:
        print(f"their throughput falls {alone['others_per_s'] / attacked['others_per_s']:.1f}-fold")


if __name__ == "__main__":
    main()
