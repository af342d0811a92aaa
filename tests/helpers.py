"""Shared test helpers: the shared contract folder and a tiny case builder."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import Facts, build_facts
from ifnscope.case.model import Case
from ifnscope.case.reader import parse_case, validate_case
from ifnscope.errors import CaseValidationError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CASES = SHARED / "cases"


def shared_cases() -> list[Path]:
    return sorted(CASES.glob("*.yaml")) if CASES.is_dir() else []


needs_shared_cases = pytest.mark.skipif(
    not CASES.is_dir(),
    reason=f"SKIPPED: the shared contract cases are not at {CASES} (clone ../shared beside the repo)",
)


def make_case(
    findings: dict[str, str] | None = None,
    *,
    age: float | None = 30,
    onset: float | dict[str, Any] | None = None,
    skin_months: float | None = None,
    **sections: Any,
) -> Case:
    """A minimal valid case; ``sections`` are merged in as top-level keys (``onset`` may be the
    whole onset section as a map)."""
    doc: dict[str, Any] = {"format": "ifnscope-case/1", "id": "t"}
    if age is not None:
        doc["patient"] = {"age_years": age}
    if onset is not None or skin_months is not None:
        doc["onset"] = {}
    if isinstance(onset, dict):
        doc["onset"].update(onset)
    elif onset is not None:
        doc["onset"]["age_years"] = onset
    if skin_months is not None:
        doc["onset"]["skin_disease_months"] = skin_months
    if findings:
        doc["findings"] = dict(findings)
    for key, value in sections.items():
        if key in doc and isinstance(doc[key], dict):
            doc[key] = {**doc[key], **copy.deepcopy(value)}
        else:
            doc[key] = copy.deepcopy(value)
    return validate_case(doc)


def facts_of(case: Case) -> Facts:
    return build_facts(case)


def criteria_of(case: Case, key: str) -> Any:
    return assess(case).criteria[key]


def source_refs(node: Any) -> list[dict[str, Any]]:
    """Every ``{id, where, confidence}`` citation block in a loaded YAML tree."""
    out = []
    if isinstance(node, dict):
        if {"id", "where", "confidence"} <= set(node):
            out.append(node)
        for v in node.values():
            out += source_refs(v)
    elif isinstance(node, list):
        for v in node:
            out += source_refs(v)
    return out


def activity_case(erythema: int) -> dict[str, Any]:
    """The CDASI/CLASI example case (no baseline) with the erythema of four facial and hand areas
    set to ``erythema``: visits whose activity differs by a known amount."""
    import yaml

    doc = yaml.safe_load((ROOT / "examples" / "activity-cdasi-clasi.yaml").read_text(encoding="utf-8"))
    doc.pop("expected", None)
    doc["activity"].pop("baseline", None)
    for area in ("malar", "rest_of_face", "posterior_neck", "dorsal_hands"):
        a = doc["activity"]["cdasi"]["areas"].get(area)
        if isinstance(a, dict):
            a["erythema"] = erythema
    return doc


CASE_HEAD = "format: ifnscope-case/1\nid: t\n"


def case_issues(text: str) -> list[Any]:
    """The problems the reader finds in a case whose body (after format and id) is ``text``."""
    with pytest.raises(CaseValidationError) as ei:
        parse_case(CASE_HEAD + text)
    return list(ei.value.issues)
