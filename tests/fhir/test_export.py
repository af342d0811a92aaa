"""An assessment as FHIR (issue 13, item 2): an Observation per criteria set derived from the
case's evidence, a DiagnosticReport with the report, a Device and a Provenance; all valid R4."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ifnscope import fhir
from ifnscope.assessment import assess
from ifnscope.case.reader import load_case
from ifnscope.fhir._export import CRITERIA_SYSTEM
from tests.cli.test_cli import ifnscope
from tests.helpers import ROOT

SEED = ROOT / "examples" / "seed-cadm.yaml"


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return json.loads(json.dumps(fhir.assessment_to_bundle(load_case(SEED))))


def _by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _refs(x: Any) -> list[str]:
    if isinstance(x, dict):
        out = [x["reference"]] if isinstance(x.get("reference"), str) else []
        return out + [r for v in x.values() for r in _refs(v)]
    if isinstance(x, list):
        return [r for v in x for r in _refs(v)]
    return []


def test_the_bundle_is_valid_fhir_r4_and_every_reference_resolves(bundle: dict[str, Any]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)  # the whole Bundle, every resource in it
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    assert all(u.startswith("urn:uuid:") for u in urls)
    assert set(_refs(bundle)) <= set(urls)


def test_each_criteria_set_is_an_observation_with_its_result(bundle: dict[str, Any]) -> None:
    case = load_case(SEED)
    a = assess(case)
    criteria = [
        o for o in _by_type(bundle, "Observation") if o["code"]["coding"][0]["system"] == CRITERIA_SYSTEM
    ]
    assert [o["code"]["coding"][0]["code"] for o in criteria] == list(a.criteria)
    iim = criteria[0]
    assert iim["code"]["coding"][0]["version"] == a.rules_version
    assert iim["valueCodeableConcept"]["coding"][0]["code"] == "met"
    assert iim["valueCodeableConcept"]["text"].startswith("probable IIM, score 6.5")
    comp = {
        c["code"]["text"]: c.get("valueQuantity", {}).get("value", c.get("valueString"))
        for c in iim["component"]
    }
    assert comp["score"] == pytest.approx(6.5)
    assert comp["probability"] == pytest.approx(76.3, abs=0.05)
    assert comp["subgroup"] == "amyopathic_dermatomyositis"
    sle = criteria[2]
    assert sle["valueCodeableConcept"]["coding"][0]["code"] == "not-met"
    assert "Decision support, not a diagnosis" in iim["note"][0]["text"]


def test_derived_from_points_at_the_evidence_counted(bundle: dict[str, Any]) -> None:
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    iim = next(o for o in _by_type(bundle, "Observation") if o["id"] == "criteria-eular-acr-iim-2017")
    evidence = [by_url[r["reference"]] for r in iim["derivedFrom"]]
    codes = {e["code"]["coding"][0]["code"] for e in evidence if e["resourceType"] == "Observation"}
    assert "onset.age_years" in codes  # the age item
    assert {
        "lesions[0].site",
        "lesions[1].site",
    } <= codes  # heliotrope and Gottron's papules, from the lesions
    sle = next(o for o in _by_type(bundle, "Observation") if o["id"] == "criteria-eular-acr-sle-2019")
    assert "derivedFrom" not in sle  # nothing counted


def test_the_report_and_its_provenance(bundle: dict[str, Any]) -> None:
    (report,) = _by_type(bundle, "DiagnosticReport")
    assert report["conclusion"].startswith(
        "Criteria met: probable IIM (EULAR/ACR 2017 IIM); amyopathic (Sontheimer CADM)"
    )
    html = base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
    assert "<html" in html.lower()
    assert len(report["result"]) == 5
    (prov,) = _by_type(bundle, "Provenance")
    (device,) = _by_type(bundle, "Device")
    assert device["version"][0]["value"].endswith(f"(rules {assess(load_case(SEED)).rules_version})")
    targets = {t["reference"] for t in prov["target"]}
    assert {r["reference"] for r in report["result"]} < targets
    assert prov["agent"][0]["who"]["reference"].startswith("urn:uuid:")


def test_the_exported_assessment_reads_back_as_the_same_case(bundle: dict[str, Any]) -> None:
    imported = fhir.import_resources(bundle)
    back = fhir.to_case(imported)
    before, after = assess(load_case(SEED)).to_json_dict(), assess(back).to_json_dict()
    assert after["criteria"] == before["criteria"]
    skipped = [line.what for line in imported.lines if line.status == "skipped"]
    assert len([w for w in skipped if "an ifnscope result, not a finding" in w]) == 5


def test_the_export_command(tmp_path: Path) -> None:
    out = tmp_path / "seed.json"
    r = ifnscope("fhir", "export", str(SEED), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["resourceType"] == "Bundle"
    bad = ifnscope("fhir", "export", str(SEED), "-o", str(tmp_path / "x.yaml"))
    assert bad.returncode == 2
    assert "[output.format]" in bad.stderr


@pytest.mark.parametrize(
    "path", [ROOT / "examples" / "seed-cadm.yaml", *sorted((ROOT.parent / "shared" / "cases").glob("*.yaml"))]
)
def test_derived_from_names_only_observations_and_ids_are_fhir_ids(path: Path) -> None:
    """R4: Observation.derivedFrom may name Observations, never Conditions (those are the
    Provenance's entities); a case id with '_' becomes a valid FHIR id."""
    import re

    b = fhir.assessment_to_bundle(load_case(path))
    kinds = {e["fullUrl"]: e["resource"]["resourceType"] for e in b["entry"]}
    for o in _by_type(b, "Observation"):
        assert {kinds[r["reference"]] for r in o.get("derivedFrom", [])} <= {"Observation"}
    for e in b["entry"]:
        assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", e["resource"]["id"]), e["resource"]["id"]
