"""2019 EULAR/ACR and 2012 SLICC SLE criteria: every row, both routes, the domain rule."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.criteria import sle_2019, slicc_2012
from tests.helpers import facts_of, make_case

# Aringer 2019: item -> (domain, points), transcribed independently of the data file.
PUBLISHED_2019: dict[str, tuple[str, int]] = {
    "fever": ("constitutional", 2),
    "leukopenia": ("hematologic", 3),
    "thrombocytopenia": ("hematologic", 4),
    "autoimmune_hemolysis": ("hematologic", 4),
    "delirium": ("neuropsychiatric", 2),
    "psychosis": ("neuropsychiatric", 3),
    "seizure": ("neuropsychiatric", 5),
    "nonscarring_alopecia": ("mucocutaneous", 2),
    "oral_ulcers": ("mucocutaneous", 2),
    "subacute_or_discoid": ("mucocutaneous", 4),
    "acute_cutaneous_lupus": ("mucocutaneous", 6),
    "effusion": ("serosal", 5),
    "acute_pericarditis": ("serosal", 6),
    "joint_involvement": ("musculoskeletal", 6),
    "proteinuria": ("renal", 4),
    "nephritis_ii_v": ("renal", 8),
    "nephritis_iii_iv": ("renal", 10),
    "antiphospholipid": ("antiphospholipid", 2),
    "low_c3_or_c4": ("complement", 3),
    "low_c3_and_c4": ("complement", 4),
    "dsdna_or_sm": ("sle_specific_antibodies", 6),
}

TRIGGER_2019: dict[str, dict[str, Any]] = {
    "fever": {"findings": {"fever": "present"}},
    "leukopenia": {"findings": {"leukopenia": "present"}},
    "thrombocytopenia": {"findings": {"thrombocytopenia": "present"}},
    "autoimmune_hemolysis": {"findings": {"autoimmune_hemolysis": "present"}},
    "delirium": {"findings": {"delirium": "present"}},
    "psychosis": {"findings": {"psychosis": "present"}},
    "seizure": {"findings": {"seizure": "present"}},
    "nonscarring_alopecia": {"findings": {"nonscarring_alopecia": "present"}},
    "oral_ulcers": {"findings": {"oral_ulcers": "present"}},
    "subacute_or_discoid": {"findings": {"discoid_lupus": "present"}},
    "acute_cutaneous_lupus": {"findings": {"acute_cutaneous_lupus": "present"}},
    "effusion": {"findings": {"pleural_or_pericardial_effusion": "present"}},
    "acute_pericarditis": {"findings": {"acute_pericarditis": "present"}},
    "joint_involvement": {"findings": {"joint_tenderness_with_morning_stiffness": "present"}},
    "proteinuria": {"findings": {"proteinuria_over_0_5g": "present"}},
    "nephritis_ii_v": {"labs": {"lupus_nephritis_class": "V"}},
    "nephritis_iii_iv": {"labs": {"lupus_nephritis_class": "IV"}},
    "antiphospholipid": {"labs": {"antibodies": {"antiphospholipid": "positive"}}},
    "low_c3_or_c4": {"labs": {"c4_low": "present"}},
    "low_c3_and_c4": {"labs": {"c3_low": "present", "c4_low": "present"}},
    "dsdna_or_sm": {"labs": {"antibodies": {"sm": "positive"}}},
}


def sle(findings: dict[str, str] | None = None, ana: int | None = 160, **kw: Any) -> sle_2019.SleResult:
    labs = dict(kw.pop("labs", {}))
    if ana is not None:
        labs["ana_titer"] = ana
    return sle_2019.evaluate_facts(facts_of(make_case(findings, labs=labs, **kw)))


def test_every_2019_row_is_published_and_tested() -> None:
    rows = {i.id: (d.id, i.points) for d in sle_2019.rules().domains for i in d.items}
    assert rows == PUBLISHED_2019
    assert set(TRIGGER_2019) == set(PUBLISHED_2019)


@pytest.mark.parametrize("item_id", list(PUBLISHED_2019))
def test_each_2019_row_scores_its_points(item_id: str) -> None:
    trig = dict(TRIGGER_2019[item_id])
    r = sle(trig.pop("findings", None), **trig)
    domain, points = PUBLISHED_2019[item_id]
    assert r.score == points
    assert [d.counted_item for d in r.domains if d.counted_item] == [item_id]
    assert next(d for d in r.domains if d.id == domain).points == points


def test_only_the_highest_item_per_domain_counts() -> None:
    r = sle(
        {
            "oral_ulcers": "present",
            "nonscarring_alopecia": "present",
            "acute_cutaneous_lupus": "present",
            "discoid_lupus": "present",
        }
    )
    assert r.score == 6
    assert [i.id for i in r.items if i.counted] == ["acute_cutaneous_lupus"]


def test_entry_criterion_ana_at_least_1_in_80() -> None:
    strong = {"acute_cutaneous_lupus": "present", "synovitis_2_or_more_joints": "present"}
    assert sle(strong, ana=80).classified
    assert not sle(strong, ana=40).classified
    r = sle(strong, ana=None)
    assert (r.entry_status, r.classified, r.score) == ("unknown", False, 12)
    assert r.unknowns_that_could_change_classification == ["ana_at_least_1_80"]


def test_ten_points_needed_and_at_least_one_clinical_item() -> None:
    assert not sle({"acute_cutaneous_lupus": "present"}, labs={"c3_low": "present"}).classified  # 6 + 3
    assert sle(
        {"acute_cutaneous_lupus": "present"}, labs={"c3_low": "present", "c4_low": "present"}
    ).classified  # 6 + 4
    immunologic_only = sle(
        labs={
            "c3_low": "present",
            "c4_low": "present",
            "antibodies": {"dsdna": "positive", "antiphospholipid": "positive"},
        }
    )
    assert immunologic_only.score == 12
    assert immunologic_only.clinical_domains_counted == 0
    assert not immunologic_only.classified


def test_unknown_items_that_would_classify_are_named() -> None:
    r = sle({"acute_cutaneous_lupus": "present"}, labs={"c3_low": "present", "c4_low": "absent"})
    assert r.score == 9
    assert not r.classified
    assert "fever" in r.unknowns_that_could_change_classification  # 9 + 2
    assert "oral_ulcers" not in r.unknowns_that_could_change_classification  # same domain as ACLE


# --------------------------------------------------------------------------------- SLICC

SLICC_CLINICAL: dict[str, dict[str, str]] = {
    "acute_cutaneous_lupus": {"subacute_cutaneous_lupus": "present"},
    "chronic_cutaneous_lupus": {"lupus_tumidus": "present"},
    "oral_or_nasal_ulcers": {"nasal_ulcers": "present"},
    "nonscarring_alopecia": {"nonscarring_alopecia": "present"},
    "synovitis": {"synovitis_2_or_more_joints": "present"},
    "serositis": {"serositis": "present"},
    "renal": {"proteinuria_over_0_5g": "present"},
    "neurologic": {"delirium": "present"},
    "hemolytic_anemia": {"autoimmune_hemolysis": "present"},
    "leukopenia_or_lymphopenia": {"lymphopenia": "present"},
    "thrombocytopenia": {"thrombocytopenia": "present"},
}
SLICC_IMMUNOLOGIC: dict[str, dict[str, Any]] = {
    "ana": {"antibodies": {"ana": "positive"}},
    "anti_dsdna": {"antibodies": {"dsdna": "positive"}},
    "anti_sm": {"antibodies": {"sm": "positive"}},
    "antiphospholipid": {"antibodies": {"antiphospholipid": "positive"}},
    "low_complement": {"c3_low": "present"},
    "direct_coombs": {"antibodies": {"direct_coombs": "positive"}},
}


def slicc(findings: dict[str, str] | None = None, **labs: Any) -> slicc_2012.SliccResult:
    return slicc_2012.evaluate_facts(facts_of(make_case(findings, labs=labs)))


def test_every_slicc_row_is_tested() -> None:
    r = slicc_2012.rules()
    assert [i.id for i in r.clinical] == list(SLICC_CLINICAL)
    assert [i.id for i in r.immunologic] == list(SLICC_IMMUNOLOGIC)


@pytest.mark.parametrize("item_id", list(SLICC_CLINICAL))
def test_each_slicc_clinical_item(item_id: str) -> None:
    r = slicc(SLICC_CLINICAL[item_id])
    assert (r.clinical, r.immunologic) == (1, 0)
    assert [i.id for i in r.items if i.counted] == [item_id]


@pytest.mark.parametrize("item_id", list(SLICC_IMMUNOLOGIC))
def test_each_slicc_immunologic_item(item_id: str) -> None:
    r = slicc(**SLICC_IMMUNOLOGIC[item_id])
    assert (r.clinical, r.immunologic) == (0, 1)
    assert [i.id for i in r.items if i.counted] == [item_id]


def test_slicc_four_criteria_route_needs_both_kinds() -> None:
    four_clinical = {
        "acute_cutaneous_lupus": "present",
        "oral_ulcers": "present",
        "nonscarring_alopecia": "present",
        "synovitis_2_or_more_joints": "present",
    }
    assert not slicc(four_clinical).classified
    r = slicc(
        {"acute_cutaneous_lupus": "present", "oral_ulcers": "present", "serositis": "present"}, ana_titer=160
    )
    assert (r.classified, r.route) == (True, "four_criteria")


def test_slicc_nephritis_route() -> None:
    r = slicc(lupus_nephritis_class="IV", ana_titer=320)
    assert (r.clinical + r.immunologic, r.classified, r.route) == (1, True, "lupus_nephritis")
    assert not slicc(lupus_nephritis_class="IV", ana_titer=0).classified
    assert slicc(lupus_nephritis_class="III", antibodies={"dsdna": "positive"}).classified


def test_slicc_coombs_counts_only_without_haemolytic_anaemia() -> None:
    r = slicc({"autoimmune_hemolysis": "present"}, antibodies={"direct_coombs": "positive"})
    assert (r.clinical, r.immunologic) == (1, 0)
    r = slicc({"autoimmune_hemolysis": "absent"}, antibodies={"direct_coombs": "positive"})
    assert (r.clinical, r.immunologic) == (0, 1)
    # haemolysis unrecorded: the Coombs criterion counts, and haemolysis is a named unknown
    r = slicc(
        {"acute_cutaneous_lupus": "present", "oral_ulcers": "present"},
        ana_titer=160,
        antibodies={"direct_coombs": "positive"},
    )
    assert (r.clinical, r.immunologic, r.classified) == (2, 2, True)


# ------------------------------------------------------------------- SLICC 2012 complete

# Petri 2012 Table 3 (PMC3409311; clinical criteria 1-7 read there) and its reproductions (the
# neurologic list; ar4256 Table 1 for the immunologic wording): every word each criterion
# lists, recorded alone, meets it.
SLICC_EVERY_WORD: list[tuple[str, dict[str, Any]]] = [
    # 2. chronic cutaneous lupus: "classical discoid rash, hypertrophic (verrucous) lupus, lupus
    # panniculitis (profundus), mucosal lupus, lupus erythematosus tumidus, chillblains lupus,
    # discoid lupus/lichen planus overlap" (Table 3)
    *[
        ("chronic_cutaneous_lupus", {"findings": {f: "present"}})
        for f in (
            "discoid_lupus",
            "hypertrophic_lupus",
            "lupus_profundus",
            "mucosal_lupus",
            "lupus_tumidus",
            "chilblain_lupus",
            "discoid_lupus_lichen_planus_overlap",
        )
    ],
    # 7. renal: "... 500 mg of protein/24 hr or red blood cell casts" (Table 3)
    ("renal", {"findings": {"proteinuria_over_0_5g": "present"}}),
    ("renal", {"findings": {"red_cell_casts": "present"}}),
    # 8. neurologic: "seizures, psychosis, mononeuritis multiplex, myelitis, peripheral or cranial
    # neuropathy, acute confusional state" (reproductions); acute confusional state is delirium
    # (ACR 1999 NPSLE nomenclature, Appendix A)
    *[
        ("neurologic", {"findings": {f: "present"}})
        for f in (
            "seizure",
            "psychosis",
            "mononeuritis_multiplex",
            "myelitis",
            "peripheral_neuropathy",
            "cranial_neuropathy",
            "delirium",
        )
    ],
    # immunologic 4: "lupus anticoagulant, false-positive RPR, medium or high titer anticardiolipin
    # (IgA, IgG or IgM), anti-β2-glycoprotein I (IgA, IgG or IgM)" (ar4256 Table 1)
    *[
        ("antiphospholipid", {"labs": {"antibodies": {a: "positive"}}})
        for a in ("antiphospholipid", "lupus_anticoagulant", "false_positive_rpr", "cardiolipin", "b2gpi")
    ],
    # immunologic 5: "low C3, low C4, low CH50" (ar4256 Table 1)
    *[("low_complement", {"labs": {k: "present"}}) for k in ("c3_low", "c4_low", "ch50_low")],
]


@pytest.mark.parametrize(("item_id", "recorded"), SLICC_EVERY_WORD)
def test_every_word_of_a_slicc_criterion_meets_it(item_id: str, recorded: dict[str, Any]) -> None:
    r = slicc_2012.evaluate_facts(
        facts_of(make_case(recorded.get("findings"), labs=recorded.get("labs", {})))
    )
    assert [i.id for i in r.items if i.counted] == [item_id]
    assert r.clinical + r.immunologic == 1


def test_the_2019_antiphospholipid_item_is_any_of_its_three_antibodies() -> None:
    """Aringer 2019 criteria table: "Anti-cardiolipin antibodies OR anti-β2GP1 antibodies OR lupus
    anticoagulant", 2 points. A false-positive RPR is a SLICC item only."""
    for antibody in ("cardiolipin", "b2gpi", "lupus_anticoagulant", "antiphospholipid"):
        r = sle(labs={"antibodies": {antibody: "positive"}})
        assert (r.score, [d.counted_item for d in r.domains if d.counted_item]) == (2, ["antiphospholipid"])
    assert sle(labs={"antibodies": {"false_positive_rpr": "positive"}}).score == 0


