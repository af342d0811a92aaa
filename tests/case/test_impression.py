"""The clinician's impression and differential (issue 12, item 6): kept with the case, shown to
clinicians in the report, never to researchers, never read by a rule."""

from __future__ import annotations

import io

from rich.console import Console

from ifnscope.assessment import assess
from ifnscope.case.model import Case
from ifnscope.registry.services.deidentify import keep_allowed
from ifnscope.report.html import render_html
from ifnscope.report.terminal import render
from tests.helpers import make_case

IMPRESSION = {
    "text": "Probably SCLE, photosensitive; DM less likely without Gottron's.",
    "differential": ["subacute cutaneous lupus", "dermatomyositis", "drug-induced SCLE"],
}
SKIN = {"subacute_cutaneous_lupus": "present", "photosensitivity": "present"}


def _cases() -> tuple[Case, Case]:
    kw = {"age": 52, "onset": 51, "labs": {"ana_titer": 160}}
    return make_case(SKIN, **kw), make_case(SKIN, impression=IMPRESSION, **kw)


def test_the_impression_changes_no_result() -> None:
    without, with_impression = (assess(c) for c in _cases())
    a, b = without.to_json_dict(), with_impression.to_json_dict()
    assert b.pop("impression") == IMPRESSION
    assert a.pop("impression") is None
    assert a == b


def test_the_report_shows_it_to_the_clinician() -> None:
    a = assess(_cases()[1])
    out = io.StringIO()
    render(a, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "From the clinician's record (read by no rule)" in text
    assert "Impression: Probably SCLE" in text
    assert "Differential: subacute cutaneous lupus; dermatomyositis; drug-induced SCLE" in text
    html = render_html(a)
    assert "From the clinician&#39;s record" in html or "From the clinician's record" in html
    assert "DM less likely without Gottron&#39;s." in html


def test_researchers_never_see_it() -> None:
    c = _cases()[1]
    assert "impression" not in keep_allowed("case", c.model_dump(mode="json", exclude_none=True))
    assert "impression" not in keep_allowed("assessment", assess(c).to_json_dict())
