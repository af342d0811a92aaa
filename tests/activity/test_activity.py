"""CDASI v2 and CLASI from item-level entries, and the change between visits."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from ifnscope.activity import ActivityResult, Scores, compare, evaluate
from ifnscope.activity.rules import IndexRules, cdasi_rules, clasi_rules, load_index
from ifnscope.case.reader import load_case, validate_case
from ifnscope.data import load_yaml, sources
from ifnscope.errors import CaseValidationError, DataError, Issue
from ifnscope.provenance import SourceRef
from ifnscope.report.terminal_activity import activity_panel
from tests.helpers import ROOT, make_case

CDASI = cdasi_rules()
CLASI = clasi_rules()

# ------------------------------------------------------------------------------ helpers

Slot = tuple[tuple[str, ...], int, str]  # (key path inside the index entry, max, part)


def slots(rules: IndexRules) -> list[Slot]:
    """Every scorable entry of an index: its key path, its maximum and its part."""
    out: list[Slot] = []
    for area in rules.areas.rows:
        out += [(("areas", area.key, i.key), i.max, i.part) for i in rules.area_items_for(area)]
    for group in rules.groups:
        out += [((group.key, i.key), i.max, i.part) for i in group.items]
    out += [((i.key,), i.max, i.part) for i in rules.items]
    return out


def entry(rules: IndexRules, values: dict[tuple[str, ...], int | None], **extra: Any) -> dict[str, Any]:
    """An index entry for a case file from key paths; ``None`` values are left out (not scored)."""
    doc: dict[str, Any] = {}
    for path, value in values.items():
        if value is None:
            continue
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    doc.update(extra)
    return doc


def full(rules: IndexRules, value: str = "zero") -> dict[tuple[str, ...], int | None]:
    return {p: (m if value == "max" else 0) for p, m, _ in slots(rules)}


def with_activity(rules: IndexRules, target: int) -> dict[tuple[str, ...], int | None]:
    """A complete entry (damage 0) whose activity is exactly ``target``."""
    values = full(rules)
    left = target
    for path, maximum, part in slots(rules):
        if part == "activity" and left:
            values[path] = min(maximum, left)
            left -= values[path]  # type: ignore[operator]
    assert left == 0
    return values


def score(activity: dict[str, Any]) -> ActivityResult:
    result = evaluate(make_case(activity=activity))
    assert result is not None
    return result


def cdasi(values: dict[tuple[str, ...], int | None], **extra: Any) -> Any:
    res = score({"cdasi": entry(CDASI, values, **extra)}).cdasi
    assert res is not None
    return res


def clasi(values: dict[tuple[str, ...], int | None], **extra: Any) -> Any:
    res = score({"clasi": entry(CLASI, values, **extra)}).clasi
    assert res is not None
    return res


def issues(activity: Any) -> list[Issue]:
    with pytest.raises(CaseValidationError) as exc:
        make_case(activity=activity)
    return exc.value.issues


def one_issue(activity: Any) -> Issue:
    found = issues(activity)
    assert len(found) == 1, [i.describe() for i in found]
    return found[0]


# ---------------------------------------------------------------------------- the tables


def test_the_tables_load_and_cite_only_known_sources() -> None:
    for rules in (CDASI, CLASI):
        refs = list(rules.sources())
        assert refs
        for ref in refs:
            SourceRef.model_validate(ref.model_dump())
            assert ref.where.strip()


def test_every_activity_source_is_cited_and_none_duplicates_the_main_bibliography() -> None:
    mine = load_yaml("sources/activity.yaml")
    main = load_yaml("sources.yaml")
    assert not set(mine) & set(main)
    cited = {r.id for rules in (CDASI, CLASI) for r in rules.sources()}
    assert set(mine) <= cited, f"defined but not cited: {set(mine) - cited}"
    # a trial defined with the therapies (LAVENDER, for the CLASI-50 baseline rule) may be cited here
    assert cited - set(mine) <= set(sources()), f"cited but defined nowhere: {cited - set(sources())}"
    for sid in mine:
        assert sources()[sid]["read"].strip()


def test_u_rows_are_the_ones_the_results_call_unverified() -> None:
    # Every U-tagged range row carries a text that the result repeats; no A/B row does.
    for rules in (CDASI, CLASI):
        u_rows = [i for i in rules.area_items + rules.items if i.source.confidence == "U"]
        assert u_rows
        assert all(i.unverified for i in u_rows)
    assert CDASI.totals.activity.source.confidence == "A"
    assert CDASI.totals.damage.source.confidence == "U"
    assert CLASI.totals.activity.source.confidence == "A"
    assert CLASI.totals.damage.source.confidence == "U"


def test_anchor_words_only_where_a_source_gave_them() -> None:
    assert all(i.anchors is None for i in CDASI.area_items + CDASI.items)
    assert all(i.anchors is None for g in CDASI.groups for i in g.items)
    anchored = {i.key: i.source.confidence for i in CLASI.area_items + CLASI.items if i.anchors}
    assert anchored == {"erythema": "B", "scale": "B"}


def test_a_table_whose_ranges_miss_the_published_total_is_a_data_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = copy.deepcopy(load_yaml("activity/cdasi.yaml"))
    raw["items"][0]["max"] = 3  # periungual 0-3 would make the activity total 101
    monkeypatch.setattr("ifnscope.data.load_yaml", lambda name: raw)
    load_index.cache_clear()
    try:
        with pytest.raises(DataError, match="published total is 100"):
            load_index("cdasi")
    finally:
        load_index.cache_clear()


def test_area_keys_match_the_design() -> None:
    assert [a.key for a in CDASI.areas.rows] == [
        "scalp", "malar", "periorbital", "rest_of_face", "v_neck", "posterior_neck",
        "upper_back_shoulders", "rest_of_back_buttocks", "abdomen", "lateral_upper_thigh",
        "rest_of_leg_feet", "arm", "mechanics_hand", "dorsal_hands", "gottron_not_hands",
    ]  # fmt: skip
    assert [a.key for a in CLASI.areas.rows] == [
        "scalp", "ears", "nose_malar", "rest_of_face", "v_neck", "posterior_neck_shoulders",
        "chest", "abdomen", "back_buttocks", "arms", "hands", "legs", "feet",
    ]  # fmt: skip


# ------------------------------------------------------------------- totals and ranges


def test_cdasi_every_item_at_its_maximum_gives_exactly_100_and_32() -> None:
    res = cdasi(full(CDASI, "max"))
    assert (res.activity, res.damage) == (100, 32)
    assert res.complete
    assert res.activity_range == (100, 100)
    assert res.damage_range == (32, 32)
    assert res.band == "moderate_severe"


def test_clasi_every_item_at_its_maximum_gives_exactly_70_and_56_with_doubling() -> None:
    res = clasi(full(CLASI, "max"), dyspigmentation_12_months=True)
    assert (res.activity, res.damage) == (70, 56)
    assert res.complete
    assert res.band == "severe"
    not_doubled = clasi(full(CLASI, "max"), dyspigmentation_12_months=False)
    assert not_doubled.damage == 56 - 13  # 13 areas of dyspigmentation counted once


def test_all_items_zero_is_a_complete_zero() -> None:
    res = cdasi(full(CDASI))
    assert (res.activity, res.damage, res.complete, res.unscored) == (0, 0, True, [])
    assert res.band == "mild"
    assert clasi(full(CLASI), dyspigmentation_12_months=False).band == "mild"


def test_an_empty_index_entry_spans_the_whole_scale() -> None:
    res = score({"cdasi": {}}).cdasi
    assert res is not None
    assert res.activity_range == (0, 100)
    assert res.damage_range == (0, 32)
    assert res.band is None
    assert res.band_if_complete_could_be == ["mild", "moderate_severe"]
    assert len(res.unscored) == 15 + 3 + 2  # 15 areas, Gottron's hands (3 items), periungual, alopecia


CDASI_SLOTS = [(p, m) for p, m, _ in slots(CDASI) if p[0] != "areas" or p[1] == "scalp"]
CLASI_SLOTS = [(p, m) for p, m, _ in slots(CLASI) if p[0] != "areas" or p[1] in ("scalp", "ears")]


@pytest.mark.parametrize(("path", "maximum"), CDASI_SLOTS, ids=[".".join(p) for p, _ in CDASI_SLOTS])
def test_cdasi_item_range(path: tuple[str, ...], maximum: int) -> None:
    res = cdasi({path: maximum})
    assert res.activity + res.damage == maximum
    for bad in (maximum + 1, -1):
        i = one_issue({"cdasi": entry(CDASI, {path: bad})})
        assert (i.code, i.path) == ("case.out-of-range", "activity.cdasi." + ".".join(path))
        assert "out of range" in i.message


@pytest.mark.parametrize(("path", "maximum"), CLASI_SLOTS, ids=[".".join(p) for p, _ in CLASI_SLOTS])
def test_clasi_item_range(path: tuple[str, ...], maximum: int) -> None:
    res = clasi({path: maximum}, dyspigmentation_12_months=False)
    assert res.activity + res.damage == maximum
    for bad in (maximum + 1, -1):
        i = one_issue({"clasi": entry(CLASI, {path: bad})})
        assert (i.code, i.path) == ("case.out-of-range", "activity.clasi." + ".".join(path))


def test_published_item_maxima() -> None:
    def maxima(rules: IndexRules) -> dict[str, int]:
        out = {i.key: i.max for i in rules.area_items + rules.items}
        out |= {f"{g.key}.{i.key}": i.max for g in rules.groups for i in g.items}
        return out

    assert maxima(CDASI) == {
        "erythema": 3, "scale": 2, "erosion": 1, "poikiloderma": 1, "calcinosis": 1,
        "gottron_hands.papules": 6, "gottron_hands.ulceration": 1, "gottron_hands.damage": 2,
        "periungual": 2, "alopecia": 1,
    }  # fmt: skip
    assert maxima(CLASI) == {
        "erythema": 3, "scale": 2, "dyspigmentation": 1, "scarring": 2,
        "mucous_membrane": 1, "recent_hair_loss": 1, "nonscarring_alopecia": 3, "scalp_scarring": 6,
    }  # fmt: skip


# ------------------------------------------------------------------------------ errors


def test_a_misspelt_area_gets_the_nearest_area_name() -> None:
    i = one_issue({"cdasi": {"areas": {"scapl": {"erythema": 1}}}})
    assert (i.code, i.path, i.suggestion) == ("case.unknown-key", "activity.cdasi.areas.scapl", "scalp")
    i = one_issue({"clasi": {"areas": {"nose-malar": {"erythema": 1}}}})
    assert (i.path, i.suggestion) == ("activity.clasi.areas.nose-malar", "nose_malar")


def test_a_misspelt_item_gets_the_nearest_item_name() -> None:
    i = one_issue({"cdasi": {"areas": {"scalp": {"erythma": 1}}}})
    assert (i.code, i.path, i.suggestion) == (
        "case.unknown-key",
        "activity.cdasi.areas.scalp.erythma",
        "erythema",
    )
    i = one_issue({"cdasi": {"gotron_hands": {"papules": 1}}})
    assert i.suggestion == "gottron_hands"


def test_scores_are_whole_numbers_only() -> None:
    for bad in (2.0, 1.5, "2", True):
        i = one_issue({"cdasi": {"periungual": bad}})
        assert (i.code, i.path, i.expected) == (
            "case.wrong-type",
            "activity.cdasi.periungual",
            "a whole number",
        )


def test_scalp_scarring_is_not_scored_in_the_clasi_scalp_area() -> None:
    i = one_issue({"clasi": {"areas": {"scalp": {"scarring": 1}}}})
    assert (i.code, i.path) == ("case.invalid-value", "activity.clasi.areas.scalp")
    assert "activity.clasi.scalp_scarring" in i.message
    # other areas score scarring
    assert clasi({("areas", "ears", "scarring"): 2}).damage == 2


def test_clasi_scalp_scarring_takes_only_0_3_4_5_or_6() -> None:
    """CLASI form (Albrecht J et al., J Invest Dermatol 2005;125:889-94), damage, "scarring
    alopecia" of the scalp: 0, 3 for scarring of the scalp judged clinically, 4, 5 or 6 by the
    scalp quadrants affected (as clinical.md §2e and issue 9 item 6 give the form; the form
    itself was not retrieved, so the row stays U and says so). 1 and 2 are not on the form:
    refused with a case.invalid-value naming the allowed values, never scored."""
    for v in (0, 3, 4, 5, 6):
        res = clasi({("scalp_scarring",): v})
        assert res.damage == v
        assert any("0, 3, 4, 5 and 6" in u for u in res.unverified)
    for v in (1, 2):
        with pytest.raises(CaseValidationError) as exc:
            clasi({("scalp_scarring",): v})
        (i,) = exc.value.issues
        assert (i.code, i.path, i.got, i.expected) == (
            "case.invalid-value",
            "activity.clasi.scalp_scarring",
            v,
            "0, 3, 4, 5 or 6",
        )
        assert "judged clinically" in i.message
        assert exc.value.code == "case.invalid"
    # the range check still comes first: 7 is out of range (the case model), not "not on the form"
    assert one_issue({"clasi": {"scalp_scarring": 7}}).code == "case.out-of-range"


def test_only_clasi_scalp_scarring_skips_values_inside_its_range() -> None:
    """Every other CDASI/CLASI item takes every whole number of its range (the forms' anchors
    where read, docs/activity.md); the table rejects a value list that does not start at the
    minimum and end at the maximum."""
    skipping = [(r.short, path) for r in (CDASI, CLASI) for path, item in r.entries() if item.values]
    assert skipping == [("CLASI", ("scalp_scarring",))]
    raw = copy.deepcopy(load_yaml("activity/clasi.yaml"))
    (row,) = [i for i in raw["items"] if i["key"] == "scalp_scarring"]
    row["values"] = [3, 4, 5, 6]
    with pytest.raises(ValueError, match="values must rise from 0 to 6"):
        IndexRules.model_validate(raw)


def test_baseline_errors() -> None:
    i = one_issue({"baseline": {"cdasi_activity": 101}})
    assert (i.code, i.path) == ("case.out-of-range", "activity.baseline.cdasi_activity")
    i = one_issue({"baseline": {"clasi_damage": 57}})
    assert (i.code, i.path) == ("case.out-of-range", "activity.baseline.clasi_damage")
    i = one_issue({"baseline": {"date": "2024-13"}})
    assert (i.code, i.path) == ("case.invalid-value", "activity.baseline.date")
    assert "YYYY-MM" in i.message
    i = one_issue({"baseline": {"cdasi_activty": 3}})
    assert i.suggestion == "cdasi_activity"


def test_every_problem_is_reported_at_once() -> None:
    found = issues(
        {"cdasi": {"areas": {"scalp": {"erythema": 4}, "malar": {"scale": 3}}, "alopecia": 2}},
    )
    assert {i.path for i in found} == {
        "activity.cdasi.areas.scalp.erythema",
        "activity.cdasi.areas.malar.scale",
        "activity.cdasi.alopecia",
    }


def test_yaml_errors_carry_the_line() -> None:
    from ifnscope.case.reader import parse_case

    text = "format: ifnscope-case/1\nid: t\nactivity:\n  cdasi:\n    areas:\n      scalp: {erythema: 5}\n"
    with pytest.raises(CaseValidationError) as exc:
        parse_case(text)
    (i,) = exc.value.issues
    assert (i.path, i.line) == ("activity.cdasi.areas.scalp.erythema", 6)


# --------------------------------------------------------------------------- unknowns


def test_an_unscored_area_could_add_its_maximum() -> None:
    values = full(CDASI)
    for key in ("erythema", "scale", "erosion", "poikiloderma", "calcinosis"):
        values[("areas", "arm", key)] = None
    res = cdasi(values)
    assert (res.activity, res.activity_range, res.damage_range) == (0, (0, 6), (0, 2))
    assert not res.complete
    assert res.unscored == ["Arm (area not scored)"]
    arm = next(a for a in res.areas if a.key == "arm")
    assert (arm.scored, arm.activity_range, arm.damage_range) == (False, (0, 6), (0, 2))


def test_an_item_left_out_of_a_scored_area_is_unknown_too() -> None:
    values = full(CDASI)
    values[("areas", "scalp", "erythema")] = None
    res = cdasi(values)
    assert res.activity_range == (0, 3)
    assert res.damage_complete
    assert not res.activity_complete
    assert res.unscored == ["Scalp: Erythema"]


def test_a_missing_damage_item_leaves_activity_complete() -> None:
    values = full(CDASI)
    values[("gottron_hands", "damage")] = None
    res = cdasi(values)
    assert res.activity_complete
    assert not res.damage_complete
    assert res.damage_range == (0, 2)
    assert res.band == "mild"


def test_band_only_when_the_whole_range_is_in_one_band() -> None:
    values = with_activity(CDASI, 12)
    values[("alopecia",)] = None  # 12 recorded + up to 1 = 12-13: mild either way
    res = cdasi(values)
    assert (res.activity_range, res.band) == ((12, 13), "mild")
    values = with_activity(CDASI, 14)
    values[("alopecia",)] = None  # 14-15 straddles the Stanford cut-off
    res = cdasi(values)
    assert res.band is None
    assert res.band_if_complete_could_be == ["mild", "moderate_severe"]
    values = with_activity(CDASI, 30)  # the first five areas at their maxima, the rest 0
    for key in ("erythema", "scale", "erosion"):
        values[("areas", "abdomen", key)] = None
    res = cdasi(values)
    assert (res.activity_range, res.band) == ((30, 36), "moderate_severe")


def test_clasi_band_over_a_range_lists_every_band_it_could_be() -> None:
    values = with_activity(CLASI, 8)  # scalp 5 + ears erythema 3
    for key in ("erythema", "scale"):
        values[("areas", "legs", key)] = values[("areas", "feet", key)] = None
    res = clasi(values, dyspigmentation_12_months=False)
    assert (res.activity_range, res.band) == ((8, 18), None)
    assert res.band_if_complete_could_be == ["mild", "moderate"]
    for key in ("erythema", "scale"):
        values[("areas", "arms", key)] = values[("areas", "hands", key)] = None
    res = clasi(values, dyspigmentation_12_months=False)
    assert res.activity_range == (8, 28)
    assert res.band_if_complete_could_be == ["mild", "moderate", "severe"]


def test_dyspigmentation_doubling_flag() -> None:
    values = full(CLASI)
    values[("areas", "ears", "dyspigmentation")] = 1
    values[("areas", "chest", "dyspigmentation")] = 1
    assert clasi(values, dyspigmentation_12_months=True).damage == 4
    assert clasi(values, dyspigmentation_12_months=False).damage == 2
    unknown = clasi(values)
    assert (unknown.damage, unknown.damage_range, unknown.complete) == (2, (2, 4), False)
    assert unknown.dyspigmentation_doubled is None
    assert any("12 months" in u for u in unknown.unscored)
    assert any("summed dyspigmentation" in u for u in unknown.unverified)


def test_the_doubling_flag_does_not_matter_without_dyspigmentation() -> None:
    res = clasi(full(CLASI))  # every dyspigmentation 0, flag not recorded
    assert (res.complete, res.damage_range) == (True, (0, 0))


# -------------------------------------------------------------------------- CDASI bands


@pytest.mark.parametrize(
    ("activity", "band"), [(0, "mild"), (14, "mild"), (15, "moderate_severe"), (100, "moderate_severe")]
)
def test_cdasi_stanford_band(activity: int, band: str) -> None:
    res = cdasi(with_activity(CDASI, activity))
    assert (res.activity, res.band) == (activity, band)
    assert res.band_reference.source == "anyanwu2015"
    assert res.band_reference.confidence == "A"


@pytest.mark.parametrize(
    ("activity", "upenn"),
    [(15, "mild"), (18, "mild"), (19, None), (20, "moderate_severe")],
)
def test_cdasi_upenn_cut_off_is_shown_beside_the_band(activity: int, upenn: str | None) -> None:
    res = cdasi(with_activity(CDASI, activity))
    (cut,) = res.cut_offs
    assert (cut.id, cut.value, cut.band) == ("upenn", 19, upenn)
    assert res.band == "moderate_severe"  # Stanford: 15-19 are moderate-severe
    if upenn is None:
        assert cut.band_if_complete_could_be == ["mild", "moderate_severe"]
        assert "does not say on which side" in cut.text


@pytest.mark.parametrize(("activity", "met"), [(13, False), (14, True), (15, True)])
def test_cdasi_trial_enrolment_threshold(activity: int, met: bool) -> None:
    t = next(t for t in cdasi(with_activity(CDASI, activity)).thresholds if t.id == "trial_enrolment")
    assert t.met is met
    assert t.reference.source == "nct03181893_eligibility"


@pytest.mark.parametrize(("activity", "position"), [(11, "below"), (12, "at"), (13, "above")])
def test_cdasi_ifn_signature_threshold_is_informational(activity: int, position: str) -> None:
    t = next(t for t in cdasi(with_activity(CDASI, activity)).thresholds if t.id == "ifn_signature")
    assert (t.position, t.met, t.reference.source) == (position, None, "huard2017")


def test_thresholds_over_a_range_are_not_decided() -> None:
    values = with_activity(CDASI, 13)
    values[("periungual",)] = None
    res = cdasi(values)
    t = next(t for t in res.thresholds if t.id == "trial_enrolment")
    assert (res.activity_range, t.met, t.position) == ((13, 15), None, "either side")


# -------------------------------------------------------------------------- CLASI bands


@pytest.mark.parametrize(
    ("activity", "band"),
    [(0, "mild"), (9, "mild"), (10, "moderate"), (20, "moderate"), (21, "severe"), (70, "severe")],
)
def test_clasi_klein_band(activity: int, band: str) -> None:
    res = clasi(with_activity(CLASI, activity), dyspigmentation_12_months=False)
    assert (res.activity, res.band) == (activity, band)
    assert res.band_reference.source == "klein2011"


# ---------------------------------------------------------------------------- change


def verdicts(baseline: dict[str, Any], followup: dict[str, Any]) -> dict[str, Any]:
    change = compare(baseline, followup)
    out = {}
    for c in (change.cdasi, change.clasi):
        if c is not None:
            out |= {v.id: v for v in c.verdicts}
    return out


@pytest.mark.parametrize(
    ("before", "after", "upenn", "stanford"),
    [
        (24, 21, "no_important_change", "no_important_change"),
        (24, 20, "improved", "no_important_change"),
        (24, 19, "improved", "improved"),
        (24, 27, "no_important_change", "no_important_change"),
        (24, 28, "worsened", "no_important_change"),
        (24, 29, "worsened", "worsened"),
    ],
)
def test_cdasi_mcid_4_upenn_and_5_stanford(before: int, after: int, upenn: str, stanford: str) -> None:
    v = verdicts({"cdasi_activity": before}, {"cdasi_activity": after})
    assert (v["mcid_upenn"].outcome, v["mcid_stanford"].outcome) == (upenn, stanford)
    assert v["mcid_upenn"].references[0].source == "anyanwu2015"
    # worsening is applied by symmetry, and says so
    assert (v["mcid_upenn"].unverified is not None) == (upenn == "worsened")
    assert (v["mcid_stanford"].unverified is not None) == (stanford == "worsened")


@pytest.mark.parametrize(
    ("before", "after", "points", "percent", "combined"),
    [
        (30, 27, "no_important_change", "no_important_change", "no_important_change"),  # 3 points, 10%
        (30, 26, "improved", "no_important_change", "improved"),  # 4 points, 13.3%
        (30, 24, "improved", "improved", "improved"),  # 6 points, exactly 20%
        (10, 8, "no_important_change", "improved", "improved"),  # 2 points, exactly 20%
        (10, 9, "no_important_change", "no_important_change", "no_important_change"),  # 10%
        (10, 14, "worsened", "worsened", "worsened"),  # symmetric worsening
        (20, 23, "no_important_change", "no_important_change", "no_important_change"),  # +15%
        (20, 24, "worsened", "worsened", "worsened"),  # +4 points, +20%
    ],
)
def test_clasi_4_points_or_20_percent(
    before: int, after: int, points: str, percent: str, combined: str
) -> None:
    v = verdicts({"clasi_activity": before}, {"clasi_activity": after})
    assert v["fall_4_points"].outcome == points
    assert v["fall_20_percent"].outcome == percent
    assert v["klein_improvement"].outcome == combined
    assert {r.source for r in v["klein_improvement"].references} == {"klein2011"}


@pytest.mark.parametrize(
    ("before", "after", "outcome"),
    [
        (9, 0, "not_applicable"),
        (9, 4, "not_applicable"),
        (10, 5, "improved"),
        (10, 6, "not_met"),
        (40, 20, "improved"),
    ],
)
def test_clasi_50_only_from_a_baseline_of_10(before: int, after: int, outcome: str) -> None:
    v = verdicts({"clasi_activity": before}, {"clasi_activity": after})["clasi_50"]
    assert v.outcome == outcome
    sources = {r.source for r in v.references}
    assert {"werth_acr2024_litifilimab", "tulip_clasi50_figure"} <= sources
    if outcome == "not_applicable":
        assert "≥10" in v.why
    assert v.unverified is None  # improvement only: never reported as worsening


@pytest.mark.parametrize(
    ("before", "after", "noted"),
    [(9, 0, True), (4, 4, True), ([8, 12], 2, True), (10, 5, False), (40, 20, False), ([10, 14], 3, False)],
)
def test_clasi_50_withheld_below_10_is_said_to_be_a_trial_rule(before: Any, after: int, noted: bool) -> None:
    """CLASI-50 is "a decrease of ≥50% from baseline in CLASI-A score" (Werth, ACR 2024 litifilimab
    abstract, background): no minimum baseline. The baseline of ≥10 is the trials': TULIP-1/2
    "CLASI-50 response attainment among patients with baseline CLASI-Activity score ≥10" (post hoc
    Figure 2 legend) and LAVENDER's eligibility, CLASI-A ≥10 (NCT06015737). Where it withholds
    the verdict (wholly, or for part of an incompletely scored baseline), the verdict says it is
    a trial rule and cites both trials; where it does not, nothing is added."""
    v = verdicts({"clasi_activity": before}, {"clasi_activity": after})["clasi_50"]
    sources = {r.source for r in v.references}
    if noted:
        assert v.note is not None
        assert "trial rule, not part of the definition" in v.note
        assert "TULIP" in v.note
        assert "LAVENDER" in v.note
        assert {"tulip_clasi50_figure", "lavender_nct06015737"} <= sources
    else:
        assert v.note is None
        assert "lavender_nct06015737" not in sources
    # only CLASI-50 carries it
    assert all(
        x.note is None
        for k, x in verdicts({"clasi_activity": 9}, {"clasi_activity": 0}).items()
        if k != "clasi_50"
    )


def test_clasi_50_is_never_a_worsening() -> None:
    assert verdicts({"clasi_activity": 10}, {"clasi_activity": 30})["clasi_50"].outcome == "not_met"


def test_a_percentage_from_a_baseline_of_zero_is_not_applicable() -> None:
    v = verdicts({"clasi_activity": 0}, {"clasi_activity": 5})
    assert v["fall_20_percent"].outcome == "not_applicable"
    assert v["fall_4_points"].outcome == "worsened"
    assert v["klein_improvement"].outcome == "worsened"


def test_change_over_a_range_is_undetermined_with_what_it_could_be() -> None:
    v = verdicts({"cdasi_activity": 24}, {"cdasi_activity": [20, 32]})
    assert v["mcid_upenn"].outcome == "undetermined"
    assert v["mcid_upenn"].could_be == ["improved", "no_important_change", "worsened"]
    assert v["mcid_stanford"].could_be == ["no_important_change", "worsened"]
    v = verdicts({"cdasi_activity": 24}, {"cdasi_activity": [10, 14]})
    assert v["mcid_stanford"].outcome == "improved"  # improved whatever the unscored items score


def test_compare_takes_numbers_and_reports_differences() -> None:
    change = compare(
        Scores(cdasi_activity=24, cdasi_damage=3),
        {"cdasi_activity": 27, "cdasi_damage": 5, "clasi_activity": 4},
        baseline_date="2024-01",
    )
    assert change.cdasi is not None
    assert (change.cdasi.activity_change, change.cdasi.damage_change) == ((3, 3), (2, 2))
    assert change.cdasi.activity_change_percent == (12.5, 12.5)
    assert change.clasi is None
    assert change.notes == ["CLASI is scored at this visit but has no baseline to compare with"]
    assert change.baseline_date == "2024-01"
    with pytest.raises(ValueError, match="low ≤ high"):
        Scores(cdasi_activity=(30, 20))


def test_tis_is_recorded_as_not_implemented() -> None:
    tis = compare({"cdasi_activity": 20}, {"cdasi_activity": 10}).tis
    assert tis.implemented is False
    assert "formula" in tis.why or "computed" in tis.why
    assert {r.source for r in tis.references} == {"aggarwal2017_ard", "niehs_imacs_response"}


# ----------------------------------------------------------------------- the whole case


def test_no_activity_section_gives_none() -> None:
    assert evaluate(make_case()) is None


def test_evaluate_compares_with_the_baseline() -> None:
    res = score(
        {
            "cdasi": entry(CDASI, with_activity(CDASI, 20)),
            "baseline": {"date": "2024-01-15", "cdasi_activity": 24, "cdasi_damage": 0, "clasi_activity": 12},
        }
    )
    assert res.change is not None
    assert res.change.baseline_date == "2024-01-15"
    assert res.change.cdasi is not None
    assert res.change.cdasi.activity_change == (-4, -4)
    v = {x.id: x.outcome for x in res.change.cdasi.verdicts}
    assert v == {"mcid_upenn": "improved", "mcid_stanford": "no_important_change"}
    assert res.change.clasi is None
    assert res.change.notes == ["CLASI is recorded at the baseline visit but not scored at this one"]
    assert res.model_dump(mode="json")["change"]["tis"]["implemented"] is False


def test_results_carry_references_unverified_and_because() -> None:
    res = cdasi(with_activity(CDASI, 27))
    assert {r.source for r in res.references} >= {"nct03181893_results", "anyanwu2015", "cdasi_form_code"}
    assert any(not r.verified for r in res.references)  # the damage rows
    assert any("0-32" in u for u in res.unverified)
    assert "CDASI activity 27 of 100" in res.because
    assert "official CDASI v2 form" in res.anchors_note
    assert res.damage_verified is False
    item = next(i for i in res.items if i.key == "gottron_hands.papules")
    assert (item.max, item.reference.confidence) == (6, "A")


def test_example_case_loads_and_scores() -> None:
    case = load_case(ROOT / "examples" / "activity-cdasi-clasi.yaml")
    res = evaluate(case)
    assert res is not None
    assert res.cdasi is not None
    assert (res.cdasi.activity, res.cdasi.damage, res.cdasi.complete) == (36, 2, True)
    assert res.cdasi.band == "moderate_severe"
    assert res.change is not None
    assert res.change.cdasi is not None
    assert {v.id: v.outcome for v in res.change.cdasi.verdicts} == {
        "mcid_upenn": "improved",
        "mcid_stanford": "improved",
    }


def test_terminal_panel_reads_like_a_note() -> None:
    values = with_activity(CDASI, 27)
    for key in ("erythema", "scale", "erosion", "poikiloderma", "calcinosis"):
        values[("areas", "arm", key)] = None
    res = score({"cdasi": entry(CDASI, values), "baseline": {"cdasi_activity": 24}})
    console = Console(width=200, record=True)
    console.print(activity_panel(res))
    text = console.export_text()
    assert "CDASI activity 27 of 100 (moderate–severe; Stanford cut-off ≤14 = mild" in text
    assert "1 area not scored (Arm): activity could be 27–33, damage 0–2." in text
    assert "Total Improvement Score (TIS): not computed" in text
    assert "Unverified" in text


# ---------------------------------------------------------------------------- properties

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _allowed(rules: IndexRules) -> dict[tuple[str, ...], list[int]]:
    """The scores each entry takes (CLASI scalp scarring skips 1 and 2)."""
    return {path: item.allowed for path, item in rules.entries()}


def _assignment(rules: IndexRules) -> st.SearchStrategy[dict[tuple[str, ...], int | None]]:
    allowed = _allowed(rules)
    return st.fixed_dictionaries(
        {p: st.one_of(st.none(), st.sampled_from(allowed[p])) for p, _, _ in slots(rules)}
    )


@PROFILE
@given(data=st.data(), which=st.sampled_from(["cdasi", "clasi"]), flag=st.sampled_from([None, True, False]))
def test_raising_any_item_never_lowers_a_total(data: st.DataObject, which: str, flag: bool | None) -> None:
    rules = CDASI if which == "cdasi" else CLASI
    values = data.draw(_assignment(rules))
    extra = {"dyspigmentation_12_months": flag} if which == "clasi" and flag is not None else {}
    raisable = [p for p, m, _ in slots(rules) if values[p] is not None and values[p] < m]  # type: ignore[operator]
    if not raisable:
        return
    path = data.draw(st.sampled_from(raisable))
    higher = dict(values)
    higher[path] = min(v for v in _allowed(rules)[path] if v > values[path])  # type: ignore[operator]
    run = cdasi if which == "cdasi" else clasi
    before, after = run(values, **extra), run(higher, **extra)
    assert after.activity >= before.activity
    assert after.damage >= before.damage
    assert after.activity + after.damage > before.activity + before.damage
    assert after.activity_range[1] >= before.activity_range[1]
    assert after.damage_range[1] >= before.damage_range[1]


@PROFILE
@given(data=st.data(), which=st.sampled_from(["cdasi", "clasi"]))
def test_scoring_an_unknown_item_stays_within_the_range(data: st.DataObject, which: str) -> None:
    rules = CDASI if which == "cdasi" else CLASI
    values = data.draw(_assignment(rules))
    unknown = [(p, m) for p, m, _ in slots(rules) if values[p] is None]
    if not unknown:
        return
    path, _ = data.draw(st.sampled_from(unknown))
    scored = dict(values)
    scored[path] = data.draw(st.sampled_from(_allowed(rules)[path]))
    run = cdasi if which == "cdasi" else clasi
    before, after = run(values), run(scored)
    for part in ("activity_range", "damage_range"):
        lo, hi = getattr(before, part)
        new_lo, new_hi = getattr(after, part)
        assert lo <= new_lo <= new_hi <= hi


def test_validate_case_accepts_the_design_example() -> None:
    case = validate_case(
        {
            "format": "ifnscope-case/1",
            "id": "design",
            "activity": {
                "cdasi": {
                    "areas": {
                        "scalp": {
                            "erythema": 2,
                            "scale": 1,
                            "erosion": 0,
                            "poikiloderma": 0,
                            "calcinosis": 0,
                        },
                        "periorbital": {"erythema": 3},
                    },
                    "gottron_hands": {"papules": 4, "ulceration": 0, "damage": 1},
                    "periungual": 2,
                    "alopecia": 1,
                },
                "clasi": {
                    "areas": {
                        "scalp": {"erythema": 1, "scale": 0, "dyspigmentation": 1},
                        "ears": {"erythema": 2, "scale": 1, "dyspigmentation": 0, "scarring": 1},
                    },
                    "mucous_membrane": 0,
                    "recent_hair_loss": 1,
                    "nonscarring_alopecia": 2,
                    "scalp_scarring": 3,
                    "dyspigmentation_12_months": True,
                },
                "baseline": {
                    "date": "2024-01-15",
                    "cdasi_activity": 24,
                    "cdasi_damage": 3,
                    "clasi_activity": 12,
                    "clasi_damage": 4,
                },
            },
        }
    )
    res = evaluate(case)
    assert res is not None
    assert res.cdasi is not None
    assert res.clasi is not None
    assert (res.cdasi.activity, res.cdasi.damage) == (2 + 1 + 3 + 4 + 2 + 1, 1)
    assert (res.clasi.activity, res.clasi.damage) == (1 + 2 + 1 + 1 + 2, 2 + 1 + 3)


def test_the_docs_page_names_every_item_and_rule() -> None:
    text = (ROOT / "docs" / "activity.md").read_text(encoding="utf-8")
    for rules in (CDASI, CLASI):
        for area in rules.areas.rows:
            assert f"`{area.key}`" in text, area.key
        for path, _, _ in slots(rules):
            key = path[-1] if path[0] == "areas" else ".".join(path)
            assert f"`{key}`" in text, path
    for word in ("not implemented", "Total Improvement Score", "CLASI-50", "unverified", "U"):
        assert word in text
    assert Path(ROOT / "examples" / "activity-cdasi-clasi.yaml").exists()
