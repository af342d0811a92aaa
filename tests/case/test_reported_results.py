"""Results as reports give them (issue 12, item 1): a laboratory value stated without a number
("CK normal"), and an equivocal (borderline) antibody."""

from __future__ import annotations

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.case.reader import parse_case, validate_case
from ifnscope.clinical.letter import build_letter
from ifnscope.criteria import cadm, iim_2017
from ifnscope.presentation.build import build
from tests.helpers import case_issues as issues
from tests.helpers import make_case

HEAD = "format: ifnscope-case/1\nid: t\n"
DM_SKIN = {"heliotrope_rash": "present", "gottron_papules": "present"}
NO_WEAKNESS = {
    "weakness_proximal_upper": "absent",
    "weakness_proximal_lower": "absent",
    "weakness_neck_flexors_gt_extensors": "absent",
    "weakness_proximal_gt_distal_legs": "absent",
}


# ------------------------------------------------------------------ labs stated without a number


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("ck: {stated: normal}", "absent"),
        ("ck: {stated: elevated}", "present"),
        ("ck: {stated: elevated, value: 1900, unit: U/L}", "present"),  # a number without its range
        ("ck: {stated: normal, value: 150, upper_limit: 200}", "absent"),
    ],
)
def test_a_stated_result_reads_against_the_upper_limit_of_normal(written: str, value: str) -> None:
    c = parse_case(HEAD + "labs:\n  " + written + "\n")
    f = build_facts(c)["ck_above_uln"]
    assert f.value == value
    assert f.origin in ("recorded", "computed")
    assert f.record_at == "labs.ck"
    if "upper_limit" not in written:
        reading = "not above" if value == "absent" else "above"
        assert f"read as {reading} the upper limit of normal" in f.detail


def test_stated_normal_ck_no_longer_leaves_the_enzyme_item_unknown() -> None:
    """EULAR/ACR 2017 IIM (Lundberg 2017, table): "CK or LDH or AST or ALT above the upper limit
    of normal". A laboratory's "normal" is within its reference range: CK is then not above the
    upper limit and stops being an unknown that could move the category; LDH, AST and ALT,
    unrecorded, still could."""
    before = assess(make_case(DM_SKIN, age=45, onset=44))
    after = assess(make_case(DM_SKIN, age=45, onset=44, labs={"ck": {"stated": "normal"}}))
    unknown = {u.fact for u in after.unknowns}
    assert "ck_above_uln" in {u.fact for u in before.unknowns}
    assert "ck_above_uln" not in unknown
    assert {"ldh_above_uln", "ast_above_uln", "alt_above_uln"} <= unknown
    raised = make_case(DM_SKIN, age=45, onset=44, labs={"ck": {"stated": "elevated"}})
    iim = iim_2017.evaluate_facts(build_facts(raised))
    enzyme = next(i for i in iim.items if "ck_above_uln" in i.facts)
    assert enzyme.counted  # stated elevated: above the upper limit, 1.3 points


def test_stated_normal_ck_lets_the_sontheimer_amyopathic_category_conclude() -> None:
    """Sontheimer CADM (Gerami 2006): amyopathic needs normal muscle enzymes, and the rule table
    requires CK recorded to say so (data/criteria/cadm.yaml). "CK normal" records it."""
    normal = {"stated": "normal"}
    doc = {"labs": {"ck": normal, "aldolase": normal}, "muscle": {"mri": "normal", "emg": "normal"}}
    c = make_case({**DM_SKIN, **NO_WEAKNESS}, age=41, onset=40, skin_months=8, **doc)
    r = cadm.evaluate_facts(build_facts(c))
    assert r.category == "amyopathic"
    assert "ck_above_uln" not in r.unknowns_that_could_change_category


def test_a_result_needs_a_value_or_a_stated_word() -> None:
    (i,) = issues("labs:\n  ck: {upper_limit: 200, unit: U/L}\n")
    assert i.code == "case.missing-key"
    assert i.path == "labs.ck.value"
    assert "stated: normal or elevated" in (i.expected or "")


def test_a_stated_word_outside_normal_and_elevated_names_the_choices() -> None:
    (i,) = issues("labs:\n  ck: {stated: nromal}\n")
    assert i.code == "case.invalid-value"
    assert i.path == "labs.ck.stated"
    assert i.suggestion == "normal"
    (j,) = issues("labs:\n  ldh: {stated: high}\n")
    assert j.path == "labs.ldh.stated"
    assert "'elevated'" in (j.expected or "")


def test_a_bare_word_is_refused_with_the_stated_form() -> None:
    """The JSON Schema says a lab is a map: the reader says so too, and how to write the word."""
    (i,) = issues("labs:\n  ck: normal\n")
    assert i.code == "case.wrong-type"
    assert i.path == "labs.ck"
    assert "{stated: normal}" in i.message


def test_a_stated_word_that_contradicts_the_number_is_inconsistent() -> None:
    (i,) = issues("labs:\n  ck: {value: 2400, upper_limit: 200, stated: normal}\n")
    assert i.code == "case.inconsistent"
    assert i.path == "labs.ck.stated"
    assert i.expected == "elevated"
    assert "2400 is above its upper limit 200" in i.message


