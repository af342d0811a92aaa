"""FHIR import at the edges (issue 13): the cases an independent review found, each read
right or refused clearly, never half-read and never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ifnscope import fhir
from ifnscope.case.facts import build_facts
from ifnscope.errors import FhirError
from tests.fhir.test_import import HL7, LOINC, SCT, needs_examples

PATIENT = {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}}
SUBJECT = {"reference": "urn:uuid:p1"}
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def bundle(*resources: dict[str, Any], patient: bool = True) -> dict[str, Any]:
    entries = [PATIENT] if patient else []
    entries += [{"resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def obs(oid: str, code: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": SUBJECT,
        **value,
    }


def _what(imported: fhir.FhirImport, ref: str) -> str:
    return next(line.what for line in imported.lines if line.resource == ref)


def read(*resources: dict[str, Any], patient: bool = True) -> fhir.FhirImport:
    return fhir.import_resources(bundle(*resources, patient=patient))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("None detected", "negative"),
        ("No antibodies detected", "negative"),
        ("Not present", "negative"),
        ("Non reactive", "negative"),
        ("Not reactive", "negative"),
        ("Not positive", "negative"),
        ("Negative", "negative"),
        ("Detected", "positive"),
        ("POSITIVE (strong)", "positive"),
        ("Reactive", "positive"),
        ("Borderline", "equivocal"),
    ],
)
def test_an_antibody_result_in_words(text: str, said: str) -> None:
    imported = read(obs("o1", "31627-3", valueString=text))  # anti-Sm
    assert imported.case["labs"]["antibodies"] == {"sm": said}


def test_a_resource_type_r4b_does_not_know_is_skipped_not_a_crash() -> None:
    imported = read({"resourceType": "MedicinalProduct", "id": "x"}, {"resourceType": "Foo", "id": "y"})
    whys = [line.what for line in imported.lines if line.status == "skipped"]
    assert len(whys) == 2
    assert all(w.startswith("unknown resource type") for w in whys)


def test_resources_about_two_patients_without_a_patient_resource_are_refused() -> None:
    a = obs("o1", "2157-6", valueQuantity={"value": 300}, subject={"reference": "Patient/a"})
    b = obs("o2", "2157-6", valueQuantity={"value": 90}, subject={"reference": "Patient/b"})
    with pytest.raises(FhirError) as err:
        read(a, b, patient=False)
    assert err.value.code == "fhir.patient"
    one = read(a, patient=False)  # one patient's results, without the Patient: read
    assert one.case["labs"]["ck"]["value"] == 300


def test_an_ana_titre_and_an_ana_call_from_different_occasions_never_contradict() -> None:
    negative_titre = obs("o1", "5048-4", valueString="negative", effectiveDateTime="2022-01-01")
    positive_call = obs("o2", "8061-4", valueString="Positive", effectiveDateTime="2018-01-01")
    case = fhir.to_case(read(negative_titre, positive_call))
    assert (case.labs.ana_titer, case.labs.antibodies.ana) == (None, "positive")
    high = obs("o3", "5048-4", valueRatio={"numerator": {"value": 1}, "denominator": {"value": 320}})
    negative_call = obs("o4", "8061-4", valueString="Negative")
    case2 = fhir.to_case(read(high, negative_call))
    assert (case2.labs.ana_titer, case2.labs.antibodies.ana) == (320, "positive")


@pytest.mark.parametrize(
    "value",
    [
        {"valueString": "<1:40"},
        {"valueQuantity": {"value": 40, "comparator": "<"}},
        {"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 40, "comparator": "<"}}},
    ],
)
def test_an_ana_below_the_first_dilution_is_negative(value: dict[str, Any]) -> None:
    imported = read(obs("o1", "5048-4", **value))
    assert imported.case["labs"]["ana_titer"] == 0
    assert "below the first dilution" in _what(imported, "Observation/o1")


def _med(mid: str, kind: str = "MedicationRequest", **more: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"resourceType": kind, "id": mid, "subject": SUBJECT}
    base["medicationCodeableConcept"] = {"text": "Methotrexate 2.5 MG Oral Tablet"}
    if kind == "MedicationRequest":
        base["intent"] = "order"
    return {**base, **more}


def test_medication_requests_say_what_was_ordered() -> None:
    never = read(_med("m1", status="active", doNotPerform=True))
    assert "medications" not in never.case
    assert "doNotPerform" in _what(never, "MedicationRequest/m1")
    plan = read(_med("m2", status="active", intent="plan"))
    assert plan.case["medications"][0]["status"] == "planned"
    backwards = _med("m3", "MedicationStatement", status="completed")
    backwards["effectivePeriod"] = {"start": "2021-05-01", "end": "2021-04-01"}
    med = fhir.to_case(read(backwards)).medications[0]
    assert (med.started, med.stopped) == ("2021-05-01", None)  # an end before the start is dropped


def test_a_low_complement_flag_beside_a_normal_value_is_kept() -> None:
    low_flag = obs(
        "o1", "4485-9", valueString="low", interpretation=[{"coding": [{"system": V3, "code": "L"}]}]
    )
    normal = obs(
        "o2",
        "4485-9",
        valueQuantity={"value": 1.1, "unit": "g/L"},
        referenceRange=[{"low": {"value": 0.9, "unit": "g/L"}}],
    )
    case = fhir.to_case(read(low_flag, normal))
    assert case.labs.c3_low == "present"
    assert build_facts(case)["c3_low"].value == "present"


def test_a_patient_dead_without_a_date_has_no_age() -> None:
    dead = {**PATIENT["resource"], "birthDate": "1950-02-01", "deceasedBoolean": True}
    imported = fhir.import_resources(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": dead}]}
    )
    assert "age_years" not in imported.case.get("patient", {})
    assert "age left unknown" in imported.lines[0].what


def test_small_readings() -> None:
    drawn = obs(
        "o1",
        "2157-6",
        valueQuantity={"value": 90},
        effectiveDateTime="2020-01-02",
        issued="2022-03-01T10:00:00Z",
    )
    assert read(drawn).case["labs"]["ck"]["date"] == "2020-01-02"  # when drawn, not reported
    merkel = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": SUBJECT,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C4A.9"}]},
    }
    assert len(read(merkel).case["cancer_history"]) == 1
    ver = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
    dle = {
        "resourceType": "Condition",
        "subject": SUBJECT,
        "code": {"coding": [{"system": SCT, "code": "200938002"}]},
    }
    maybe = {**dle, "id": "c3", "verificationStatus": {"coding": [{"system": ver, "code": "provisional"}]}}
    assert read({**dle, "id": "c2"}, maybe).case["findings"] == {"discoid_lupus": "present"}


def test_a_bundle_with_a_broken_entry_list() -> None:
    with pytest.raises(FhirError) as err:
        fhir.import_resources({"resourceType": "Bundle", "type": "collection", "entry": 5})
    assert err.value.code == "fhir.invalid"
    imported = fhir.import_resources(
        {"resourceType": "Bundle", "type": "collection", "entry": [PATIENT, "x", [1]]}
    )
    assert [line.what for line in imported.lines if line.status == "skipped"] == [
        "not an entry",
        "not an entry",
    ]


def test_a_bundle_saved_with_its_keys_sorted_is_still_fhir(tmp_path: Path) -> None:
    f = tmp_path / "sorted.json"
    doc = bundle(obs("o1", "2157-6", valueQuantity={"value": 90}))
    doc["entry"] = doc["entry"] * 40  # more than a few KB before "resourceType"
    f.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
    assert fhir.looks_like_fhir(f)


@needs_examples
def test_references_name_their_own_server() -> None:
    """HL7's references example: Patient 23 of example.org/fhir; the entry from fhir-2 that
    says Patient/23 means fhir-2's patient; a versioned reference is the same patient; two
    copies of Patient/45 are one patient."""
    imported = fhir.read_record(HL7 / "Bundle-bundle-references.json", patient="23")
    skipped = {line.what for line in imported.lines if line.status == "skipped"}
    assert "about another patient (http://example.org/fhir-2/Patient/23)" in skipped
    assert "about another patient (http://example.org/fhir-2/Patient/1)" in skipped
    about_23 = fhir.read_record(HL7 / "Bundle-bundle-references.json", patient="45")
    lines = {line.resource: line for line in about_23.lines}
    assert "another patient" not in lines["Observation/47"].what


def _fmh(fid: str, relationship: dict[str, Any], *codes: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "FamilyMemberHistory",
        "id": fid,
        "status": "completed",
        "patient": SUBJECT,
        "relationship": relationship,
        "condition": [{"code": {"coding": [{"system": s, "code": c}]}} for s, c in codes],
    }


def test_a_relatives_conditions_are_family_history_never_the_patients_own() -> None:
    """FamilyMemberHistory (v3-RoleCode MTH, SNOMED SLE 55464009): the mother's lupus is family
    history, and gives history.autoimmune_family_history; nothing is the patient's own."""
    role = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
    mother = _fmh("f1", {"coding": [{"system": role, "code": "NMTH"}]}, (SCT, "55464009"))
    step = _fmh("f5", {"coding": [{"system": role, "code": "STPMTH"}], "text": "Mother"}, (SCT, "55464009"))
    half_sister = _fmh("f2", {"text": "Half-sister"}, (SCT, "239891002"))  # SCLE: cutaneous lupus
    grandma = _fmh("f3", {"text": "Maternal grandmother"}, ("http://hl7.org/fhir/sid/icd-10-cm", "C50.9"))
    asthma = _fmh("f4", {"coding": [{"system": role, "code": "FTH"}]}, (SCT, "195967001"))
    imported = read(mother, half_sister, grandma, asthma, step)
    assert imported.case["family_history"] == [
        {"relative": "mother", "condition": "sle"},
        {"relative": "half_sister", "condition": "cutaneous_lupus"},
        {"relative": "other_relative", "condition": "cancer"},
        {"relative": "other_relative", "condition": "sle"},  # a stepmother, whatever its words say
    ]
    assert "findings" not in imported.case
    assert "cancer_history" not in imported.case
    assert "no family condition is read for it" in _what(imported, "FamilyMemberHistory/f4")
    facts = build_facts(fhir.to_case(imported))
    assert facts["history_autoimmune_family_history"].value == "present"
    assert facts["history_cancer"].value == "unknown"  # a relative's cancer is not the patient's
