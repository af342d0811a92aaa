"""CDS Hooks 2.0 (issue 13, item 3): discovery, a patient-view call answered with cards, the
EHR's JWT, the FHIR server read with the token the call gives, feedback, and the report link.
The specification's own examples (../shared/data/fhir_examples/cds_hooks) are used as they are."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ifnscope.registry.auth import insert_user
from ifnscope.registry.models import AuditEvent, CdsCard, CdsFeedback
from ifnscope.web import Settings, create_app
from tests.fhir.test_import import DM_BUNDLE, EXAMPLES
from tests.web.test_pages import PASSWORD, Browser

BASE = "https://cds.test"
SERVICE = "ifnscope-patient-view"
ISS = "https://ehr.test"
SPEC = EXAMPLES / "cds_hooks"
needs_spec = pytest.mark.skipif(not SPEC.is_dir(), reason=f"SKIPPED: {SPEC} is missing")

KEY = ec.generate_private_key(ec.SECP384R1())
JWK = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
JWK.update(kid="ehr-key-1", alg="ES384", use="sig")
ISS2 = "https://other-ehr.test"  # a second trusted EHR
KEY2 = ec.generate_private_key(ec.SECP384R1())
JWK2 = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY2.public_key()))
JWK2.update(kid="ehr-key-1", alg="ES384", use="sig")


def clients_file(folder: Path, fhir_base: str) -> Path:
    (folder / "jwks.json").write_text(json.dumps({"keys": [JWK]}), encoding="utf-8")
    clients = folder / "clients.yaml"
    clients.write_text(
        f"clients:\n  - iss: {ISS}\n    jwks_file: {folder / 'jwks.json'}\n    fhir_servers: [{fhir_base}]\n"
        f"  - iss: {ISS2}\n    jwks: {json.dumps({'keys': [JWK2]})}\n",
        encoding="utf-8",
    )
    return clients


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, fhir_server: str) -> Iterator[FastAPI]:
    folder = tmp_path_factory.mktemp("cds")
    clients = clients_file(folder, fhir_server)
    application = create_app(
        Settings(database_url=f"sqlite:///{folder / 'r.sqlite3'}", cds_clients=clients, public_url=BASE)
    )
    with application.state.registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "res", PASSWORD, "researcher")
    yield application
    application.state.registry.engine.dispose()


@pytest.fixture(scope="module")
def ehr(app: FastAPI) -> TestClient:
    return TestClient(app)


def token(
    aud: str = f"{BASE}/cds-services/{SERVICE}", *, key: Any = KEY, alg: str = "ES384", **claims: Any
) -> str:
    now = int(time.time())
    payload = {"iss": ISS, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": "ehr-key-1", "typ": "JWT"})


def call(ehr: TestClient, body: dict[str, Any], **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {kw.pop('jwt', None) or token()}"}
    return ehr.post(f"/cds-services/{SERVICE}", json=body, headers=headers)


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def dm_request() -> dict[str, Any]:
    """The record of tests/fhir/test_import.py as a patient-view call's prefetch."""
    resources = [e["resource"] for e in copy.deepcopy(DM_BUNDLE)["entry"]]
    for r in resources:
        if "subject" in r:
            r["subject"] = {"reference": "Patient/p1"}
    by_type = {
        t: [r for r in resources if r["resourceType"] == t] for t in {r["resourceType"] for r in resources}
    }
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {
            "patient": by_type["Patient"][0],
            "conditions": searchset(*by_type["Condition"]),
            "labs": searchset(*by_type["Observation"]),
            "medicationRequests": searchset(*by_type["MedicationRequest"]),
            "medicationStatements": searchset(*by_type["MedicationStatement"]),
        },
    }


# ------------------------------------------------------------------------------ discovery


@needs_spec
def test_discovery_has_the_specifications_shape(ehr: TestClient) -> None:
    r = ehr.get("/cds-services")
    assert r.status_code == 200
    (service,) = r.json()["services"]
    example = json.loads((SPEC / "docs_current" / "discovery-response.json").read_text())["services"][0]
    assert set(service) == set(example) | {"prefetch"}
    assert service["hook"] == "patient-view"
    assert all("{{context.patientId}}" in t for t in service["prefetch"].values())


