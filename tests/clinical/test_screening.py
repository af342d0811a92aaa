"""Cancer screening (IMACS 2023 scope, panels, PET-CT rule) and lung (ILD) flags."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.clinical import screening
from ifnscope.clinical.screening import rules
from ifnscope.presentation.build import as_view
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
    """Oldroyd 2023 abstract (A): three categories from subtype, antibodies and clinical features.
    The counting rule is known (EULAR 2024 report, Omnihealth opening paragraph: high = 2
    high-risk factors, moderate = 1 high-risk or 2 intermediate-risk factors; Dutch NVN 2023
    recommendation box: 0 / 1 / 2 high-risk factors, intermediate ones weighed case by case), but
    the lists it counts (IMACS Fig. 1 graphic, recommendations table) were found in no source:
    the category stays uncomputed and the output names what is missing."""
    res = _screen(_adult(findings={"dysphagia": "present"}, labs={"antibodies": {"tif1g": "positive"}}))
    c = res.cancer
    assert c.category is None
    assert "does not assign the category" in c.category_note
    assert "high-risk and which intermediate-risk factors, per IIM subtype" in c.category_note
    assert "Figure 1" in c.category_note
    assert "could not be verified" in c.category_note
    assert any("high-risk" in u and "not computed" in u for u in c.unverified)
    assert any("two intermediate-risk factors" in u for u in c.unverified)


def test_the_counting_rule_is_shown_with_its_secondary_sources() -> None:
    """Counting rule as the EULAR 2024 report (Omnihealth, opening paragraph) gives it: moderate =
    1 high-risk or 2 intermediate-risk factors; high = 2 high-risk factors, with yearly basic
    screening for 3 years (also the Dutch NVN 2023 recommendation box)."""
    c = _screen(_adult()).cancer
    assert "one high-risk factor, or two intermediate-risk factors" in c.counting_rule
    assert "two high-risk factors" in c.counting_rule
    assert "yearly for 3 years" in c.counting_rule
    cited = {(r.source, r.confidence) for r in c.references}
    assert ("omnihealth_eular2024", "B") in cited
    assert ("nvn_myositis2023_cancer", "B") in cited


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


def _enhanced(sex: str | None, **kw: Any) -> Any:
    patient = {"age_years": 50} | ({"sex": sex} if sex else {})
    return _screen(_adult(patient=patient, **kw)).cancer.panels[1]


def _applies(panel: Any) -> set[str]:
    return {t.test for t in panel.tests if t.status not in ("not_applicable", "depends_on_sex")}


WOMEN_ONLY = {"cervical_smear", "mammogram", "ca125", "pelvic_ultrasound", "transvaginal_ultrasound"}
MEN_ONLY = {"psa"}
EVERYONE = {"ct_neck_chest_abdomen_pelvis", "faecal_occult_blood"}


def test_enhanced_panel_for_a_woman() -> None:
    """Enhanced panel: medicalalgorithms (Oldroyd protocol), items 1-7: CT neck/thorax/abdomen/
    pelvis, cervical PAP if female, mammography if female, PSA if male, CA-125, FOBT, abdominal
    and transvaginal ultrasound for ovarian masses; Stone 2024 (JAMA Dermatol 160:1248), opening
    paragraph: "pelvic and transvaginal ultrasonography, Papanicolaou testing, mammography,
    prostate-specific antigen or cancer antigen 125 blood tests, and fecal occult blood test"."""
    panel = _enhanced("female")
    assert _applies(panel) == EVERYONE | WOMEN_ONLY
    assert panel.applicable == 7
    assert {t.test: t.status for t in panel.tests}["psa"] == "not_applicable"
    assert panel.depends_on_sex == []


def test_enhanced_panel_for_a_man_has_psa_and_no_ca125_or_pelvic_ultrasound() -> None:
    """Same sources: PSA "if male" (medicalalgorithms item 4); CA-125 paired with PSA as the
    women's marker ("prostate-specific antigen or cancer antigen 125", Stone 2024); the ultrasound
    is "for ovarian masses" (medicalalgorithms item 7), "pelvic and transvaginal" (Stone 2024)."""
    panel = _enhanced("male")
    assert _applies(panel) == EVERYONE | MEN_ONLY
    status = {t.test: t.status for t in panel.tests}
    for test in WOMEN_ONLY:
        assert status[test] == "not_applicable", test
    assert "CA-125" not in panel.missing
    assert panel.missing == [
        "CT of neck, chest, abdomen and pelvis",
        "Prostate-specific antigen",
        "Faecal occult blood test",
    ]