def test_a_negative_antiphospholipid_panel_answers_for_its_parts() -> None:
    """The vocabulary's panel is anticardiolipin, anti-β2GP1 or lupus anticoagulant: recorded
    negative, each part is negative (not unknown); a false-positive RPR is not part of it."""
    neg = {"antibodies": {"antiphospholipid": "negative"}}
    r = sle({"acute_cutaneous_lupus": "present"}, labs={**neg, "c3_low": "present", "c4_low": "absent"})
    apl = next(i for i in r.items if i.id == "antiphospholipid")
    assert apl.status == "absent"
    assert not {"antibody_cardiolipin", "antibody_b2gpi", "antibody_lupus_anticoagulant"} & set(
        r.unknowns_that_could_change_classification
    )
    s = slicc(**neg)
    assert next(i for i in s.items if i.id == "antiphospholipid").status == "unknown"  # RPR unrecorded
    s = slicc(antibodies={"antiphospholipid": "negative", "false_positive_rpr": "negative"})
    assert next(i for i in s.items if i.id == "antiphospholipid").status == "absent"
    # all three parts negative: the panel is negative too
    parts = {"cardiolipin": "negative", "b2gpi": "negative", "lupus_anticoagulant": "negative"}
    r = sle(labs={"antibodies": parts})
    assert next(i for i in r.items if i.id == "antiphospholipid").status == "absent"


