"""The web API end to end, on a SQLite file and on PostgreSQL.

Every test that takes the ``app`` fixture runs twice: once on a temporary SQLite file and once
on a fresh PostgreSQL database (127.0.0.1:5432, user postgres, created for this module and
dropped at the end). Without a reachable PostgreSQL the second half is skipped, loudly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ifnscope.errors import RegistryError
from ifnscope.registry.auth import insert_user
from ifnscope.web import Settings, create_app
from tests.helpers import CASES, ROOT
from tests.sigdata import make_counts, write_tsv_genes_in_rows

PASSWORD = "correct-horse-battery"
BOOM_MESSAGE = "".join(["Jane Secret", "name internal detail"])
EXAMPLES = ROOT / "examples"
SEED = CASES / "seed-cadm.yaml" if (CASES / "seed-cadm.yaml").exists() else EXAMPLES / "seed-cadm.yaml"
ACTIVITY = EXAMPLES / "activity-cdasi-clasi.yaml"


def case_doc(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("expected", None)
    return json.loads(json.dumps(doc, default=str))  # dates as ISO text, as a JSON client sends them


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape, the status and code, and never a traceback."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str)
    assert err["message"]
    # existing_patient_id / duplicates: the patient a refused new record would duplicate
    assert set(err) <= {"code", "message", "field", "issues", "existing_patient_id", "duplicates"}, err
    assert "Traceback" not in r.text
    return err


@pytest.fixture(scope="module")
def app(module_db_url: str) -> Iterator[FastAPI]:
    db_url = module_db_url
    # SQLite: the secret key file is created beside the database; PostgreSQL: an explicit key, so
    # the tests write nothing into the user's data folder.
    key = None if db_url.startswith("sqlite") else secrets.token_urlsafe(32)
    application = create_app(Settings(database_url=db_url, secret_key=key, max_upload_mb=1))

    @application.get("/api/_test/boom")
    def boom() -> None:
        raise RuntimeError(BOOM_MESSAGE)  # a message built at run time, as patient data would be

    registry = application.state.registry
    with registry.transaction() as s:
        for username, role in (("doc", "clinician"), ("res", "researcher"), ("boss", "admin")):
            insert_user(s, username, PASSWORD, role)  # type: ignore[arg-type]
    yield application
    registry.engine.dispose()


class Session:
    """A logged-in browser-like client: the cookie, and the CSRF token for state changes."""

    def __init__(self, app: FastAPI, username: str) -> None:
        self.client = TestClient(app, raise_server_exceptions=False)
        r = self.client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.csrf: str = r.json()["csrf_token"]
        self.user = r.json()["user"]

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.get(url, **kw)

    def send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.send("POST", url, **kw)


@pytest.fixture(scope="module")
def doc(app: FastAPI) -> Session:
    return Session(app, "doc")


@pytest.fixture(scope="module")
def res(app: FastAPI) -> Session:
    return Session(app, "res")


@pytest.fixture(scope="module")
def boss(app: FastAPI) -> Session:
    return Session(app, "boss")


def new_patient(doc: Session, **fields: Any) -> dict[str, Any]:
    r = doc.post("/api/patients", json=fields)
    assert r.status_code == 201, r.text
    return r.json()


# ----------------------------------------------------------------------------- the basics


def test_openapi_lists_the_api(app: FastAPI) -> None:
    c = TestClient(app)
    spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/auth/tokens",
        "/api/patients",
        "/api/patients/{patient_id}",
        "/api/patients/{patient_id}/visits",
        "/api/visits/{visit_id}",
        "/api/assess",
        "/api/patients/{patient_id}/treatments",
        "/api/treatments/{treatment_id}",
        "/api/references",
        "/api/patients/{patient_id}/samples",
        "/api/cohort",
        "/api/patients/{patient_id}/export",
        "/api/patients/{patient_id}/timeline",
        "/api/audit",
        "/api/admin/users",
    ):
        assert path in paths, path
    visit_body = paths["/api/patients/{patient_id}/visits"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(visit_body)
    assert set(paths["/api/patients/{patient_id}"]) >= {"get", "patch", "delete"}
    assert c.get("/docs").status_code == 200


def test_unauthenticated_requests_get_401_with_the_error_json(app: FastAPI) -> None:
    c = TestClient(app)
    r = c.get("/api/patients")
    assert_error(r, 401, "auth.required")
    assert r.headers["www-authenticate"] == "Bearer"
    assert_error(c.post("/api/patients", json={"name": "X"}), 401, "auth.required")
    assert_error(c.get("/api/patients", headers={"Authorization": "Bearer ifn_nope"}), 401, "auth.invalid")
    assert_error(c.get("/api/patients", headers={"Authorization": "Basic abc"}), 401, "auth.invalid")
    r = c.post("/api/auth/login", json={"username": "doc", "password": "wrong-password"})
    assert_error(r, 401, "auth.invalid")
    r = c.post("/api/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert_error(r, 401, "auth.invalid")


def test_login_me_and_logout(app: FastAPI) -> None:
    s = Session(app, "doc")
    assert s.user["username"] == "doc"
    assert s.user["role"] == "clinician"
    assert "write_patients" in s.user["permissions"]
    cookie = s.client.cookies.get("ifnscope_session")
    assert cookie
    me = s.get("/api/auth/me").json()
    assert me["user"]["username"] == "doc"
    assert me["via"] == "web"
    assert me["csrf_token"] == s.csrf
    # The cookie's flags: HttpOnly and SameSite=Lax.
    r = s.client.post("/api/auth/login", json={"username": "doc", "password": PASSWORD})
    flags = r.headers["set-cookie"].lower()
    assert "httponly" in flags
    assert "samesite=lax" in flags
    s.csrf = r.json()["csrf_token"]
    # Logout is a state change: it needs the token too.
    assert_error(s.client.post("/api/auth/logout"), 403, "auth.csrf")
    assert s.post("/api/auth/logout").status_code == 204
    assert_error(s.get("/api/auth/me"), 401, "auth.required")


# ------------------------------------------------------------------ roles, de-identification


def test_researcher_sees_pseudonyms_only_and_cannot_create(doc: Session, res: Session) -> None:
    p = new_patient(doc, name="Ada Lovelacetest", mrn="MRN-ADA-1", birth_date="1980-03-04", sex="female")
    case = case_doc(SEED)
    case["medications"].append(
        {"name": "hydroxychloroquine", "started": "2023-02-01", "stopped": "2023-09-12"}
    )
    r = doc.post(f"/api/patients/{p['id']}/visits", json={"visit_date": "2024-05-02", "case": case})
    assert r.status_code == 201, r.text

    listed = res.get("/api/patients").json()
    mine = next(x for x in listed if x["id"] == p["id"])
    assert mine["pseudonym"] == p["pseudonym"]
    assert mine["pseudonym"].startswith("P-")
    assert mine["name"] is None
    assert mine["mrn"] is None
    assert mine["last_visit"] == "day 0"  # days since the first visit, not a date or year
    rec = res.get(f"/api/patients/{p['id']}?full=true")
    assert rec.status_code == 200
    # No name, MRN, birth date, calendar date, case title or free-text note, anywhere in the
    # record, the stored case or its stored assessment (which quotes lesion notes as evidence).
    for secret in (
        "Lovelacetest",
        "MRN-ADA-1",
        "1980-03-04",
        "2024-05-02",
        "2023-02-01",
        "2023-09-12",
        "pruritic rash for six months",  # the case title
        "capillaries of the proximal nail folds",  # lesion notes
        "excoriated",
    ):
        assert secret not in rec.text, secret
    assert doc.get(f"/api/patients/{p['id']}?full=true").text.count("excoriated") > 0
    assert rec.json()["deidentified"] is True
    visit = rec.json()["visits"][0]
    assert visit["visit_date"] is None
    assert visit["visit_year"] is None  # no calendar dates, not even years
    assert visit["case"]["id"] == p["pseudonym"]
    assert "title" not in visit["case"]
    # Names are not searchable for researchers.
    assert res.get("/api/patients", params={"q": "Lovelacetest"}).json() == []
    # The clinician sees the name.
    assert doc.get(f"/api/patients/{p['id']}").json()["patient"]["name"] == "Ada Lovelacetest"

    err = assert_error(res.post("/api/patients", json={"name": "Nope"}), 403, "registry.forbidden")
    assert "researcher" in err["message"]
    assert_error(
        res.post(f"/api/patients/{p['id']}/visits", json={"case": case_doc(SEED)}), 403, "registry.forbidden"
    )
    assert_error(res.send("DELETE", f"/api/patients/{p['id']}"), 403, "registry.forbidden")
    assert_error(res.get("/api/audit"), 403, "registry.forbidden")
    assert_error(doc.get("/api/audit"), 403, "registry.forbidden")


# ------------------------------------------------------------------------ visits and cases


def test_re_assessing_a_visit_is_explicit(app: FastAPI, doc: Session, res: Session) -> None:
    """A stored visit keeps its assessment and rules version; POST .../reassess brings it to the
    running rules (issue 8), for writers only."""
    from ifnscope.data import rules_version
    from ifnscope.registry.models import Visit

    p = new_patient(doc, name="Reassess Test", sex="female")
    v = doc.post(f"/api/patients/{p['id']}/visits", json={"case": case_doc(SEED)}).json()
    assert v["assessment"]["rules_version"] == rules_version()
    with app.state.registry.transaction() as s:
        row = s.get(Visit, v["id"])
        row.assessment = {**row.assessment, "rules_version": "0.0.1+old"}
    assert doc.get(f"/api/visits/{v['id']}").json()["assessment"]["rules_version"] == "0.0.1+old"
    assert_error(res.post(f"/api/visits/{v['id']}/reassess"), 403, "registry.forbidden")
    assert_error(doc.post("/api/visits/999999/reassess"), 404, "registry.not-found")
    # A response recorded after the visit survives re-assessing it (the visit says "inadequate").
    mtx = next(
        t for t in doc.get(f"/api/patients/{p['id']}").json()["treatments"] if t["agent"] == "methotrexate"
    )
    assert mtx["response"] == "inadequate"
    patched = doc.send(
        "PATCH", f"/api/treatments/{mtx['id']}", json={"response": "intolerant", "reason": "stopped: nausea"}
    )
    assert patched.status_code == 200, patched.text
    r = doc.post(f"/api/visits/{v['id']}/reassess")
    assert r.status_code == 200, r.text
    assert r.json()["assessment"]["rules_version"] == rules_version()
    assert r.json()["assessment"]["criteria"] == v["assessment"]["criteria"]
    after = {t["id"]: t for t in doc.get(f"/api/patients/{p['id']}").json()["treatments"]}
    assert after[mtx["id"]]["response"] == "intolerant"
    assert after[mtx["id"]]["agent"] == "methotrexate"


def _iim(assessment: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = assessment["criteria"]["eular_acr_iim_2017"]
    return result


def test_seed_case_as_json_and_as_file_gives_probable_iim_6_5(doc: Session) -> None:
    p = new_patient(doc, name="Seed Patient")
    r = doc.post(f"/api/patients/{p['id']}/visits", json={"visit_date": "2024-06-01", "case": case_doc(SEED)})
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["iim_category"] == "probable"
    assert v["iim_subgroup"] == "amyopathic_dermatomyositis"
    assert _iim(v["assessment"])["score"] == pytest.approx(6.5)
    assert _iim(v["assessment"])["category"] == "probable"
    assert v["visit_date"] == "2024-06-01"

    files = {"file": ("seed-cadm.yaml", SEED.read_bytes(), "application/x-yaml")}
    r = doc.post(f"/api/patients/{p['id']}/visits", files=files, data={"visit_date": "2024-09-01"})
    assert r.status_code == 201, r.text
    assert _iim(r.json()["assessment"])["score"] == pytest.approx(6.5)

    got = doc.get(f"/api/visits/{v['id']}").json()
    assert got["id"] == v["id"]
    assert got["iim_category"] == "probable"
    rec = doc.get(f"/api/patients/{p['id']}").json()
    assert [x["visit_date"] for x in rec["visits"]] == ["2024-06-01", "2024-09-01"]
    assert rec["patient"]["visits"] == 2
    assert_error(doc.get("/api/visits/999999"), 404, "registry.not-found")
    assert_error(
        doc.post("/api/patients/999999/visits", json={"case": case_doc(SEED)}), 404, "registry.not-found"
    )


def test_malformed_case_returns_422_with_structured_issues(doc: Session) -> None:
    p = new_patient(doc, name="Typo Patient")
    bad = case_doc(SEED)
    bad["findigns"] = bad.pop("findings")
    r = doc.post(f"/api/patients/{p['id']}/visits", json={"case": bad})
    err = assert_error(r, 422, "case.invalid")
    issue = next(i for i in err["issues"] if i["path"] == "findigns")
    assert issue["code"] == "case.unknown-key"
    assert issue["did_you_mean"] == "findings"

    text = SEED.read_text(encoding="utf-8").replace("sex: female", "sex: femal")
    r = doc.post(f"/api/patients/{p['id']}/visits", files={"file": ("case.yaml", text.encode(), "text/yaml")})
    err = assert_error(r, 422, "case.invalid")
    issue = next(i for i in err["issues"] if i["path"] == "patient.sex")
    assert issue["did_you_mean"] == "female"
    assert issue["line"] > 1
    assert "expected" in issue

    r = doc.post(f"/api/patients/{p['id']}/visits", files={"file": ("case.yaml", b"a: [1, 2", "text/yaml")})
    assert_error(r, 422, "case.parse")
    r = doc.post(
        f"/api/patients/{p['id']}/visits", files={"file": ("c.yaml", b"\xff\xfe\x00bad", "text/yaml")}
    )
    assert_error(r, 422, "case.parse")
    # Nothing was stored by the failed requests.
    assert doc.get(f"/api/patients/{p['id']}").json()["visits"] == []


def test_request_validation_errors_name_the_field(doc: Session) -> None:
    p = new_patient(doc, name="Unnamed Test")
    r = doc.post(f"/api/patients/{p['id']}/visits", json={"visit_date": "yesterday", "case": case_doc(SEED)})
    err = assert_error(r, 422, "request.invalid")
    assert err["field"] == "body.visit_date"
    err = assert_error(doc.post(f"/api/patients/{p['id']}/visits", json={"case": 3}), 422, "request.invalid")
    assert err["field"] == "body.case"
    r = doc.post(
        f"/api/patients/{p['id']}/visits", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(r, 422, "request.invalid")
    r = doc.post(f"/api/patients/{p['id']}/visits", content=b"x", headers={"content-type": "text/plain"})
    assert_error(r, 415, "request.unsupported-media-type")
    r = doc.post(f"/api/patients/{p['id']}/visits", files={"other": ("x.yaml", b"a: 1", "text/yaml")})
    assert assert_error(r, 422, "request.invalid")["field"] == "body.file"
    err = assert_error(doc.post("/api/patients", json={"name": "N", "sex": "F"}), 422, "request.invalid")
    assert err["field"] == "body.sex"
    err = assert_error(doc.get("/api/patients", params={"limit": 0}), 422, "request.invalid")
    assert err["field"] == "query.limit"
    assert_error(doc.get("/api/patients/abc"), 422, "request.invalid")
    assert_error(doc.get("/api/no-such-endpoint"), 404, "request.not-found")
    assert_error(doc.client.put("/api/patients"), 405, "request.method-not-allowed")


def test_assess_without_storing(doc: Session) -> None:
    before = len(doc.get("/api/patients", params={"limit": 500}).json())
    r = doc.post("/api/assess", json=case_doc(SEED))
    assert r.status_code == 200, r.text
    assert _iim(r.json())["score"] == pytest.approx(6.5)
    assert r.json()["case_id"] == "seed-cadm"
    r = doc.post("/api/assess", files={"file": ("seed.yaml", SEED.read_bytes(), "text/yaml")})
    assert r.status_code == 200
    assert _iim(r.json())["category"] == "probable"
    assert len(doc.get("/api/patients", params={"limit": 500}).json()) == before
    bad = case_doc(SEED)
    bad["patient"]["sexx"] = "female"
    err = assert_error(doc.post("/api/assess", json=bad), 422, "case.invalid")
    assert any(i.get("did_you_mean") == "sex" for i in err["issues"])


def test_an_unquoted_ratio_titre_reads_as_the_ratio_at_every_entry_point(doc: Session) -> None:
    """Issue 9 item 1: YAML 1.1 reads an unquoted ``ana_titer: 1:40`` as the base-60 number 100,
    which would meet the 2019 entry criterion (ANA >= 1:80 on HEp-2, Aringer 2019 definitions
    table). A YAML upload (API and the visit page), a JSON body and a JSON file read it as 1:40."""
    text = (
        "format: ifnscope-case/1\nid: titre-1-40\n"
        "findings: {acute_cutaneous_lupus: present, synovitis_2_or_more_joints: present}\n"
        "labs: {ana_titer: 1:40}\n"
    )

    def entry(assessment: dict[str, Any]) -> str:
        return str(assessment["criteria"]["eular_acr_sle_2019"]["entry_status"])

    r = doc.post("/api/assess", files={"file": ("c.yaml", text.encode(), "text/yaml")})
    assert r.status_code == 200, r.text
    assert entry(r.json()) == "absent"
    body = yaml.safe_load(text.replace("1:40", "'1:40'"))
    assert entry(doc.post("/api/assess", json=body).json()) == "absent"
    as_file = {"file": ("c.json", json.dumps(body).encode(), "application/json")}
    assert entry(doc.post("/api/assess", files=as_file).json()) == "absent"
    p = new_patient(doc, name="Titre Patient")
    r = doc.client.post(
        f"/patients/{p['id']}/visits/upload",
        data={"csrf_token": doc.csrf, "visit_date": "2024-08-01", "text": ""},
        files={"file": ("c.yaml", text.encode(), "application/x-yaml")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    visit_id = r.headers["location"].rstrip("/").rsplit("/", 1)[-1]
    assert entry(doc.get(f"/api/visits/{visit_id}").json()["assessment"]) == "absent"


def test_patient_update_conflict_and_delete(doc: Session) -> None:
    a = new_patient(doc, name="First Name", mrn="MRN-A-77")
    b = new_patient(doc, name="Other Name", mrn="MRN-B-77")
    r = doc.send(
        "PATCH", f"/api/patients/{a['id']}", json={"name": "Renamed", "sex": "male", "reason": "misspelt"}
    )
    assert r.status_code == 200
    assert r.json()["name"] == "Renamed"
    assert r.json()["sex"] == "male"
    assert_error(doc.post("/api/patients", json={"name": "Dup", "mrn": "MRN-A-77"}), 409, "registry.conflict")
    # A conflict found only when the transaction commits is an error too, not a silent 200.
    assert_error(
        doc.send("PATCH", f"/api/patients/{b['id']}", json={"mrn": "MRN-A-77", "reason": "typo"}),
        409,
        "registry.conflict",
    )
    assert doc.get(f"/api/patients/{b['id']}").json()["patient"]["mrn"] == "MRN-B-77"
    gone = {"reason": "entered twice"}
    assert doc.send("DELETE", f"/api/patients/{a['id']}", json=gone).status_code == 204
    assert_error(doc.get(f"/api/patients/{a['id']}"), 404, "registry.not-found")
    assert_error(doc.send("DELETE", f"/api/patients/{a['id']}", json=gone), 404, "registry.not-found")


# ---------------------------------------------------------------------------- CSRF, tokens


def test_csrf_on_cookie_sessions(app: FastAPI, doc: Session) -> None:
    c = doc.client
    assert_error(c.post("/api/patients", json={"name": "No Token"}), 403, "auth.csrf")
    assert_error(c.post("/api/patients", json={}, headers={"X-CSRF-Token": "forged"}), 403, "auth.csrf")
    r = c.post("/api/patients", json={"name": "With Token"}, headers={"X-CSRF-Token": doc.csrf})
    assert r.status_code == 201
    pid = r.json()["id"]
    # A form field works too (HTML forms, multipart uploads).
    files = {"file": ("seed.yaml", SEED.read_bytes(), "text/yaml")}
    r = c.post(f"/api/patients/{pid}/visits", files=files, data={"csrf_token": doc.csrf})
    assert r.status_code == 201, r.text
    r = c.post(f"/api/patients/{pid}/visits", files=files, data={"csrf_token": "forged"})
    assert_error(r, 403, "auth.csrf")
    # Reads need no token.
    assert c.get(f"/api/patients/{pid}").status_code == 200
    # Another session's token is not this session's token.
    other = Session(app, "doc")
    assert_error(
        other.client.post("/api/patients", json={}, headers={"X-CSRF-Token": doc.csrf}), 403, "auth.csrf"
    )


def test_bearer_tokens_work_without_csrf(app: FastAPI, doc: Session) -> None:
    r = doc.post("/api/auth/tokens", json={"name": "lab pipeline"})
    assert r.status_code == 201, r.text
    token, token_id = r.json()["token"], r.json()["id"]
    assert token.startswith("ifn_")
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert not api.cookies
    me = api.get("/api/auth/me").json()
    assert me["user"]["username"] == "doc"
    assert me["via"] == "api"
    assert me["csrf_token"] is None
    r = api.post("/api/patients", json={"name": "Via Token"})  # no CSRF token needed
    assert r.status_code == 201, r.text
    listed = doc.get("/api/auth/tokens").json()
    row = next(t for t in listed if t["id"] == token_id)
    assert "token" not in row
    assert row["last_used_at"] is not None
    # A bearer token wins over a cookie: a cookie client sending a token is judged by the token.
    assert_error(
        doc.client.get("/api/patients", headers={"Authorization": "Bearer ifn_wrong"}), 401, "auth.invalid"
    )
    assert doc.send("DELETE", f"/api/auth/tokens/{row['id']}").status_code == 204
    assert_error(api.get("/api/auth/me"), 401, "auth.invalid")


# ------------------------------------------------------------------------------ the limits


def test_uploads_over_the_limit_get_413(doc: Session) -> None:
    p = new_patient(doc, name="Unnamed Test")
    big = b"# padding\n" * 150_000  # 1.5 MB against a 1 MB limit
    r = doc.post(f"/api/patients/{p['id']}/visits", files={"file": ("big.yaml", big, "text/yaml")})
    err = assert_error(r, 413, "registry.too-large")
    assert "1 MB" in err["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes are counted as they come
        for _ in range(15):
            yield b"x" * 100_000

    r = doc.post("/api/assess", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_error(r, 413, "registry.too-large")
    assert doc.get(f"/api/patients/{p['id']}").json()["visits"] == []


# ----------------------------------------------------------------- cohort, export, timeline


def test_cohort_finds_active_dm_and_excludes_ifn_targeted_treatment(doc: Session, res: Session) -> None:
    active = new_patient(doc, name="Cohort Active")
    r = doc.post(
        f"/api/patients/{active['id']}/visits", json={"visit_date": "2025-01-10", "case": case_doc(ACTIVITY)}
    )
    assert r.status_code == 201
    assert r.json()["cdasi_activity"] == pytest.approx(36)
    quiet = new_patient(doc, name="Cohort Unscored")
    doc.post(f"/api/patients/{quiet['id']}/visits", json={"case": case_doc(SEED)})

    query = {"picture": "dermatomyositis", "min_cdasi_activity": 14, "not_on_ifn_targeted": True}
    ids = {x["id"] for x in doc.post("/api/cohort", json=query).json()}
    assert active["id"] in ids
    assert quiet["id"] not in ids
    found = res.post("/api/cohort", json=query).json()
    hit = next(x for x in found if x["id"] == active["id"])
    assert hit["name"] is None
    assert "Cohort Active" not in json.dumps(found)

    r = doc.post(
        f"/api/patients/{active['id']}/treatments", json={"name": "anifrolumab", "started": "2025-02"}
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["agent"] == "anifrolumab"
    assert t["ifn_targeted"] is True
    assert t["stopped"] is None
    assert active["id"] not in {x["id"] for x in doc.post("/api/cohort", json=query).json()}
    loose = {**query, "not_on_ifn_targeted": False}
    assert active["id"] in {x["id"] for x in doc.post("/api/cohort", json=loose).json()}
    r = doc.send("PATCH", f"/api/treatments/{t['id']}", json={"stopped": "2025-06"})
    assert r.status_code == 200
    assert r.json()["stopped"] == "2025-06"
    assert active["id"] in {x["id"] for x in doc.post("/api/cohort", json=query).json()}
    assert_error(doc.post("/api/cohort", json={"picture": "psoriasis"}), 422, "request.invalid")
    assert_error(
        doc.send("PATCH", "/api/treatments/999999", json={"stopped": "2025"}), 404, "registry.not-found"
    )


def test_export_and_timeline(doc: Session, res: Session) -> None:
    p = new_patient(doc, name="Export Personname", mrn="MRN-EXP-1")
    doc.post(f"/api/patients/{p['id']}/visits", json={"visit_date": "2024-01-15", "case": case_doc(ACTIVITY)})
    later = case_doc(ACTIVITY)
    later["activity"]["cdasi"]["areas"]["periorbital"]["erythema"] = 0
    doc.post(f"/api/patients/{p['id']}/visits", json={"visit_date": "2024-05-15", "case": later})

    r = doc.get(f"/api/patients/{p['id']}/export", params={"format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="{p["pseudonym"]}.csv"'
    lines = r.text.splitlines()
    assert lines[0].startswith("kind,patient,")
    assert any(",cdasi_activity,36" in x for x in lines)
    assert "Export Personname" not in r.text

    r = doc.get(f"/api/patients/{p['id']}/export")
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"] == f'attachment; filename="{p["pseudonym"]}.json"'
    assert r.json()["patient"]["name"] == "Export Personname"

    r = res.get(f"/api/patients/{p['id']}/export", params={"format": "json"})
    assert r.status_code == 200
    assert r.json()["deidentified"] is True
    for secret in ("Export Personname", "MRN-EXP-1", "2024-01-15", "2024-05-15"):
        assert secret not in r.text, secret
    r = res.get(f"/api/patients/{p['id']}/export", params={"format": "csv"})
    assert "Export Personname" not in r.text
    assert "2024-05-15" not in r.text
    assert_error(doc.get(f"/api/patients/{p['id']}/export", params={"format": "xml"}), 422, "request.invalid")

    tl = doc.get(f"/api/patients/{p['id']}/timeline").json()
    assert [v["cdasi_activity"] for v in tl["visits"]] == [36, 33]
    assert [v["visit_date"] for v in tl["visits"]] == ["2024-01-15", "2024-05-15"]
    tl = res.get(f"/api/patients/{p['id']}/timeline").json()
    assert [v["days_since_first_visit"] for v in tl["visits"]] == [0, 121]
    assert all(v.get("visit_date") is None for v in tl["visits"])  # not on the allow-list: absent


# -------------------------------------------------------------------------------- scores


@pytest.fixture(scope="module")
def matrices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference, select_controls

    folder = tmp_path_factory.mktemp("sig")
    counts, genes, names, _ifn = make_counts(24)
    cohort = folder / "cohort.tsv"
    write_tsv_genes_in_rows(cohort, counts, genes, names)
    m = read_expression(cohort)
    ref = fit_reference(m, select_controls(m, "ctrl"), rule="ctrl")
    ref.save(folder / "blood-controls.json")
    patient = folder / "patient.tsv"  # two interferon-high samples of one patient
    write_tsv_genes_in_rows(patient, counts[[12, 13]], genes, [names[12], names[13]])
    # the same samples measured without aybey_ifng's genes: that signature cannot be scored
    from ifnscope.signatures import get_signature

    drop = set(get_signature("aybey_ifng").symbols) - set(get_signature("rice6").symbols)
    keep = [i for i, g in enumerate(genes) if g not in drop]
    partial = folder / "partial.tsv"
    write_tsv_genes_in_rows(partial, counts[[12, 13]][:, keep], [genes[i] for i in keep], ["p1", "p2"])
    return {"reference": folder / "blood-controls.json", "patient": patient, "partial": partial}


def _upload_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("ifnscope-upload-*")}


def test_scores_upload_is_stored_and_queryable(doc: Session, res: Session, matrices: dict[str, Path]) -> None:
    ref_name = f"blood-controls-{secrets.token_hex(3)}"
    r = doc.post(
        "/api/references",
        files={"file": ("blood-controls.json", matrices["reference"].read_bytes(), "application/json")},
        data={"name": ref_name},
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == ref_name
    assert r.json()["controls"] == 12
    assert ref_name in {x["name"] for x in res.get("/api/references").json()}
    r = doc.post("/api/references", files={"file": ("x.json", b"{not json", "application/json")})
    assert_error(r, 422, "reference.format")
    # garbage is refused by the same check as a file given to the command line
    for body, code in (
        (b'{"a": 1}', "reference.format"),
        (b"[1, 2]", "reference.format"),
        (
            matrices["reference"].read_bytes().replace(b'"genes": {', b'"genes": {"X": {"n": "many"},', 1),
            "reference.format",
        ),
        (
            matrices["reference"].read_bytes().replace(b"ifnscope-reference/2", b"ifnscope-reference/9"),
            "reference.version",
        ),
    ):
        r = doc.post(
            "/api/references", files={"file": ("x.json", body, "application/json")}, data={"name": "x"}
        )
        assert_error(r, 422, code)
    assert "x" not in {x["name"] for x in res.get("/api/references").json()}
    dup = {"file": ("b.json", matrices["reference"].read_bytes(), "application/json")}
    assert_error(doc.post("/api/references", files=dup, data={"name": ref_name}), 409, "registry.conflict")

    p = new_patient(doc, name="Scored Patient")
    v = doc.post(
        f"/api/patients/{p['id']}/visits", json={"visit_date": "2025-03-01", "case": case_doc(ACTIVITY)}
    )
    before = _upload_dirs()
    r = doc.post(
        f"/api/patients/{p['id']}/samples",
        files={"file": ("patient.tsv", matrices["patient"].read_bytes(), "text/tab-separated-values")},
        data={
            "signature": ["rice6", "aybey_ifna"],
            "reference": ref_name,
            "visit_id": str(v.json()["id"]),
            "tissue": "blood",
            "collected_on": "2025-03-01",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["not_scored"] == []
    scores = r.json()["scores"]
    assert len(scores) == 4
    assert {x["signature"] for x in scores} == {"rice6", "aybey_ifna"}
    assert all(x["call"] == "high" and x["reference"] == ref_name for x in scores)
    assert all(x["tissue"] == "blood" and x["collected_on"] == "2025-03-01" for x in scores)
    assert _upload_dirs() <= before  # the upload's private folder is gone

    record = doc.get(f"/api/patients/{p['id']}").json()
    assert len(record["scores"]) == 4
    res_scores = res.get(f"/api/patients/{p['id']}").json()["scores"]
    assert all(x["collected_on"] is None and x["sample"].startswith("sample ") for x in res_scores)
    query = {"picture": "dermatomyositis", "min_cdasi_activity": 14, "ifn_high": "rice6"}
    assert p["id"] in {x["id"] for x in doc.post("/api/cohort", json=query).json()}

    # Researchers may score; wrong inputs are 422 with their own codes.
    data = {"signature": "no_such_signature", "reference": ref_name}
    f = {"file": ("patient.tsv", matrices["patient"].read_bytes(), "text/plain")}
    assert_error(res.post(f"/api/patients/{p['id']}/samples", files=f, data=data), 422, "signature.unknown")
    f = {"file": ("patient.xlsx", b"PK", "application/octet-stream")}
    assert_error(
        doc.post(f"/api/patients/{p['id']}/samples", files=f, data={"signature": "rice6"}),
        422,
        "matrix.format",
    )
    f = {"file": ("patient.tsv", matrices["patient"].read_bytes(), "text/plain")}
    r = doc.post(
        f"/api/patients/{p['id']}/samples", files=f, data={"signature": "rice6", "reference": "missing"}
    )
    assert_error(r, 404, "registry.not-found")
    assert_error(doc.post(f"/api/patients/{p['id']}/samples", files=f), 422, "request.invalid")
    assert len(doc.get(f"/api/patients/{p['id']}").json()["scores"]) == 4  # failures stored nothing
    # no signature scorable (no reference for published methods): 422, nothing stored
    r = doc.post(f"/api/patients/{p['id']}/samples", files=f, data={"signature": ["rice6", "aybey_ifna"]})
    assert_error(r, 422, "signature.needs-reference")
    assert len(doc.get(f"/api/patients/{p['id']}").json()["scores"]) == 4

    # One signature that cannot be scored does not stop the others: stored, and reported.
    f = {"file": ("partial.tsv", matrices["partial"].read_bytes(), "text/plain")}
    r = doc.post(
        f"/api/patients/{p['id']}/samples",
        files=f,
        data={"signature": ["rice6", "aybey_ifng"], "reference": ref_name},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert [(x["signature"], x["code"]) for x in body["not_scored"]] == [("aybey_ifng", "signature.coverage")]
    assert "genes found" in body["not_scored"][0]["message"]
    new = [x for x in body["scores"] if x["sample"] in ("p1", "p2")]
    assert {x["signature"] for x in new} == {"rice6"}
    assert len(new) == 2
    assert any("scored on" in n for n in body["notes"])


def _hostile_uploads(folder: Path, patient_tsv: bytes) -> list[tuple[str, bytes, str]]:
    """Broken and hostile files a user or an attacker uploads: (file name, bytes, expected code)."""
    import gzip
    import zlib

    import h5py
    import numpy as np

    good_gz = gzip.compress(patient_tsv)
    big = folder / "huge.h5ad"  # an .h5ad that declares 10^9 x 10^9 cells and genes
    with h5py.File(big, "w") as f:
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = np.array([10**9, 10**9])
        g.create_dataset("data", data=np.zeros(0, np.float32))
        g.create_dataset("indices", data=np.zeros(0, np.int32))
        g.create_dataset("indptr", data=np.zeros(2, np.int64))
        for axis in ("obs", "var"):
            a = f.create_group(axis)
            a.attrs["encoding-type"] = "dataframe"
            a.attrs["encoding-version"] = "0.2.0"
            a.attrs["_index"] = "_index"
            a.attrs["column-order"] = np.array([], dtype="S1")
            a.create_dataset("_index", data=np.array([b"x"]))
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)  # a gzip stream of 200 MB of one byte
    chunk = b"\t" * (1 << 20)
    bomb_bytes = b"".join(bomb.compress(chunk) for _ in range(200)) + bomb.flush()
    return [
        ("truncated.tsv.gz", good_gz[: len(good_gz) // 2], "matrix."),
        ("latin1.tsv", patient_tsv.replace(b"\n", "_s\u00e4mple\n".encode("latin-1"), 1), "matrix.format"),
        ("huge.h5ad", big.read_bytes(), "matrix."),  # corrupt: obs and var disagree with it
        ("cellranger.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "matrix."),
        ("truncated.h5ad", big.read_bytes()[:600], "matrix."),
        ("bomb.tsv.gz", bomb_bytes, "matrix."),
    ]


def test_hostile_uploads_are_422_and_store_nothing(
    doc: Session, matrices: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every broken or hostile upload answers a structured 422 (never a 500 or a hang), leaves no
    score behind and no upload folder on disk."""
    monkeypatch.setenv("IFNSCOPE_MAX_DECOMPRESSED_BYTES", str(64 << 20))
    p = new_patient(doc, name="Hostile Upload")
    before = _upload_dirs()
    for name, body, code in _hostile_uploads(tmp_path, matrices["patient"].read_bytes()):
        r = doc.post(
            f"/api/patients/{p['id']}/samples",
            files={"file": (name, body, "application/octet-stream")},
            data={"signature": "rice6"},
        )
        assert r.status_code == 422, (name, r.status_code, r.text[:300])
        err = r.json()["error"]
        assert err["code"].startswith(code), (name, err)
        assert "Traceback" not in err["message"]
    assert doc.get(f"/api/patients/{p['id']}").json()["scores"] == []
    assert _upload_dirs() <= before