def test_the_letter_and_the_stored_case_keep_a_stated_result() -> None:
    doc = {"format": "ifnscope-case/1", "id": "t", "labs": {"ck": {"stated": "normal"}}, "findings": DM_SKIN}
    c = validate_case(doc)
    assert c.model_dump(mode="json", exclude_none=True)["labs"]["ck"] == {"stated": "normal"}
    from ifnscope.clinical.letter import build_letter

    letter = build_letter(c, assess(c), "ivig")
    assert "CK reported normal" in letter.text


# ------------------------------------------------------------------------- equivocal antibodies


def test_an_equivocal_antibody_counts_neither_way_and_is_listed_where_it_matters() -> None:
    c = make_case(DM_SKIN, age=45, onset=44, labs={"antibodies": {"jo1": "equivocal"}})
    f = build_facts(c)["antibody_jo1"]
    assert (f.value, f.origin) == ("unknown", "recorded")
    assert "equivocal" in f.detail
    a = assess(c)
    (u,) = [u for u in a.unknowns if u.fact == "antibody_jo1"]
    assert u.recorded is not None
    assert "equivocal" in u.recorded
    assert any("IIM" in w for w in u.would_change)  # anti-Jo-1 positive: 3.9 points
    # an unknown nobody recorded says so by leaving ``recorded`` out
    assert all(x.recorded is None for x in a.unknowns if x.fact != "antibody_jo1")
    shown = [g for g in build(a.to_json_dict()).unknowns for x in g.findings if "equivocal" in x.label]
    assert shown, "the report says the unknown anti-Jo-1 was recorded equivocal"


def test_an_equivocal_ana_is_neither_above_nor_below_the_reference_range() -> None:
    f = build_facts(make_case(labs={"antibodies": {"ana": "equivocal"}}))
    for name in ("ana_at_least_1_80", "ana_above_reference_range", "ana_positive"):
        assert (f[name].value, f[name].origin) == ("unknown", "recorded"), name
        assert "equivocal" in f[name].detail


def test_a_negative_antiphospholipid_panel_leaves_an_equivocal_part_as_recorded() -> None:
    f = build_facts(
        make_case(labs={"antibodies": {"antiphospholipid": "negative", "cardiolipin": "equivocal"}})
    )
    assert f["antibody_cardiolipin"].value == "unknown"  # recorded equivocal, not made negative
    assert f["antibody_b2gpi"].value == "absent"  # unrecorded: the negative panel covers it


# ---------------------------------------------------------------- antibodies the list lacked


@pytest.mark.parametrize(
    ("written", "key"),
    [("trim21", "ro52"), ("topoisomerase_i", "scl70"), ("rheumatoid_factor", "rf"), ("acpa", "ccp")],
)
def test_the_words_clinicians_use_for_the_new_antibodies_name_the_key(written: str, key: str) -> None:
    (i,) = issues(f"labs:\n  antibodies: {{{written}: positive}}\n")
    assert i.code == "case.unknown-key"
    assert i.suggestion == key


def test_ro52_is_recorded_apart_from_ro60_ssa_and_counts_for_no_criterion() -> None:
    """Ro52 and Ro60 are different antigens, reported apart by the laboratories that test both; the
    differential's anti-Ro/SSA feature (data/clinical/differential.yaml) reads ro_ssa only."""
    base = make_case(DM_SKIN, age=45, onset=44, labs={"antibodies": {"ro_ssa": "negative"}})
    ro52 = make_case(
        DM_SKIN, age=45, onset=44, labs={"antibodies": {"ro_ssa": "negative", "ro52": "positive"}}
    )
    f = build_facts(ro52)
    assert f["antibody_ro52"].value == "present"
    assert f["antibody_ro_ssa"].value == "absent"
    a, b = assess(base), assess(ro52)
    assert {k: r.model_dump() for k, r in a.criteria.items()} == {
        k: r.model_dump() for k, r in b.criteria.items()
    }
    assert a.differential.model_dump() == b.differential.model_dump()


# ------------------------------------------------------------------ a series of muscle enzymes

CK_SERIES = [
    {"value": 5400, "upper_limit": 200, "unit": "U/L", "date": "2026-01"},
    {"value": 1900, "upper_limit": 200, "unit": "U/L", "date": "2026-03"},
]


def test_a_ck_series_reads_its_highest_result() -> None:
    """IIM 2017 (Bottai 2017 Table 1): "elevated serum levels", footnoted "above upper limit of
    normal"; a series is above when any result is, and the evidence names the highest."""
    f = build_facts(make_case(labs={"ck": CK_SERIES}))["ck_above_uln"]
    assert f.value == "present"
    assert f.record_at == "labs.ck"
    assert f.detail.startswith("CK 5400 U/L > upper limit 200 U/L (2026-01)")
    assert "highest of 2 results against its limit (2 above it)" in f.detail
    iim = iim_2017.evaluate_facts(build_facts(make_case(DM_SKIN, age=45, onset=44, labs={"ck": CK_SERIES})))
    enzyme = next(i for i in iim.items if "ck_above_uln" in i.facts)
    assert enzyme.counted


