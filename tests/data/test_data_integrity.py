"""The packaged rule data: every row cites a known source; the vocabulary covers the contract."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from ifnscope.case.derive import lesion_rules
from ifnscope.case.vocabulary import vocabulary
from ifnscope.criteria import CRITERIA_SETS
from ifnscope.data import citation, load_yaml, sources
from ifnscope.provenance import SourceRef
from tests.helpers import SHARED, source_refs

DATA = Path(__file__).resolve().parents[2] / "src/ifnscope/data"
# Every packaged rule table: everything under data/ except the bibliography and the vocabulary.
TABLES = sorted(
    str(p.relative_to(DATA))
    for p in DATA.rglob("*.yaml")
    if p.parent.name != "sources" and p.name not in ("sources.yaml", "vocabulary.yaml")
)


def test_the_table_list_covers_every_part() -> None:
    parts = {t.split("/")[0] for t in TABLES}
    assert {"criteria", "signatures", "clinical", "lesion_rules.yaml"} <= parts


@pytest.mark.parametrize("table", TABLES)
def test_every_reference_in_a_table_is_a_known_source(table: str) -> None:
    refs = source_refs(load_yaml(table))
    assert refs, table
    for ref in refs:
        SourceRef.model_validate(ref)  # known id, confidence A/B/U
        assert ref["where"].strip()


def test_every_source_has_a_citation_and_is_used() -> None:
    from ifnscope.signatures.methods import METHODS

    used = {ref["id"] for t in TABLES for ref in source_refs(load_yaml(t))}
    used |= {m.source.id for m in METHODS.values()}
    for sid, entry in sources().items():
        assert entry["citation"].strip(), sid
        assert entry["read"].strip(), f"{sid}: say what was read"
        assert sid in used, f"{sid} is in sources.yaml but no rule cites it"
        assert citation(sid)


def test_every_weighted_row_has_its_own_source() -> None:
    iim = load_yaml("criteria/iim_2017.yaml")
    assert all("source" in item for item in iim["items"])
    assert all("source" in rule for rule in load_yaml("lesion_rules.yaml")["rules"])


def test_all_engines_load_their_tables() -> None:
    for cs in CRITERIA_SETS.values():
        assert cs.module.rules().title == cs.title
    assert len(lesion_rules()) > 5


def test_unverified_rules_are_tagged_u_and_documented() -> None:
    """Rules marked U must be listed in docs/clinical-sources.md, so nobody mistakes them for verified."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "clinical-sources.md").read_text()
    iim = load_yaml("criteria/iim_2017.yaml")
    assert iim["probability"]["source"]["confidence"] == "U"
    assert "5.33" in docs
    assert "6.49" in docs
    for sub in (
        "juvenile_dermatomyositis",
        "juvenile_myositis_other",
        "inclusion_body_myositis",
        "polymyositis",
    ):
        assert sub in docs


def _backticked(section: str) -> set[str]:
    return set(re.findall(r"`([a-z0-9_]+)`", section))


@pytest.mark.skipif(
    not (SHARED / "case-format.md").exists(), reason="SKIPPED: ../shared/case-format.md absent"
)
def test_vocabulary_covers_every_word_of_the_case_format() -> None:
    text = (SHARED / "case-format.md").read_text()
    findings_section = text.split("## Findings vocabulary")[1].split("## Labs")[0]
    voc = vocabulary()
    missing = _backticked(findings_section) - set(voc.findings)
    assert not missing, f"case-format.md findings not in vocabulary.yaml: {sorted(missing)}"
    labs = text.split("## Labs")[1].split("## Lesions")[0]
    antibodies = _backticked(labs.split("antibodies:")[1].split("Muscle biopsy map")[0])
    assert antibodies <= set(voc.antibodies)
    biopsy = _backticked(labs.split("Muscle biopsy map")[1])
    assert biopsy <= set(voc.muscle_biopsy)
    lesions = text.split("## Lesions")[1].split("## The assessment")[0]
    site = _backticked(lesions.split("`site`")[1].split("`morphology`")[0])
    assert site <= set(voc.sites)
    morph = _backticked(lesions.split("`morphology`:")[1].split("`colour`")[0])
    assert morph <= set(voc.morphologies)
    colour = _backticked(lesions.split("`colour`:")[1].split("Derivations")[0])
    assert colour <= set(voc.colours)


def test_a_table_naming_an_unknown_fact_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ifnscope.criteria import base, dle_2020
    from ifnscope.errors import DataError

    raw = copy.deepcopy(load_yaml("criteria/dle_2020.yaml"))
    raw["items"][0]["when"] = {"any_of": ["dle_atrophic_scaring"]}
    monkeypatch.setattr(base, "load_yaml", lambda _name: raw)
    monkeypatch.setattr("ifnscope.data.load_yaml", lambda _name: raw)
    with pytest.raises(DataError, match="unknown fact 'dle_atrophic_scaring'"):
        base.load_rules("dle_2020.yaml", dle_2020.Rules)
    raw["items"][0]["points"] = "three"
    with pytest.raises(DataError, match="malformed"):
        base.load_rules("dle_2020.yaml", dle_2020.Rules)