# ------------------------------------------------------------------------- audit, logging


def test_audit_log_has_ids_and_no_names(doc: Session, boss: Session) -> None:
    p = new_patient(doc, name="Audited Personname", mrn="MRN-AUD-9")
    doc.post(f"/api/patients/{p['id']}/visits", json={"case": case_doc(SEED)})
    doc.get(f"/api/patients/{p['id']}")
    doc.get("/api/patients", params={"q": "Audited Personname"})
    r = boss.get("/api/audit", params={"patient_id": p["id"]})
    assert r.status_code == 200
    events = r.json()
    assert {"create_patient", "add_visit", "read_patient"} <= {e["action"] for e in events}
    assert all(e["patient_id"] == p["id"] and e["user"] == "doc" for e in events)
    everything = boss.get("/api/audit", params={"limit": 5000}).text
    for secret in ("Audited Personname", "MRN-AUD-9", "Personname"):
        assert secret not in everything
    assert "list_patients" in everything
    assert "login" in everything


def test_a_search_leaves_no_query_text_in_the_logs(doc: Session, caplog: pytest.LogCaptureFixture) -> None:
    secret = "Zebulonsearchname"
    new_patient(doc, name=f"{secret} Person")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        r = doc.get("/api/patients", params={"q": secret})
    assert r.status_code == 200
    assert len(r.json()) == 1
    server = [rec for rec in caplog.records if not rec.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(f"{rec.name} {rec.getMessage()}" for rec in server)
    assert "GET /api/patients 200" in text  # the access line is there ...
    assert secret not in text
    assert "?q=" not in text


def test_uvicorn_access_records_lose_their_query_string() -> None:
    from ifnscope.web.logs import StripQueryFilter

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/patients?q=Jane%20Doe", "1.1", 200),
        None,
    )
    assert StripQueryFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/patients HTTP/1.1" 200'


