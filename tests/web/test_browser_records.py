"""Correcting and deleting a visit in a real browser (Debian's Chromium driven by Playwright,
against uvicorn in a thread on a temporary SQLite registry), as a clinician does it: the visit
page's "Correct or delete", a reason, the earlier version in the history, and the audit row.

The scaffolding is tests/web/browser_kit.py (skipped loudly without /usr/bin/chromium or the
Playwright package; never ``playwright install``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.registry.models import AuditEvent, RecordVersion, Visit
from tests.helpers import ROOT
from tests.web.browser_kit import (  # skips this module without a browser
    PASSWORD,
    SHOTS,
    WIDE,
    Browser,
    Page,
    Watch,
    expect,
    registry_app,
    serve,
)

SEED = ROOT / "examples" / "seed-cadm.yaml"
ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"
NAME = "Rosamund Correctwell"


def _doc(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("expected", None)
    return doc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app = registry_app(tmp_path_factory, "browser-records")
    today = dt.date.today()
    with app.state.registry.transaction() as s:
        clin = actor_for(insert_user(s, "doc", PASSWORD, "clinician"), "cli")
        p = services.create_patient(s, clin, name=NAME, birth_date=dt.date(1988, 3, 4), sex="female")
        first = services.add_visit(s, clin, p.id, _doc(ACTIVITY), visit_date=today - dt.timedelta(days=90))
        second = services.add_visit(s, clin, p.id, _doc(SEED), visit_date=today - dt.timedelta(days=10))
    with serve(app) as base:
        yield {
            "base": base,
            "app": app,
            "patient": p.id,
            "first": first.id,
            "second": second.id,
        }


@pytest.fixture
def page(browser: Browser, server: dict[str, Any]) -> Iterator[Page]:
    ctx = browser.new_context(viewport=WIDE, base_url=server["base"])
    watch = Watch(ctx, server["base"])
    pg = watch.page(ctx.new_page())
    pg.set_default_timeout(10_000)
    pg.goto("/login")
    pg.get_by_label("Username").fill("doc")
    pg.get_by_label("Password").fill(PASSWORD)
    pg.get_by_role("button", name="Log in").click()
    pg.wait_for_url(re.compile(r"/$"))
    yield pg
    watch.check()
    ctx.close()


def test_correct_a_visit_and_see_the_previous_version(page: Page, server: dict[str, Any]) -> None:
    vid = server["first"]
    page.goto(f"/visits/{vid}")
    page.get_by_role("link", name="Correct or delete").click()
    expect(page).to_have_url(re.compile(rf"/visits/{vid}/edit$"))
    old_date = page.get_by_label("Visit date").input_value()
    new_date = (dt.date.fromisoformat(old_date) + dt.timedelta(days=1)).isoformat()
    page.get_by_label("Visit date").fill(new_date)
    page.get_by_role("button", name="Save correction").click()
    # Without a reason nothing is saved, and the form says why.
    expect(page.locator(".error-summary")).to_contain_text("give the reason for the correction")
    page.get_by_label("Visit date").fill(new_date)
    page.get_by_label("Reason for the correction").fill("Seen the day after: date typed wrong")
    page.get_by_role("button", name="Save correction").click()
    expect(page).to_have_url(re.compile(rf"/visits/{vid}$"))
    expect(page.locator("h1")).to_contain_text(new_date)

    page.get_by_role("link", name="History").click()
    expect(page.locator("table.history")).to_contain_text("Seen the day after: date typed wrong")
    page.get_by_role("link", name=re.compile(r"^Version 1")).click()
    expect(page.locator("h1")).to_contain_text(f"Visit {vid}, version 1")
    expect(page.locator("main, body").first).to_contain_text(old_date)
    page.screenshot(path=str(SHOTS / "records-visit-version-1280.png"), full_page=True)


def test_delete_a_visit_it_leaves_the_patient_page_and_stays_in_the_history(
    page: Page, server: dict[str, Any]
) -> None:
    pid, vid, kept = server["patient"], server["second"], server["first"]
    page.goto(f"/patients/{pid}")
    expect(page.locator(f'a[href="/visits/{vid}"]')).to_have_count(1)
    page.goto(f"/visits/{vid}")
    page.get_by_role("link", name="Correct or delete").click()
    page.get_by_label("Reason for deleting the visit").fill("Entered on the wrong patient")
    page.get_by_role("button", name="Delete visit").click()
    expect(page).to_have_url(re.compile(rf"/patients/{pid}$"))
    expect(page.locator(f'a[href="/visits/{vid}"]')).to_have_count(0)
    expect(page.locator(f'a[href="/visits/{kept}"]')).to_have_count(1)
    expect(page.locator(".meta")).to_contain_text("1 visit")

    page.get_by_role("link", name="History").click()
    row = page.locator("table.history tr", has_text="Entered on the wrong patient")
    expect(row).to_contain_text(f"visit {vid}")
    expect(row).to_contain_text("deleted")
    row.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text(f"Visit {vid}, version")

    with server["app"].state.registry.transaction() as s:
        row_ = s.get(Visit, vid)
        assert row_ is not None
        assert row_.deleted_at is not None  # kept in the database
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "delete_visit")))
        assert [(e.patient_id, e.username, e.via) for e in events] == [(pid, "doc", "web")]
        assert "wrong patient" not in (events[0].detail or "")  # the reason stays out of the audit log
        kept_version = s.scalar(
            select(RecordVersion).where(RecordVersion.entity_id == vid, RecordVersion.action == "delete")
        )
        assert kept_version is not None
        assert kept_version.reason == "Entered on the wrong patient"
