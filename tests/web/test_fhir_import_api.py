"""Import a patient from FHIR into the registry (issue 13, item 1): a record sent to the API,
and a record read from a FHIR server on the registry's allow-list, with its token and pages."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from ifnscope.registry.auth import insert_user
from ifnscope.web import Settings, create_app
from tests.fhir.test_import import DM_BUNDLE, SYNTHEA, needs_examples
from tests.web.test_api import PASSWORD, Session, assert_error
from tests.web.test_cds_hooks import _Fhir, dm_fhir_server


@pytest.fixture(scope="module")
def fhir_base() -> Iterator[str]:
    mrn = {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}
    name = [{"use": "official", "family": "Roe", "given": ["Jane"]}]
    with dm_fhir_server(name=name, identifier=[{**mrn, "value": "MRN-77"}]) as base:
        yield base


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, fhir_base: str) -> Iterator[FastAPI]:
    db = tmp_path_factory.mktemp("fhirimport") / "r.sqlite3"
    application = create_app(
        Settings(database_url=f"sqlite:///{db}", fhir_servers=f"https://other.example/fhir, {fhir_base}")
    )
    with application.state.registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "res", PASSWORD, "researcher")
    yield application
    application.state.registry.engine.dispose()


@pytest.fixture(scope="module")
def doc(app: FastAPI) -> Session:
    return Session(app, "doc")


@needs_examples
def test_a_third_party_record_becomes_a_patient_and_a_visit(doc: Session) -> None:
    path = next(p for p in SYNTHEA if p.name.startswith("Willy_Koepp"))
    r = doc.post(
        "/api/patients/import/fhir?visit_date=2024-05-01",
        content=path.read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert r.headers["location"] == f"/api/patients/{out['patient']['id']}"
    assert out["visit_id"] is not None
    assert out["counts"]["mapped"] >= 10
    record = doc.get(f"/api/patients/{out['patient']['id']}?full=true").json()
    assert record["patient"]["name"] == "Willy Koepp"
    assert record["patient"]["mrn"] == "ebbb96ce-c538-4ac4-ad6a-7c709ef6639c"
    assert record["birth_date"] == "1977-04-11"
    (visit,) = record["visits"]
    assert any("Methotrexate" in m["name"] for m in visit["case"]["medications"])
    again = doc.post(
        "/api/patients/import/fhir", content=path.read_bytes(), headers={"Content-Type": "application/json"}
    )
    assert_error(again, 409, "registry.conflict")  # the same MRN: one patient, not two


def test_a_record_that_is_not_fhir_is_422_and_stores_nothing(doc: Session) -> None:
    before = doc.get("/api/patients").headers["x-total-count"]
    r = doc.post("/api/patients/import/fhir", json=[1, 2])
    assert_error(r, 422, "fhir.format")
    r2 = doc.post("/api/patients/import/fhir", json={"resourceType": "Bundle", "entry": []})
    assert_error(r2, 422, "fhir.invalid")
    assert doc.get("/api/patients").headers["x-total-count"] == before


def test_a_researcher_may_not_import(app: FastAPI) -> None:
    res = Session(app, "res")
    r = res.post("/api/patients/import/fhir", json=copy.deepcopy(DM_BUNDLE))
    assert_error(r, 403, "registry.forbidden")


def test_a_patient_read_from_an_allowed_fhir_server(doc: Session, fhir_base: str) -> None:
    body = {"base_url": fhir_base, "patient_id": "p1", "token": _Fhir.token, "visit_date": "2026-03-02"}
    r = doc.post("/api/patients/import/fhir-server", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    record = doc.get(f"/api/patients/{out['patient']['id']}?full=true").json()
    assert (record["patient"]["name"], record["patient"]["mrn"]) == ("Jane Roe", "MRN-77")
    ck = record["visits"][0]["case"]["labs"]["ck"]
    assert [x["value"] for x in ck] == [5400, 1900]  # the second page was read too
    assert any("_page=2" in p for p in _Fhir.seen)
    wrong = doc.post("/api/patients/import/fhir-server", json={**body, "token": "wrong"})
    assert_error(wrong, 502, "fhir.server")
    elsewhere = doc.post(
        "/api/patients/import/fhir-server", json={**body, "base_url": "https://evil.example/fhir"}
    )
    assert_error(elsewhere, 403, "registry.forbidden")


def test_a_record_with_nothing_to_assess_gives_the_patient_without_a_visit(doc: Session) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "x1",
        "name": [{"text": "Ann Empty"}],
        "birthDate": "1970-01-02",
    }
    r = doc.post("/api/patients/import/fhir", json=patient)
    assert r.status_code == 201, r.text
    assert r.json()["visit_id"] is None
    assert "nothing to assess" in r.json()["no_visit_because"]


def test_a_registry_patient_exports_as_fhir_with_the_interferon_scores(app: FastAPI, doc: Session) -> None:
    """The record as a FHIR Bundle: the identified Patient, each visit's case and criteria
    Observations, and every IFN score as an Observation with its signature and method."""
    from fhir.resources.R4B.bundle import Bundle
    from sqlalchemy import select

    from ifnscope.registry.models import IfnScore, Sample

    body = copy.deepcopy(DM_BUNDLE)
    body["entry"][0]["resource"]["name"] = [{"text": "Fhir Export"}]
    out = doc.post("/api/patients/import/fhir?visit_date=2026-03-01", json=body).json()
    pid = out["patient"]["id"]
    with app.state.registry.transaction() as s:
        sample = Sample(patient_id=pid, visit_id=out["visit_id"], label="S-secret-label", tissue="blood")
        s.add(sample)
        s.flush()
        s.add(
            IfnScore(
                sample_id=sample.id,
                signature="feng_ifi27",
                method="zscore_mean",
                score=2.4,
                call="high",
                genes_found=5,
                genes_total=5,
            )
        )
    r = doc.get(f"/api/patients/{pid}/export?format=fhir")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.headers["content-disposition"].endswith('.fhir.json"')
    bundle = r.json()
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    (patient,) = [x for x in resources if x["resourceType"] == "Patient"]
    assert patient["name"] == [{"text": "Fhir Export"}]
    (ifn,) = [
        x
        for x in resources
        if x["resourceType"] == "Observation" and x["code"]["coding"][0]["system"].endswith("ifn-signature")
    ]
    assert (ifn["code"]["coding"][0]["code"], ifn["method"]["text"], ifn["valueQuantity"]["value"]) == (
        "feng_ifi27",
        "zscore_mean",
        2.4,
    )
    assert ifn["interpretation"][0]["coding"][0]["code"] == "H"
    assert "S-secret-label" not in r.text  # the sample's typed label is not written
    criteria = [
        x
        for x in resources
        if x["resourceType"] == "Observation" and x["code"]["coding"][0]["system"].endswith(":criteria")
    ]
    assert len(criteria) == 5
    urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = [
        x["reference"]
        for res in resources
        for k in ("subject", "device")
        if isinstance(res.get(k), dict)
        for x in [res[k]]
    ]
    assert set(refs) <= urls
    with app.state.registry.transaction() as s:
        assert s.scalars(select(IfnScore)).first() is not None
    res = Session(app, "res")
    assert_error(res.get(f"/api/patients/{pid}/export?format=fhir"), 403, "registry.forbidden")
