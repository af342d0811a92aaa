"""The case reader: valid files load; every kind of bad input is a structured error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ifnscope.assessment import assess
from ifnscope.case.model import is_dilution
from ifnscope.case.reader import load_case, parse_case, validate_case
from ifnscope.errors import (
    CaseError,
    CaseNotFoundError,
    CaseParseError,
    CaseValidationError,
    IfnscopeError,
)
from tests.helpers import shared_cases

HEAD = "format: ifnscope-case/1\nid: t\n"


def issues_of(text: str, kind: str = "yaml") -> list:
    with pytest.raises(CaseValidationError) as ei:
        parse_case(text, file="x.yaml", kind=kind)  # type: ignore[arg-type]
    return ei.value.issues


def one_issue(text: str):
    issues = issues_of(text)
    assert len(issues) == 1, [i.describe() for i in issues]
    return issues[0]


def test_minimal_case_loads_with_everything_unknown() -> None:
    case = parse_case(HEAD)
    assert case.id == "t"
    assert case.recorded_findings() == {}
    assert case.findings.heliotrope_rash is None  # not written means unknown, not absent


def test_unknown_finding_names_the_key_line_and_nearest_word() -> None:
    i = one_issue(HEAD + "findings:\n  pruritis: present\n")
    assert i.code == "case.unknown-key"
    assert i.path == "findings.pruritis"
    assert i.line == 4
    assert i.suggestion == "pruritus"
    assert "heliotrope_rash" in (i.expected or "")


def test_unknown_top_level_key_suggests_the_section() -> None:
    i = one_issue(HEAD + "finding:\n  pruritus: present\n")
    assert (i.code, i.path, i.suggestion) == ("case.unknown-key", "finding", "findings")


@pytest.mark.parametrize(
    ("text", "path", "suggestion"),
    [
        ("labs:\n  ck: {value: 10, upper_limt: 5}\n", "labs.ck.upper_limt", "upper_limit"),
        ("labs:\n  antibodies: {jo-1: positive}\n", "labs.antibodies.jo-1", "jo1"),
        ("muscle: {biopsy: {rimmed_vacuole: present}}\n", "muscle.biopsy.rimmed_vacuole", "rimmed_vacuoles"),
        ("lesions:\n  - {site: scalp, morphology: plaque, color: red}\n", "lesions[0].color", "colour"),
        ("history: {smokin: present}\n", "history.smokin", "smoking"),
        ("cancer_screening: {colonscopy: negative}\n", "cancer_screening.colonscopy", "colonoscopy"),
    ],
)
def test_unknown_nested_keys(text: str, path: str, suggestion: str) -> None:
    i = one_issue(HEAD + text)
    assert (i.code, i.path, i.suggestion) == ("case.unknown-key", path, suggestion)


def test_invalid_value_lists_allowed_words_and_suggests() -> None:
    i = one_issue(HEAD + "patient: {sex: femal}\n")
    assert (i.code, i.path, i.suggestion) == ("case.invalid-value", "patient.sex", "female")
    assert "'female'" in (i.expected or "")


def test_onset_event_prefix_suggestion() -> None:
    i = one_issue(HEAD + "onset: {after: [viral]}\n")
    assert (i.path, i.suggestion) == ("onset.after[0]", "viral_illness")


def test_yaml_boolean_gets_a_hint_not_a_silent_conversion() -> None:
    i = one_issue(HEAD + "findings:\n  heliotrope_rash: yes\n")
    assert i.code == "case.invalid-value"
    assert "YAML reads yes/no" in i.message
    assert i.got is True


@pytest.mark.parametrize(
    ("text", "path", "code"),
    [
        ("patient: {age_years: -3}\n", "patient.age_years", "case.out-of-range"),
        ("patient: {age_years: 130}\n", "patient.age_years", "case.out-of-range"),
        ("onset: {skin_disease_months: -1}\n", "onset.skin_disease_months", "case.out-of-range"),
        ("labs:\n  ck: {value: -5, upper_limit: 200}\n", "labs.ck.value", "case.out-of-range"),
        ("labs:\n  ck: {value: 5, upper_limit: 0}\n", "labs.ck.upper_limit", "case.out-of-range"),
        ("labs: {ana_titer: 150}\n", "labs.ana_titer", "case.invalid-value"),
        ("labs: {ana_titer: -80}\n", "labs.ana_titer", "case.invalid-value"),
        ("labs: {ana_titer: positive}\n", "labs.ana_titer", "case.invalid-value"),
        ("labs: {ana_titer: true}\n", "labs.ana_titer", "case.wrong-type"),
        ("patient: {age_years: thirty}\n", "patient.age_years", "case.wrong-type"),
        ("findings: [pruritus]\n", "findings", "case.wrong-type"),
        ("lesions: {site: scalp}\n", "lesions", "case.wrong-type"),
        ("muscle: {biopsy: no}\n", "muscle.biopsy", "case.invalid-value"),
        ("muscle: {biopsy: pending}\n", "muscle.biopsy", "case.invalid-value"),
        ("medications:\n  - {name: mtx, started: 2024-13}\n", "medications[0].started", "case.invalid-value"),
        (
            "medications:\n  - {name: mtx, started: 2024-05, stopped: 2024-02}\n",
            "medications[0].stopped",
            "case.inconsistent",
        ),
        ("medications:\n  - {name: mtx, response: worse}\n", "medications[0].response", "case.invalid-value"),
        ("medications:\n  - {response: none}\n", "medications[0].name", "case.missing-key"),
        ("lesions:\n  - {site: scalp}\n", "lesions[0].morphology", "case.missing-key"),
    ],
)
def test_impossible_or_mistyped_values(text: str, path: str, code: str) -> None:
    i = one_issue(HEAD + text)
    assert (i.path, i.code) == (path, code)


def test_onset_after_the_visit_is_inconsistent() -> None:
    i = one_issue(HEAD + "patient: {age_years: 30}\nonset: {age_years: 35}\n")
    assert (i.code, i.path, i.line) == ("case.inconsistent", "onset.age_years", 4)
    assert "after the visit" in i.message


def test_skin_disease_longer_than_time_since_onset_is_inconsistent() -> None:
    # Whole years: age 30 is at most 30.99…, onset 29 at least 29.0, so at most 24 months have
    # passed; 25 whole months is at least 24.5. (24 months is possible, see below.)
    i = one_issue(HEAD + "patient: {age_years: 30}\nonset: {age_years: 29, skin_disease_months: 25}\n")
    assert (i.code, i.path) == ("case.inconsistent", "onset.skin_disease_months")
    assert "whole years" in (i.expected or "")


def test_durations_within_age_rounding_are_accepted() -> None:
    # classic-dm-tif1g: 58 - 57.6 years = 4.8 months, recorded as 5 months of skin disease
    case = parse_case(HEAD + "patient: {age_years: 58}\nonset: {age_years: 57.6, skin_disease_months: 5}\n")
    assert case.onset.skin_disease_months == 5


@pytest.mark.parametrize(
    ("age", "onset", "months", "ok"),
    [
        # Issue 9, item 1: "onset 71 and age 71 with 4 months of skin disease is consistent": an
        # age in whole (completed) years N is N.0 to N.99…, so up to 12 months may have passed.
        ("71", "71", "4", True),
        ("71", "71", "12", True),
        ("71", "71", "13", False),  # 13 whole months is at least 12.5: more than a year
        ("30", "29", "24", True),  # age up to 30.99, onset from 29.0: just under 24 months
        # ages to 0.1 year (rounded): 0.05 + 0.05 year = 1.2 months of slack, plus half a month
        ("71.1", "71.1", "1", True),
        ("71.1", "71.1", "4", False),
        ("58.3", "58.2", "2", True),
        ("58.3", "58.2", "3", False),
        # mixed: age 71 (to 71.99) and onset 70.5 (from 70.45) allow 18.6 months
        ("71", "70.5", "18", True),
        ("71", "70.5", "20", False),
        # age 71.5 (to 71.55) and onset 71 (from 71.0) allow 6.6 months, not 18
        ("71.5", "71", "6", True),
        ("71.5", "71", "18", False),
    ],
)
def test_duration_tolerance_follows_the_written_precision(
    age: str, onset: str, months: str, ok: bool
) -> None:
    text = (
        HEAD
        + f"patient: {{age_years: {age}}}\nonset: {{age_years: {onset}, skin_disease_months: {months}}}\n"
    )
    if ok:
        assert parse_case(text).onset.skin_disease_months == float(months)
    else:
        i = one_issue(text)
        assert (i.code, i.path) == ("case.inconsistent", "onset.skin_disease_months")


def test_onset_after_the_visit_allows_for_whole_year_ages() -> None:
    # An age of 71 (whole years) may be 71.9 at the visit: an onset at 71.5 is possible ...
    assert parse_case(HEAD + "patient: {age_years: 71}\nonset: {age_years: 71.5}\n").onset.age_years == 71.5
    # ... but not 72 (onset from 72.0, age below 72.0), nor 30.3 after 30.2 written to 0.1 year,
    # nor an onset of 71 (completed years, from 71.0) when the age is 70.5 (at most 70.55).
    for age, onset in (("71", "72"), ("30.2", "30.3"), ("70.5", "71")):
        i = one_issue(HEAD + f"patient: {{age_years: {age}}}\nonset: {{age_years: {onset}}}\n")
        assert (i.code, i.path) == ("case.inconsistent", "onset.age_years")


def test_durations_longer_than_the_patients_life_stay_errors() -> None:
    # Age 2 in whole years is under 3 years: 36 months at most, 40 months never.
    i = one_issue(HEAD + "patient: {age_years: 2}\nonset: {skin_disease_months: 40}\n")
    assert (i.code, i.path) == ("case.inconsistent", "onset.skin_disease_months")
    assert "life" in i.message
    i = one_issue(HEAD + "patient: {age_years: 30}\nonset: {age_years: 29, skin_disease_months: 400}\n")
    assert i.path == "onset.skin_disease_months"


def test_the_same_precision_rule_for_json_and_form_values() -> None:
    """JSON numbers keep int/float apart; the web form sends text, read by its digits."""
    doc = {"format": "ifnscope-case/1", "id": "p"}
    whole = {**doc, "patient": {"age_years": 71}, "onset": {"age_years": 71, "skin_disease_months": 4}}
    assert validate_case(whole).onset.skin_disease_months == 4
    text = {**doc, "patient": {"age_years": "71"}, "onset": {"age_years": "71", "skin_disease_months": "4"}}
    assert validate_case(text).onset.skin_disease_months == 4
    tenths = {**doc, "patient": {"age_years": 71.1}, "onset": {"age_years": 71.1, "skin_disease_months": 4}}
    with pytest.raises(CaseValidationError):
        validate_case(tenths)
    for written in ("71.1", "71.10"):  # more digits are a narrower reading, never a wider one
        tenths["patient"] = {"age_years": written}
        with pytest.raises(CaseValidationError):
            validate_case(tenths)


def test_a_whole_year_case_reads_back_from_storage() -> None:
    """The registry stores model_dump JSON (71 becomes 71.0) and validates it again on
    re-assessment: a whole number is whole years however it is written, so the stored case is
    read exactly as the file was."""
    for ages in (
        "patient: {age_years: 71}\nonset: {age_years: 70.5, skin_disease_months: 18}\n",
        "patient: {age_years: 71.5}\nonset: {age_years: 71.0, skin_disease_months: 6}\n",
    ):
        case = parse_case(HEAD + ages)
        stored = json.loads(json.dumps(case.model_dump(mode="json", exclude_none=True)))
        assert validate_case(stored) == case


# ------------------------------------------------------------------ YAML 1.1 numbers


@pytest.mark.parametrize(
    ("written", "titre"),
    [("1:40", 40), ("1:20", 20), ("1:10", 10), ("1:80", 80), ("1:160", 160), ("'1:40'", 40), ("160", 160)],
)
def test_an_unquoted_ratio_titre_means_the_ratio(written: str, titre: int) -> None:
    """YAML 1.1 (PyYAML) reads an unquoted 1:40 as the base-60 number 100 and 1:20 as 80, which
    meet the 2019 entry criterion (ANA >= 1:80, Aringer 2019 definitions table). The reader keeps
    such scalars as written, so the titre is the ratio's denominator."""
    assert parse_case(HEAD + f"labs: {{ana_titer: {written}}}\n").labs.ana_titer == titre


