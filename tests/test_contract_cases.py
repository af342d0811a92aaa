"""The shared example cases are the contract: each must load unchanged and give its expected,
every key of it: criteria, derived findings, the differential's verdict, flags and triggers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ifnscope.assessment import assess
from ifnscope.case.reader import load_case

from .helpers import CASES, needs_shared_cases, shared_cases


def _get(d: Any, path: str) -> Any:
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return KeyError
        d = d[k]
    return d


def mismatches(expected: dict[str, Any], out: dict[str, Any]) -> list[str]:
    """Compare an assessment (JSON form) with a case's ``expected:`` block."""
    bad = []
    for crit in ("eular_acr_iim_2017", "eular_acr_sle_2019", "slicc_2012", "dle_2020"):
        for k, v in (expected.get(crit) or {}).items():
            if k == "probability_between":
                got = _get(out, f"criteria.{crit}.probability")
                if not (isinstance(got, float) and v[0] <= got <= v[1]):
                    bad.append(f"{crit}.probability={got} not in {v}")
            elif k == "unknowns_that_could_change_category":
                got = _get(out, f"criteria.{crit}.{k}")
                if not isinstance(got, list) or not set(v) <= set(got):
                    bad.append(f"{crit}.{k}={got} lacks {v}")
            elif k == "score" and isinstance(v, float):
                got = _get(out, f"criteria.{crit}.score")
                if not isinstance(got, (int, float)) or abs(got - v) > 1e-9:
                    bad.append(f"{crit}.score={got} want {v}")
            else:
                got = _get(out, f"criteria.{crit}.{k}")
                if got != v:
                    bad.append(f"{crit}.{k}={got} want {v}")
    if "sontheimer_cadm" in expected:
        got = _get(out, "criteria.sontheimer_cadm.category")
        if got != expected["sontheimer_cadm"]:
            bad.append(f"sontheimer_cadm={got} want {expected['sontheimer_cadm']}")
    for k, v in (expected.get("derived_findings") or {}).items():
        got = _get(out, f"derived_findings.{k}")
        if got != v:
            bad.append(f"derived {k}={got} want {v}")
    if "favours" in expected:
        got = _get(out, "differential.favours")
        if got != expected["favours"]:
            bad.append(f"favours={got} want {expected['favours']}")
    codes = {f.get("code") for f in out.get("flags") or []}
    for code in expected.get("flags") or []:
        if code not in codes:
            bad.append(f"flag {code} missing (have {sorted(codes)})")
    agents = {str(t.get("agent", "")).lower() for t in out.get("triggers") or []}
    for agent in expected.get("triggers") or []:
        if agent.lower() not in agents:
            bad.append(f"trigger {agent} missing (have {sorted(agents)})")
    unknown = (
        set(expected)
        - {"favours", "flags", "triggers"}
        - {
            "eular_acr_iim_2017",
            "eular_acr_sle_2019",
            "slicc_2012",
            "dle_2020",
            "sontheimer_cadm",
            "derived_findings",
        }
    )
    if unknown:
        bad.append(f"expected keys this test does not know how to compare: {sorted(unknown)}")
    return bad


@needs_shared_cases
@pytest.mark.parametrize("path", shared_cases(), ids=lambda p: p.stem)
def test_case_gives_expected(path: Path) -> None:
    expected = yaml.safe_load(path.read_text())["expected"]
    out = assess(load_case(path)).to_json_dict()
    assert mismatches(expected, out) == []


@needs_shared_cases
def test_every_shared_case_loads_unchanged() -> None:
    paths = shared_cases()
    assert len(paths) >= 6
    for p in paths:
        assert load_case(p).id == p.stem


@needs_shared_cases
def test_cli_json_over_the_folder_meets_the_contract() -> None:
    """The real command, as tools/check_cases.py runs it, over the whole folder."""
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", "assess", str(CASES), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["errors"] == []
    by_id = {a["case_id"]: a for a in doc["assessments"]}
    for p in shared_cases():
        expected = yaml.safe_load(p.read_text())["expected"]
        assert mismatches(expected, by_id[p.stem]) == [], p.name


def test_seed_example_is_a_copy_of_the_shared_seed() -> None:
    """`make run` falls back to examples/seed-cadm.yaml; it must say what the shared one says."""
    example = Path(__file__).resolve().parents[1] / "examples" / "seed-cadm.yaml"
    a = assess(load_case(example)).criteria["eular_acr_iim_2017"]
    assert (a.score, a.category, a.subgroup) == (6.5, "probable", "amyopathic_dermatomyositis")
    assert "gottron_sign" in a.unknowns_that_could_change_category
    shared = CASES / "seed-cadm.yaml"
    if shared.exists():
        assert yaml.safe_load(example.read_text()) == yaml.safe_load(shared.read_text())


def test_the_comparison_catches_a_wrong_verdict_flag_or_trigger() -> None:
    out = {"differential": {"favours": "dermatomyositis"}, "flags": [{"code": "smoking"}], "triggers": []}
    bad = mismatches(
        {"favours": "lupus", "flags": ["smoking", "no_antimalarial_tried"], "triggers": ["x"]}, out
    )
    assert bad == [
        "favours=dermatomyositis want lupus",
        "flag no_antimalarial_tried missing (have ['smoking'])",
        "trigger x missing (have [])",
    ]


@needs_shared_cases
def test_clinical_keys_carry_the_contract_fields() -> None:
    """flags: {code, message, source}; triggers: {agent, disease, evidence, source}."""
    for p in shared_cases():
        out = assess(load_case(p)).to_json_dict()
        assert out["differential"]["favours"] in ("dermatomyositis", "lupus", "indeterminate")
        for f in out["flags"]:
            assert f["code"]
            assert f["message"]
            assert f["source"]
        for t in out["triggers"]:
            assert {"agent", "disease", "evidence", "source"} <= set(t)
            assert t["source"]
