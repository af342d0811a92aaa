"""The case format's words, read from ``data/vocabulary.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from ifnscope.data import load_yaml


@dataclass(frozen=True)
class FindingInfo:
    name: str
    group: str
    label: str
    description: str


@dataclass(frozen=True)
class FamilyCondition:
    name: str
    label: str
    autoimmune: bool


@dataclass(frozen=True)
class Vocabulary:
    findings: dict[str, FindingInfo]
    history: dict[str, str]
    skin_biopsy: dict[str, str]
    muscle_biopsy: dict[str, str]
    antibodies: dict[str, str]
    labs_numeric: dict[str, str]
    onset_after: tuple[str, ...]
    sites: tuple[str, ...]
    morphologies: tuple[str, ...]
    colours: tuple[str, ...]
    medication_response: tuple[str, ...]
    cancer_screening: dict[str, str]
    family_relatives: dict[str, int]  # relative -> degree of relationship (0: not recorded)
    family_conditions: dict[str, FamilyCondition]

    def label(self, finding: str) -> str:
        info = self.findings.get(finding)
        return info.label if info else finding.replace("_", " ")


@cache
def vocabulary() -> Vocabulary:
    raw: dict[str, Any] = load_yaml("vocabulary.yaml")
    findings = {
        name: FindingInfo(name, v["group"], v["label"], v["description"])
        for name, v in raw["findings"].items()
    }
    lesion = raw["lesion"]
    return Vocabulary(
        findings=findings,
        history=dict(raw["history"]),
        skin_biopsy=dict(raw["skin_biopsy"]),
        muscle_biopsy=dict(raw["muscle_biopsy"]),
        antibodies=dict(raw["antibodies"]),
        labs_numeric=dict(raw["labs_numeric"]),
        onset_after=tuple(raw["onset_after"]),
        sites=tuple(lesion["site"]),
        morphologies=tuple(lesion["morphology"]),
        colours=tuple(lesion["colour"]),
        medication_response=tuple(raw["medication_response"]),
        cancer_screening=dict(raw["cancer_screening"]),
        family_relatives={k: int(v) for k, v in raw["family_relatives"].items()},
        family_conditions={
            k: FamilyCondition(k, v["label"], bool(v["autoimmune"]))
            for k, v in raw["family_conditions"].items()
        },
    )