# --------------------------------------------------------------------------------- ANA


def test_a_positive_ana_without_a_titre_meets_the_2019_entry_criterion() -> None:
    """Aringer 2019 definitions table: "ANA at a titre of ≥1:80 on HEp-2 cells or an equivalent
    positive test at least once" (HEp-2 or a solid phase immunoassay of equivalent performance)."""
    strong = {"acute_cutaneous_lupus": "present", "synovitis_2_or_more_joints": "present"}
    r = sle(strong, ana=None, labs={"antibodies": {"ana": "positive"}})
    assert (r.entry_status, r.classified) == ("present", True)
    r = sle(strong, ana=None, labs={"antibodies": {"ana": "negative"}})
    assert (r.entry_status, r.classified) == ("absent", False)
    # a titre, when recorded, is what the entry criterion reads: 1:40 stays below 1:80 even if
    # the laboratory (cut-off 1:40) calls it positive
    r = sle(strong, ana=40, labs={"ana_titer_cutoff": 40, "antibodies": {"ana": "positive"}})
    assert r.entry_status == "absent"


@pytest.mark.parametrize(
    ("labs", "status"),
    [
        ({"antibodies": {"ana": "positive"}}, "present"),  # the lab's call: above its range
        ({"antibodies": {"ana": "negative"}}, "absent"),
        ({"ana_titer": 40, "ana_titer_cutoff": 40}, "present"),  # titre at the lab's cut-off
        ({"ana_titer": 80, "ana_titer_cutoff": 160}, "absent"),  # below the lab's cut-off
        ({"ana_titer": 40, "antibodies": {"ana": "negative"}}, "absent"),
        ({"ana_titer": 0}, "absent"),
        ({"ana_titer": 640}, "present"),  # ≥1:160: above the range of 95% of healthy people
        ({"ana_titer": 160}, "present"),
        ({"ana_titer": 80}, "unknown"),  # 1:80 may be inside a laboratory's range: not counted
        ({"ana_titer": 40}, "unknown"),
        ({}, "unknown"),
    ],
)
def test_slicc_ana_is_above_the_laboratory_reference_range(labs: dict[str, Any], status: str) -> None:
    """Petri 2012 immunologic criterion 1, "ANA level above laboratory reference range" (ar4256
    Table 1), not any titre above 0. Without the laboratory's range a titre of 1:160 or more
    counts: Tan 1997 (15 laboratories, HEp-2) found 5.0% of healthy people positive at 1:160,
    a cut-off "likely to exclude 95% of normal individuals"."""
    r = slicc(**labs)
    ana = next(i for i in r.items if i.id == "ana")
    assert ana.status == status
    assert ana.counted == (status == "present")