def test_no_abdominal_ultrasound_for_everyone() -> None:
    """Neither source lists an abdominal ultrasound for every patient: medicalalgorithms item 7 is
    "abdominal and transvaginal ultrasound for ovarian masses"; Stone 2024 has "pelvic and
    transvaginal ultrasonography". A recorded abdominal ultrasound is kept, outside the panels."""
    tests = {t.test for p in rules().cancer.panels.values() for t in p.tests}
    assert "abdominal_ultrasound" not in tests
    res = _screen(
        _adult(
            patient={"sex": "male", "age_years": 50}, cancer_screening={"abdominal_ultrasound": "negative"}
        )
    )
    (other,) = res.cancer.other_tests_recorded
    assert other.test == "abdominal_ultrasound"
    assert "pelvic and transvaginal, for ovarian masses" in other.detail


@pytest.mark.parametrize(
    ("test", "sex", "source", "where"),
    [
        ("cervical_smear", "female", "medicalalgorithms_oldroyd", "cervical PAP exam if female"),
        ("mammogram", "female", "medicalalgorithms_oldroyd", "mammography if female"),
        ("psa", "male", "medicalalgorithms_oldroyd", "serum PSA if male"),
        ("ca125", "female", "stone2024_jamaderm", "prostate-specific antigen or cancer antigen 125"),
        ("pelvic_ultrasound", "female", "stone2024_jamaderm", "pelvic and transvaginal ultrasonography"),
        ("transvaginal_ultrasound", "female", "medicalalgorithms_oldroyd", "for ovarian masses"),
    ],
)
def test_each_sex_specific_test_cites_where_its_sex_was_read(
    test: str, sex: str, source: str, where: str
) -> None:
    """The wording quoted in each row is the source's own (medicalalgorithms enhanced-panel list;
    Stone 2024 opening paragraph)."""
    row = next(t for t in rules().cancer.panels["enhanced"].tests if t.test == test)
    assert row.sex == sex
    assert any(s.id == source and where in s.where for s in row.sex_sources)
    panel = _enhanced(sex)
    assert {r.source for r in panel.references} >= {s.id for s in row.sex_sources}


def test_sex_not_recorded_makes_the_sex_specific_tests_depend_on_it() -> None:
    """Unknown is not absent: with the sex unrecorded, a test for one sex neither applies nor is
    n/a; it is reported as depending on the sex, outside `missing` and `applicable`."""
    panel = _enhanced(None)
    status = {t.test: t.status for t in panel.tests}
    for test in WOMEN_ONLY | MEN_ONLY:
        assert status[test] == "depends_on_sex", test
    smear = next(t for t in panel.tests if t.test == "cervical_smear")
    assert "female only (sex not recorded)" in smear.detail
    assert panel.applicable == len(EVERYONE)
    assert len(panel.depends_on_sex) == len(WOMEN_ONLY | MEN_ONLY)
    assert "Mammography" in panel.depends_on_sex
    assert "Mammography" not in panel.missing
    other = _enhanced("other")
    assert {t.test: t.status for t in other.tests}["psa"] == "depends_on_sex"
    assert "male only (sex recorded as other)" in next(t for t in other.tests if t.test == "psa").detail


def test_a_sex_specific_test_recorded_as_done_counts_even_without_the_sex() -> None:
    panel = _enhanced(None, cancer_screening={"mammogram": "negative"})
    mammo = next(t for t in panel.tests if t.test == "mammogram")
    assert mammo.status == "negative"
    assert panel.recorded == 1
    assert panel.applicable == len(EVERYONE) + 1
    assert "Mammography" not in panel.depends_on_sex


def test_the_view_says_which_tests_depend_on_the_unrecorded_sex() -> None:
    """The presentation keeps them visible: in the glance and beside the missing tests."""
    dm = {"heliotrope_rash": "present", "gottron_papules": "present", "gottron_sign": "present"}
    case = _adult(findings=dm)  # definite IIM (EULAR/ACR 2017), sex not recorded
    view = as_view(assess(case))
    assert view.screening.applies == "yes"
    assert "enhanced panel 0 of 2 recorded (and 6 depending on the unrecorded sex)" in view.screening.glance
    enhanced = view.screening.panels[1]
    assert "Mammography (depends on sex, not recorded)" in enhanced.missing
    assert "CT of neck, chest, abdomen and pelvis" in enhanced.missing


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
