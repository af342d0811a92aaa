"""The case form's live assessment (POST /visits/live): the fragment with the criteria verdicts
changes as findings are added, saves and audits nothing, needs a clinician's login and the CSRF
token, and answers bad input with a message in the panel, never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ifnscope.registry.auth import insert_user
from ifnscope.registry.models import AuditEvent, Visit
from ifnscope.web import Settings, create_app
from tests.web.test_pages import HTML, PASSWORD, Browser, form_from_case, seed_doc


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    db = tmp_path_factory.mktemp("live") / "registry.sqlite3"
    application = create_app(Settings(database_url=f"sqlite:///{db}"))
    with application.state.registry.transaction() as s:
        for username, role in (("doc", "clinician"), ("res", "researcher"), ("boss", "admin")):
            insert_user(s, username, PASSWORD, role)  # type: ignore[arg-type]
    yield application
    application.state.registry.engine.dispose()


def _row(html: str, key: str) -> str:
    """The text of one row of the panel's table (by its data-key), tags removed."""
    m = re.search(rf'<tr[^>]*data-key="{re.escape(key)}"[^>]*>(.*?)</tr>', html, re.S)
    assert m, f"no row {key} in the panel"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1))).strip()


def _counts(app: FastAPI) -> tuple[int, int]:
    with app.state.registry.transaction() as s:
        visits = s.scalar(select(func.count()).select_from(Visit))
        audit = s.scalar(select(func.count()).select_from(AuditEvent))
    return int(visits or 0), int(audit or 0)


def test_the_case_form_has_the_live_panel(doc: Browser, app: FastAPI) -> None:
    r = doc.post("/patients/new", {"name": "Live Panel", "birth_date": "1970-05-06", "sex": "female"})
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    page = doc.get(f"/patients/{pid}/visits/new").text
    assert 'id="case-form"' in page
    panel = re.search(r'<div id="live-body"[^>]*>', page, re.S)
    assert panel, "no live panel on the form"
    assert 'hx-post="/visits/live"' in panel.group(0)
    assert 'hx-include="#case-form"' in panel.group(0)
    assert "change delay:300ms from:#case-form" in panel.group(0)


def test_the_panel_shows_the_verdicts_and_changes_as_findings_are_added(doc: Browser, app: FastAPI) -> None:
    base = {"patient.sex": "female", "onset.age_years": "45", "findings.gottron_papules": "present"}
    before_counts = _counts(app)
    one = doc.post("/visits/live", base)
    assert one.status_code == 200, one.text
    assert one.headers["content-type"].startswith("text/html")
    assert "<html" not in one.text  # a fragment, not a page
    for key in ("eular_acr_iim_2017", "eular_acr_sle_2019", "sontheimer_cadm", "differential"):
        _row(one.text, key)
    assert "Not recorded, and would change a result" in one.text
    iim_one = _row(one.text, "eular_acr_iim_2017")
    assert "criteria not met" in iim_one

    two = doc.post("/visits/live", {**base, "findings.heliotrope_rash": "present"})
    assert two.status_code == 200
    iim_two = _row(two.text, "eular_acr_iim_2017")
    assert iim_two != iim_one
    score = lambda s: float(re.search(r"score (\d+(?:\.\d+)?)", s).group(1))  # noqa: E731
    assert score(iim_two) > score(iim_one)
    assert "favours dermatomyositis" in _row(two.text, "differential").lower() or "dermatomyositis" in _row(
        two.text, "differential"
    )
    assert _counts(app) == before_counts  # nothing saved, nothing audited


def test_the_seed_case_reads_as_its_stored_assessment(doc: Browser, app: FastAPI) -> None:
    """The panel and the visit page come from the one presentation model: the same verdicts."""
    form = form_from_case(seed_doc())
    live = doc.post("/visits/live", form)
    assert live.status_code == 200
    r = doc.post("/patients/new", {"name": "Live Seed", "birth_date": "1960-01-01", "sex": "female"})
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    saved = doc.post(f"/patients/{pid}/visits/new", {**form, "visit_date": "2024-06-01"})
    assert saved.status_code == 303, saved.text
    page = doc.get(saved.headers["location"]).text
    for short in ("EULAR/ACR 2017 IIM", "EULAR/ACR 2019 SLE", "Sontheimer CADM"):
        on_page = re.search(rf'<th scope="row">{re.escape(short)}</th>\s*<td>(.*?)</td>', page, re.S)
        in_panel = re.search(rf'<th scope="row">{re.escape(short)}</th>\s*<td>(.*?)</td>', live.text, re.S)
        assert on_page
        assert in_panel
        assert on_page.group(1).strip() == in_panel.group(1).strip()


