"""The OpenAPI document tells the truth, and the web form, the API and the services share one
set of input rules (registry.inputs)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ifnscope.errors import RegistryError
from ifnscope.registry import services
from ifnscope.registry.auth import insert_user
from ifnscope.registry.services import CohortQuery
from ifnscope.web import Settings, create_app

PASSWORD = "correct-horse-battery"
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    folder: Path = tmp_path_factory.mktemp("openapi")
    application = create_app(Settings(database_url=f"sqlite:///{folder / 'reg.db'}"))
    with application.state.registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "boss", PASSWORD, "admin")
    yield application
    application.state.registry.close()


def _token(app: FastAPI, username: str) -> dict[str, str]:
    with app.state.registry.transaction() as s:
        actor = services.login(s, username, PASSWORD, via="api")
        token = services.create_token(s, actor, "test", days=1).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def doc(app: FastAPI) -> TestClient:
    return TestClient(app, headers=_token(app, "doc"), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def boss(app: FastAPI) -> TestClient:
    return TestClient(app, headers=_token(app, "boss"), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    got: dict[str, Any] = TestClient(app).get("/openapi.json").json()
    return got


def _ops(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


# ------------------------------------------------------------------------------- document


def test_every_error_response_is_the_real_error_shape(spec: dict[str, Any]) -> None:
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    err = spec["components"]["schemas"]["ErrorResponse"]
    assert err["required"] == ["error"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's shape, never sent
    for path, method, op in _ops(spec):
        errors = {k: v for k, v in op["responses"].items() if k.startswith(("4", "5"))}
        assert "422" in errors, (method, path)
        for status, resp in errors.items():
            assert resp["content"]["application/json"]["schema"] == ref, (method, path, status)


def test_statuses_follow_what_the_operation_can_do(spec: dict[str, Any]) -> None:
    item = spec["paths"]["/api/patients/{patient_id}"]
    assert {"401", "403", "404", "422"} <= set(item["get"]["responses"])
    assert "409" in item["patch"]["responses"]  # the same MRN
    assert "409" not in item["get"]["responses"]
    assert "404" not in spec["paths"]["/api/patients"]["get"]["responses"]
    login = spec["paths"]["/api/auth/login"]["post"]
    assert login["security"] == []
    assert "401" in login["responses"]


def test_security_schemes_are_the_token_and_the_session_cookie(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["sessionCookie"]["name"] == "ifnscope_session"
    op = spec["paths"]["/api/patients"]["post"]
    assert op["security"] == [{"bearerToken": []}, {"sessionCookie": []}]


def test_created_and_list_headers_are_documented(spec: dict[str, Any]) -> None:
    for path, method, op in _ops(spec):
        if "201" in op["responses"]:
            assert op["responses"]["201"]["headers"]["Location"]["required"] is True, (method, path)
    lists = spec["paths"]["/api/patients"]["get"]["responses"]["200"]
    assert lists["headers"]["X-Total-Count"]["schema"]["type"] == "integer"


# ------------------------------------------------------------------------------ behaviour


def test_created_patient_has_a_location_that_reads_it(doc: TestClient) -> None:
    r = doc.post("/api/patients", json={"name": "Located Patient"})
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    assert location == f"/api/patients/{r.json()['id']}"
    assert doc.get(location).json()["patient"]["name"] == "Located Patient"


def test_lists_carry_the_total_beyond_the_page(doc: TestClient, boss: TestClient) -> None:
    for i in range(3):
        assert doc.post("/api/patients", json={"name": f"Paged {i}"}).status_code == 201
    r = doc.get("/api/patients", params={"limit": 1, "q": "Paged"})
    assert len(r.json()) == 1
    assert r.headers["x-total-count"] == "3"
    assert int(boss.get("/api/audit", params={"limit": 1}).headers["x-total-count"]) > 1


def test_timestamps_carry_their_offset(doc: TestClient) -> None:
    r = doc.post("/api/auth/tokens", json={"name": "zone", "days": 1})
    assert r.status_code == 201
    assert r.headers["location"] == f"/api/auth/tokens/{r.json()['id']}"
    listed = doc.get("/api/auth/tokens").json()
    stamp = listed[-1]["created_at"]
    assert re.search(r"(\+00:00|Z)$", stamp), stamp
    assert dt.datetime.fromisoformat(stamp).utcoffset() == dt.timedelta(0)


def test_405_allows_every_method_of_the_path(doc: TestClient) -> None:
    r = doc.put("/api/patients/1", json={})
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "request.method-not-allowed"
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed  # Starlette named only the first route's GET
    assert "PUT" not in allowed


# ------------------------------------------------------------------- one set of input rules


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "Future Born", "birth_date": TOMORROW}, "body.birth_date", "in the future"),
        ({"name": "Too Old", "birth_date": "1850-01-01"}, "body.birth_date", "before 1900"),
        ({}, "body.name", "Field required"),
        ({"name": "   "}, "body.name", "Enter the patient's name"),
    ],
)
def test_api_refuses_what_the_form_refuses(
    doc: TestClient, body: dict[str, Any], field: str, message: str
) -> None:
    r = doc.post("/api/patients", json=body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "request.invalid"
    assert err["field"] == field
    assert message in err["issues"][0]["message"]


def test_visit_in_the_future_is_refused_by_json_and_upload(doc: TestClient) -> None:
    pid = doc.post("/api/patients", json={"name": "Visit Dates", "birth_date": "1980-01-01"}).json()["id"]
    case = {"format": "ifnscope-case/1", "id": "x"}
    r = doc.post(f"/api/patients/{pid}/visits", json={"visit_date": "2030-01-01", "case": case})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "body.visit_date"
    assert "in the future" in r.json()["error"]["message"]
    files = {"file": ("case.yaml", b"format: ifnscope-case/1\nid: x\n", "text/yaml")}
    r = doc.post(f"/api/patients/{pid}/visits", files=files, data={"visit_date": "2030-01-01"})
    assert r.status_code == 422
    assert "in the future" in r.json()["error"]["message"]


def test_cohort_on_an_unknown_signature_is_refused(doc: TestClient) -> None:
    r = doc.post("/api/cohort", json={"ifn_high": "no_such_signature"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "body.ifn_high"
    assert "Choose a signature from the list" in r.json()["error"]["message"]
    assert doc.post("/api/cohort", json={"ifn_high": "RICE6"}).status_code == 200  # as the CLI forgives
    assert doc.post("/api/cohort", json={"min_cdasi_activity": 101}).status_code == 422


def test_services_refuse_the_same_without_the_web(app: FastAPI) -> None:
    with app.state.registry.transaction() as s:
        doc = services.login(s, "doc", PASSWORD, via="api")
        with pytest.raises(RegistryError) as err:
            services.create_patient(s, doc, name="Later", birth_date=dt.date.today() + dt.timedelta(days=3))
        assert err.value.code == "registry.invalid"
        assert err.value.loc == ("birth_date",)
        with pytest.raises(RegistryError):
            services.create_patient(s, doc)  # neither a name nor an MRN
        pid = services.create_patient(s, doc, name="Born 1990", birth_date=dt.date(1990, 5, 1)).id
        case = {"format": "ifnscope-case/1", "id": "x"}
        with pytest.raises(RegistryError) as err:
            services.add_visit(s, doc, pid, case, visit_date=dt.date(1989, 1, 1))
        assert err.value.loc == ("visit_date",)
        assert "before the patient's birth date" in err.value.message
    with pytest.raises(ValueError, match="Choose a signature"):
        CohortQuery(ifn_high="rice7x")


def test_web_form_shows_the_shared_messages(app: FastAPI) -> None:
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/api/auth/login", json={"username": "doc", "password": PASSWORD})
    csrf = r.json()["csrf_token"]
    form = {"name": "Form Future", "birth_date": TOMORROW, "csrf_token": csrf}
    r = c.post("/patients/new", data=form, headers={"Accept": "text/html", "X-CSRF-Token": csrf})
    assert r.status_code == 422
    assert "The birth date is in the future." in r.text
    form = {"ifn_high": "no_such_signature", "csrf_token": csrf}
    r = c.post("/cohort", data=form, headers={"Accept": "text/html", "X-CSRF-Token": csrf})
    assert r.status_code == 422
    assert "Choose a signature from the list." in r.text


def test_an_id_beyond_the_database_is_422_not_500(doc: TestClient) -> None:
    r = doc.delete("/api/patients/129657633325300547584")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "request.invalid"
