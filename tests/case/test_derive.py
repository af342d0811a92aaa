"""Lesion -> finding derivation by the criteria's definitions; every rule has a test."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.derive import derive_findings, lesion_rules
from tests.helpers import facts_of, make_case

# finding -> (a lesion that must derive it, a near lesion that must NOT derive it)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "heliotrope_rash": (
        {"site": "periorbital", "morphology": "edema", "colour": "violaceous"},
        {"site": "periorbital", "morphology": "papule", "colour": "violaceous"},
    ),
    "gottron_papules": (
        {"site": "pip_joints", "morphology": "papule", "colour": "pink"},
        {"site": "dorsal_hands_between_joints", "morphology": "papule", "colour": "red"},
    ),
    "gottron_sign": (
        {"site": "knees", "morphology": "macule", "colour": "dark_red"},
        {"site": "knees", "morphology": "macule", "colour": "dyspigmented"},
    ),
    "periungual_telangiectasia": (
        {"site": "nailfolds", "morphology": "telangiectasia"},
        {"site": "nailfolds", "morphology": "patch", "colour": "red"},
    ),
    "v_sign": (
        {"site": "v_of_neck", "morphology": "patch", "colour": "red"},
        {"site": "chest", "morphology": "patch", "colour": "red"},
    ),
    "shawl_sign": (
        {"site": "upper_back_shoulders", "morphology": "macule", "colour": "violaceous"},
        {"site": "back", "morphology": "macule", "colour": "violaceous"},
    ),
    "holster_sign": (
        {"site": "lateral_thighs", "morphology": "poikiloderma", "colour": "violaceous"},
        {"site": "legs", "morphology": "poikiloderma", "colour": "violaceous"},
    ),
    "poikiloderma": (
        {"site": "chest", "morphology": "poikiloderma"},
        {"site": "chest", "morphology": "telangiectasia"},
    ),
    "oral_ulcers": (
        {"site": "oral_mucosa", "morphology": "ulcer"},
        {"site": "oral_mucosa", "morphology": "plaque", "colour": "red"},
    ),
    "cutaneous_ulceration": (
        {"site": "elbows", "morphology": "ulcer"},
        {"site": "oral_mucosa", "morphology": "ulcer"},
    ),
    "nasolabial_fold_involvement": (
        {"site": "nasolabial", "morphology": "patch", "colour": "red"},
        {"site": "malar", "morphology": "patch", "colour": "red"},
    ),
}


def test_every_rule_has_a_test() -> None:
    assert {r.finding for r in lesion_rules()} == set(CASES)


@pytest.mark.parametrize("finding", list(CASES))
def test_rule_derives_its_finding(finding: str) -> None:
    yes, no = CASES[finding]
    assert finding in derive_findings(make_case(lesions=[yes])).derived
    assert finding not in derive_findings(make_case(lesions=[no])).derived


def test_derivation_never_makes_anything_absent() -> None:
    facts = facts_of(make_case(lesions=[{"site": "chest", "morphology": "plaque", "colour": "red"}]))
    assert facts.value("heliotrope_rash") == "unknown"
    assert all(f.value != "absent" for f in facts.values() if f.origin == "derived")


def test_papules_are_palpable_and_macules_are_not() -> None:
    """Gottron's papules vs Gottron's sign: the same site, told apart by palpability."""
    d = derive_findings(
        make_case(
            lesions=[
                {"site": "mcp_joints", "morphology": "papule", "colour": "red"},
                {"site": "elbows", "morphology": "macule", "colour": "violaceous"},
            ]
        )
    ).derived
    assert d["gottron_papules"].lesions == [1]
    assert d["gottron_sign"].lesions == [2]


def test_missing_colour_is_a_near_miss_not_a_finding() -> None:
    r = derive_findings(make_case(lesions=[{"site": "elbows", "morphology": "macule", "scale": True}]))
    assert "gottron_sign" not in r.derived
    miss = [m for m in r.near_misses if m.finding == "gottron_sign"]
    assert miss
    assert miss[0].missing == "colour"
    assert miss[0].lesion == 1
    a = assess(make_case(lesions=[{"site": "elbows", "morphology": "macule"}]))
    assert any("would count as Gottron's sign" in m.message for m in a.near_misses)


def test_recorded_finding_wins_and_the_conflict_is_reported() -> None:
    case = make_case(
        {"heliotrope_rash": "absent"},
        lesions=[{"site": "periorbital", "morphology": "patch", "colour": "violaceous"}],
    )
    facts = facts_of(case)
    assert facts.value("heliotrope_rash") == "absent"
    assert "recorded value wins" in facts["heliotrope_rash"].detail
    a = assess(case)
    assert a.conflicts
    assert "Heliotrope rash" in a.conflicts[0]


def test_assessment_shows_which_lesion_derived_each_finding() -> None:
    case = make_case(
        lesions=[
            {"site": "chest", "morphology": "plaque", "colour": "red"},
            {"site": "periorbital", "morphology": "edema", "colour": "violaceous", "bilateral": True},
            {"site": "mcp_joints", "morphology": "papule", "colour": "red", "scale": True},
            {"site": "dip_joints", "morphology": "papule", "colour": "red"},
        ]
    )
    a = assess(case)
    assert a.derived_findings == {"heliotrope_rash": "present", "gottron_papules": "present"}
    src = a.findings["gottron_papules"]
    assert src.origin == "derived"
    assert [lr.number for lr in src.lesions] == [3, 4]
    assert src.lesions[0].text == "scaly red papule, mcp joints"
    assert "extensor surfaces" in (src.rule or "")
    assert a.findings["heliotrope_rash"].lesions[0].text == "violaceous edema, periorbital, bilateral"
