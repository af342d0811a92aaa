"""Case -> FHIR -> case (issue 13, item 4): every shared and example case, written as a FHIR
Bundle and read back, gives the same assessment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ifnscope import fhir
from ifnscope.assessment import assess
from ifnscope.case.reader import load_case
from ifnscope.fhir._collect import _invalid
from ifnscope.fhir._map import LOCAL_SYSTEM
from tests.helpers import ROOT, shared_cases

CASES = shared_cases() + sorted((ROOT / "examples").glob("*.yaml"))


def _round_trip(path: Path) -> tuple[Any, Any, dict[str, Any], fhir.FhirImport]:
    case = load_case(path)
    bundle = json.loads(json.dumps(fhir.case_to_bundle(case)))  # through JSON, as on the wire
    imported = fhir.import_resources(bundle)
    return case, fhir.to_case(imported), bundle, imported


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_case_through_fhir_gives_the_same_assessment(path: Path) -> None:
    case, back, bundle, imported = _round_trip(path)
    before, after = assess(case).to_json_dict(), assess(back).to_json_dict()
    for d in (before, after):  # the case id becomes fhir-<patient id>; the title is not exported
        d.pop("case_id")
        d.pop("title")
        d["therapy"].pop("case_id", None)
    assert after == before
    assert imported.counts() == {"mapped": len(imported.lines), "not_mapped": 0, "skipped": 0}
    for entry in bundle["entry"]:  # every resource written is valid FHIR R4 (R4B models)
        assert _invalid(entry["resource"]) is None


def test_standard_codes_are_used_where_they_are_verified() -> None:
    seed = ROOT / "examples" / "seed-cadm.yaml"
    _, _, bundle, imported = _round_trip(seed)
    by_field = {line.field: line for line in imported.lines}
    ck = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "2157-6"
    )
    assert ck["referenceRange"][0]["high"]["value"] > 0
    assert "(ifnscope code)" not in by_field["labs.ck"].what
    local = [
        e
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("system") == LOCAL_SYSTEM
    ]
    assert any(e["resource"]["code"]["coding"][0]["code"] == "lesions[0].site" for e in local)


def test_a_cle_form_is_a_condition_and_absent_is_refuted() -> None:
    from tests.helpers import make_case

    case = make_case({"subacute_cutaneous_lupus": "absent", "discoid_lupus": "uncertain"})
    bundle = fhir.case_to_bundle(case)
    conditions = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]
    status = {
        c["code"]["coding"][0]["code"]: c["verificationStatus"]["coding"][0]["code"] for c in conditions
    }
    assert status == {"239891002": "refuted", "200938002": "provisional"}
    back = fhir.to_case(fhir.import_resources(bundle))
    assert back.recorded_findings() == {"subacute_cutaneous_lupus": "absent", "discoid_lupus": "unknown"}


def test_medications_as_statements_when_fhir_can_say_all_of_it() -> None:
    from tests.helpers import make_case

    meds = [
        {"name": "hydroxychloroquine", "status": "taking", "route": "oral", "started": "2024-02"},
        {"name": "methotrexate", "status": "stopped", "response": "inadequate"},  # a response: local
    ]
    bundle = fhir.case_to_bundle(make_case(medications=meds))
    statements = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement"
    ]
    assert [s["medicationCodeableConcept"]["text"] for s in statements] == ["hydroxychloroquine"]
    back = fhir.to_case(fhir.import_resources(bundle))
    assert [(m.name, m.status, m.route, m.started) for m in back.medications] == [
        ("hydroxychloroquine", "taking", "oral", "2024-02"),
        ("methotrexate", "stopped", None, None),
    ]
    assert back.medications[1].response == "inadequate"


def test_a_local_code_cannot_set_the_case_id_or_its_expectations() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "x",
                    "status": "final",
                    "code": {"coding": [{"system": LOCAL_SYSTEM, "code": code}]},
                    "valueString": "evil",
                }
            }
            for code in ("id", "expected.criteria", "findings..x", "lesions[0]x")
        ],
    }
    imported = fhir.import_resources(bundle)
    assert imported.case["id"] == "fhir-record"
    assert "expected" not in imported.case
    assert [line.status for line in imported.lines] == ["not_mapped"] * 4