# ------------------------------------------------------------------------------ the call


def test_a_record_with_dermatomyositis_gets_cards(ehr: TestClient, app: FastAPI) -> None:
    r = call(ehr, dm_request())
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    summaries = [c["summary"] for c in cards]
    # no skin finding in this record: the enzyme item and the ANA count, no criteria set is met
    expected = (
        "No criteria set met. EULAR/ACR 2017 IIM: score 1.3 (≈2%); SLICC 2012 SLE: 0 clinical, 1 immunologic"
    )
    assert summaries[0] == expected
    assert summaries[1].startswith("Unrecorded, could change the result: Proximal upper-limb weakness")
    for c in cards:
        assert len(c["summary"]) < 140
        assert c["indicator"] in ("info", "warning", "critical")
        assert c["source"]["label"].startswith("ifnscope ")
        uuid.UUID(c["uuid"])
        (link,) = c["links"]
        assert link["type"] == "absolute"
        assert link["url"].startswith(f"{BASE}/cds/reports/")
    assert "Elevated serum CK, LDH, AST or ALT" in cards[0]["detail"]
    assert "`findings.weakness_proximal_upper" in cards[1]["detail"]
    with app.state.registry.transaction() as s:
        assert s.scalar(select(func.count()).select_from(CdsCard)) >= len(cards)


@needs_spec
def test_the_specifications_request_without_our_prefetch_is_412(ehr: TestClient) -> None:
    example = json.loads((SPEC / "docs_current" / "patient-view-request.json").read_text())
    example.pop("fhirServer")
    example.pop("fhirAuthorization")
    r = call(ehr, example)
    assert r.status_code == 412
    assert r.json()["error"]["code"] == "cds.prefetch"


@needs_spec
def test_a_patient_with_nothing_to_classify_gets_no_cards(ehr: TestClient) -> None:
    example = json.loads((SPEC / "docs_current" / "patient-view-request.json").read_text())
    patient = example["prefetch"]["patientToGreet"]
    example.pop("fhirServer")
    example.pop("fhirAuthorization")
    example["prefetch"] = {"patient": patient, "conditions": None, "labs": None}  # null: no data
    r = call(ehr, example)
    assert r.status_code == 200, r.text
    assert r.json() == json.loads((SPEC / "docs_current" / "cards-empty-response.json").read_text())


@needs_spec
def test_another_hook_is_a_bad_request(ehr: TestClient) -> None:
    order_sign = json.loads(
        (SPEC / "hl7_3.0.0-ballot" / "order-sign-request-paginated-prefetch.json").read_text()
    )
    r = call(ehr, order_sign)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "cds.request"
    assert (
        ehr.post("/cds-services/nope", json={}, headers={"Authorization": f"Bearer {token()}"}).status_code
        == 404
    )


# ------------------------------------------------------------------------------ trust


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: None, "needs its JWT"),
        (
            lambda: jwt.encode({"iss": ISS}, "secret" * 6, algorithm="HS256", headers={"kid": "ehr-key-1"}),
            "not accepted",
        ),
        (lambda: token(aud=f"{BASE}/cds-services/other"), "not valid"),
        (lambda: token(exp=int(time.time()) - 3600), "not valid"),
        (lambda: token(iss="https://evil.test"), "not a trusted"),
        (lambda: token(key=ec.generate_private_key(ec.SECP384R1())), "not valid"),
    ],
)
def test_a_call_without_a_trusted_jwt_is_refused(ehr: TestClient, make: Any, why: str) -> None:
    t = make()
    headers = {"Authorization": f"Bearer {t}"} if t else {}
    r = ehr.post(f"/cds-services/{SERVICE}", json=dm_request(), headers=headers)
    assert r.status_code == 401
    assert why in r.json()["error"]["message"]


def test_a_jwt_is_used_once(ehr: TestClient) -> None:
    t = token()
    assert call(ehr, dm_request(), jwt=t).status_code == 200
    again = call(ehr, dm_request(), jwt=t)
    assert again.status_code == 401
    assert "replay" in again.json()["error"]["message"]


# ------------------------------------------------------------------------------ the FHIR server


