"""The cost of server-side sessions: a cookie-authenticated GET /api/auth/me, in process
(TestClient, SQLite file), milliseconds per request. Run on two checkouts to compare:

    PYTHONPATH=src python bench/bench_sessions.py
"""

from __future__ import annotations

import statistics
import tempfile
import time

from fastapi.testclient import TestClient

from ifnscope.registry.auth import insert_user
from ifnscope.web import Settings, create_app

PASSWORD = "correct-horse-battery"


def main() -> None:
    folder = tempfile.mkdtemp()
    app = create_app(Settings(database_url=f"sqlite:///{folder}/registry.sqlite3"))
    with app.state.registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
    c = TestClient(app)
    c.post("/api/auth/login", json={"username": "doc", "password": PASSWORD})
    for _ in range(50):
        c.get("/api/auth/me")
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(300):
            assert c.get("/api/auth/me").status_code == 200
        runs.append((time.perf_counter() - t) / 300 * 1e3)
    print(f"GET /api/auth/me with a session cookie: median {statistics.median(runs):.2f} ms/request")


if __name__ == "__main__":
    main()