def test_internal_errors_are_500_without_detail(
    app: FastAPI, doc: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        r = doc.get("/api/_test/boom")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal error"}}
    assert "Traceback" not in r.text
    assert "Secretname" not in r.text
    assert "RuntimeError" in caplog.text  # the log says what broke ...
    assert "Secretname" not in caplog.text  # ... but not the message, which may quote patient data


# ------------------------------------------------------------------------------- admins


def test_admin_creates_users(app: FastAPI, doc: Session, boss: Session) -> None:
    name = f"newres{secrets.token_hex(3)}"
    body = {"username": name, "password": PASSWORD, "role": "researcher"}
    assert_error(doc.post("/api/admin/users", json=body), 403, "registry.forbidden")
    r = boss.post("/api/admin/users", json=body)
    assert r.status_code == 201
    assert r.json()["role"] == "researcher"
    assert_error(boss.post("/api/admin/users", json=body), 409, "registry.conflict")
    err = assert_error(
        boss.post("/api/admin/users", json={**body, "username": name + "x", "password": "short"}),
        422,
        "registry.invalid",
    )
    assert "12 characters" in err["message"]
    assert_error(boss.post("/api/admin/users", json={**body, "role": "root"}), 422, "request.invalid")
    assert name in {u["username"] for u in boss.get("/api/admin/users").json()}
    assert Session(app, name).user["role"] == "researcher"


# ------------------------------------------------------------------- settings, CLI, server


def test_secret_key_file_is_private(tmp_path: Path) -> None:
    key = tmp_path / "secret_key"
    first = Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert key.exists()
    assert (key.stat().st_mode & 0o777) == 0o600
    assert len(key.read_text().strip()) >= 32
    assert first.secret == key.read_text().strip()
    key.chmod(0o644)  # loosened by hand: tightened again on the next start
    assert Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}").secret == first.secret
    assert (key.stat().st_mode & 0o777) == 0o600
    with pytest.raises(RegistryError, match="16 characters"):
        Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}", secret_key="short")


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IFNSCOPE_DATABASE_URL", f"sqlite:///{tmp_path / 'r.sqlite3'}")
    monkeypatch.setenv("IFNSCOPE_MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("IFNSCOPE_DEMO", "1")
    s = Settings.from_env(demo=False)
    assert s.max_upload_bytes == 7 * 1024 * 1024
    assert s.demo is False
    assert (tmp_path / "secret_key").exists()
    assert Settings.from_env().secret == s.secret  # the same key on the next start
    monkeypatch.setenv("IFNSCOPE_MAX_UPLOAD_MB", "lots")
    with pytest.raises(RegistryError, match="IFNSCOPE_MAX_UPLOAD_MB"):
        Settings.from_env()
    monkeypatch.delenv("IFNSCOPE_MAX_UPLOAD_MB")
    with pytest.raises(RegistryError, match="not a database URL"):
        Settings.from_env(database_url="not a url")


def test_admin_cli(module_db_url: str) -> None:
    db_url = module_db_url
    from ifnscope.cli import app as cli

    runner = CliRunner()
    name = f"cliuser{secrets.token_hex(3)}"
    args = ["--database-url", db_url]
    r = runner.invoke(cli, ["admin", "migrate", *args])
    assert r.exit_code == 0
    assert "already at revision" in r.output
    r = runner.invoke(
        cli, ["admin", "create-user", name, "--role", "clinician", *args], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.output  # the prompt hides it
    r = runner.invoke(cli, ["admin", "create-token", name, "--name", "etl", *args])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    assert token.startswith("ifn_")
    r = runner.invoke(cli, ["admin", "users", "--json", *args])
    assert name in {u["username"] for u in json.loads(r.stdout)}
    r = runner.invoke(cli, ["admin", "create-user", "x", "--role", "root", "--password", PASSWORD, *args])
    assert r.exit_code == 2
    assert "unknown role" in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(cli, ["admin", "create-user", name, "--role", "admin", "--password", PASSWORD, *args])
    assert r.exit_code == 2
    assert "already exists" in r.output
    r = runner.invoke(cli, ["admin", "create-user", "y", "--role", "admin", "--password", "short", *args])
    assert r.exit_code == 2
    assert "at least 12" in r.output
    r = runner.invoke(cli, ["admin", "create-token", "ghost", "--name", "x", *args])
    assert r.exit_code == 2
    assert "no active user" in r.output
    r = runner.invoke(cli, ["admin", "users", "--database-url", "nonsense"])
    assert r.exit_code == 2
    assert "not a database URL" in r.output


def test_demo_data(tmp_path: Path) -> None:
    from ifnscope.web.demo import DEMO_PASSWORD

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'demo.sqlite3'}", demo=True))
    info = app.state.demo
    assert info is not None
    assert info.users == ["clinician", "researcher", "admin"]
    assert info.password == DEMO_PASSWORD
    assert "demo" in info.describe()
    c = TestClient(app)
    c.post("/api/auth/login", json={"username": "clinician", "password": DEMO_PASSWORD})
    patients = c.get("/api/patients").json()
    assert len(patients) == info.patients >= 2
    assert all(p["visits"] >= 1 for p in patients)
    trend = next(p for p in patients if p["visits"] == 2)
    cdasi = [v["cdasi_activity"] for v in c.get(f"/api/patients/{trend['id']}/timeline").json()["visits"]]
    assert cdasi == [41, 36]
    # A second start creates nothing.
    again = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'demo.sqlite3'}", demo=True))
    assert again.state.demo is None
    for a in (app, again):
        a.state.registry.engine.dispose()


