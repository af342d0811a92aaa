"""Records that can be corrected, through the pages: the duplicate-patient warning, correcting
and deleting a patient, a visit and a treatment (each with a reason), the history, the empty-visit
refusal on the case form, a treatment denied by the payer and the letter of medical necessity."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from ifnscope.registry.auth import insert_user
from ifnscope.registry.models import AuditEvent, Visit
from ifnscope.web import Settings, create_app
from tests.web.test_pages import PASSWORD, Browser, form_from_case, seed_doc


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    db = tmp_path_factory.mktemp("records") / "registry.sqlite3"
    application = create_app(Settings(database_url=f"sqlite:///{db}"))
    with application.state.registry.transaction() as s:
        for username, role in (("doc", "clinician"), ("res", "researcher")):
            insert_user(s, username, PASSWORD, role)  # type: ignore[arg-type]
    yield application
    application.state.registry.engine.dispose()


def _patient(doc: Browser, name: str, birth: str = "1985-04-03", mrn: str = "") -> int:
    r = doc.post("/patients/new", {"name": name, "birth_date": birth, "mrn": mrn, "sex": "female"})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _visit(doc: Browser, pid: int, date: str) -> int:
    form = form_from_case(seed_doc())
    form["visit_date"] = date
    r = doc.post(f"/patients/{pid}/visits/new", form)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_a_likely_duplicate_patient_needs_a_confirmation(doc: Browser) -> None:
    first = _patient(doc, "Wilhelmina Duplo", mrn="MRN-DUP-1")
    r = doc.post("/patients/new", {"name": "duplo, WILHELMINA", "birth_date": "1985-04-03"})
    assert r.status_code == 409
    assert 'id="duplicate-warning"' in r.text
    assert f'href="/patients/{first}"' in r.text
    assert 'name="confirm_duplicate"' in r.text
    r = doc.post("/patients/new", {"name": "Someone", "mrn": "MRN-DUP-1"})
    assert r.status_code == 422
    assert "Another patient has this MRN." in r.text
    assert f'href="/patients/{first}"' in r.text
    r = doc.post(
        "/patients/new", {"name": "duplo, WILHELMINA", "birth_date": "1985-04-03", "confirm_duplicate": "yes"}
    )
    assert r.status_code == 303


def test_an_empty_visit_form_is_refused(doc: Browser, app: FastAPI) -> None:
    pid = _patient(doc, "Empty Form", birth="1970-01-01")
    r = doc.post(f"/patients/{pid}/visits/new", {"visit_date": "2025-01-02", "patient.sex": "female"})
    assert r.status_code == 422
    assert "the visit records nothing to assess" in r.text
    r = doc.post(
        f"/patients/{pid}/visits/upload",
        {"visit_date": "2025-01-02", "text": "format: ifnscope-case/1\nid: x\npatient: {age_years: 40}\n"},
    )
    assert r.status_code == 422
    assert "the visit records nothing to assess" in r.text
    with app.state.registry.transaction() as s:
        assert list(s.scalars(select(Visit).where(Visit.patient_id == pid))) == []


def test_correct_and_delete_a_visit_with_history(doc: Browser, res: Browser, app: FastAPI) -> None:
    pid = _patient(doc, "Visit Fixer", birth="1980-01-01")
    older = _visit(doc, pid, "2024-01-10")
    vid = _visit(doc, pid, "2024-06-01")
    page = doc.get(f"/visits/{vid}").text
    assert f'href="/visits/{vid}/edit"' in page
    edit = doc.get(f"/visits/{vid}/edit")
    assert edit.status_code == 200
    text = re.search(r'<textarea id="ve-text"[^>]*>(.*?)</textarea>', edit.text, re.S)
    assert text
    case = yaml.safe_load(text.group(1).replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&"))
    assert case["findings"]["pruritus"] == "present"
    case["findings"]["gottron_sign"] = "present"  # the unknown that makes the IIM category definite
    no_reason = doc.post(f"/visits/{vid}/edit", {"text": yaml.safe_dump(case), "visit_date": "2024-06-02"})
    assert no_reason.status_code == 422
    assert "give the reason for the correction" in no_reason.text
    r = doc.post(
        f"/visits/{vid}/edit",
        {"text": yaml.safe_dump(case), "visit_date": "2024-06-02", "reason": "Gottron sign missed"},
    )
    assert r.status_code == 303, r.text
    assert "2024-06-02" in doc.get(f"/visits/{vid}").text
    history = doc.get(f"/patients/{pid}/history").text
    assert "Gottron sign missed" in history
    old = doc.get(f"/versions/visit/{vid}/1")
    assert old.status_code == 200
    assert "2024-06-01" in old.text
    assert "probable" in old.text  # the IIM category before the correction
    assert res.get(f"/versions/visit/{vid}/1").status_code == 403
    assert res.get(f"/patients/{pid}/history").status_code == 403

    assert doc.post(f"/visits/{vid}/delete", {"reason": ""}).status_code == 422
    r = doc.post(f"/visits/{vid}/delete", {"reason": "entered on the wrong patient"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/patients/{pid}"
    patient_page = doc.get(f"/patients/{pid}").text
    assert f'href="/visits/{vid}"' not in patient_page
    assert f'href="/visits/{older}"' in patient_page
    assert doc.get(f"/visits/{vid}").status_code == 404
    assert "entered on the wrong patient" in doc.get(f"/visits/{vid}/history").text
    assert doc.get(f"/versions/visit/{vid}/2").status_code == 200
    with app.state.registry.transaction() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "delete_visit")))
        assert [(e.patient_id, e.detail, e.via) for e in events] == [(pid, f"visit {vid} v2", "web")]


def test_correct_and_delete_the_patient(doc: Browser) -> None:
    pid = _patient(doc, "Ottilie Typo", mrn="MRN-TYPO")
    r = doc.post(f"/patients/{pid}/edit", {"name": "Ottilie Typeau", "mrn": "MRN-TYPO", "sex": "female"})
    assert r.status_code == 422
    assert "Give the reason" in r.text
    r = doc.post(
        f"/patients/{pid}/edit",
        {
            "name": "Ottilie Typeau",
            "mrn": "MRN-TYPO",
            "birth_date": "1985-04-03",
            "sex": "female",
            "reason": "spelling",
        },
    )
    assert r.status_code == 303
    assert "Ottilie Typeau" in doc.get(f"/patients/{pid}").text
    assert "Ottilie Typo" in doc.get(f"/versions/patient/{pid}/1").text
    r = doc.post(f"/patients/{pid}/delete", {"reason": "test record"})
    assert r.status_code == 303
    assert "Ottilie" not in doc.get("/").text
    assert doc.get(f"/patients/{pid}").status_code == 404
    assert "test record" in doc.get(f"/patients/{pid}/history").text


def test_treatments_one_list_denied_by_the_payer_and_the_letter(doc: Browser, res: Browser) -> None:
    pid = _patient(doc, "Payer Refused", birth="1990-01-01")
    vid = _visit(doc, pid, "2025-01-10")  # the seed: antihistamines, methotrexate, ...
    _visit(doc, pid, "2025-04-10")  # the same medications again: no duplicates
    r = doc.post(
        f"/patients/{pid}/treatments",
        {
            "name": "IVIG",
            "status": "denied_by_payer",
            "denied_on": "2025-04-20",
            "denial_reason": "Not covered for CADM",
        },
    )
    assert r.status_code == 303, r.text
    page = doc.get(f"/patients/{pid}").text
    assert page.count('<td data-label="Recorded as">methotrexate') == 1
    assert page.count('<td data-label="Recorded as">antihistamines') == 1
    assert "denied by payer" in page
    assert "Not covered for CADM" in page
    researcher = res.get(f"/patients/{pid}").text
    assert "denied by payer" in researcher
    assert "Not covered for CADM" not in researcher
    visit_page = doc.get(f"/visits/{vid}").text
    assert re.search(r'<option value="ivig" selected>', visit_page)
    letter = doc.get(f"/visits/{vid}/letter.html", params={"agent": "ivig"})
    assert letter.status_code == 200
    assert "Letter of medical necessity" in letter.text
    assert "attachment" in letter.headers["content-disposition"]
    assert res.get(f"/visits/{vid}/letter.html", params={"agent": "ivig"}).status_code == 403
    assert "Letter of medical necessity for" not in res.get(f"/visits/{vid}").text

    tid = int(re.search(r'action="/treatments/(\d+)/edit"', page).group(1))  # type: ignore[union-attr]
    fields = {"patient_id": str(pid), "name": "antihistamines", "response": "partial", "status": "active"}
    r = doc.post(f"/treatments/{tid}/edit", fields)
    assert r.status_code == 422  # overwriting the recorded response needs a reason
    assert "Give the reason for the correction." in r.text
    assert doc.post(f"/treatments/{tid}/edit", {**fields, "reason": "misread"}).status_code == 303
    assert (
        doc.post(f"/treatments/{tid}/delete", {"patient_id": str(pid), "reason": "duplicate"}).status_code
        == 303
    )
    assert f'action="/treatments/{tid}/edit"' not in doc.get(f"/patients/{pid}").text