class _Fhir(BaseHTTPRequestHandler):
    """A FHIR server with one patient; it answers only the bearer token it was given."""

    resources: ClassVar[dict[str, Any]] = {}
    token = "opaque-token"
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.end_headers()
            return
        body = self.resources.get(self.path.split("&_page")[0] if "&_page=2" not in self.path else "page2")
        if body is None:
            body = searchset()
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def dm_fhir_server(**patient_extra: Any) -> Iterator[str]:
    """A FHIR server holding the DM record (its labs over two pages), at ``base``/fhir."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fhir)
    base = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    prefetch = dm_request()["prefetch"]
    labs = prefetch["labs"]
    first, second = copy.deepcopy(labs), copy.deepcopy(labs)
    first["entry"], second["entry"] = labs["entry"][:2], labs["entry"][2:]
    first["link"] = [
        {"relation": "next", "url": f"{base}/Observation?patient=p1&category=laboratory&_page=2"}
    ]
    _Fhir.resources = {
        "/fhir/Patient/p1": {**prefetch["patient"], **patient_extra},
        "/fhir/Condition?patient=p1": prefetch["conditions"],
        "/fhir/Observation?patient=p1&category=laboratory": first,
        "page2": second,
        "/fhir/MedicationRequest?patient=p1": prefetch["medicationRequests"],
        "/fhir/MedicationStatement?patient=p1": prefetch["medicationStatements"],
    }
    _Fhir.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield base
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[str]:
    with dm_fhir_server() as base:
        yield base


def test_what_was_not_prefetched_is_read_from_the_fhir_server(ehr: TestClient, fhir_server: str) -> None:
    body = dm_request()
    full = call(ehr, copy.deepcopy(body)).json()["cards"]
    body["prefetch"] = {}
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = {
        "access_token": _Fhir.token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "ifnscope",
    }
    r = call(ehr, body)
    assert r.status_code == 200, r.text
    assert [c["summary"] for c in r.json()["cards"]] == [c["summary"] for c in full]
    assert any("_page=2" in p for p in _Fhir.seen)  # the next page was followed
    body["fhirAuthorization"]["access_token"] = "wrong"
    refused = call(ehr, body)
    assert refused.status_code == 412
    # the server's own answer (401) is logged, not echoed to the caller
    assert refused.json()["error"]["message"] == "patient could not be read from the FHIR server"


# ------------------------------------------------------------------------------ feedback


@needs_spec
@pytest.mark.parametrize(
    "example", ["feedback-accepted.json", "feedback-overridden.json", "feedback-overridden-with-reason.json"]
)
def test_the_clinicians_response_is_recorded(ehr: TestClient, app: FastAPI, example: str) -> None:
    card = call(ehr, dm_request()).json()["cards"][0]["uuid"]
    body = json.loads((SPEC / "hl7_3.0.0-ballot" / example).read_text())
    body["feedback"][0]["card"] = card
    url = f"/cds-services/{SERVICE}/feedback"
    r = ehr.post(url, json=body, headers={"Authorization": f"Bearer {token(aud=BASE + url)}"})
    assert r.status_code == 200, r.text
    with app.state.registry.transaction() as s:
        row = s.scalars(select(CdsFeedback).where(CdsFeedback.card_uuid == card)).one()
    assert row.outcome == body["feedback"][0]["outcome"]
    if "reason" in example:
        assert (row.override_code, row.user_comment) == ("d7ecf885", "A comment entered by the clinician.")


def test_feedback_on_a_card_never_returned_stores_nothing(ehr: TestClient, app: FastAPI) -> None:
    url = f"/cds-services/{SERVICE}/feedback"
    body = {
        "feedback": [
            {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-12-04T10:00:00Z"}
        ]
    }
    with app.state.registry.transaction() as s:
        before = s.scalar(select(func.count()).select_from(CdsFeedback))
    r = ehr.post(url, json=body, headers={"Authorization": f"Bearer {token(aud=BASE + url)}"})
    assert r.status_code == 404
    bad = ehr.post(
        url,
        json={"feedback": [{"card": "x", "outcome": "maybe"}]},
        headers={"Authorization": f"Bearer {token(aud=BASE + url)}"},
    )
    assert bad.status_code == 400
    with app.state.registry.transaction() as s:
        assert s.scalar(select(func.count()).select_from(CdsFeedback)) == before


# ------------------------------------------------------------------------------ the report link


def test_the_report_link_opens_for_a_clinician_only(ehr: TestClient, app: FastAPI) -> None:
    link = call(ehr, dm_request()).json()["cards"][0]["links"][0]["url"].removeprefix(BASE)
    anonymous = TestClient(app).get(link, follow_redirects=False)
    assert anonymous.status_code == 303
    assert "/login" in anonymous.headers["location"]
    doc = Browser(app, "doc")
    page = doc.get(link)
    assert page.status_code == 200
    assert "Idiopathic inflammatory myopathies" in page.text or "IIM" in page.text
    assert page.headers["cache-control"] == "no-store"
    res = Browser(app, "res")
    assert res.get(link).status_code == 403  # researchers see de-identified data only
    with app.state.registry.transaction() as s:
        assert (
            s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "cds-report"))
            >= 1
        )


def test_the_services_file_is_read_once_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "clients.yaml"
    bad.write_text("clients:\n  - iss: x\n", encoding="utf-8")  # no key source
    from ifnscope.errors import DataError

    with pytest.raises(DataError):
        create_app(
            Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}", cds_clients=bad, public_url=BASE)
        )


def test_the_seed_case_from_the_ehr_reads_as_the_article_says(ehr: TestClient) -> None:
    """The seed case written as FHIR (ifnscope.fhir.case_to_bundle) and prefetched: probable IIM
    and amyopathic CADM in one line, the unrecorded Gottron's sign, and the missing screening."""
    from ifnscope import fhir
    from ifnscope.case.reader import load_case
    from tests.helpers import ROOT

    bundle = fhir.case_to_bundle(load_case(ROOT / "examples" / "seed-cadm.yaml"))
    resources = [e["resource"] for e in bundle["entry"]]
    for r in resources[1:]:  # an EHR's search results name the patient by its id
        r["subject"] = {"reference": "Patient/seed-cadm"}
    resources[0]["id"] = "seed-cadm"
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": "seed-cadm"},
        "prefetch": {
            "patient": resources[0],
            "labs": searchset(*[r for r in resources if r["resourceType"] == "Observation"]),
            "conditions": searchset(*[r for r in resources if r["resourceType"] == "Condition"]),
        },
    }
    r = call(ehr, body)
    assert r.status_code == 200, r.text
    summaries = [c["summary"] for c in r.json()["cards"]]
    assert summaries[0] == "Criteria met: probable IIM (EULAR/ACR 2017 IIM); amyopathic (Sontheimer CADM)"
    assert summaries[1].startswith("Unrecorded, could change the result: Gottron's sign")
    assert summaries[2].startswith("Cancer screening for adult-onset IIM: Basic panel: 0 of 7 recorded")
    assert [c["indicator"] for c in r.json()["cards"]] == ["info", "info", "warning"]