def test_base_60_values_in_number_fields_are_errors_not_numbers() -> None:
    for text, path in (
        ("patient: {age_years: 1:20}\n", "patient.age_years"),
        ("onset: {skin_disease_months: 12:30}\n", "onset.skin_disease_months"),
        ("labs:\n  ck: {value: 1:30, upper_limit: 200}\n", "labs.ck.value"),
        ("medications:\n  - {name: mtx, months_before_onset: 1:20}\n", "medications[0].months_before_onset"),
    ):
        i = one_issue(HEAD + text)
        assert (i.code, i.path) == ("case.wrong-type", path), text
        assert "base-60" in i.message
    # a text field keeps what was written ("1:20", not "80")
    case = parse_case(HEAD + "medications:\n  - {name: mtx, dose: 1:20, note: 12:30}\n")
    assert (case.medications[0].dose, case.medications[0].note) == ("1:20", "12:30")


def test_other_yaml_1_1_numbers_are_read_as_yaml_1_2() -> None:
    """Leading zeros are decimal (YAML 1.1 read 010 as octal 8); hexadecimal and binary are not
    numbers in a case file."""
    assert parse_case(HEAD + "patient: {age_years: 010}\n").patient.age_years == 10
    assert parse_case(HEAD + "labs: {ana_titer: 0160}\n").labs.ana_titer == 160
    i = one_issue(HEAD + "labs:\n  ck: {value: 0x1F, upper_limit: 200}\n")
    assert (i.code, i.path) == ("case.wrong-type", "labs.ck.value")
    assert parse_case(HEAD + "patient: {age_years: 57.6}\n").patient.age_years == 57.6


