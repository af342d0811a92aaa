"""The web page that imports a patient from FHIR (issue 13): a file or an allowed server, and
the import report shown afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from ifnscope.registry.auth import insert_user
from ifnscope.web import Settings, create_app
from tests.fhir.test_import import SYNTHEA, needs_examples
from tests.web.test_pages import PASSWORD, Browser


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    db = tmp_path_factory.mktemp("fhirpage") / "r.sqlite3"
    application = create_app(
        Settings(database_url=f"sqlite:///{db}", fhir_servers="https://fhir.example.org/r4")
    )
    with application.state.registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "res", PASSWORD, "researcher")
    yield application
    application.state.registry.engine.dispose()


def upload(doc: Browser, name: str, content: bytes, **fields: Any) -> Any:
    data = {"csrf_token": doc.csrf, "source": "file", **fields}
    return doc.client.post("/patients/import", data=data, files={"file": (name, content, "application/json")})


def test_the_page_offers_a_file_and_the_allowed_servers(app: FastAPI) -> None:
    doc = Browser(app, "doc")
    page = doc.get("/patients/import")
    assert page.status_code == 200
    assert 'id="import-file"' in page.text
    assert '<option value="https://fhir.example.org/r4"' in page.text
    assert 'href="/patients/import"' in doc.get("/").text
    assert Browser(app, "res").get("/patients/import").status_code == 403


@needs_examples
def test_a_file_becomes_a_patient_with_its_report(app: FastAPI) -> None:
    doc = Browser(app, "doc")
    path = next(p for p in SYNTHEA if p.name.startswith("Christian"))
    r = upload(doc, path.name, path.read_bytes())
    assert r.status_code == 201, r.text[:500]
    assert 'id="import-result"' in r.text
    assert "A visit was recorded and assessed." in r.text
    assert "labs.wbc" in r.text  # the report table
    again = upload(doc, path.name, path.read_bytes())
    assert again.status_code == 409
    assert "registry.conflict" in again.text


def test_what_cannot_be_imported_says_why(app: FastAPI) -> None:
    doc = Browser(app, "doc")
    bad = upload(doc, "x.json", b'{"resourceType": "Bundle", "entry": [')
    assert bad.status_code == 422
    assert "not FHIR JSON" in bad.text
    no_type = upload(doc, "x.json", b'{"resourceType": "Bundle", "entry": []}')
    assert no_type.status_code == 422
    assert "fhir.invalid" in no_type.text
    elsewhere = doc.post(
        "/patients/import", {"source": "server", "base_url": "http://127.0.0.1:9/", "patient": "p1"}
    )
    assert elsewhere.status_code == 422
    assert "Choose one of the FHIR servers" in elsewhere.text
    no_csrf = doc.client.post("/patients/import", data={"source": "file"})
    assert no_csrf.status_code == 403