def test_cdasi_and_clasi_totals_are_shown_when_scored() -> None:
    """The panel's template lays out the activity indices of the presentation model (the form's
    CDASI/CLASI items reach it through ``web.forms`` like every other field)."""
    from ifnscope.assessment import assess
    from ifnscope.case.reader import load_case
    from ifnscope.presentation import from_assessment
    from ifnscope.web.pages.common import TEMPLATES
    from tests.helpers import ROOT

    view = from_assessment(assess(load_case(ROOT / "examples" / "activity-cdasi-clasi.yaml")))
    assert view.activity
    assert view.activity.indices
    html = TEMPLATES.get_template("_live.html").render(view=view, age_missing=False)
    for idx in view.activity.indices:
        row = _row(html, idx.short.lower())
        assert f"activity {idx.activity_range} of {idx.activity_max}" in row
        assert idx.band in row


def test_nothing_to_assess_and_bad_input_give_a_message(doc: Browser, app: FastAPI) -> None:
    before = _counts(app)
    r = doc.post("/visits/live", {"patient.sex": "female", "visit_date": "2024-01-01"})
    assert r.status_code == 200
    assert "Nothing to assess yet" in r.text
    r = doc.post("/visits/live", {"findings.gottron_papules": "present", "onset.age_years": "abc"})
    assert r.status_code == 200
    assert "Not assessed: correct the form first." in r.text
    assert "Age at onset" in r.text
    r = doc.post("/visits/live", {"findings.gottron_papules": "maybe", "labs.ck.value": "-5"})
    assert r.status_code == 200
    assert "Not assessed" in r.text
    r = doc.post("/visits/live", {"findings.gottron_papules": "present", "patient.age_years": "\x00" * 3})
    assert r.status_code in (200, 422)
    assert "Not assessed" in r.text
    assert _counts(app) == before


def test_login_and_csrf_are_required(app: FastAPI, doc: Browser) -> None:
    form = {"findings.gottron_papules": "present"}
    anon = TestClient(app)
    r = anon.post("/visits/live", data=form)
    assert r.status_code == 401
    r = anon.post("/visits/live", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code in (303, 401)
    # Logged in, but without the token (neither the field nor the header): refused.
    r = doc.client.post("/visits/live", data=form, follow_redirects=False)
    assert r.status_code == 403
    # The header htmx sends (from <body hx-headers>) is enough.
    r = doc.client.post("/visits/live", data=form, headers={"X-CSRF-Token": doc.csrf, "HX-Request": "true"})
    assert r.status_code == 200
    assert "eular_acr_iim_2017" in r.text
    # Researchers do not enter visits.
    res = Browser(app, "res")
    assert res.post("/visits/live", form).status_code == 403
    assert Browser(app, "boss").post("/visits/live", form).status_code == 200


def test_an_empty_age_comes_from_the_birth_date_as_on_saving(doc: Browser, app: FastAPI) -> None:
    """The form carries the birth date it shows; the panel fills an empty age from it at the visit
    date, as saving does, so the live IIM score equals the saved one (age at onset is an item)."""
    r = doc.post("/patients/new", {"name": "Live Age", "birth_date": "1970-05-06", "sex": "female"})
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    page = doc.get(f"/patients/{pid}/visits/new").text
    assert 'name="_birth_date" value="1970-05-06"' in page
    form = {
        "patient.sex": "female",
        "findings.gottron_papules": "present",
        "findings.heliotrope_rash": "present",
        "visit_date": "2024-06-01",
    }
    without = doc.post("/visits/live", form).text
    with_birth = doc.post("/visits/live", {**form, "_birth_date": "1970-05-06"}).text
    assert "The age at this visit is left empty" in without
    assert "The age at this visit is left empty" not in with_birth
    saved = doc.post(f"/patients/{pid}/visits/new", form)
    assert saved.status_code == 303, saved.text
    page = doc.get(saved.headers["location"]).text
    row = re.search(r'<th scope="row">EULAR/ACR 2017 IIM</th>\s*<td>(.*?)</td>', page, re.S)
    live_row = re.search(r'<th scope="row">EULAR/ACR 2017 IIM</th>\s*<td>(.*?)</td>', with_birth, re.S)
    assert row
    assert live_row
    assert live_row.group(1).strip() == row.group(1).strip()
    assert with_birth != without  # the age was used