def test_the_cli_reads_an_unquoted_titre_as_the_ratio(tmp_path: Path) -> None:
    """load_case is what the CLI (assess, report, letter) reads files with."""
    f = tmp_path / "c.yaml"
    f.write_text(
        HEAD + "findings: {acute_cutaneous_lupus: present, synovitis_2_or_more_joints: present}\n"
        "labs: {ana_titer: 1:40}\n",
        encoding="utf-8",
    )
    case = load_case(f)
    assert case.labs.ana_titer == 40
    assert assess(case).criteria["eular_acr_sle_2019"].entry_status == "absent"


def test_missing_required_keys() -> None:
    issues = issues_of("title: no id or format\n")
    assert {(i.code, i.path) for i in issues} == {("case.missing-key", "format"), ("case.missing-key", "id")}


def test_all_problems_reported_at_once_sorted_by_line() -> None:
    issues = issues_of(HEAD + "patient: {sex: femal}\nfindings:\n  pruritis: present\n  fever: maybe\n")
    assert [i.path for i in issues] == ["patient.sex", "findings.pruritis", "findings.fever"]
    assert [i.line for i in issues] == [3, 5, 6]


def test_unsupported_format_version() -> None:
    with pytest.raises(CaseValidationError) as ei:
        parse_case("format: ifnscope-case/2\nid: t\n")
    assert ei.value.issues[0].expected == "ifnscope-case/1"


