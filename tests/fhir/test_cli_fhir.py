"""``ifnscope fhir import`` and ``ifnscope assess RECORD.json`` (issue 13, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import ifnscope
from tests.fhir.test_import import EXAMPLES, HL7, needs_examples


@needs_examples
def test_import_writes_a_case_that_assesses_as_the_record_does(tmp_path: Path) -> None:
    record = HL7 / "Bundle-ghp.json"
    out = tmp_path / "ghp.yaml"
    r = ifnscope("fhir", "import", str(record), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "Read from the FHIR record" in r.stderr
    assert "labs.alt" in r.stderr
    report = json.loads(ifnscope("fhir", "import", str(record), "--json").stdout)
    alt = next(line for line in report["report"] if line.get("field") == "labs.alt")
    assert alt["what"].startswith("Alanine aminotransferase")
    assert "upper limit 45" in alt["what"]
    case = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert case["format"] == "ifnscope-case/1"
    from_case = json.loads(ifnscope("assess", "--json", str(out)).stdout)
    direct = ifnscope("assess", "--json", str(record))
    assert direct.returncode == 0, direct.stderr
    from_record = json.loads(direct.stdout)
    assert from_record["criteria"] == from_case["criteria"]
    assert from_record["fhir_import"]["counts"]["mapped"] >= 6


@needs_examples
def test_a_bundle_without_its_type_exits_2_with_where_and_what(tmp_path: Path) -> None:
    r = ifnscope("fhir", "import", str(EXAMPLES / "spec" / "fhir-test-cases" / "bundle-with-no-type.json"))
    assert r.returncode == 2
    assert "bundle-with-no-type.json: Bundle.type:" in r.stderr
    assert "[fhir.invalid]" in r.stderr
    assert "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"resourceType": "Bundle", "type": "collection", "entry": [', "fhir.format"),
        ("[1, 2]\n", "fhir.format"),
    ],
)
def test_not_fhir_exits_2(tmp_path: Path, text: str, code: str) -> None:
    f = tmp_path / "r.ndjson"
    f.write_text(text, encoding="utf-8")
    r = ifnscope("fhir", "import", str(f), "--json")
    assert r.returncode == 2
    assert f"[{code}]" in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