def test_a_titre_without_the_laboratory_range_is_a_named_unknown() -> None:
    r = slicc(
        {"acute_cutaneous_lupus": "present", "oral_ulcers": "present", "serositis": "present"},
        ana_titer=80,
    )
    assert (r.clinical, r.immunologic, r.classified) == (3, 0, False)
    assert "ana_above_reference_range" in r.unknowns_that_could_change_classification
    change = next(w for w in r.what_if if w.fact == "ana_above_reference_range")
    assert change.record_at == "labs.ana_titer_cutoff"


def test_the_nephritis_route_reads_the_same_ana_item() -> None:
    """Petri 2012: "biopsy-proven lupus nephritis in the presence of ANA or anti-dsDNA"."""
    assert slicc(lupus_nephritis_class="IV", antibodies={"ana": "positive"}).route == "lupus_nephritis"
    low = slicc(lupus_nephritis_class="IV", ana_titer=40)
    assert not low.classified
    assert "ana_above_reference_range" in low.unknowns_that_could_change_classification
    assert slicc(lupus_nephritis_class="IV", ana_titer=40, ana_titer_cutoff=40).classified


# ------------------------------------------------------------------ lupus nephritis classes


@pytest.mark.parametrize("written", ["III+V", "IV+V", "iv + v", "V+III", "IV/V"])
def test_combined_nephritis_classes_score_as_class_iii_or_iv(written: str) -> None:
    """ISN/RPS 2003 (Weening 2004, Table 4 note c): "Class V may occur in combination with class
    III or IV in which case both will be diagnosed"; 2019 renal domain: class II or V 8 points,
    class III or IV 10, only the highest counts (Aringer 2019 criteria table)."""
    r = sle(labs={"lupus_nephritis_class": written})
    renal = next(d for d in r.domains if d.id == "renal")
    assert (renal.counted_item, renal.points) == ("nephritis_iii_iv", 10)
    assert {i.id: i.status for i in r.items if i.domain == "renal"} == {
        "proteinuria": "unknown",
        "nephritis_ii_v": "present",
        "nephritis_iii_iv": "present",
    }
    assert slicc(lupus_nephritis_class=written, antibodies={"dsdna": "positive"}).route == "lupus_nephritis"


def test_combinations_the_classification_does_not_have_are_refused() -> None:
    from ifnscope.errors import CaseValidationError

    for written in ("II+V", "III+IV", "V+VI"):
        with pytest.raises(CaseValidationError) as ei:
            make_case(labs={"lupus_nephritis_class": written})
        assert ei.value.issues[0].path == "labs.lupus_nephritis_class"