def test_duplicate_keys_are_an_error_not_last_one_wins() -> None:
    with pytest.raises(CaseParseError) as ei:
        parse_case(HEAD + "findings:\n  pruritus: present\n  pruritus: absent\n", file="dup.yaml")
    assert ei.value.code == "case.duplicate-key"
    assert ei.value.file == "dup.yaml"
    assert "line 5" in ei.value.message
    assert "line 4" in ei.value.message


def test_yaml_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(CaseParseError) as ei:
        parse_case(HEAD + "findings: {pruritus: present\n")
    assert ei.value.code == "case.parse"
    assert "line 4" in ei.value.message


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n", "42\n"])
def test_document_must_be_a_map(text: str) -> None:
    with pytest.raises(CaseParseError):
        parse_case(text)


def test_json_cases_and_json_errors() -> None:
    doc = {"format": "ifnscope-case/1", "id": "j", "findings": {"pruritus": "present"}}
    assert parse_case(json.dumps(doc), kind="json").findings.pruritus == "present"
    with pytest.raises(CaseParseError) as ei:
        parse_case('{"format": "ifnscope-case/1", "id": "j", "id": "k"}', kind="json")
    assert ei.value.code == "case.duplicate-key"
    with pytest.raises(CaseParseError) as ei:
        parse_case('{"format": ', kind="json")
    assert "line 1" in ei.value.message


