"""The CLE-vs-DM differential: one test per feature row, the weighing rule, what-if and tests."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.case.facts import build_facts
from ifnscope.clinical.differential import Feature, evaluate_facts, rules
from ifnscope.criteria.base import fact_names
from tests.helpers import make_case


def _facts_for(names: list[str]) -> dict[str, Any]:
    """Case sections that make each named fact present."""
    findings: dict[str, str] = {}
    antibodies: dict[str, str] = {}
    biopsy: dict[str, str] = {}
    for n in names:
        if n.startswith("antibody_"):
            antibodies[n.removeprefix("antibody_")] = "positive"
        elif n.startswith("skin_biopsy_"):
            biopsy[n.removeprefix("skin_biopsy_")] = "present"
        else:
            findings[n] = "present"
    out: dict[str, Any] = {"findings": findings}
    if antibodies:
        out["labs"] = {"antibodies": antibodies}
    if biopsy:
        out["skin_biopsy"] = biopsy
    return out


def _differential(names: list[str]) -> Any:
    sections = _facts_for(names)
    return evaluate_facts(build_facts(make_case(sections.pop("findings"), **sections)))


@pytest.mark.parametrize("feature", rules().features, ids=lambda f: f.id)
def test_each_feature_counts_for_its_side(feature: Feature) -> None:
    first = fact_names(feature.when)[0]
    d = _differential([first])
    side = d.features_for_dermatomyositis if feature.favours == "dermatomyositis" else d.features_for_lupus
    assert [f.id for f in side] == [feature.id]
    assert side[0].references[0].source == feature.source.id
    expected = feature.favours if feature.tier in ("criteria", "specific") else "indeterminate"
    assert d.favours == expected


@pytest.mark.parametrize("side", ["dermatomyositis", "lupus"])
def test_two_supportive_features_of_one_side_decide(side: str) -> None:
    support = [f for f in rules().features if f.favours == side and f.tier == "supportive"][:2]
    d = _differential([fact_names(f.when)[0] for f in support])
    assert d.favours == side
    assert not d.mixed


def test_strong_features_of_both_sides_are_a_mixed_picture() -> None:
    d = _differential(["gottron_papules", "acute_cutaneous_lupus"])
    assert d.favours == "indeterminate"
    assert d.mixed
    assert "Mixed picture" in d.summary


def test_a_strong_feature_outweighs_supportive_features_of_the_other_side() -> None:
    d = _differential(["heliotrope_rash", "oral_ulcers", "antibody_ro_ssa"])
    assert d.favours == "dermatomyositis"
    assert "Against it: oral or nasal ulcers, anti-Ro/SSA" in d.summary


def test_supportive_features_on_both_sides_stay_indeterminate() -> None:
    d = _differential(["pruritus", "nasolabial_fold_involvement", "oral_ulcers"])
    assert d.favours == "indeterminate"


def test_nothing_recorded_says_so() -> None:
    d = _differential([])
    assert d.favours == "indeterminate"
    assert d.summary == "No feature that separates lupus from dermatomyositis is recorded."


def test_non_discriminating_features_are_shown_but_not_weighed() -> None:
    d = _differential(["periungual_telangiectasia"])
    assert d.favours == "indeterminate"
    assert [f.id for f in d.not_discriminating] == ["periungual"]
    assert d.features_for_dermatomyositis == []


def test_what_if_names_the_unrecorded_features_that_would_change_the_verdict() -> None:
    d = _differential(["pruritus", "scalp_dermatitis"])  # two supportive: favours DM
    assert d.favours == "dermatomyositis"
    assert "acute_cutaneous_lupus" in d.unknowns_that_could_change_verdict  # strong lupus would win
    assert "heliotrope_rash" not in d.unknowns_that_could_change_verdict  # would not change DM


def test_recorded_absence_is_not_unknown() -> None:
    d = evaluate_facts(
        build_facts(make_case({"heliotrope_rash": "present", "acute_cutaneous_lupus": "absent"}))
    )
    assert "acute_cutaneous_lupus" not in d.unknowns_that_could_change_verdict
    assert "Acute cutaneous lupus" in d.recorded_absent


def test_tests_that_could_change_the_verdict_come_first() -> None:
    d = _differential(["pruritus", "scalp_dermatitis"])
    ids = [t.id for t in d.tests_that_would_help]
    assert set(ids) == {"msa_panel", "lupus_serology", "skin_biopsy"}
    decisive = [t.could_change_verdict for t in d.tests_that_would_help]
    assert decisive == sorted(decisive, reverse=True)
    recorded = make_case(
        {"pruritus": "present"},
        labs={"antibodies": dict.fromkeys(("tif1g", "nxp2", "mda5", "mi2", "sae"), "negative")},
    )
    d2 = evaluate_facts(build_facts(recorded))
    assert "msa_panel" not in [t.id for t in d2.tests_that_would_help]


def test_the_rule_is_reported_as_ifnscopes_own() -> None:
    d = _differential(["heliotrope_rash"])
    assert d.rule_reference.confidence == "U"
    assert not d.rule_reference.verified
    assert "not a published score" in d.rule_reference.citation
