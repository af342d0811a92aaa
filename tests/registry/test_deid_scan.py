"""The de-identification scan: seed patients with distinctive identifiers, dates and free text,
then request every route a researcher can reach and look for each of them in every answer.

The patients are entered the ways a clinic enters them (the API, the web form, the services),
with names, MRNs, birth dates (one patient over 89), visit dates, typed medication names,
doses, units, lesion notes, expected results, sample labels and tissue labels, IFN scores and
treatments. A researcher then requests every GET route of the app (enumerated from
``app.routes``, path parameters filled with the seeded ids) and the POST routes researchers use
(cohort queries, the patient search); every body (PDF text included) and every header is
scanned for every secret, dates in ISO and the other common spellings. A new GET route with
a parameter this test does not know fails the test, so it cannot be skipped by accident.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.web import Settings, create_app
from tests.helpers import ROOT
from tests.sigdata import make_counts, write_tsv_genes_in_rows
from tests.web.test_pages import csrf_of, form_from_case

PASSWORD = "correct-horse-battery"
EXAMPLES = ROOT / "examples"
HTML = {"Accept": "text/html,application/xhtml+xml"}

# ------------------------------------------------------------------------------ secrets

NAME_A, MRN_A, BIRTH_A = "Zebulon Quixotehart", "MRN-ZQ-77123", dt.date(1931, 7, 14)  # 92 at the visits
NAME_B, MRN_B, BIRTH_B = "Ottilie Vandersnoot", "MRN-OV-55821", dt.date(1978, 11, 23)
NAME_C, MRN_C, BIRTH_C = "Perpetua Glimmerdown", "MRN-PG-30417", dt.date(1950, 1, 30)
VISIT_A1, VISIT_A2 = dt.date(2024, 3, 5), dt.date(2024, 8, 19)
VISIT_B = dt.date(2024, 5, 17)  # entered through the web form: the form's case id carries it
MED_START, MED_STOP = dt.date(2023, 11, 2), dt.date(2024, 2, 29)
TREAT_START = dt.date(2024, 4, 11)
BASELINE = dt.date(2023, 12, 1)
COLLECTED = dt.date(2024, 3, 6)
DATES = [BIRTH_A, BIRTH_B, BIRTH_C, VISIT_A1, VISIT_A2, VISIT_B, MED_START, MED_STOP, TREAT_START, BASELINE]
DATES.append(COLLECTED)

TEXT_SECRETS = [
    "Zebulon",
    "Quixotehart",
    "Ottilie",
    "Vandersnoot",
    "Perpetua",
    "Glimmerdown",
    MRN_A,
    MRN_B,
    MRN_C,
    "1931",  # the birth year of the patient over 89 (safe harbor: not even the year)
    "zq-case-typed",  # a case id as typed
    "Quixotehart rash title",  # the case title
    "Zq-clinic-letter",  # the case source
    "Zq-lesion-note",  # a lesion note
    "Zq-med-note",  # a medication note
    "Zq-family-note",  # a family-history note
    "Zq-attributed-cause",  # the cause a finding is attributed to
    "Zq-impression-text",  # the clinician's impression
    "Zq-differential-entry",  # and differential
    "HYDROXYchloroquine Zq-tabs",  # a medication name as typed
    "17.5 mg Zq-twice",  # a dose
    "Zq-units/L",  # a lab unit
    "Zq-expected-remark",  # the case's expected results
    "Saphnelo Zq-infusion",  # a treatment name as typed
    "300 mg Zq-IV",  # a treatment dose
    "ZQ-SAMPLE-Alpha",  # sample labels as in the uploaded matrix
    "ZQ-SAMPLE-Beta",
    "Zq-punch-forearm",  # a tissue label
    "Ov-form-note",  # a lesion note typed on the web form
]


def date_spellings(d: dt.date) -> list[str]:
    """The common ways a date is written: ISO, day-first, month-first, compact, month names."""
    return [
        d.isoformat(),
        d.strftime("%d/%m/%Y"),
        d.strftime("%m/%d/%Y"),
        d.strftime("%d.%m.%Y"),
        d.strftime("%Y/%m/%d"),
        d.strftime("%Y%m%d"),
        d.strftime("%b %Y"),
        d.strftime("%B %Y"),
        d.strftime("%d %b %Y"),
        d.strftime("%B %d, %Y"),
        f"{d.day}/{d.month}/{d.year}",
        f"{d.month}/{d.day}/{d.year}",
    ]


SECRETS = TEXT_SECRETS + [s for d in DATES for s in date_spellings(d)]


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


# ------------------------------------------------------------------------------ clients


class Client:
    """A logged-in browser-like client (cookie; the CSRF token for state changes)."""

    def __init__(self, app: FastAPI, username: str) -> None:
        self.client = TestClient(app, raise_server_exceptions=False)
        page = self.client.get("/login", headers=HTML)
        r = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/"},
            headers=HTML,
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        self.csrf = csrf_of(self.client.get("/", headers=HTML).text)

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        kw.setdefault("follow_redirects", False)
        return self.client.request(method, url, headers=headers, **kw)

    def form(self, url: str, data: dict[str, Any]) -> httpx.Response:
        return self.request("POST", url, data={"csrf_token": self.csrf, **data}, headers=HTML)


def _case(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("expected", None)
    return json.loads(json.dumps(doc, default=str))


def _case_a() -> dict[str, Any]:
    """The seed case with every kind of free text and date a clinician may type."""
    case = _case(EXAMPLES / "seed-cadm.yaml")
    case["id"] = f"zq-case-typed-{VISIT_A1.isoformat()}"
    case["title"] = "Quixotehart rash title"
    case["source"] = "Zq-clinic-letter, seen 05/03/2024"
    case["patient"] = {"sex": "male", "age_years": 92}
    case["onset"] = {**case.get("onset", {}), "age_years": 91.5}
    case["lesions"][0]["note"] = "Zq-lesion-note"
    case["labs"]["ck"] = {"value": 95, "upper_limit": 170, "unit": "Zq-units/L"}
    case["medications"] = [
        {
            "name": "HYDROXYchloroquine Zq-tabs",
            "dose": "17.5 mg Zq-twice",
            "started": MED_START.isoformat(),
            "stopped": MED_STOP.isoformat(),
            "note": "Zq-med-note",
            "response": "inadequate",
        }
    ]
    case["family_history"] = [{"relative": "mother", "condition": "sle", "note": "Zq-family-note"}]
    case["findings"]["oral_ulcers"] = {"value": "present", "attributed_to": "Zq-attributed-cause"}
    case["impression"] = {"text": "Zq-impression-text", "differential": ["Zq-differential-entry"]}
    case["expected"] = {"remark": "Zq-expected-remark"}
    return case


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("deid")
    app = create_app(Settings(database_url=f"sqlite:///{folder / 'registry.sqlite3'}"))
    registry = app.state.registry
    with registry.transaction() as s:
        doc_user = insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "res", PASSWORD, "researcher")
    doc, res = Client(app, "doc"), Client(app, "res")

    # Patient A through the API: over 89, two visits, a treatment, IFN scores.
    r = doc.request(
        "POST",
        "/api/patients",
        json={"name": NAME_A, "mrn": MRN_A, "birth_date": BIRTH_A.isoformat(), "sex": "male"},
    )
    assert r.status_code == 201, r.text
    a = r.json()["id"]
    r = doc.request(
        "POST", f"/api/patients/{a}/visits", json={"visit_date": VISIT_A1.isoformat(), "case": _case_a()}
    )
    assert r.status_code == 201, r.text
    a1 = r.json()["id"]
    r = doc.request(
        "POST",
        f"/api/patients/{a}/treatments",
        json={"name": "Saphnelo Zq-infusion", "started": TREAT_START.isoformat(), "dose": "300 mg Zq-IV"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["agent"] == "anifrolumab"
    treatment = r.json()["id"]
    # the second visit through the services, with an activity baseline dated by the clinician
    second = _case(EXAMPLES / "activity-cdasi-clasi.yaml")
    second["patient"]["age_years"] = 93
    second["activity"]["baseline"]["date"] = BASELINE.isoformat()
    with registry.transaction() as s:
        a2 = services.add_visit(s, actor_for(doc_user, "cli"), a, second, visit_date=VISIT_A2).id

    # IFN scores of two samples with typed labels and a typed tissue
    counts, genes, names, _ = make_counts(24)
    cohort = folder / "cohort.tsv"
    write_tsv_genes_in_rows(cohort, counts, genes, names)
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference, select_controls

    m = read_expression(cohort)
    fit_reference(m, select_controls(m, "ctrl"), rule="ctrl").save(folder / "ref.json")
    ref = (folder / "ref.json").read_bytes()
    r = doc.request(
        "POST",
        "/api/references",
        files={"file": ("ref.json", ref, "application/json")},
        data={"name": "controls"},
    )
    assert r.status_code == 201, r.text
    matrix = folder / "patient.tsv"
    write_tsv_genes_in_rows(matrix, counts[[12, 13]], genes, ["ZQ-SAMPLE-Alpha", "ZQ-SAMPLE-Beta"])
    r = doc.request(
        "POST",
        f"/api/patients/{a}/samples",
        files={"file": ("patient.tsv", matrix.read_bytes(), "text/tab-separated-values")},
        data={
            "signature": ["rice6"],
            "reference": "controls",
            "visit_id": str(a1),
            "tissue": "Zq-punch-forearm",
            "collected_on": COLLECTED.isoformat(),
        },
    )
    assert r.status_code == 201, r.text

    # Patient B through the web pages: the form's case id carries the visit date.
    r = doc.form(
        "/patients/new",
        {"name": NAME_B, "mrn": MRN_B, "birth_date": BIRTH_B.isoformat(), "sex": "female"},
    )
    assert r.status_code == 303, r.text
    b = int(r.headers["location"].rsplit("/", 1)[1])
    form = form_from_case(_case(EXAMPLES / "seed-cadm.yaml"))
    form.pop("patient.age_years", None)  # from the birth date
    form["visit_date"] = VISIT_B.isoformat()
    form["lesions.0.note"] = "Ov-form-note"
    r = doc.form(f"/patients/{b}/visits/new", form)
    assert r.status_code == 303, re.findall(r'class="field-error"[^>]*>(.*?)</p>', r.text)
    b1 = int(r.headers["location"].rsplit("/", 1)[1])
    with registry.transaction() as s:
        stored = services.get_visit(s, actor_for(doc_user, "cli"), b1)
    assert stored.case is not None
    assert VISIT_B.isoformat() in stored.case["id"]  # what the allow-list withholds

    # Patient C through the services: no visit at all.
    with registry.transaction() as s:
        c = services.create_patient(
            s, actor_for(doc_user, "cli"), name=NAME_C, mrn=MRN_C, birth_date=BIRTH_C, sex="female"
        ).id

    # the clinician does see the secrets (so the scan below can find them where they leak)
    full = doc.request("GET", f"/api/patients/{a}?full=true").text
    shown = (NAME_A, MRN_A, "Zq-lesion-note", "17.5 mg Zq-twice", VISIT_A1.isoformat())
    for secret in (*shown, "Zq-family-note", "Zq-attributed-cause", "Zq-impression-text"):
        assert secret in full, secret

    yield {
        "app": app,
        "doc": doc,
        "res": res,
        "patients": [a, b, c],
        "visits": [a1, a2, b1],
        "treatment": treatment,
        "over_89": a,
        "over_89_visits": [a1, a2],
    }
    registry.engine.dispose()


# ------------------------------------------------------------------------------- routes


def get_routes(app: FastAPI) -> list[str]:
    """Every GET path of the app, from ``app.routes`` (FastAPI's included routers too)."""
    out: list[str] = []

    def walk(routes: Any) -> None:
        for r in routes:
            if hasattr(r, "effective_route_contexts"):
                for e in r.effective_route_contexts():
                    if "GET" in (e.methods or ()):
                        out.append(e.path)
            elif getattr(r, "methods", None) and hasattr(r, "path"):
                if "GET" in r.methods:
                    out.append(r.path)
            elif hasattr(r, "routes") and not hasattr(r, "path"):
                walk(r.routes)

    walk(app.routes)
    return sorted(set(out))


def expand(path: str, seeded: dict[str, Any]) -> list[str]:
    """The path with its parameters filled by every seeded id (unknown parameters fail)."""
    values: dict[str, list[str]] = {
        "patient_id": [str(x) for x in seeded["patients"]],
        "visit_id": [str(x) for x in seeded["visits"]],
        "treatment_id": [str(seeded["treatment"])],
        "token_id": ["1"],
        "user_id": ["1"],
        "kind": ["lesion", "medication"],
        "n": ["1"],
        # record versions (corrections): researchers may not read them
        "entity": ["patient", "visit", "treatment"],
        "entity_id": [str(seeded["patients"][0]), str(seeded["visits"][0]), str(seeded["treatment"])],
        "version": ["1"],
        # a CDS Hooks report link: researchers may not open one (403 before any lookup)
        "call_id": ["00000000-0000-4000-8000-000000000000"],
    }
    urls = [path]
    for param in re.findall(r"\{(\w+)(?::\w+)?\}", path):
        assert param in values, f"{path}: a new route parameter {param!r}: teach this scan its values"
        urls = [u.replace("{" + param + "}", v) for u in urls for v in values[param]]
    return urls


def body_text(r: httpx.Response) -> str:
    """What a researcher can read in an answer: the text, a PDF's text too, and the headers."""
    parts = [f"{k}: {v}" for k, v in r.headers.items()]
    if r.headers.get("content-type", "").startswith("application/pdf"):
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(r.content)
        parts += [page.get_textpage().get_text_range() for page in pdf]
        parts.append(r.content.decode("latin-1"))  # metadata (the title) is plain in the file
    else:
        parts.append(r.text)
    return "\n".join(parts)


def test_every_researcher_answer_is_free_of_every_seeded_secret(seeded: dict[str, Any]) -> None:
    res: Client = seeded["res"]
    patient_a = seeded["patients"][0]
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for path in get_routes(seeded["app"]):
        for url in expand(path, seeded):
            requests.append(("GET", url, {}))
            requests.append(("GET", url, {"headers": HTML}))
    for p in seeded["patients"]:
        requests += [
            ("GET", f"/api/patients/{p}?full=true", {}),
            ("GET", f"/api/patients/{p}/export?format=csv", {}),
            ("GET", f"/api/patients/{p}/export?format=json", {}),
        ]
    requests += [
        ("GET", "/api/patients?q=Quixotehart", {}),
        ("POST", "/api/cohort", {"json": {}}),
        ("POST", "/api/cohort", {"json": {"picture": "dermatomyositis"}}),
        ("POST", "/api/cohort", {"json": {"ifn_high": "rice6"}}),
        ("POST", "/api/cohort/export", {"json": {}}),
        ("POST", "/cohort/export", {"data": {"csrf_token": res.csrf}, "headers": HTML}),
        (
            "POST",
            "/cohort",
            {"data": {"csrf_token": res.csrf, "picture": "dermatomyositis"}, "headers": HTML},
        ),
        ("POST", "/cohort", {"data": {"csrf_token": res.csrf}, "headers": HTML}),
        ("POST", "/patients/search", {"data": {"csrf_token": res.csrf, "q": "P-"}, "headers": HTML}),
    ]
    seen_ok = set()
    found: list[str] = []
    for method, url, kw in requests:
        r = res.request(method, url, **kw)
        assert r.status_code < 500, f"{method} {url}: {r.status_code}"
        if r.status_code == 200:
            seen_ok.add(url.split("?")[0])
        for secret in leaks(body_text(r)):
            found.append(f"{method} {url} ({r.status_code}): {secret!r}")
    assert not found, "researchers received seeded secrets:\n" + "\n".join(found)
    # the scan can fail: the clinician's answers to the same requests hold the secrets
    doc: Client = seeded["doc"]
    clinician = "\n".join(
        body_text(doc.request(m, u, **kw)) for m, u, kw in requests if "csrf_token" not in str(kw)
    )
    assert set(leaks(clinician)) >= {
        "Quixotehart",
        MRN_A,
        "Zq-lesion-note",
        "ZQ-SAMPLE-Alpha",
        BIRTH_A.isoformat(),
    }
    # the scan reached the researcher's data, not just error pages
    for url in (
        "/",
        "/cohort",
        f"/patients/{patient_a}",
        f"/api/patients/{patient_a}",
        f"/api/patients/{patient_a}/timeline",
        f"/api/patients/{patient_a}/export",
        "/api/patients",
    ):
        assert url in seen_ok, url
    for v in seeded["visits"]:
        for url in (
            f"/visits/{v}",
            f"/api/visits/{v}",
            f"/visits/{v}/report.html",
            f"/visits/{v}/report.pdf",
        ):
            assert url in seen_ok, url


def test_the_researcher_sees_what_is_allowed(seeded: dict[str, Any]) -> None:
    """Not an empty answer: pseudonyms, days since the first visit, agent keys, scores."""
    res: Client = seeded["res"]
    a = seeded["patients"][0]
    rec = res.request("GET", f"/api/patients/{a}?full=true").json()
    assert rec["deidentified"] is True
    assert rec["patient"]["pseudonym"].startswith("P-")
    assert rec["patient"]["last_visit"] == f"day {(VISIT_A2 - VISIT_A1).days}"
    assert [v["days_since_first_visit"] for v in rec["visits"]] == [0, (VISIT_A2 - VISIT_A1).days]
    recorded = {t["recorded_as"] for t in rec["treatments"]}
    assert {"hydroxychloroquine", "anifrolumab"} <= recorded  # the agent keys, not the names typed
    assert recorded == {t["agent"] for t in rec["treatments"]}
    anifrolumab = next(t for t in rec["treatments"] if t["agent"] == "anifrolumab")
    assert anifrolumab["started_days"] == (TREAT_START - VISIT_A1).days
    assert anifrolumab["dose"] is None
    assert {s["sample"] for s in rec["scores"]} == {f"sample {s['sample_id']}" for s in rec["scores"]}
    assert all(s["tissue"] is None and s["score"] is not None for s in rec["scores"])
    assert rec["scores"][0]["days_since_first_visit"] == (COLLECTED - VISIT_A1).days
    visit = rec["visits"][0]
    assert visit["iim_category"] == "probable"
    full = seeded["doc"].request("GET", f"/api/visits/{visit['id']}").json()["assessment"]
    iim = visit["assessment"]["criteria"]["eular_acr_iim_2017"]
    assert iim["score"] == full["criteria"]["eular_acr_iim_2017"]["score"]
    assert iim["category"] == "probable"
    assert visit["case"]["id"] == rec["patient"]["pseudonym"]
    assert visit["assessment"]["case_id"] == rec["patient"]["pseudonym"]
    assert visit["case"]["medications"] == [{"response": "inadequate"}]
    assert visit["case"]["labs"]["ck"] == {"value": 95, "upper_limit": 170}


def test_the_cohort_csv_holds_the_allow_listed_row(seeded: dict[str, Any]) -> None:
    import csv
    import io

    r = seeded["res"].request("POST", "/api/cohort/export", json={"picture": "dermatomyositis"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="cohort.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["pseudonym", "sex", "visits", "last_visit", "latest_verdict"]
    a = next(x for x in rows if x["visits"] == "2")
    assert a["last_visit"] == f"day {(VISIT_A2 - VISIT_A1).days}"
    assert all(x["pseudonym"].startswith("P-") for x in rows)
    # the page's button gives the same file; the clinician's file has names
    page = seeded["res"].form("/cohort/export", {"picture": "dermatomyositis"})
    assert page.status_code == 200
    assert page.text == r.text
    clinician = seeded["doc"].request("POST", "/api/cohort/export", json={"picture": "dermatomyositis"}).text
    assert clinician.splitlines()[0] == "name,mrn,pseudonym,sex,visits,last_visit,latest_verdict"
    assert NAME_A in clinician


def test_ages_over_89_are_capped(seeded: dict[str, Any]) -> None:
    res: Client = seeded["res"]
    ages = []
    for v in seeded["over_89_visits"]:
        case = res.request("GET", f"/api/visits/{v}").json()["case"]
        ages.append((case["patient"]["age_years"], case["onset"].get("age_years")))
        page = res.request("GET", f"/visits/{v}", headers=HTML).text
        report = res.request("GET", f"/visits/{v}/report.html").text
        for text in (page, report):
            assert not re.search(r"\b9[0-9](\.\d)? years", text)
    assert ages == [("90+", "90+"), ("90+", 28.5)]
    report = res.request("GET", f"/visits/{seeded['over_89_visits'][0]}/report.html").text
    assert "90+ years, male" in report
    assert "at 90+ years" in report
    # the clinician sees the age as recorded
    assert seeded["doc"].request("GET", f"/api/visits/{seeded['visits'][0]}").json()["case"]["patient"] == {
        "sex": "male",
        "age_years": 92,
    }


def test_researchers_may_not_use_the_clinicians_routes(seeded: dict[str, Any]) -> None:
    res: Client = seeded["res"]
    p, v, t = seeded["patients"][0], seeded["visits"][0], seeded["treatment"]
    forbidden: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/audit", {}),
        ("GET", "/api/admin/users", {}),
        ("POST", "/api/patients", {"json": {"name": "Nope"}}),
        ("PATCH", f"/api/patients/{p}", {"json": {"name": "Nope"}}),
        ("DELETE", f"/api/patients/{p}", {}),
        ("POST", f"/api/patients/{p}/visits", {"json": {"case": _case(EXAMPLES / "seed-cadm.yaml")}}),
        ("POST", f"/api/visits/{v}/reassess", {}),
        ("POST", f"/api/patients/{p}/treatments", {"json": {"name": "anifrolumab"}}),
        ("PATCH", f"/api/treatments/{t}", {"json": {"stopped": "2025"}}),
        ("GET", "/patients/new", {"headers": HTML}),
        ("GET", f"/patients/{p}/visits/new", {"headers": HTML}),
        ("POST", "/patients/new", {"data": {"csrf_token": res.csrf, "name": "Nope"}, "headers": HTML}),
        (
            "POST",
            f"/patients/{p}/treatments",
            {"data": {"csrf_token": res.csrf, "name": "x"}, "headers": HTML},
        ),
        (
            "POST",
            f"/treatments/{t}/stop",
            {"data": {"csrf_token": res.csrf, "stopped": "2025"}, "headers": HTML},
        ),
        ("POST", f"/visits/{v}/reassess", {"data": {"csrf_token": res.csrf}, "headers": HTML}),
    ]
    wrong = []
    for method, url, kw in forbidden:
        r = res.request(method, url, **kw)
        if r.status_code != 403:
            wrong.append(f"{method} {url}: {r.status_code}")
    assert not wrong, "researchers were not refused:\n" + "\n".join(wrong)
    # and nothing changed
    assert seeded["doc"].request("GET", f"/api/patients/{p}").json()["patient"]["name"] == NAME_A


# ------------------------------------------------------------------ the allow-list itself


def test_anything_not_listed_is_dropped_and_each_rule_checks_its_value() -> None:
    from ifnscope.registry.services.deidentify import keep_allowed

    case = {
        "format": "ifnscope-case/1",
        "id": "typed-2024-03-05",
        "a_field_added_later": "Zq secret",  # not on the list: dropped by default
        "patient": {"sex": "female", "age_years": 89, "nickname": "Zq"},
        "onset": {"age_years": 89.5, "after": ["viral_illness", "a trip to Zq on 05/03/2024"]},
        "findings": {"heliotrope_rash": "present", "typed": "red patches, Zq"},
        "lesions": [{"site": "periorbital", "morphology": "edema", "note": "Zq"}],
        "labs": {"ck": {"value": "95 U/L", "upper_limit": 170, "unit": "U/L"}},
        "medications": [{"name": "MTX 15 mg", "response": "inadequate", "started": "2024-03"}],
    }
    out = keep_allowed("case", case, pseudonym="P-ABCDEF")
    assert out == {
        "format": "ifnscope-case/1",
        "id": "P-ABCDEF",
        "patient": {"sex": "female", "age_years": 89},  # 89 is kept: only ages over 89 are capped
        "onset": {"age_years": "90+", "after": ["viral_illness"]},  # typed text is not a key
        "findings": {"heliotrope_rash": "present"},
        "lesions": [{"site": "periorbital", "morphology": "edema"}],
        "labs": {"ck": {"upper_limit": 170}},  # a number rule drops a string
        "medications": [{"response": "inadequate"}],
    }
    # text is kept unless it holds a calendar date, in any common spelling
    for dated in ("seen 2024-03-05", "seen 05/03/2024", "seen 20240305", "seen Mar 2024", "on 5 March 2024"):
        assert keep_allowed("assessment", {"disclaimer": dated}) == {}, dated
    assert keep_allowed("assessment", {"disclaimer": "Decision support"}) == {
        "disclaimer": "Decision support"
    }


def test_a_treatment_shows_its_agent_key_in_place_of_the_name_typed() -> None:
    from ifnscope.registry.services.deidentify import keep_allowed

    typed = {"id": 1, "recorded_as": "Plaquenil 200", "agent": "hydroxychloroquine", "dose": "200 mg"}
    assert keep_allowed("treatment", typed) == {
        "id": 1,
        "recorded_as": "hydroxychloroquine",
        "agent": "hydroxychloroquine",
    }
    unknown = {"id": 2, "recorded_as": "Zq herbal tea", "agent": None}
    assert keep_allowed("treatment", unknown) == {"id": 2, "recorded_as": None, "agent": None}


def test_a_required_view_field_that_is_not_listed_is_a_clear_error() -> None:
    from pydantic import BaseModel

    from ifnscope.errors import DataError
    from ifnscope.registry.services.deidentify import deidentify_model

    class NewView(BaseModel):  # a view that grew a required field nobody listed
        id: int
        secret_code: str

    with pytest.raises(DataError) as ei:
        deidentify_model("treatment", NewView(id=1, secret_code="Zq"))
    assert "secret_code" in ei.value.message


def test_a_withheld_field_that_cannot_be_null_keeps_its_default() -> None:
    from pydantic import BaseModel

    from ifnscope.registry.services.deidentify import deidentify_model

    class Grown(BaseModel):  # a view that grew fields nobody listed yet
        id: int
        response: str | None
        kind: str = "fixed"
        note: str | None = "typed"

    assert deidentify_model("treatment", Grown(id=1, response="none", kind="Zq", note="Zq")) == Grown(
        id=1, response="none", kind="fixed", note=None
    )
