"""The clinicians' web pages (ifnscope.web.pages) through Starlette's TestClient.

One app on a temporary SQLite file for the module, with a clinician, a researcher and an admin.
The case form is exercised end to end (the seed case's findings and lesions typed into the form
give the same assessment as the case file), and ``case_from_form`` and the timeline plot are
tested as the pure functions they are.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ifnscope.case.reader import validate_case
from ifnscope.registry.auth import insert_user
from ifnscope.web import Settings, create_app
from ifnscope.web.forms import FormState, case_from_form, field_for, filled_rows
from ifnscope.web.plots import timeline_plot, timeline_svg
from tests.helpers import CASES, ROOT

PASSWORD = "correct-horse-battery"
SEED = (
    CASES / "seed-cadm.yaml" if (CASES / "seed-cadm.yaml").exists() else ROOT / "examples" / "seed-cadm.yaml"
)
SECRET_NAME = "Hildegard Quenchwood"
SECRET_MRN = "MRN-QW-4711"
SECRET_BIRTH = "1990-02-03"
HTML = {"Accept": "text/html,application/xhtml+xml"}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    db = tmp_path_factory.mktemp("pages") / "registry.sqlite3"
    application = create_app(Settings(database_url=f"sqlite:///{db}"))
    with application.state.registry.transaction() as s:
        for username, role in (("doc", "clinician"), ("res", "researcher"), ("boss", "admin")):
            insert_user(s, username, PASSWORD, role)  # type: ignore[arg-type]
    yield application
    application.state.registry.engine.dispose()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


class Browser:
    """A logged-in client that posts forms the way a browser does (with the form's CSRF field)."""

    def __init__(self, app: FastAPI, username: str) -> None:
        self.client = TestClient(app, headers=HTML, raise_server_exceptions=True)
        page = self.client.get("/login")
        assert page.status_code == 200
        r = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        self.csrf = csrf_of(self.client.get("/").text)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        data = {"csrf_token": self.csrf, **(data or {})}
        kw.setdefault("follow_redirects", False)
        return self.client.post(url, data=data, **kw)


@pytest.fixture(scope="module")
def patient(doc: Browser) -> int:
    r = doc.post(
        "/patients/new",
        {"name": SECRET_NAME, "mrn": SECRET_MRN, "birth_date": SECRET_BIRTH, "sex": "female"},
    )
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def visit(doc: Browser, patient: int) -> str:
    """The seed case entered through the case form: the visit page's URL."""
    form = form_from_case(seed_doc())
    form["visit_date"] = "2024-06-01"
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 303, re.findall(r'class="field-error"[^>]*>(.*?)</p>', r.text)
    return str(r.headers["location"])


def seed_doc() -> dict[str, Any]:
    doc = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    doc.pop("expected", None)
    return doc


def form_from_case(case: dict[str, Any]) -> dict[str, Any]:
    """What a clinician would type into the case form for this case (the inverse of
    ``case_from_form``), with an empty lesion row in between to show that empty rows are ignored."""
    form: dict[str, Any] = {}
    for key in ("sex", "age_years"):
        if key in case.get("patient", {}):
            form[f"patient.{key}"] = str(case["patient"][key])
    onset = case.get("onset", {})
    for key in ("age_years", "skin_disease_months"):
        if key in onset:
            form[f"onset.{key}"] = str(onset[key])
    if onset.get("after"):
        form["onset.after"] = list(onset["after"])
    for name, value in case.get("findings", {}).items():
        if value != "unknown":
            form[f"findings.{name}"] = value
    n = 0
    for i, les in enumerate(case.get("lesions", [])):
        if i == 2:
            n += 1  # an empty row the clinician left
        for key in ("site", "morphology", "colour", "note"):
            if key in les:
                form[f"lesions.{n}.{key}"] = les[key]
        for key in ("scale", "bilateral"):
            if les.get(key):
                form[f"lesions.{n}.{key}"] = "on"
        n += 1
    labs = case.get("labs", {})
    for lab in ("ck", "ldh", "ast", "alt", "aldolase"):
        if lab in labs:
            form[f"labs.{lab}.value"] = str(labs[lab]["value"])
            if "upper_limit" in labs[lab]:
                form[f"labs.{lab}.upper_limit"] = str(labs[lab]["upper_limit"])
    if "ana_titer" in labs:
        form["labs.ana_titer"] = str(labs["ana_titer"])
    for ab, value in labs.get("antibodies", {}).items():
        form[f"labs.antibodies.{ab}"] = value
    for key in ("mri", "emg", "biopsy"):
        if key in case.get("muscle", {}):
            form[f"muscle.{key}"] = case["muscle"][key]
    for i, med in enumerate(case.get("medications", [])):
        for key, value in med.items():
            form[f"medications.{i}.{key}"] = str(value)
    for test, value in case.get("cancer_screening", {}).items():
        form[f"cancer_screening.{test}"] = value
    return form


def saved_visit(doc: Browser, patient: int, form: dict[str, Any]) -> dict[str, Any]:
    """Post the case form (it must save) and return the visit as the API stores it."""
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 303, re.findall(r'class="field-error"[^>]*>(.*?)</p>', r.text)
    visit: dict[str, Any] = doc.get(f"/api/visits/{int(r.headers['location'].rsplit('/', 1)[1])}").json()
    return visit


def error_beside(html: str, field: str) -> str:
    """The error message rendered next to a field (``<p class="field-error" id="err-FIELD">``)."""
    m = re.search(rf'<p class="field-error" id="err-{re.escape(field)}">(.*?)</p>', html, re.S)
    assert m, f"no error shown beside {field}"
    text = re.sub(r'<span class="vh">[^<]*</span>', "", m.group(1))  # "Problem: " for screen readers
    return html_lib.unescape(re.sub(r"<[^>]+>", "", text))


# ------------------------------------------------------------------------- login, CSRF


def test_login_flow(app: FastAPI) -> None:
    c = TestClient(app, headers=HTML)
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    r = c.get("/patients/1", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/patients/1"
    page = c.get("/login")
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.text
    assert "Decision support, not a diagnosis" in page.text
    token = csrf_of(page.text)

    r = c.post("/login", data={"username": "doc", "password": "wrong-password", "csrf_token": token})
    assert r.status_code == 401
    assert "Wrong username or password." in r.text
    assert 'value="doc"' in r.text  # the username is kept, the password is not
    assert "wrong-password" not in r.text

    r = c.post(
        "/login",
        data={"username": "doc", "password": PASSWORD, "csrf_token": token, "next": "/patients/1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/patients/1"
    home = c.get("/")
    assert home.status_code == 200
    assert "doc" in home.text
    assert 'class="role role-clinician">clinician<' in home.text
    assert 'action="/logout"' in home.text
    # an open redirect is refused
    r = c.post(
        "/login",
        data={
            "username": "doc",
            "password": PASSWORD,
            "csrf_token": csrf_of(home.text),
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"
    home = c.get("/")
    r = c.post("/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?out=1"
    assert "You have logged out." in c.get("/login?out=1").text
    assert c.get("/", follow_redirects=False).status_code == 303


def test_posts_without_the_csrf_token_are_refused(app: FastAPI, doc: Browser) -> None:
    anon = TestClient(app, headers=HTML)
    anon.get("/login")
    r = anon.post("/login", data={"username": "doc", "password": PASSWORD})
    assert r.status_code == 403
    assert "security token" in r.text
    before = doc.get("/").text.count("/patients/")
    r = doc.client.post("/patients/new", data={"name": "No Token Patient"}, follow_redirects=False)
    assert r.status_code == 403
    r = doc.client.post(
        "/patients/new", data={"name": "No Token Patient", "csrf_token": "forged"}, follow_redirects=False
    )
    assert r.status_code == 403
    assert "No Token Patient" not in doc.get("/").text
    assert doc.get("/").text.count("/patients/") == before
    r = doc.client.post("/logout", follow_redirects=False)
    assert r.status_code == 403
    assert doc.get("/").status_code == 200  # still logged in


def test_pages_send_a_strict_content_security_policy_and_no_external_resources(doc: Browser) -> None:
    r = doc.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'self'" in csp
    assert r.headers["cache-control"] == "no-store"
    assert not re.search(r'(src|href)="(https?:)?//', r.text)
    assert '<script src="/static/htmx.min.js"' in r.text
    js = doc.get("/static/htmx.min.js")
    assert js.status_code == 200
    assert "htmx" in js.text[:200]
    assert doc.get("/static/style.css").status_code == 200


# ---------------------------------------------------------------------------- patients


def test_new_patient_form_and_search_by_post(app: FastAPI, doc: Browser, patient: int, caplog: Any) -> None:
    r = doc.post("/patients/new", {"name": "", "mrn": SECRET_MRN, "birth_date": "2999-01-01"})
    assert r.status_code == 422
    assert error_beside(r.text, "name") == "Enter the patient's name."
    assert error_beside(r.text, "birth_date") == "The birth date is in the future."
    assert f'value="{SECRET_MRN}"' in r.text  # kept
    r = doc.post("/patients/new", {"name": "Second Person", "mrn": SECRET_MRN})
    assert r.status_code == 422
    assert error_beside(r.text, "mrn") == "Another patient has this MRN."

    page = doc.get(f"/patients/{patient}")
    assert SECRET_NAME in page.text
    assert SECRET_MRN in page.text

    caplog.set_level(logging.INFO)
    r = doc.post("/patients/search", {"q": "quenchwood"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert SECRET_NAME in r.text
    assert "<html" not in r.text  # a fragment for htmx
    assert "1 patient found" in r.text
    r = doc.post("/patients/search", {"q": "nobody-by-this-name"})
    assert "<html" in r.text  # the no-JavaScript form gets the whole page
    assert "No patient matches this search." in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "/patients/search" in logged  # the access log saw the request ...
    assert "quenchwood" not in logged.lower()  # ... but never the search text
    assert "nobody-by-this-name" not in logged


# --------------------------------------------------------------------------- case form


def test_case_form_round_trip_gives_the_seed_assessment(doc: Browser, patient: int, visit: str) -> None:
    page = doc.get(f"/patients/{patient}/visits/new")
    assert page.status_code == 200
    assert 'name="findings.heliotrope_rash" value="" checked' in page.text  # not recorded by default
    # the age is computed from the birth date at the visit date unless typed in
    assert "Empty: from the birth date at the visit date." in page.text
    assert re.match(r"/visits/\d+$", visit)
    v = doc.get(visit)
    assert v.status_code == 200
    text = re.sub(r"<[^>]+>", " ", v.text)
    assert re.search(r"probable IIM\s+score 6\.5", text)
    assert "amyopathic dermatomyositis" in text
    assert re.search(r"Sontheimer CADM\s+amyopathic", text)
    assert "Download report (PDF)" in v.text
    # the patient page lists the visit, with the medications as treatments
    p = doc.get(f"/patients/{patient}").text
    assert "2024-06-01" in p
    assert "mycophenolate mofetil" in p


def test_invalid_values_are_shown_beside_their_fields_and_kept(doc: Browser, patient: int) -> None:
    form = {
        "visit_date": "2024-07-01",
        "patient.age_years": "30",
        "onset.age_years": "41",  # after the visit
        "labs.ck.value": "250",
        "labs.ck.upper_limit": "0",  # must be above 0
        "findings.pruritus": "present",
        "lesions.0.site": "",
        "lesions.1.site": "periorbital",
        "lesions.1.morphology": "edema",
        "lesions.1.colour": "violacious",  # a typo (a select cannot send it, a hand-made POST can)
        "lesions.1.note": "kept note",
        "medications.0.name": "hydroxychloroquine",
        "medications.0.started": "March 2023",
    }
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 422
    assert "The case was not saved" in r.text
    assert "greater than 0" in error_beside(r.text, "labs.ck.upper_limit")
    assert "after the visit" in error_beside(r.text, "onset.age_years")
    # the lesion is case row 0 but form row 1: the message is beside form row 1's colour
    assert "'violacious' is not an allowed value" in error_beside(r.text, "lesions.1.colour")
    assert "did you mean 'violaceous'" in error_beside(r.text, "lesions.1.colour")
    assert "not a date" in error_beside(r.text, "medications.0.started")
    # the summary links to the fields
    assert 'href="#f-labs.ck.upper_limit"' in r.text
    # everything entered is kept
    assert 'name="labs.ck.upper_limit" type="text" inputmode="decimal" autocomplete="off" value="0"' in r.text
    assert 'value="41"' in r.text
    assert 'value="kept note"' in r.text
    assert 'value="March 2023"' in r.text
    assert 'name="findings.pruritus" value="present" checked' in r.text
    assert re.search(r'<option value="periorbital" selected>', r.text)
    # nothing was stored
    assert "2024-07-01" not in doc.get(f"/patients/{patient}").text

    r = doc.post(f"/patients/{patient}/visits/new", {"visit_date": "2999-01-01"})
    assert r.status_code == 422
    assert error_beside(r.text, "visit_date") == "The visit date is in the future."


def test_the_form_records_a_result_without_a_number_and_an_equivocal_antibody(
    doc: Browser, patient: int
) -> None:
    """Issue 12: "CK normal" with no number, and a borderline anti-Jo-1, as a clinician enters them."""
    page = doc.get(f"/patients/{patient}/visits/new").text
    assert 'name="labs.ck.stated"' in page
    assert 'name="labs.antibodies.jo1" value="equivocal"' in page
    form = {
        "visit_date": "2024-08-01",
        "findings.heliotrope_rash": "present",
        "labs.ck.stated": "normal",
        "labs.antibodies.jo1": "equivocal",
    }
    stored = saved_visit(doc, patient, form)
    assert stored["case"]["labs"]["ck"] == {"stated": "normal"}
    assert stored["case"]["labs"]["antibodies"]["jo1"] == "equivocal"
    unknowns = {u["fact"]: u for u in stored["assessment"]["unknowns"]}
    assert "ck_above_uln" not in unknowns  # stated normal: not above the upper limit
    assert "equivocal" in unknowns["antibody_jo1"]["recorded"]
    # an upper limit alone: the value or the stated result is missing, said beside the value
    form = {"visit_date": "2024-08-02", "labs.ldh.upper_limit": "250"}
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 422
    assert "how the report stated it" in error_beside(r.text, "labs.ldh.value")


def test_the_form_records_the_route_and_a_refused_medication(doc: Browser, patient: int) -> None:
    """Issue 12: steroids given topically are topical corticosteroids; IVIG refused was never tried."""
    page = doc.get(f"/patients/{patient}/visits/new").text
    assert 'name="medications.0.route"' in page
    assert 'name="medications.0.status"' in page
    form = {
        "visit_date": "2024-09-01",
        "findings.heliotrope_rash": "present",
        "medications.0.name": "steroids",
        "medications.0.route": "topical",
        "medications.1.name": "IVIG",
        "medications.1.status": "refused",
    }
    stored = saved_visit(doc, patient, form)
    assert stored["case"]["medications"] == [
        {"name": "steroids", "route": "topical"},
        {"name": "IVIG", "status": "refused"},
    ]
    therapy = stored["assessment"]["therapy"]
    assert "topical_corticosteroid" in therapy["tried"]
    assert "ivig" not in therapy["tried"]


def test_the_age_at_the_visit_comes_from_the_birth_date(doc: Browser, patient: int) -> None:
    # born 1990-02-03: 34 at a visit on 2024-07-01, so an onset at 40 is after the visit
    r = doc.post(f"/patients/{patient}/visits/new", {"visit_date": "2024-07-01", "onset.age_years": "40"})
    assert r.status_code == 422
    assert "patient is 34" in error_beside(r.text, "onset.age_years")
    assert 'value="34"' in r.text


def test_add_a_row_with_htmx_and_without_javascript(doc: Browser, patient: int) -> None:
    frag = doc.get("/fragments/lesion-row/3")
    assert frag.status_code == 200
    assert 'name="lesions.3.site"' in frag.text
    assert 'hx-get="/fragments/lesion-row/4"' in frag.text
    assert 'hx-swap-oob="true"' in frag.text
    assert doc.get("/fragments/medication-row/2").text.count('name="medications.2.name"') == 1
    assert doc.get("/fragments/other-row/1").status_code == 404
    # without JavaScript the "add" button submits the form, which comes back with one row more
    r = doc.post(
        f"/patients/{patient}/visits/new",
        {"_add": "lesion", "lesions.0.site": "malar", "lesions.1.site": "", "lesions.2.site": ""},
    )
    assert r.status_code == 200
    assert 'name="lesions.3.site"' in r.text
    assert '<option value="malar" selected>' in r.text


def test_upload_or_paste_a_case_file(doc: Browser, patient: int) -> None:
    text = SEED.read_text(encoding="utf-8")
    r = doc.client.post(
        f"/patients/{patient}/visits/upload",
        data={"csrf_token": doc.csrf, "visit_date": "2024-08-01", "text": ""},
        files={"file": ("seed.yaml", text.encode(), "application/x-yaml")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "6.5" in doc.get(r.headers["location"]).text
    bad = text.replace("colour: violaceous", "colour: violet")
    r = doc.client.post(
        f"/patients/{patient}/visits/upload",
        data={"csrf_token": doc.csrf, "visit_date": "2024-08-02", "text": bad},
        files={"file": ("", b"", "application/octet-stream")},
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert "The case file was not saved" in r.text
    assert re.search(r"line \d+: lesions\[0\]\.colour", r.text)
    assert "colour: violet" in r.text  # the pasted text is kept


# ------------------------------------------------------------------- treatments, cohort


def test_treatments_can_be_added_and_stopped(doc: Browser, patient: int, visit: str) -> None:
    r = doc.post(f"/patients/{patient}/treatments", {"name": "anifrolumab", "started": "2024-06-15"})
    assert r.status_code == 303
    page = doc.get(f"/patients/{patient}").text
    assert "anifrolumab" in page
    assert "IFN-targeted" in page
    tid = re.search(r'<td data-label="Recorded as">anifrolumab.*?action="/treatments/(\d+)/stop"', page, re.S)
    assert tid
    r = doc.post(f"/patients/{patient}/treatments", {"name": "hydroxychloroquine", "started": "next week"})
    assert r.status_code == 422
    assert "Started: write the date as YYYY, YYYY-MM or YYYY-MM-DD." in r.text
    r = doc.post(f"/treatments/{tid.group(1)}/stop", {"stopped": "2024-01-01", "patient_id": str(patient)})
    assert r.status_code == 422
    assert "before the start date" in r.text
    r = doc.post(f"/treatments/{tid.group(1)}/stop", {"stopped": "2024-11-30", "patient_id": str(patient)})
    assert r.status_code == 303
    page = doc.get(f"/patients/{patient}").text
    assert "2024-11-30" in page
    # the timeline plot draws the dated treatment, labelled, as an inline SVG
    plot = page[page.index("<svg") : page.index("</svg>")]
    assert 'role="img"' in plot
    assert "anifrolumab · IFN-targeted" in plot


def test_cohort_page(doc: Browser, patient: int, visit: str) -> None:
    assert doc.get("/cohort").status_code == 200
    r = doc.post("/cohort", {"picture": "dermatomyositis"})
    assert r.status_code == 200
    assert SECRET_NAME in r.text
    r = doc.post("/cohort", {"picture": "dermatomyositis", "min_cdasi_activity": "14"})
    assert SECRET_NAME not in r.text  # no CDASI scored
    r = doc.post("/cohort", {"min_cdasi_activity": "lots"})
    assert r.status_code == 422
    assert "Enter a number" in r.text


# ------------------------------------------------------------------------- researchers


def test_researcher_pages_show_no_identifying_data(
    doc: Browser, res: Browser, patient: int, visit: str
) -> None:
    pseudonym = re.search(r"P-[A-Z2-9]{6}", doc.get(f"/patients/{patient}").text)
    assert pseudonym
    note = "capillaries of the proximal nail folds"  # a lesion note, quoted in the evidence
    assert note in doc.get(visit).text
    pages = [
        res.get("/"),
        res.get(f"/patients/{patient}"),
        res.get(visit),
        res.post("/patients/search", {"q": pseudonym.group(0)}),
        res.post("/cohort", {"picture": "dermatomyositis"}),
    ]
    for page in pages:
        assert page.status_code == 200
        for secret in (SECRET_NAME, "Quenchwood", SECRET_MRN, SECRET_BIRTH, "2024-06-01", note, "excoriated"):
            assert secret not in page.text, secret
        assert "New visit" not in page.text
        assert 'href="/patients/new"' not in page.text
        assert "De-identified view" in page.text
    assert pseudonym.group(0) in pages[0].text
    assert pseudonym.group(0) in pages[3].text
    assert "researcher" in pages[0].text
    # names are not searchable, and the server refuses what the pages do not offer
    assert SECRET_NAME not in res.post("/patients/search", {"q": "Quenchwood"}).text
    assert res.get("/patients/new").status_code == 403
    assert res.post("/patients/new", {"name": "Nope"}).status_code == 403
    assert res.get(f"/patients/{patient}/visits/new").status_code == 403
    assert res.post(f"/patients/{patient}/visits/new", form_from_case(seed_doc())).status_code == 403
    report = res.get(visit + "/report.html")
    assert report.status_code == 200
    for secret in (SECRET_NAME, "2024-06-01", "pruritic rash for six months", "excoriated"):
        assert secret not in report.text


def test_report_downloads(doc: Browser, visit: str) -> None:
    r = doc.get(visit + "/report.html")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text.lstrip().lower().startswith("<!doctype html")
    assert "Decision support, not a diagnosis" in r.text
    pdf = doc.get(visit + "/report.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content[:4] == b"%PDF"
    assert doc.get("/visits/999999").status_code == 404


# ------------------------------------------------------------------ case_from_form (pure)


def test_case_from_form_tri_state_and_not_recorded() -> None:
    form = {
        "findings.heliotrope_rash": "present",
        "findings.gottron_sign": "absent",
        "findings.pruritus": "",  # not recorded: left out, never absent
        "labs.antibodies.mda5": "negative",
        "labs.antibodies.jo1": "",
        "history.smoking": "absent",
        "cancer_screening.colonoscopy": "not_done",
        "muscle.biopsy": "not_done",
        "muscle.biopsy.perifascicular_atrophy": "present",  # ignored: the biopsy was not done
    }
    case = case_from_form(form, case_id="c1")
    assert case["findings"] == {"heliotrope_rash": "present", "gottron_sign": "absent"}
    assert case["labs"] == {"antibodies": {"mda5": "negative"}}
    assert case["history"] == {"smoking": "absent"}
    assert case["cancer_screening"] == {"colonoscopy": "not_done"}
    assert case["muscle"] == {"biopsy": "not_done"}
    assert case["id"] == "c1"
    assert "lesions" not in case
    assert "onset" not in case
    validate_case(case)
    case = case_from_form({"muscle.biopsy": "done", "muscle.biopsy.perifascicular_atrophy": "present"})
    assert case["muscle"] == {"biopsy": {"perifascicular_atrophy": "present"}}
    assert case["id"] == "web-case"
    assert case_from_form({})["format"] == "ifnscope-case/1"


def test_case_from_form_repeated_rows_and_empty_rows() -> None:
    form = {
        "lesions.0.site": "",
        "lesions.0.morphology": "",
        "lesions.2.site": "periorbital",
        "lesions.2.morphology": "edema",
        "lesions.2.colour": "violaceous",
        "lesions.2.bilateral": "on",
        "lesions.10.site": "mcp_joints",
        "lesions.10.morphology": "papule",
        "lesions.10.scale": "on",
        "lesions.5.note": "   ",
        "medications.0.name": "methotrexate",
        "medications.0.response": "inadequate",
        "medications.1.name": "",
        "medications.3.name": "terbinafine",
        "medications.3.months_before_onset": "1,5",
        "onset.after": ["viral_illness", "sunburn", "viral_illness"],
        "onset.age_years": "28.5",
        "patient.age_years": "29",
    }
    case = case_from_form(form)
    assert case["lesions"] == [
        {"site": "periorbital", "morphology": "edema", "colour": "violaceous", "bilateral": True},
        {"site": "mcp_joints", "morphology": "papule", "scale": True},
    ]
    assert case["medications"] == [
        {"name": "methotrexate", "response": "inadequate"},
        {"name": "terbinafine", "months_before_onset": 1.5},
    ]
    assert case["onset"] == {"age_years": 28.5, "after": ["viral_illness", "sunburn"]}
    assert case["patient"] == {"age_years": 29}
    assert filled_rows(form, "lesions") == [2, 10]
    assert filled_rows(form, "medications") == [0, 3]
    validate_case(case)
    # an issue in case row 1 points at form row 10
    assert field_for(("lesions", 1, "colour"), form) == "lesions.10.colour"
    assert field_for(("lesions", 1), form) == "lesions.10"
    assert field_for(("medications", 1, "months_before_onset"), form) == "medications.3.months_before_onset"
    assert field_for(("labs", "ck", "upper_limit"), form) == "labs.ck.upper_limit"
    assert field_for(("onset", "after", 1), form) == "onset.after"
    assert field_for(("findings", "heliotrope_rash"), form) == "findings.heliotrope_rash"
    assert field_for(("findings", "no_such_finding"), form) is None
    assert field_for(("id",), form) is None


def test_case_from_form_numbers_that_do_not_parse_stay_text() -> None:
    case = case_from_form({"labs.ck.value": "high", "labs.ck.upper_limit": "200", "labs.ana_titer": "160"})
    assert case["labs"]["ck"] == {"value": "high", "upper_limit": 200}
    assert case["labs"]["ana_titer"] == 160
    case = case_from_form({"labs.ldh.upper_limit": "250"})
    assert case["labs"]["ldh"] == {"upper_limit": 250}  # 'value' missing: reported at its field


def test_the_seed_case_survives_the_form() -> None:
    seed = seed_doc()
    case = validate_case(case_from_form(form_from_case(seed), case_id=seed["id"]))
    # The form has no title, source or lab units, and "unknown" is its "not recorded".
    expected = {k: v for k, v in seed.items() if k not in ("title", "source")}
    expected["findings"] = {k: v for k, v in seed["findings"].items() if v != "unknown"}
    expected["labs"] = {
        k: ({x: y for x, y in v.items() if x != "unit"} if isinstance(v, dict) and "value" in v else v)
        for k, v in seed["labs"].items()
    }
    assert case == validate_case(expected)


def test_form_state_keeps_values_and_adds_rows() -> None:
    state = FormState.from_form({"lesions.0.site": "malar", "lesions.4.site": "", "onset.after": ["sunburn"]})
    assert state.lesion_rows == [0, 4]
    assert state.medication_rows == [0]
    assert state.checked("onset.after", "sunburn")
    assert not state.checked("onset.after", "pregnancy")
    assert state.checked("findings.pruritus", "")  # a radio not in the form: not recorded
    state = FormState.from_form({"lesions.0.site": "malar"}, extra="lesion")
    assert state.lesion_rows == [0, 1]
    state.add_issue("labs.ck.value", "labs.ck.value", "wrong")
    assert state.error("labs.ck.value") == ["wrong"]
    assert state.summary[0]["anchor"] == "f-labs.ck.value"


# ------------------------------------------------------------------------ the plot (pure)


def _timeline(dated: bool) -> dict[str, Any]:
    def visit(day: int, date: str, cdasi: float | None, clasi: float | None) -> dict[str, Any]:
        return {
            "visit_date": date if dated else None,
            "visit_year": int(date[:4]),
            "days_since_first_visit": day,
            "cdasi_activity": cdasi,
            "clasi_activity": clasi,
        }

    return {
        "patient": {"pseudonym": "P-TESTAA"},
        "visits": [
            visit(0, "2024-01-10", 30, None),
            visit(121, "2024-05-10", 22, 6),
            visit(297, "2024-11-02", 9, 3),
        ],
        "scores": [
            {
                "collected_on": "2024-01-10" if dated else None,
                "days_since_first_visit": 0,
                "signature": "rice6",
                "method": "zscore",
                "score": 4.2,
                "call": "high",
            },
            {
                "collected_on": "2024-11-02" if dated else None,
                "days_since_first_visit": 297,
                "signature": "rice6",
                "method": "zscore",
                "score": 1.1,
                "call": "low",
            },
        ],
        "treatments": [
            {"recorded_as": "hydroxychloroquine", "agent": "hydroxychloroquine", "ifn_targeted": False,
             "started": "2023-06" if dated else "2023", "stopped": "2024-04" if dated else "2024"},
            {"recorded_as": "anifrolumab", "agent": "anifrolumab", "ifn_targeted": True,
             "started": "2024-05-15" if dated else "2024", "stopped": None},
            {"recorded_as": "methotrexate", "agent": "methotrexate", "ifn_targeted": False,
             "started": None, "stopped": None},
        ],
    }  # fmt: skip


def test_timeline_svg_has_the_series_and_the_treatment_labels() -> None:
    svg = timeline_svg(_timeline(dated=True))
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert 'role="img"' in svg
    for label in ("hydroxychloroquine", "anifrolumab", "IFN-targeted", "CDASI activity", "CLASI activity",
                  "rice6 (zscore)", "(ongoing)"):  # fmt: skip
        assert label in svg, label
    plot = timeline_plot(_timeline(dated=True))
    assert plot.axis == "date"
    assert plot.not_drawn == ["methotrexate"]  # no start date


def test_timeline_svg_for_researchers_uses_days_since_the_first_visit() -> None:
    data = _timeline(dated=False)
    plot = timeline_plot(data)
    assert plot.axis == "days"
    assert "days since the first visit" in plot.svg
    assert "2024-01-10" not in plot.svg
    # years alone cannot be placed on a day axis: named under the plot, not drawn
    assert set(plot.not_drawn) == {"hydroxychloroquine", "anifrolumab", "methotrexate"}
    # with day offsets (when the service provides them) the periods are drawn
    data["treatments"][1].update(started_days=130, stopped_days=None)
    plot = timeline_plot(data)
    assert "anifrolumab" in plot.svg
    assert "anifrolumab" not in plot.not_drawn


def test_timeline_svg_without_data() -> None:
    svg = timeline_svg({"visits": [], "scores": [], "treatments": []})
    assert svg.startswith("<svg")
    assert "No visits" in svg
    assert json.dumps(svg)  # a plain string


def test_timeline_svg_escapes_text_from_the_registry() -> None:
    data = _timeline(dated=True)
    data["treatments"][0]["recorded_as"] = "<script>alert(1)</script> $\\frac{"  # markup and mathtext
    data["scores"][0]["signature"] = data["scores"][1]["signature"] = "sig$1$"
    plot = timeline_plot(data)
    assert "<script>" not in plot.svg
    assert "&lt;script&gt;" in plot.svg
    assert "$\\frac{" in plot.svg  # drawn as the literal text
    assert "sig$1$" in plot.svg


def test_timeline_leaves_the_matplotlib_backend_alone() -> None:
    """Drawing uses ``Figure`` alone: an application that chose a backend keeps it (a fresh
    process, since the backend is process-wide)."""
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "from ifnscope.web.plots import timeline_plot\n"
        "from tests.web.test_pages import _timeline\n"
        "assert timeline_plot(_timeline(dated=True)).svg.startswith('<svg')\n"
        "print(matplotlib.get_backend())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    env.pop("MPLBACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().lower() == "svg"


def test_a_visit_keeps_its_stored_assessment_until_re_assessed(
    app: FastAPI, doc: Browser, res: Browser, patient: int
) -> None:
    """The visit page and its report show the stored assessment, with the rules that made it;
    re-assessing with the running rules is an explicit, audited action (issue 8)."""
    import copy

    from ifnscope.data import rules_version
    from ifnscope.registry import services
    from ifnscope.registry.auth import cli_actor
    from ifnscope.registry.models import Visit

    form = form_from_case(seed_doc())
    form["visit_date"] = "2024-07-01"
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 303
    url = str(r.headers["location"])
    visit_id = int(url.rsplit("/", 1)[1])
    page = doc.get(url).text
    assert f"rules {rules_version()}" in page
    assert "Re-assess with the current rules" not in page  # made by the running rules

    # As if stored by older rules that said something else: the stored words are what is shown.
    registry = app.state.registry
    with registry.transaction() as s:
        v = s.get(Visit, visit_id)
        stored = copy.deepcopy(v.assessment)
        stored["rules_version"] = "0.0.1+oldrules"
        stored["criteria"]["eular_acr_iim_2017"]["category"] = "definite"
        v.assessment = stored
    page = doc.get(url).text
    assert "rules 0.0.1+oldrules" in page
    assert "definite IIM" in page
    assert "Re-assess with the current rules" in page
    report = doc.get(url + "/report.html").text
    assert ">definite IIM</span>" in report  # the stored assessment's verdict, not a re-run
    assert ">probable IIM</span>" not in report
    assert "Re-assess with the current rules" not in res.get(url).text  # researchers may not
    assert res.post(url + "/reassess").status_code == 403

    r = doc.post(url + "/reassess")
    assert r.status_code == 303
    assert r.headers["location"] == url
    page = doc.get(url).text
    assert f"rules {rules_version()}" in page
    assert "probable IIM" in page
    assert "definite IIM" not in page
    assert "Re-assess with the current rules" not in page
    with registry.transaction() as s:
        events = [e for e in services.audit_log(s, cli_actor(), patient) if e.action == "reassess_visit"]
    assert events
    assert f"visit {visit_id} rules 0.0.1+oldrules -> {rules_version()}" in (events[0].detail or "")