def test_demo_cases_are_read_as_the_case_reader_reads_them(tmp_path: Path) -> None:
    """An unquoted titre in a demo example stays 1:40 in the stored case (YAML 1.1 would store
    the base-60 number 100, which meets the SLE entry criterion; issue 9)."""
    from ifnscope.web.demo import _load

    doc = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    doc.setdefault("labs", {})["ana_titer"] = "ANA"
    text = yaml.safe_dump(doc, sort_keys=False).replace("ana_titer: ANA", "ana_titer: 1:40")
    path = tmp_path / "titre.yaml"
    path.write_text(text, encoding="utf-8")
    stored = _load(path)
    assert stored is not None
    assert stored["labs"]["ana_titer"] == "1:40"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_uvicorn_and_keeps_queries_out_of_its_log(tmp_path: Path) -> None:
    port = _free_port()
    log_file = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("IFNSCOPE_DATABASE_URL", "IFNSCOPE_SECRET_KEY")}
    cmd = [sys.executable, "-m", "ifnscope", "serve", "--port", str(port), "--demo"]
    cmd += ["--database-url", f"sqlite:///{tmp_path / 'served.sqlite3'}"]
    with log_file.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "the server did not start in 60 s"
            time.sleep(0.3)
        with httpx.Client(base_url=base) as c:
            r = c.post("/api/auth/login", json={"username": "clinician", "password": "ifnscope-demo"})
            assert r.status_code == 200
            assert c.get("/api/patients", params={"q": "Qwertysecretname"}).status_code == 200
            assert_error(c.get("/api/patients/Qwertysecretname"), 422, "request.invalid")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log_file.read_text()
    assert f"http://127.0.0.1:{port}/" in text
    assert "ifnscope-demo" in text
    assert "demo mode only" in text
    assert "GET /api/patients 200" in text
    assert "GET /api/patients/{patient_id} 422" in text
    assert "Qwertysecretname" not in text
    assert "Traceback" not in text