# ------------------------------------------------------------------------------ at the edges


def test_a_token_whose_alg_does_not_fit_the_key_is_401_not_500(ehr: TestClient) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": ISS, "aud": f"{BASE}/cds-services/{SERVICE}", "iat": now, "exp": now + 60, "jti": "x1"}
    t = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "ehr-key-1"})  # an EC kid
    r = call(ehr, dm_request(), jwt=t)
    assert r.status_code == 401
    assert "is not a key for RS256" in r.json()["error"]["message"]


def test_a_long_lived_token_is_refused(ehr: TestClient) -> None:
    now = int(time.time())
    r = call(ehr, dm_request(), jwt=token(iat=now, exp=now + 3600))
    assert r.status_code == 401
    assert "longer than 300 s" in r.json()["error"]["message"]


def test_a_token_is_refused_again_by_another_server_process(
    ehr: TestClient, app: FastAPI, fhir_server: str
) -> None:
    """The jti is kept in the database: a second app on the same database (another worker, or
    after a restart) refuses it too."""
    t = token()
    assert call(ehr, dm_request(), jwt=t).status_code == 200
    url = str(app.state.settings.database_url)
    other = create_app(
        Settings(database_url=url, cds_clients=app.state.settings.cds_clients, public_url=BASE)
    )
    try:
        again = call(TestClient(other), dm_request(), jwt=t)
        assert again.status_code == 401
        assert "replay" in again.json()["error"]["message"]
    finally:
        other.state.registry.engine.dispose()


