"""The researcher's view in a real browser (Debian's Chromium driven by Playwright, against a
real server): the patient list, a patient, a visit and the cohort page show no seeded name, MRN,
date, typed medication name or sample label, and ages over 89 read "90+".

Scaffolding from tests/web/browser_kit.py (never ``playwright install``; without /usr/bin/chromium
the module is skipped loudly).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.registry.models import IfnScore, Sample
from tests.helpers import ROOT
from tests.web.browser_kit import (  # skips this module without a browser
    PASSWORD,
    Browser,
    Page,
    expect,
    registry_app,
    serve,
)

NAME, MRN, BIRTH = "Philippa Wexcombe", "MRN-WX-90817", dt.date(1930, 2, 11)
VISITS = (dt.date(2024, 2, 6), dt.date(2024, 9, 24))
SECRETS = [
    "Philippa",
    "Wexcombe",
    MRN,
    "1930",
    "Wx-lesion-note",
    "PLAQUENIL Wx-typed",
    "12 mg Wx-dose",
    "WX-SAMPLE-77",
    "Wx-tissue",
] + [
    s
    for d in (BIRTH, *VISITS)
    for s in (d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%m/%d/%Y"), d.strftime("%b %Y"))
]


def _seed(app: Any) -> int:
    """A patient over 89 with two visits, a treatment typed oddly and a labelled sample."""
    with app.state.registry.transaction() as s:
        clin = actor_for(insert_user(s, "doc", PASSWORD, "clinician"), "cli")
        insert_user(s, "res", PASSWORD, "researcher")
        p = services.create_patient(s, clin, name=NAME, mrn=MRN, birth_date=BIRTH, sex="female")
        case = yaml.safe_load((ROOT / "examples" / "activity-cdasi-clasi.yaml").read_text(encoding="utf-8"))
        case.pop("expected", None)
        case["activity"].pop("baseline", None)
        case["patient"]["age_years"] = 94
        case["lesions"][0]["note"] = "Wx-lesion-note"
        case["medications"] = [{"name": "PLAQUENIL Wx-typed", "dose": "12 mg Wx-dose", "started": "2023-06"}]
        v1 = services.add_visit(s, clin, p.id, case, visit_date=VISITS[0])
        services.add_visit(s, clin, p.id, case, visit_date=VISITS[1])
        smp = Sample(
            patient_id=p.id, visit_id=v1.id, label="WX-SAMPLE-77", collected_on=VISITS[0], tissue="Wx-tissue"
        )
        s.add(smp)
        s.flush()
        s.add(
            IfnScore(
                sample_id=smp.id,
                signature="rice6",
                method="zscore",
                score=3.1,
                call="high",
                genes_found=6,
                genes_total=6,
                reference_name="ref",
            )
        )
        return p.id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app = registry_app(tmp_path_factory, "browser-res")
    patient = _seed(app)
    with serve(app) as base:
        yield {"base": base, "patient": patient}


def _no_secrets(page: Page, where: str) -> None:
    """Neither the text a person reads nor the page's HTML (titles, attributes) holds a secret."""
    text = page.locator("body").inner_text() + page.content()
    found = [s for s in SECRETS if s in text]
    assert not found, f"{where}: {found}"


def test_the_researcher_view_in_a_browser(browser: Browser, server: dict[str, Any]) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server["base"])
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.get_by_label("Username").fill("res")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("note")).to_contain_text("De-identified view")
    expect(page.locator("body")).to_contain_text("P-")
    _no_secrets(page, "patient list")

    page.locator(f'a[href="/patients/{server["patient"]}"]').first.click()
    page.wait_for_url(re.compile(rf"/patients/{server['patient']}$"))
    expect(page.locator("#h-visits")).to_be_visible()
    expect(page.locator("body")).to_contain_text(f"day {(VISITS[1] - VISITS[0]).days}")
    expect(page.locator("body")).to_contain_text("hydroxychloroquine")  # the agent key, not the typed name
    _no_secrets(page, "patient page")

    page.locator('a[href^="/visits/"]').first.click()
    expect(page.locator("h1")).to_contain_text("day ")
    _no_secrets(page, "visit page")
    assert not re.search(r"\b9[0-9] years", page.locator("body").inner_text())

    page.get_by_role("link", name="Cohort").click()
    page.get_by_label("Picture").select_option("dermatomyositis")
    page.get_by_role("button", name="Find patients").click()
    expect(page.locator("#h-results")).to_have_text("1 patient")
    _no_secrets(page, "cohort page")
    ctx.close()
