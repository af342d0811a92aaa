"""Bad input never crashes the server: every route answers 4xx with the structured error, on SQLite
and on PostgreSQL alike (PostgreSQL refuses NUL characters, over-long text and ids past 2**31 that
SQLite stores or compares quietly: those were 500s)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ifnscope.registry.auth import insert_user
from ifnscope.web import Settings, create_app
from tests.web.test_api import PASSWORD, SEED, Session, case_doc

NUL = "a\x00b"
LONG = "x" * 5000
SURROGATE = "\ud800"  # a lone surrogate: valid JSON (\ud800), not encodable text
BAD_IDS = ["0", "-1", str(2**31), str(2**63), str(2**64), "99999999999999999999999", "1.5", "abc", "%00"]
BAD_TEXT = [NUL, LONG, SURROGATE]
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def app(module_db_url: str) -> Iterator[FastAPI]:
    key = None if module_db_url.startswith("sqlite") else secrets.token_urlsafe(32)
    application = create_app(Settings(database_url=module_db_url, secret_key=key, max_upload_mb=1))
    registry = application.state.registry
    with registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "boss", PASSWORD, "admin")
    yield application
    registry.engine.dispose()


def refused(r: httpx.Response) -> str | None:
    """None when ``r`` is a 4xx with the one error shape, else what is wrong with it."""
    if not 400 <= r.status_code < 500:
        return f"status {r.status_code}: {r.text[:200]}"
    try:
        err = r.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"status {r.status_code} without the error shape: {r.text[:200]}"
    if not (isinstance(err.get("code"), str) and isinstance(err.get("message"), str)):
        return f"error without code/message: {err}"
    if "Traceback" in r.text:
        return "traceback in the body"
    return None


def _with(base: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**base, key: value}


def requests(pid: int, vid: int, tid: int, uid: int) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(who, method, url, httpx keywords): every route with every kind of bad input."""
    # Ids out of range or not ids at all, in every path that takes one.
    for bad in BAD_IDS:
        yield "doc", "GET", f"/api/patients/{bad}", {}
        yield "doc", "PATCH", f"/api/patients/{bad}", {"json": {"name": "x"}}
        yield "doc", "DELETE", f"/api/patients/{bad}", {}
        yield "doc", "POST", f"/api/patients/{bad}/visits", {"json": {"case": case_doc(SEED)}}
        yield "doc", "GET", f"/api/patients/{bad}/export", {}
        yield "doc", "GET", f"/api/patients/{bad}/timeline", {}
        yield "doc", "POST", f"/api/patients/{bad}/treatments", {"json": {"name": "methotrexate"}}
        yield "doc", "GET", f"/api/visits/{bad}", {}
        yield "doc", "POST", f"/api/visits/{bad}/reassess", {}
        yield "doc", "PATCH", f"/api/treatments/{bad}", {"json": {"response": "partial"}}
        yield "doc", "DELETE", f"/api/auth/tokens/{bad}", {}
        yield "boss", "PATCH", f"/api/admin/users/{bad}", {"json": {"active": True}}
        yield "boss", "GET", f"/api/audit?patient_id={bad}", {}
        # The pages take the same ids.
        yield "doc", "GET", f"/patients/{bad}", {}
        yield "doc", "GET", f"/patients/{bad}/visits/new", {}
        yield "doc", "POST", f"/patients/{bad}/visits/new", {"data": {"visit_date": "2024-06-01"}}
        yield "doc", "POST", f"/patients/{bad}/visits/upload", {"data": {"text": "id: x"}}
        yield "doc", "POST", f"/patients/{bad}/treatments", {"data": {"name": "methotrexate"}}
        yield "doc", "POST", f"/treatments/{bad}/stop", {"data": {"stopped": "2024"}}
        yield "doc", "GET", f"/visits/{bad}", {}
        yield "doc", "POST", f"/visits/{bad}/reassess", {}
        yield "doc", "GET", f"/visits/{bad}/report.html", {}
        samples = {"signature": "rice6", "visit_id": bad}
        yield "doc", "POST", f"/api/patients/{pid}/samples", {"data": samples, "files": _tsv()}
    # Text the database cannot hold, in every text field of every body.
    for bad in BAD_TEXT:
        for field in ("name", "mrn"):
            yield "doc", "POST", "/api/patients", {"json": {field: bad}}
            yield "doc", "PATCH", f"/api/patients/{pid}", {"json": {field: bad}}
        treatment = {"name": "methotrexate", "started": "2024", "response": "partial", "dose": "15 mg"}
        for field in ("name", "started", "stopped", "response", "dose"):
            yield "doc", "POST", f"/api/patients/{pid}/treatments", {"json": _with(treatment, field, bad)}
        for field in ("stopped", "response"):
            yield "doc", "PATCH", f"/api/treatments/{tid}", {"json": {field: bad}}
        case = case_doc(SEED)
        yield "doc", "POST", f"/api/patients/{pid}/visits", {"json": {"case": _with(case, "id", bad)}}
        yield "doc", "POST", f"/api/patients/{pid}/visits", {"json": {"case": _with(case, "notes", bad)}}
        yield "doc", "POST", "/api/assess", {"json": _with(case, "id", bad)}
        yield "doc", "POST", "/api/cohort", {"json": {"ifn_high": bad}}
        yield "doc", "POST", "/api/auth/tokens", {"json": {"name": bad}}
        yield "doc", "POST", "/api/auth/login", {"json": {"username": bad, "password": "wrong-password"}}
        yield (
            "doc",
            "POST",
            "/api/auth/password",
            {"json": {"current_password": "wrong", "new_password": bad}},
        )
        user = {"username": bad, "password": "Long enough pass 42", "role": "admin"}
        yield "boss", "POST", "/api/admin/users", {"json": user}
        yield "boss", "PATCH", f"/api/admin/users/{uid}", {"json": {"password": bad + LONG}}
        if bad == SURROGATE:
            continue  # not sendable as a query string or form field; JSON escapes it (above)
        yield "doc", "GET", "/api/patients", {"params": {"q": bad}}
        reference = {"file": ("ref.json", b"{}", "application/json")}
        yield "doc", "POST", "/api/references", {"data": {"name": bad}, "files": reference}
        for field in ("tissue", "reference", "signature"):
            data = _with({"signature": "rice6"}, field, bad)
            yield "doc", "POST", f"/api/patients/{pid}/samples", {"data": data, "files": _tsv()}
    # Case files with bytes or structure no case has.
    for name, body in (
        ("nul.yaml", b"format: ifnscope-case/1\nid: a\x00b\n"),
        ("bad-utf8.yaml", b"format: ifnscope-case/1\nid: \xff\xfe\n"),
        ("nul.json", b'{"format": "ifnscope-case/1", "id": "a\\u0000b"}'),
        ("surrogate.json", b'{"format": "ifnscope-case/1", "id": "\\ud800"}'),
        ("laughs.yaml", _laughs().encode()),
    ):
        yield "doc", "POST", f"/api/patients/{pid}/visits", {"files": {"file": (name, body, "text/plain")}}
        yield "doc", "POST", "/api/assess", {"files": {"file": (name, body, "text/plain")}}
    # Numbers past any column or sensible range in JSON bodies.
    yield "doc", "POST", "/api/auth/tokens", {"json": {"name": "t", "days": 2**63}}
    yield "doc", "POST", "/api/cohort", {"json": {"min_cdasi_activity": "1e400x"}}
    yield "doc", "POST", f"/api/patients/{pid}/visits", {"json": {"visit_date": "99999-01-01", "case": {}}}
    yield "doc", "GET", "/api/patients", {"params": {"limit": str(2**63)}}
    yield "doc", "GET", "/api/patients", {"params": {"offset": str(2**63)}}