def test_an_unregistered_fhir_server_is_never_read(ehr: TestClient) -> None:
    body = dm_request()
    body["prefetch"] = {}
    body["fhirServer"] = "http://127.0.0.1:9/internal"
    body["fhirAuthorization"] = {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": "patient/*.read",
        "subject": "x",
    }
    r = call(ehr, body)
    assert r.status_code == 412
    assert r.json()["error"]["message"] == "this EHR's fhirServer is not registered for it on this service"


def test_a_missing_required_search_is_412_not_fewer_cards(ehr: TestClient) -> None:
    body = dm_request()
    del body["prefetch"]["labs"]
    r = call(ehr, body)
    assert r.status_code == 412
    assert "labs" in r.json()["error"]["message"]
    body = dm_request()
    del body["prefetch"]["medicationStatements"]  # optional: answered without it
    assert call(ehr, body).status_code == 200


def test_the_ehrs_patient_id_is_not_stored(ehr: TestClient, app: FastAPI) -> None:
    from ifnscope.registry.models import CdsCall

    body = dm_request()
    call_url = call(ehr, body).json()["cards"][0]["links"][0]["url"]
    call_id = call_url.rsplit("/", 1)[1]
    with app.state.registry.transaction() as s:
        stored = s.get(CdsCall, call_id)
        assert stored is not None
        assert stored.case is not None
        assert stored.case["id"] == f"cds-{call_id}"
        assert "p1" not in json.dumps(stored.case)


def test_feedback_at_the_edges(ehr: TestClient) -> None:
    url = f"/cds-services/{SERVICE}/feedback"
    card = call(ehr, dm_request()).json()["cards"][0]["uuid"]
    bad_day = {
        "feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-02-30T10:00:00Z"}]
    }
    r = ehr.post(url, json=bad_day, headers={"Authorization": f"Bearer {token(aud=BASE + url)}"})
    assert r.status_code == 400
    ok = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-02-03T10:00:00Z"}]}
    service_aud = ehr.post(url, json=ok, headers={"Authorization": f"Bearer {token()}"})
    assert service_aud.status_code == 401  # a token for the service is not one for its feedback
    other = jwt.encode(
        {"iss": ISS2, "aud": BASE + url, "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "o1"},
        KEY2,
        algorithm="ES384",
        headers={"kid": "ehr-key-1"},
    )
    r2 = ehr.post(url, json=ok, headers={"Authorization": f"Bearer {other}"})
    assert r2.status_code == 404  # another EHR's card


def test_deeply_nested_json_is_a_bad_request(ehr: TestClient) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    headers = {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}
    r = ehr.post(f"/cds-services/{SERVICE}", content=deep, headers=headers)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "cds.request"


def test_trusting_ehrs_needs_the_public_url(tmp_path: Path) -> None:
    from ifnscope.errors import RegistryError

    clients = clients_file(tmp_path, "https://fhir.example/")
    with pytest.raises(RegistryError) as err:
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}", cds_clients=clients))
    assert "IFNSCOPE_PUBLIC_URL" in err.value.message


def test_the_served_app_answers_cds_hooks_over_http(tmp_path: Path, fhir_server: str) -> None:
    """`ifnscope serve` (what `make run` starts) serves discovery, and a trusted EHR's call over
    real HTTP gets its cards."""
    import os

    import httpx

    from tests.server import ServerProcess

    clients = clients_file(tmp_path, fhir_server)
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'r.sqlite3'}", {**os.environ, "IFNSCOPE_CDS_CLIENTS": str(clients)}
    )
    server.env["IFNSCOPE_PUBLIC_URL"] = server.base
    server.start()
    try:
        services = httpx.get(f"{server.base}/cds-services", timeout=10).json()["services"]
        assert [s["id"] for s in services] == [SERVICE]
        url = f"{server.base}/cds-services/{SERVICE}"
        r = httpx.post(
            url, json=dm_request(), headers={"Authorization": f"Bearer {token(aud=url)}"}, timeout=30
        )
        assert r.status_code == 200, r.text
        assert r.json()["cards"][0]["links"][0]["url"].startswith(f"{server.base}/cds/reports/")
    finally:
        server.stop()
