"""The laboratory words of issue 9: ANA without a titre or with the laboratory's cut-off, the
antiphospholipid antibodies one by one, CH50, combined lupus nephritis classes; the checks
that keep them consistent; "did you mean" for the words clinicians use instead."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.case.facts import ana_titre_above_any_reference_range, build_facts
from ifnscope.case.reader import parse_case, validate_case
from ifnscope.criteria import slicc_2012
from ifnscope.errors import CaseValidationError
from tests.helpers import make_case

HEAD = "format: ifnscope-case/1\nid: t\n"


def case(labs: dict[str, Any]) -> Any:
    return validate_case({"format": "ifnscope-case/1", "id": "t", "labs": labs})


def issues(text: str) -> list[Any]:
    with pytest.raises(CaseValidationError) as ei:
        parse_case(HEAD + text)
    return ei.value.issues


def test_a_titre_less_ana_and_the_laboratory_cut_off_are_read() -> None:
    c = parse_case(
        HEAD + "labs:\n  ana_titer: 1:80\n  ana_titer_cutoff: 1:160\n  antibodies: {ana: negative}\n"
    )
    assert (c.labs.ana_titer, c.labs.ana_titer_cutoff, c.labs.antibodies.ana) == (80, 160, "negative")
    f = build_facts(c)
    assert f["ana_above_reference_range"].value == "absent"
    assert f["ana_at_least_1_80"].value == "present"  # the 2019 entry reads the titre itself


@pytest.mark.parametrize(
    ("text", "path"),
    [
        # a positive result cannot have a negative (0) titre
        ("labs: {ana_titer: 0, antibodies: {ana: positive}}\n", "labs.antibodies.ana"),
        # the laboratory's call must agree with its own cut-off
        (
            "labs: {ana_titer: 80, ana_titer_cutoff: 160, antibodies: {ana: positive}}\n",
            "labs.antibodies.ana",
        ),
        (
            "labs: {ana_titer: 320, ana_titer_cutoff: 160, antibodies: {ana: negative}}\n",
            "labs.antibodies.ana",
        ),
        # a negative panel (anticardiolipin, anti-β2GPI or lupus anticoagulant) has no positive part
        (
            "labs: {antibodies: {antiphospholipid: negative, cardiolipin: positive}}\n",
            "labs.antibodies.cardiolipin",
        ),
    ],
)
def test_contradictory_lab_results_are_errors(text: str, path: str) -> None:
    (i,) = issues(text)
    assert (i.code, i.path) == ("case.inconsistent", path)


def test_results_that_can_all_be_true_are_accepted() -> None:
    # 1:40 reported negative by a laboratory whose range ends at 1:40 (no cut-off recorded)
    assert case({"ana_titer": 40, "antibodies": {"ana": "negative"}}).labs.ana_titer == 40
    # a negative panel with a positive false-positive RPR (not part of the panel)
    c = case({"antibodies": {"antiphospholipid": "negative", "false_positive_rpr": "positive"}})
    assert c.labs.antibodies.false_positive_rpr == "positive"


def test_a_cut_off_is_a_positive_dilution() -> None:
    for text in ("labs: {ana_titer_cutoff: 0}\n", "labs: {ana_titer_cutoff: 150}\n"):
        (i,) = issues(text)
        assert (i.code, i.path) == ("case.invalid-value", "labs.ana_titer_cutoff")


def test_the_default_range_comes_from_the_slicc_table() -> None:
    """Tan 1997: 5.0% of healthy people are ANA-positive at 1:160 (data/criteria/slicc_2012.yaml)."""
    assert (
        ana_titre_above_any_reference_range()
        == slicc_2012.rules().ana_without_laboratory_range.above_from_titre
    )
    assert ana_titre_above_any_reference_range() == 160
    f = build_facts(case({"ana_titer": 320}))["ana_above_reference_range"]
    assert (f.value, f.origin) == ("present", "computed")
    assert "Tan 1997" in f.detail
    f = build_facts(case({"ana_titer": 80}))["ana_above_reference_range"]
    assert (f.value, f.record_at) == ("unknown", "labs.ana_titer_cutoff")


def test_ch50_is_read_like_c3_and_c4() -> None:
    f = build_facts(case({"ch50_low": "present"}))
    assert (f["ch50_low"].value, f["c3_low"].value) == ("present", "unknown")


@pytest.mark.parametrize(
    ("written", "stored"),
    [("III+V", "III+V"), ("v+iv", "IV+V"), ("IV / V", "IV+V"), ("iv", "IV"), ("none", "none")],
)
def test_nephritis_classes_have_one_spelling(written: str, stored: str) -> None:
    assert case({"lupus_nephritis_class": written}).labs.lupus_nephritis_class == stored


def test_a_panel_recorded_negative_makes_its_parts_negative_not_unknown() -> None:
    f = build_facts(case({"antibodies": {"antiphospholipid": "negative"}}))
    for part in ("cardiolipin", "b2gpi", "lupus_anticoagulant"):
        assert (f[f"antibody_{part}"].value, f[f"antibody_{part}"].origin) == ("absent", "derived")
    assert f["antibody_false_positive_rpr"].value == "unknown"
    f = build_facts(case({"antibodies": {"lupus_anticoagulant": "positive"}}))
    assert (f["antibody_antiphospholipid"].value, f["antibody_antiphospholipid"].origin) == (
        "present",
        "derived",
    )


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("findings: {acute_confusional_state: present}\n", "delirium"),
        ("findings: {verrucous_lupus: present}\n", "hypertrophic_lupus"),
        ("labs: {antibodies: {anticardiolipin: positive}}\n", "cardiolipin"),
        ("labs: {antibodies: {anti_b2gpi: positive}}\n", "b2gpi"),
        ("labs: {antibodies: {lac: positive}}\n", "lupus_anticoagulant"),
    ],
)
def test_words_clinicians_write_point_to_the_vocabulary_word(text: str, suggestion: str) -> None:
    """Acute confusional state is recorded as delirium: "'Acute Confusional State' is equivalent
    to 'delirium'" (ACR 1999 NPSLE nomenclature, Appendix A)."""
    (i,) = issues(text)
    assert (i.code, i.suggestion) == ("case.unknown-key", suggestion)


def test_a_negative_call_beside_a_titre_above_any_laboratory_range_is_inconsistent() -> None:
    """ANA 1:1280 recorded 'negative' with no laboratory cut-off: the 2019 entry criterion (the
    titre) and SLICC's "above the laboratory reference range" (the call) would read the one test
    both ways; titres from 1:160 are above any range (Tan 1997, data/criteria/slicc_2012.yaml)."""
    with pytest.raises(CaseValidationError) as err:
        make_case(labs={"ana_titer": 1280, "antibodies": {"ana": "negative"}})
    assert [i.code for i in err.value.issues] == ["case.inconsistent"]
    # Below 1:160 a laboratory may call the titre negative (e.g. a 1:160 cut-off and 1:80).
    make_case(labs={"ana_titer": 80, "antibodies": {"ana": "negative"}})
