"""Findings with context (issue 12, item 3): resolved, attributed to another cause, uncertain."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.case.reader import validate_case
from ifnscope.criteria import sle_2019
from ifnscope.criteria.base import fact_names
from ifnscope.registry.services.deidentify import keep_allowed
from tests.helpers import case_issues, make_case

HEAD = "format: ifnscope-case/1\nid: t\n"
LUPUS = {"acute_cutaneous_lupus": "present", "leukopenia": "present"}
HERPES = {"value": "present", "attributed_to": "herpes simplex"}


def _lupus(**findings: Any) -> Any:
    return make_case({**LUPUS, **findings}, age=30, onset=29, labs={"ana_titer": 320})


def _only_issue(oral_ulcers: str) -> Any:
    """The one problem the reader finds in a case whose oral ulcers are written so."""
    (i,) = case_issues(f"findings:\n  oral_ulcers: {oral_ulcers}\n")
    return i


def _item(result: Any, item_id: str) -> Any:
    return next(i for i in result.items if i.id == item_id)


def test_a_finding_with_a_more_likely_explanation_does_not_count_for_sle_2019() -> None:
    """Aringer 2019, criteria table: "Do not count a criterion if there is a more likely
    explanation than SLE" (data/criteria/sle_2019.yaml, more_likely_explanation)."""
    effusion = {"value": "present", "attributed_to": "heart failure"}
    counted = assess(_lupus(pleural_or_pericardial_effusion="present")).criteria["eular_acr_sle_2019"]
    attributed = assess(_lupus(pleural_or_pericardial_effusion=effusion))
    sle = attributed.criteria["eular_acr_sle_2019"]
    assert _item(counted, "effusion").counted
    item = _item(sle, "effusion")
    assert not item.counted
    assert "attributed to heart failure: not counted" in item.because
    assert sle.score == counted.score - 5  # the serosal domain's effusion: 5 points
    assert any("attributed to heart failure" in n for n in sle.notes)
    assert any(r.source == "aringer2019" for r in sle.references)
    # the other sets read it as recorded, and a flag says to check their own exclusions
    assert _item(attributed.criteria["slicc_2012"], "serositis").counted
    (flag,) = [f for f in attributed.flags if f.code == "finding_attributed_elsewhere"]
    assert flag.severity == "check"
    assert flag.evidence == ["findings.pleural_or_pericardial_effusion"]
    assert "SLICC 2012" in flag.message


def test_the_sle_2019_items_read_findings_only_positively() -> None:
    """Reading an attributed finding as absent is 'not counting it' only while no 2019 item says
    "without X" (SLICC's direct Coombs does: that is why only the 2019 engine reads it so)."""
    r = sle_2019.rules()

    def negated(expr: Any) -> bool:
        if isinstance(expr, str):
            return False
        ((op, arg),) = expr.items()
        return op in ("not", "not_shown") or any(
            negated(e) for e in (arg if isinstance(arg, list) else [arg])
        )

    exprs = [r.entry.when, *(i.when for d in r.domains for i in d.items)]
    assert not any(negated(e) for e in exprs)
    assert all(fact_names(e) for e in exprs)


def test_a_resolved_finding_counts_as_having_occurred() -> None:
    """Aringer 2019: "Occurrence of a criterion on at least one occasion is sufficient"; SLICC
    2012: "criteria are cumulative" (use_when of both rule files)."""
    resolved = _lupus(pleural_or_pericardial_effusion={"value": "present", "resolved": True})
    a = assess(resolved)
    assert _item(a.criteria["eular_acr_sle_2019"], "effusion").counted
    assert _item(a.criteria["slicc_2012"], "serositis").counted
    assert "resolved" in build_facts(resolved)["pleural_or_pericardial_effusion"].detail
    assert (
        "resolved"
        in build_facts(_lupus(oral_ulcers={"value": "present", "resolved": True}))["oral_ulcers"].detail
    )


@pytest.mark.parametrize("written", ["uncertain", {"value": "uncertain"}])
def test_an_uncertain_finding_is_recorded_not_counted_and_asked_about(written: Any) -> None:
    c = make_case({"heliotrope_rash": written, "gottron_papules": "present"}, age=45, onset=44)
    f = build_facts(c)["heliotrope_rash"]
    assert (f.value, f.origin) == ("unknown", "recorded")
    assert f.detail == "recorded uncertain: not counted"
    a = assess(c)
    (u,) = [u for u in a.unknowns if u.fact == "heliotrope_rash"]
    assert u.recorded == "recorded uncertain: not counted"
    assert any("IIM" in w for w in u.would_change)  # heliotrope rash: 3.1 points
    assert c.recorded_findings()["heliotrope_rash"] == "unknown"


@pytest.mark.parametrize(
    "written",
    [
        "{value: absent, resolved: true}",
        "{value: unknown, attributed_to: drugs}",
        "{value: uncertain, resolved: true}",
    ],
)
def test_context_belongs_to_a_present_finding(written: str) -> None:
    i = _only_issue(written)  # one error, for the map written
    assert i.code == "case.invalid-value"
    assert i.path == "findings.oral_ulcers"
    assert "present" in i.message


@pytest.mark.parametrize(
    ("written", "path", "nearest"),
    [
        ("presnt", "findings.oral_ulcers", "present"),
        ("{value: presnt}", "findings.oral_ulcers.value", "present"),
        ("{value: present, atributed_to: herpes}", "findings.oral_ulcers.atributed_to", "attributed_to"),
    ],
)
def test_a_misspelt_word_or_key_names_the_nearest(written: str, path: str, nearest: str) -> None:
    i = _only_issue(written)
    assert (i.path, i.suggestion) == (path, nearest)


def test_a_finding_with_context_round_trips_and_hides_its_cause_from_researchers() -> None:
    doc = {"format": "ifnscope-case/1", "id": "t", "findings": {"oral_ulcers": {**HERPES, "resolved": True}}}
    stored = validate_case(doc).model_dump(mode="json", exclude_none=True)
    assert stored["findings"]["oral_ulcers"] == {
        "value": "present",
        "resolved": True,
        "attributed_to": "herpes simplex",
    }
    assert validate_case(stored).model_dump(mode="json", exclude_none=True) == stored
    kept = keep_allowed("case", stored)
    assert kept["findings"]["oral_ulcers"] == {"value": "present", "resolved": True}