def test_titre_written_as_ratio_is_normalised() -> None:
    assert parse_case(HEAD + 'labs: {ana_titer: "1:160"}\n').labs.ana_titer == 160


def test_a_titre_written_positive_points_to_the_titre_less_form() -> None:
    i = one_issue(HEAD + "labs: {ana_titer: positive}\n")
    assert i.code == "case.invalid-value"
    assert "labs.antibodies.ana: positive" in i.message


@pytest.mark.parametrize(
    ("titre", "ok"),
    [
        (0, True),
        (40, True),
        (80, True),
        (160, True),
        (1280, True),
        (100, True),
        (200, True),
        (10, True),
        (20, True),
        (50, True),
        (150, False),
        (90, False),
        (-80, False),
        (7, False),
    ],
)
def test_dilution_series(titre: int, ok: bool) -> None:
    assert is_dilution(titre) is ok


def test_load_case_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CaseNotFoundError):
        load_case(tmp_path / "nope.yaml")
    with pytest.raises(CaseNotFoundError):
        load_case(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CaseParseError):
        load_case(binary)


def test_every_case_error_is_an_ifnscope_error_with_a_code() -> None:
    for exc in (CaseNotFoundError("x"), CaseParseError("x"), CaseValidationError("x")):
        assert isinstance(exc, CaseError)
        assert isinstance(exc, IfnscopeError)
        assert exc.code.startswith("case.")
        assert exc.exit_code == 2


def test_validate_case_accepts_a_parsed_document() -> None:
    case = validate_case({"format": "ifnscope-case/1", "id": "api", "findings": {"fever": "absent"}})
    assert case.findings.fever == "absent"


def test_error_dict_is_structured() -> None:
    with pytest.raises(CaseValidationError) as ei:
        parse_case(HEAD + "findings:\n  pruritis: present\n", file="f.yaml")
    d = ei.value.to_dict()
    assert d["code"] == "case.invalid"
    assert d["file"] == "f.yaml"
    assert d["issues"][0] == {
        "code": "case.unknown-key",
        "path": "findings.pruritis",
        "message": "unknown key 'pruritis' in findings",
        "expected": d["issues"][0]["expected"],
        "did_you_mean": "pruritus",
        "line": 4,
    }


def test_a_stored_case_reads_back_unchanged() -> None:
    """The registry stores cases as JSON; every example must validate again to the same case."""
    root = Path(__file__).resolve().parents[2]
    paths = sorted((root / "examples").glob("*.yaml")) + shared_cases()
    assert paths
    for p in paths:
        case = load_case(p)
        stored = case.model_dump(mode="json", exclude_none=True)
        assert validate_case(stored) == case, p.name
    biopsy = validate_case(
        {"format": "ifnscope-case/1", "id": "b", "muscle": {"biopsy": {"rimmed_vacuoles": "present"}}}
    )
    assert biopsy.model_dump(mode="json", exclude_none=True)["muscle"] == {
        "biopsy": {"rimmed_vacuoles": "present"}
    }


def test_an_item_score_the_form_does_not_offer_is_refused_when_the_case_is_read() -> None:
    """CLASI scalp scarring takes 0, 3, 4, 5 or 6 only (issue 9; data/activity/clasi.yaml): the
    reader refuses 2 with the file's line, before any engine runs."""
    from ifnscope.case.reader import parse_case
    from ifnscope.errors import CaseValidationError

    text = (
        "format: ifnscope-case/1\nid: s\npatient: {age_years: 40}\n"
        "activity:\n  clasi:\n    scalp_scarring: 2\n"
    )
    with pytest.raises(CaseValidationError) as err:
        parse_case(text, file="s.yaml")
    (issue,) = err.value.issues
    assert (issue.code, issue.path, issue.line) == ("case.invalid-value", "activity.clasi.scalp_scarring", 6)
    assert "0, 3, 4, 5 or 6" in (issue.expected or "")
