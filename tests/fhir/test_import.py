"""FHIR R4 -> case (issue 13, item 1): third-party records nobody here wrote, the HL7 R4
examples' awkward resources, and a positive record built here."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ifnscope import fhir
from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.case.vocabulary import vocabulary
from ifnscope.cli.fhir import nothing_to_classify
from ifnscope.errors import FhirError
from ifnscope.fhir._map import import_codes
from tests.helpers import SHARED

EXAMPLES = SHARED / "data" / "fhir_examples"
SYNTHEA = sorted((EXAMPLES / "synthea").glob("*.json"))
HL7 = EXAMPLES / "spec" / "hl7.fhir.r4.examples"
needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"SKIPPED: {EXAMPLES} is missing")


def _line(imported: fhir.FhirImport, ref: str) -> Any:
    return next(line for line in imported.lines if line.resource == ref)


# ------------------------------------------------------------------ third-party patient bundles


@needs_examples
def test_the_examples_are_all_here() -> None:
    assert len(SYNTHEA) == 12


@needs_examples
@pytest.mark.parametrize("path", SYNTHEA, ids=lambda p: p.name.split("_")[0])
def test_a_generated_patient_imports_without_inventing_a_finding(path: Path) -> None:
    """None of the 12 holds lupus or DM: the case has no finding, lesion, antibody or diagnosis,
    and no criteria item counts ("nothing to classify")."""
    imported = fhir.read_record(path)
    case = fhir.to_case(imported)
    assert case.finding_records() == {}
    assert case.lesions == []
    assert case.labs.antibodies.model_dump(exclude_none=True) == {}
    assert case.impression is None
    assert nothing_to_classify(imported)
    assert imported.counts()["mapped"] >= 2  # at least the patient's sex and age
    # every resource the mapping reads is accounted for, one line each
    readable = {
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "Procedure",
        "DiagnosticReport",
    }
    assert not readable & set(imported.not_read)


@needs_examples
def test_rheumatoid_arthritis_on_methotrexate_is_recorded_but_is_not_lupus() -> None:
    path = next(p for p in SYNTHEA if p.name.startswith("Willy_Koepp"))
    imported = fhir.read_record(path)
    case = fhir.to_case(imported)
    assert any("methotrexate" in m.name.lower() for m in case.medications)
    mtx = next(m for m in case.medications if "methotrexate" in m.name.lower())
    assert (mtx.route, mtx.status) == ("oral", "stopped")
    ra = [line for line in imported.lines if "rheumatoid arthritis" in line.what.lower()]
    assert ra
    assert all(line.status == "not_mapped" for line in ra)
    a = assess(case)
    assert not any(r.met for r in a.criteria.values() if hasattr(r, "met"))


@needs_examples
def test_a_repeated_prescription_is_one_medication_with_its_first_start() -> None:
    path = next(p for p in SYNTHEA if p.name.startswith("Asa_Hermiston"))
    case = fhir.to_case(fhir.read_record(path))
    names = [m.name for m in case.medications]
    assert len(names) == len(set(names))


@needs_examples
def test_a_deceased_patient_is_aged_at_death_and_a_child_is_a_child() -> None:
    laticia = fhir.read_record(next(p for p in SYNTHEA if p.name.startswith("Laticia")))
    age = laticia.case["patient"]["age_years"]
    assert any("at death" in line.what for line in laticia.lines)
    assert 0 < age < 120
    alexis = fhir.read_record(next(p for p in SYNTHEA if p.name.startswith("Alexis")))
    assert alexis.case["patient"]["age_years"] < 18


# ------------------------------------------------------------------ the HL7 R4 examples


@needs_examples
def test_awkward_conditions_are_reported_never_counted() -> None:
    text_only = fhir.read_record(HL7 / "Condition-example2.json")
    assert "coded only as text" in _line(text_only, "Condition/example2").what
    family = fhir.read_record(HL7 / "Condition-family-history.json")
    line = _line(family, "Condition/family-history")
    assert (line.status, "never the patient's own" in line.what) == ("not_mapped", True)
    case = fhir.to_case(family)
    assert case.cancer_history == []
    assert case.history.cancer is None


@needs_examples
def test_a_cancelled_result_and_a_herd_are_skipped() -> None:
    unsat = fhir.read_record(HL7 / "Observation-unsat.json")
    assert _line(unsat, "Observation/unsat").what.endswith("status cancelled, no result")
    herd = fhir.read_record(HL7 / "Observation-herd1.json")
    line = _line(herd, "Observation/herd1")
    assert (line.status, line.what) == ("skipped", "about Group/herd1, not a patient")


@needs_examples
@pytest.mark.parametrize(
    ("file", "ref", "name"),
    [
        (
            "MedicationRequest-medrx0301.json",
            "MedicationRequest/medrx0301",
            "Oral Form Oxycodone (product)",
        ),  # contained
        (
            "MedicationRequest-medrx0308.json",
            "MedicationRequest/medrx0308",
            "Vicodin 5/500 Oral Tablet",
        ),  # RxNorm code
        (
            "MedicationStatement-example004.json",
            "MedicationStatement/example004",
            "Amoxicillin (product)",
        ),  # SNOMED
        (
            "MedicationRequest-medrx0325.json",
            "MedicationRequest/medrx0325",
            "Nystatin 100UNT/MG Topical Ointment",
        ),
    ],
)
def test_medications_coded_three_ways(file: str, ref: str, name: str) -> None:
    imported = fhir.read_record(HL7 / file)
    (med,) = imported.case["medications"]
    assert med["name"] == name
    assert _line(imported, ref).field == "medications"
    if "Topical" in name:
        assert med["route"] == "topical"


@needs_examples
def test_the_general_health_panel_reads_the_liver_enzymes_against_their_limits() -> None:
    imported = fhir.read_record(HL7 / "Bundle-ghp.json")
    labs = imported.case["labs"]
    assert labs["alt"] == {"value": 54.0, "unit": "U/L", "upper_limit": 45.0}
    facts = build_facts(fhir.to_case(imported))
    assert facts["alt_above_uln"].value == "present"
    assert facts["ast_above_uln"].value == "absent"
    assert facts["ck_above_uln"].value == "unknown"  # the record does not say: stays unknown


@needs_examples
def test_records_that_cannot_be_one_patient_are_refused_clearly() -> None:
    with pytest.raises(FhirError) as animal:
        fhir.read_record(HL7 / "Patient-animal.json")
    assert animal.value.code == "fhir.patient"
    with pytest.raises(FhirError) as no_type:
        fhir.read_record(EXAMPLES / "spec" / "fhir-test-cases" / "bundle-with-no-type.json")
    assert (no_type.value.code, no_type.value.loc) == ("fhir.invalid", ("Bundle", "type"))
    with pytest.raises(FhirError) as several:
        fhir.read_record(HL7 / "Bundle-bundle-transaction.json")
    assert several.value.code == "fhir.patient"
    assert "--patient" in several.value.message
    chosen = fhir.read_record(HL7 / "Bundle-bundle-transaction.json", patient="123")
    assert chosen.case["id"] == "fhir-123"


@needs_examples
def test_a_resource_that_is_not_valid_fhir_is_skipped_with_the_reason() -> None:
    imported = fhir.read_record(EXAMPLES / "spec" / "fhir-test-cases" / "r4-caredove-bundle.json")
    skipped = [line for line in imported.lines if line.status == "skipped"]
    assert skipped
    assert all(line.what.startswith("not valid FHIR R4: id:") for line in skipped)


def test_a_file_that_is_not_fhir(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"resourceType": "Patient", "gender": "female"', encoding="utf-8")
    with pytest.raises(FhirError) as err:
        fhir.read_record(bad)
    assert err.value.code == "fhir.format"
    assert "line 1" in err.value.message
    with pytest.raises(FhirError) as err2:
        fhir.import_resources([1, 2])
    assert err2.value.code == "fhir.format"


# ------------------------------------------------------------------ a record with DM in it

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"


def _obs(oid: str, code: str, **value: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{oid}",
        "resource": {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}], "text": code},
            "subject": {"reference": "urn:uuid:p1"},
            **value,
        },
    }


def _ck(oid: str, value: float, when: str) -> dict[str, Any]:
    q = {"value": value, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"}
    high = {"value": 200, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"}
    return _obs(oid, "2157-6", valueQuantity=q, referenceRange=[{"high": high}], effectiveDateTime=when)


def _condition(cid: str, system: str, code: str, **more: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{cid}",
        "resource": {
            "resourceType": "Condition",
            "id": cid,
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": "urn:uuid:p1"},
            **more,
        },
    }


DM_BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "fullUrl": "urn:uuid:p1",
            "resource": {
                "resourceType": "Patient",
                "id": "p1",
                "gender": "female",
                "birthDate": "1980-05-02",
            },
        },
        _ck("o1", 5400, "2026-01-10"),
        _ck("o2", 1900, "2026-03-02"),
        _obs("o3", "5048-4", valueRatio={"numerator": {"value": 1}, "denominator": {"value": 640}}),
        _obs("o4", "82448-2", valueCodeableConcept={"text": "Positive"}),
        _obs("o5", "8076-2", valueString="Negative"),
        _obs(
            "o6",
            "82424-3",
            valueString="see comment",
            interpretation=[
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                            "code": "IND",
                        }
                    ]
                }
            ],
        ),
        _condition("c1", SCT, "396230008", onsetDateTime="2025-06"),
        _condition(
            "c2",
            "http://hl7.org/fhir/sid/icd-10-cm",
            "C50.911",
            clinicalStatus={
                "coding": [
                    {"code": "active", "system": "http://terminology.hl7.org/CodeSystem/condition-clinical"}
                ]
            },
        ),
        _condition(
            "c3",
            SCT,
            "239891002",
            verificationStatus={
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "provisional",
                    }
                ]
            },
        ),
        {
            "resource": {
                "resourceType": "MedicationStatement",
                "id": "m1",
                "status": "active",
                "medicationCodeableConcept": {"text": "Hydroxychloroquine 200 MG Oral Tablet"},
                "subject": {"reference": "urn:uuid:p1"},
                "effectivePeriod": {"start": "2025-07-01"},
            }
        },
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "m2",
                "status": "draft",
                "intent": "plan",
                "medicationCodeableConcept": {"text": "immune globulin intravenous"},
                "subject": {"reference": "urn:uuid:p1"},
            }
        },
    ],
}


def test_a_record_with_dermatomyositis_in_it() -> None:
    imported = fhir.import_resources(copy.deepcopy(DM_BUNDLE))
    doc = imported.case
    assert doc["patient"]["sex"] == "female"
    assert [r["value"] for r in doc["labs"]["ck"]] == [5400, 1900]  # a series, in date order
    assert doc["labs"]["ana_titer"] == 640
    assert doc["labs"]["antibodies"] == {"tif1g": "positive", "jo1": "negative", "mda5": "equivocal"}
    assert doc["findings"] == {"subacute_cutaneous_lupus": "uncertain"}  # provisional on the list
    assert doc["cancer_history"] == [{"type": "icd10cm C50.911", "active": True}]
    assert doc["impression"]["differential"] == ["Dermatomyositis (problem list, since 2025-06)"]
    meds = {m["name"]: m for m in doc["medications"]}
    assert meds["Hydroxychloroquine 200 MG Oral Tablet"] == {
        "name": "Hydroxychloroquine 200 MG Oral Tablet",
        "status": "taking",
        "route": "oral",
        "started": "2025-07-01",
    }
    assert meds["immune globulin intravenous"]["status"] == "planned"
    case = fhir.to_case(imported)
    facts = build_facts(case)
    assert facts["ck_above_uln"].value == "present"
    assert facts["antibody_mda5"].value == "unknown"  # equivocal counts neither way
    assert case.history.cancer is None
    assert facts["history_cancer"].value == "present"
    a = assess(case)
    iim = a.criteria["eular_acr_iim_2017"]
    assert any(i.counted and "ck_above_uln" in i.facts for i in iim.items)
    assert facts["ana_at_least_1_80"].value == "present"  # the 2019 entry criterion


def test_a_result_for_another_patient_is_not_this_patients() -> None:
    bundle = copy.deepcopy(DM_BUNDLE)
    bundle["entry"][1]["resource"]["subject"] = {"reference": "Patient/someone-else"}
    imported = fhir.import_resources(bundle)
    assert [r["value"] for r in [imported.case["labs"]["ck"]]] == [1900]
    assert _line(imported, "Observation/o1").what == "about another patient (Patient/someone-else)"


def test_the_mapping_table_names_only_known_case_fields() -> None:
    voc, c = vocabulary(), import_codes()
    assert set(c.enzymes) == set(voc.labs_numeric)
    assert set(c.antibodies) <= set(voc.antibodies)
    assert set(c.condition_findings) <= set(voc.findings)
    codes = [
        code
        for table in (c.enzymes, c.counts, c.complement, c.antibodies)
        for v in table.values()
        for code in v.loinc
    ]
    codes += c.ana.titre.loinc + c.ana.presence.loinc
    assert len(codes) == len(set(codes))  # one analyte per code