def test_the_highest_result_relative_to_its_own_limit_decides() -> None:
    """Two laboratories, two limits: 300 against 250 is above, 400 against 500 is not."""
    series = [
        {"value": 400, "upper_limit": 500, "date": "2025-02"},
        {"value": 300, "upper_limit": 250, "date": "2025-09"},
        {"stated": "normal", "date": "2026-01"},
    ]
    f = build_facts(make_case(labs={"ldh": series}))["ldh_above_uln"]
    assert f.value == "present"
    assert "Lactate dehydrogenase 300 > upper limit 250 (2025-09)" in f.detail
    assert "highest of 3 results against its limit (1 above it)" in f.detail


def test_a_series_is_normal_only_when_every_result_is() -> None:
    """Sontheimer amyopathic DM (Gerami 2006): "normal muscle enzymes". All results within the
    limit: normal, and the category concludes; one result without its limit leaves it open."""
    normal = [{"value": 120, "upper_limit": 200, "date": "2025-10"}, {"stated": "normal", "date": "2026-02"}]
    doc = {"muscle": {"mri": "normal", "emg": "normal"}}
    c = make_case({**DM_SKIN, **NO_WEAKNESS}, age=41, onset=40, skin_months=8, labs={"ck": normal}, **doc)
    f = build_facts(c)["ck_above_uln"]
    assert (f.value, f.origin) == ("absent", "computed")
    assert f.detail.startswith("all 2 results not above the limit")
    assert cadm.evaluate_facts(build_facts(c)).category == "amyopathic"

    open_ = [normal[0], {"value": 260, "unit": "U/L", "date": "2026-02"}]  # no limit: unknown
    c2 = make_case({**DM_SKIN, **NO_WEAKNESS}, age=41, onset=40, skin_months=8, labs={"ck": open_}, **doc)
    g = build_facts(c2)["ck_above_uln"]
    assert g.value == "unknown"
    assert "1 of 2 results not above the limit" in g.detail
    assert "ck_above_uln" in cadm.evaluate_facts(build_facts(c2)).unknowns_that_could_change_category


def test_one_raised_result_in_a_series_makes_the_skin_disease_hypomyopathic() -> None:
    """Gerami 2006: hypomyopathic DM has muscle involvement on testing (enzymes) without weakness."""
    series = [{"stated": "normal", "date": "2025-06"}, {"value": 310, "upper_limit": 200, "date": "2025-12"}]
    c = make_case({**DM_SKIN, **NO_WEAKNESS}, age=41, onset=40, skin_months=8, labs={"ck": series})
    assert cadm.evaluate_facts(build_facts(c)).category == "hypomyopathic"


def test_a_series_entry_is_checked_like_one_result() -> None:
    (i,) = issues("labs:\n  ck: [{value: 5400, upper_limit: 200}, {upper_limit: 200}]\n")
    assert (i.code, i.path) == ("case.missing-key", "labs.ck[1].value")
    two = "    - {value: 5400, upper_limit: 200}\n    - {value: 90, upper_limit: 200, stated: elevated}\n"
    (j,) = issues("labs:\n  ck:\n" + two)
    assert (j.code, j.path) == ("case.inconsistent", "labs.ck[1].stated")
    assert j.expected == "normal"
    (k,) = issues("labs:\n  aldolase: [{value: 9, upper_limit: 7.6, date: 2026-13}]\n")
    assert k.path == "labs.aldolase[0].date"


def test_the_enzyme_series_reading_covers_every_enzyme() -> None:
    from ifnscope.case.facts import lab_findings
    from ifnscope.case.vocabulary import vocabulary

    assert lab_findings().enzyme_series.labs == list(vocabulary().labs_numeric)


def test_the_letter_and_the_therapy_context_read_every_result() -> None:
    from ifnscope.clinical.therapy.context import muscle_involvement

    series = [{"stated": "normal", "date": "2025-06"}, {"value": 310, "upper_limit": 200, "date": "2025-12"}]
    assert muscle_involvement(make_case(NO_WEAKNESS, labs={"ck": series})) == "present"
    assert muscle_involvement(make_case(NO_WEAKNESS, labs={"ck": series[:1]})) == "absent"
    assert muscle_involvement(make_case(NO_WEAKNESS, labs={"ck": [series[0], {"value": 250}]})) == "unknown"
    c = make_case(DM_SKIN, age=45, onset=44, labs={"ck": CK_SERIES})
    text = build_letter(c, assess(c), "ivig").text
    assert "CK 5400 U/L (upper limit 200) on 2026-01; CK 1900 U/L (upper limit 200) on 2026-03" in text


def test_researchers_see_an_enzyme_series_without_dates_or_units() -> None:
    from ifnscope.registry.services.deidentify import keep_allowed

    doc = {"labs": {"ck": [*CK_SERIES, {"stated": "normal", "date": "2026-05"}]}}
    kept = [{"value": 5400, "upper_limit": 200}, {"value": 1900, "upper_limit": 200}, {"stated": "normal"}]
    assert keep_allowed("case", doc) == {"labs": {"ck": kept}}
