"""Cancer screening (IMACS 2023 scope, panels, PET-CT rule) and lung (ILD) flags."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.case.facts import build_facts
from ifnscope.clinical import screening
from ifnscope.clinical.screening import rules
from tests.helpers import make_case


def _screen(case: Any, myositis: str = "yes", dm: bool | None = True, cadm: bool | None = False) -> Any:
    return screening.evaluate(
        case, build_facts(case), myositis=myositis, dermatomyositis=dm, cadm=cadm, picture="dermatomyositis"
    )


def _adult(**kw: Any) -> Any:
    return make_case(age=50, onset={"age_years": 49, "skin_disease_months": 12}, **kw)


def test_scope_adult_onset_within_three_years() -> None:
    assert _screen(_adult()).cancer.applies == "yes"
    juvenile = make_case(age=15, onset={"age_years": 12, "skin_disease_months": 12})
    res = _screen(juvenile)
    assert res.cancer.applies == "no"
    assert "juvenile" in res.cancer.why
    late = make_case(age=60, onset={"age_years": 55, "skin_disease_months": 37})
    assert _screen(late).cancer.applies == "no"
    edge = make_case(age=60, onset={"age_years": 57, "skin_disease_months": 36})
    assert _screen(edge).cancer.applies == "yes"


def test_scope_needs_a_myopathy_and_says_what_is_missing() -> None:
    assert _screen(_adult(), myositis="no").cancer.applies == "no"
    unknown = _screen(make_case(age=50), myositis="yes")
    assert unknown.cancer.applies == "unknown"
    assert "age at onset not recorded" in unknown.cancer.why
    assert "time since symptom onset not recorded" in unknown.cancer.why


def test_the_category_is_not_computed_and_says_why() -> None:
    res = _screen(_adult())
    assert res.cancer.category is None
    assert "could not be verified" in res.cancer.category_note
    assert any("high-risk" in u for u in res.cancer.unverified)


def test_panels_compare_the_recorded_screening() -> None:
    case = _adult(
        patient={"sex": "female", "age_years": 50},
        cancer_screening={"ct_chest_abdomen_pelvis": "negative", "mammogram": "negative", "cbc": "negative"},
    )
    res = _screen(case)
    basic, enhanced = res.cancer.panels
    assert basic.id == "basic"
    assert basic.recorded == 1
    assert basic.applicable == len(rules().cancer.panels["basic"].tests)
    by_test = {t.test: t for t in enhanced.tests}
    assert by_test["psa"].status == "not_applicable"  # male only
    assert by_test["mammogram"].status == "negative"
    assert by_test["ct_neck_chest_abdomen_pelvis"].status == "not_recorded"
    assert "only CT of chest, abdomen and pelvis recorded" in by_test["ct_neck_chest_abdomen_pelvis"].detail
    assert "Cervical smear" in enhanced.missing


def test_ct_of_neck_and_of_chest_abdomen_pelvis_together_cover_the_enhanced_ct() -> None:
    case = _adult(cancer_screening={"ct_neck": "negative", "ct_chest_abdomen_pelvis": "positive"})
    enhanced = _screen(case).cancer.panels[1]
    ct = next(t for t in enhanced.tests if t.test == "ct_neck_chest_abdomen_pelvis")
    assert ct.status == "positive"


def test_sex_specific_tests_are_flagged_when_sex_is_unrecorded() -> None:
    enhanced = _screen(_adult()).cancer.panels[1]
    smear = next(t for t in enhanced.tests if t.test == "cervical_smear")
    assert smear.status == "not_recorded"
    assert "female only (sex not recorded)" in smear.detail


def test_tests_outside_the_panels_are_kept() -> None:
    res = _screen(_adult(cancer_screening={"colonoscopy": "negative"}))
    assert [(t.test, t.status) for t in res.cancer.other_tests_recorded] == [("colonoscopy", "negative")]


@pytest.mark.parametrize(
    ("tif1g", "onset", "dm", "shown"),
    [
        ("positive", 55, True, True),
        ("positive", 40, True, False),
        ("negative", 55, True, False),
        ("positive", 55, False, False),
    ],
)
def test_pet_ct_as_a_single_test_rule(tif1g: str, onset: float, dm: bool, shown: bool) -> None:
    case = make_case(
        age=onset + 1,
        onset={"age_years": onset, "skin_disease_months": 6},
        labs={"antibodies": {"tif1g": tif1g}},
    )
    text = " ".join(_screen(case, dm=dm).cancer.additional)
    assert ("single screening investigation" in text) == shown


def test_recorded_risk_factors_carry_the_meta_analysis_effect() -> None:
    case = _adult(findings={"dysphagia": "present"}, history={"ild": "present"})
    factors = {f.id: f for f in _screen(case, cadm=True).cancer.risk_factors}
    assert factors["dysphagia"].status == "present"
    assert factors["dysphagia"].effect == "RR 2.09"
    assert factors["ild"].direction == "lower"
    assert factors["cadm"].status == "present"
    assert factors["ulceration"].status == "unknown"


@pytest.mark.parametrize(
    ("antibody", "code"),
    [
        ("mda5", "anti_mda5_ild_risk"),
        *[(a, "antisynthetase_ild_risk") for a in ("jo1", "pl7", "pl12", "ej", "oj")],
    ],
)
def test_lung_risk_antibodies_raise_their_flag(antibody: str, code: str) -> None:
    res = _screen(_adult(labs={"antibodies": {antibody: "positive"}}))
    flag = next(f for f in res.flags if f.code == code)
    assert flag.severity == "act"
    assert "HRCT" in " ".join(res.lung.advice) or "high-resolution CT" in " ".join(res.lung.advice)
    assert any("ILD expertise" in a for a in res.lung.advice)
    negative = _screen(_adult(labs={"antibodies": {antibody: "negative"}}))
    assert code not in {f.code for f in negative.flags}


def test_other_ild_features_and_monitoring() -> None:
    res = _screen(_adult(findings={"mechanics_hands": "present"}, history={"ild": "present"}))
    assert res.flags == []
    assert res.lung.risk_features_present == ["Mechanic's hands"]
    assert any("every 3-6 months" in a for a in res.lung.advice)


def test_unrecorded_lung_antibodies_are_named() -> None:
    res = _screen(_adult())
    assert res.lung.unknowns
    assert "Anti-MDA5" in res.lung.unknowns[0]


def test_cadm_shows_how_common_ild_is() -> None:
    res = _screen(_adult(), cadm=True)
    assert any("53%" in a for a in res.lung.advice)
    assert not any("53%" in a for a in _screen(_adult(), cadm=False).lung.advice)
