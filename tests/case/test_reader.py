"""The case reader: valid files load; every kind of bad input is a structured error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    i = one_issue(HEAD + "patient: {age_years: 30}\nonset: {age_years: 29, skin_disease_months: 24}\n")
    assert (i.code, i.path) == ("case.inconsistent", "onset.skin_disease_months")


def test_durations_within_age_rounding_are_accepted() -> None:
    # classic-dm-tif1g: 58 - 57.6 years = 4.8 months, recorded as 5 months of skin disease
    case = parse_case(HEAD + "patient: {age_years: 58}\nonset: {age_years: 57.6, skin_disease_months: 5}\n")
    assert case.onset.skin_disease_months == 5


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