def _tsv() -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("m.tsv", b"gene\ts1\nIFI27\t1\n", "text/tab-separated-values")}


def _laughs() -> str:
    lines = ["format: ifnscope-case/1", "id: t", 'a0: &a0 ["lol"]']
    lines += [f"a{n}: &a{n} [{', '.join(f'*a{n - 1}' for _ in range(9))}]" for n in range(1, 10)]
    return "\n".join(lines) + "\n"


def test_every_route_refuses_bad_input_with_a_structured_4xx(app: FastAPI) -> None:
    sessions = {"doc": Session(app, "doc"), "boss": Session(app, "boss")}
    doc = sessions["doc"]
    pid = doc.post("/api/patients", json={"name": "Bad Input", "mrn": "BAD-1"}).json()["id"]
    r = doc.post(f"/api/patients/{pid}/visits", json={"visit_date": "2024-06-01", "case": case_doc(SEED)})
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    r = doc.post(f"/api/patients/{pid}/treatments", json={"name": "hydroxychloroquine", "started": "2023"})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    uid = doc.user["id"]
    failures = []
    sent = 0
    for who, method, url, kw in requests(pid, vid, tid, uid):
        s = sessions[who]
        if "json" in kw:  # sent as ASCII JSON, so a lone surrogate travels as its escape
            kw = {"content": json.dumps(kw.pop("json")).encode(), "headers": JSON_HEADERS, **kw}
        r = s.get(url, **kw) if method == "GET" else s.send(method, url, **kw)
        sent += 1
        problem = refused(r)
        if problem:
            failures.append(f"{who} {method} {url} {sorted(kw)}: {problem}")
    assert sent > 280
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures)
    # Nothing was changed by any of them: the patient, visit and treatment are as stored.
    rec = doc.get(f"/api/patients/{pid}").json()
    assert rec["patient"]["name"] == "Bad Input"
    assert [v["id"] for v in rec["visits"]] == [vid]
    # And the server still answers: the largest id that fits is a clean 404.
    assert doc.get(f"/api/visits/{2**31 - 1}").status_code == 404
    assert doc.get(f"/api/patients/{2**31 - 1}").status_code == 404
