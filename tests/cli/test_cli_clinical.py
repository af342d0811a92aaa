"""The clinical commands: letter, compare, drugs, therapies, and the clinical keys of assess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed-cadm.yaml"
ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"


def ifnscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ifnscope", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_assess_prints_the_clinical_sections() -> None:
    r = ifnscope("assess", str(SEED))
    assert r.returncode == 0, r.stderr
    for heading in (
        "Lupus or dermatomyositis?",
        "Flags",
        "Treatment so far and options not yet tried",
        "Cancer screening (IMACS 2023)",
    ):
        assert heading in r.stdout
    assert "no_antimalarial_tried" in r.stdout
    assert "Favours dermatomyositis" in r.stdout


def test_letter_drafts_from_the_case_and_lists_what_to_complete() -> None:
    r = ifnscope("letter", str(SEED), "--agent", "IVIG")
    assert r.returncode == 0, r.stderr
    assert "DRAFT" in r.stdout
    assert "probable IIM, score 6.5" in r.stdout
    assert "78.7%" in r.stdout
    assert "to complete before sending" in r.stderr
    doc = json.loads(ifnscope("letter", str(SEED), "--agent", "ivig", "--json").stdout)
    assert doc["agent"] == "ivig"
    assert doc["gaps"]


def test_letter_for_an_unknown_agent_suggests_the_nearest() -> None:
    r = ifnscope("letter", str(SEED), "--agent", "ivgi")
    assert r.returncode == 2
    assert "did you mean 'ivig'" in r.stderr
    assert "[therapy.unknown-agent]" in r.stderr
    assert "Traceback" not in r.stderr


def test_compare_two_visits(tmp_path: Path) -> None:
    doc = yaml.safe_load(ACTIVITY.read_text())
    doc.pop("expected", None)
    doc["activity"].pop("baseline", None)
    later = json.loads(json.dumps(doc))
    later["id"] = "later"
    for area in later["activity"]["cdasi"]["areas"].values():
        if area.get("erythema"):
            area["erythema"] -= 1  # every scored area one point less red
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(yaml.safe_dump(doc))
    second.write_text(yaml.safe_dump(later))
    r = ifnscope("compare", str(first), str(second), "--json")
    assert r.returncode == 0, r.stderr
    change = json.loads(r.stdout)
    fell = change["cdasi"]["activity_change"]
    assert fell[0] < 0
    outcomes = {v["outcome"] for v in change["cdasi"]["verdicts"]}
    assert "improved" in outcomes
    assert change["tis"]["implemented"] is False
    assert "Total Improvement Score: not computed" in ifnscope("compare", str(first), str(second)).stdout


def test_compare_needs_an_activity_section() -> None:
    r = ifnscope("compare", str(SEED), str(ACTIVITY))
    assert r.returncode == 2
    assert "no activity section" in r.stderr


def test_drugs_and_therapies_list_their_sources() -> None:
    rows = json.loads(ifnscope("drugs", "--json").stdout)
    terb = next(r for r in rows if r["agent"] == "terbinafine")
    assert terb["brands"] == ["Lamisil"]
    assert terb["window_months"] == 6
    assert "Grönhagen" in terb["source"]
    assert any(r["window_months"] == "any" for r in rows)
    assert any(r["window_months"] is None for r in rows)
    kb = json.loads(ifnscope("therapies", "--json").stdout)
    assert kb["agents"]["anifrolumab"]["pathway"]["level"] == "receptor"
    assert kb["agents"]["dazukibart"]["pathway"]["level"] == "ligand"
