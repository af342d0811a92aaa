"""Derive findings from described lesions, following the criteria's own definitions.

Rules live in ``data/lesion_rules.yaml``. A derivation can only make a finding present; a
finding written in ``findings:`` always wins, and a disagreement is reported, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from ifnscope.case.model import Case, Lesion
from ifnscope.case.vocabulary import vocabulary
from ifnscope.data import load_yaml
from ifnscope.errors import DataError
from ifnscope.provenance import SourceRef


class LesionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    finding: str
    sites: tuple[str, ...] | None = None
    morphologies: tuple[str, ...] | None = None
    colours: tuple[str, ...] | None = None
    definition: str
    source: SourceRef


@cache
def lesion_rules() -> tuple[LesionRule, ...]:
    raw: dict[str, Any] = load_yaml("lesion_rules.yaml")
    sets: dict[str, list[str]] = raw.get("colour_sets", {})
    voc = vocabulary()
    rules = []
    for i, row in enumerate(raw["rules"]):
        row = dict(row)
        if isinstance(row.get("colours"), str):
            row["colours"] = sets[row["colours"]]
        try:
            rule = LesionRule.model_validate(row)
        except Exception as exc:  # a malformed packaged table is our bug
            raise DataError(f"lesion_rules.yaml rule {i}: {exc}") from exc
        checks = (
            (rule.finding in voc.findings, "finding"),
            (set(rule.sites or ()) <= set(voc.sites), "sites"),
            (set(rule.morphologies or ()) <= set(voc.morphologies), "morphologies"),
            (set(rule.colours or ()) <= set(voc.colours), "colours"),
        )
        for ok, what in checks:
            if not ok:
                raise DataError(f"lesion_rules.yaml rule {i} ({rule.finding}): unknown {what}")
        rules.append(rule)
    return tuple(rules)


def describe_lesion(lesion: Lesion) -> str:
    """Examination-note words for a lesion: 'violaceous edema, periorbital, bilateral'."""
    parts = []
    if lesion.scale:
        parts.append("scaly")
    if lesion.colour:
        parts.append(lesion.colour.replace("_", " "))
    parts.append(lesion.morphology.replace("_", " "))
    text = " ".join(parts) + ", " + lesion.site.replace("_", " ")
    if lesion.bilateral:
        text += ", bilateral"
    if lesion.note:
        text += f" ({lesion.note})"
    return text


@dataclass(frozen=True)
class NearMiss:
    """A lesion that would derive ``finding`` if ``missing`` (e.g. its colour) were recorded."""

    finding: str
    lesion: int  # 1-based lesion number, as a clinician counts
    missing: str
    would_need: tuple[str, ...]


@dataclass
class Derivation:
    finding: str
    lesions: list[int] = field(default_factory=list)  # 1-based lesion numbers
    rule: LesionRule | None = None


@dataclass
class DerivationResult:
    derived: dict[str, Derivation]
    near_misses: list[NearMiss]
    conflicts: list[str]  # findings recorded absent although a lesion matches the definition


def _matches(value: str | None, allowed: tuple[str, ...] | None) -> bool | None:
    """True/False, or None when the lesion does not record the attribute the rule needs."""
    if allowed is None:
        return True
    if value is None:
        return None
    return value in allowed


def derive_findings(case: Case) -> DerivationResult:
    derived: dict[str, Derivation] = {}
    near: list[NearMiss] = []
    for number, lesion in enumerate(case.lesions, start=1):
        for rule in lesion_rules():
            checks = {
                "site": _matches(lesion.site, rule.sites),
                "morphology": _matches(lesion.morphology, rule.morphologies),
                "colour": _matches(lesion.colour, rule.colours),
            }
            if all(v is True for v in checks.values()):
                d = derived.setdefault(rule.finding, Derivation(rule.finding, rule=rule))
                d.lesions.append(number)
            elif False not in checks.values():
                missing = next(k for k, v in checks.items() if v is None)
                need = {"site": rule.sites, "morphology": rule.morphologies, "colour": rule.colours}[
                    missing
                ] or ()
                near.append(NearMiss(rule.finding, number, missing, tuple(need)))
    recorded = case.recorded_findings()
    conflicts = [f for f in derived if recorded.get(f) == "absent"]
    # A near miss for a finding already derived or recorded present adds nothing.
    near = [
        m for m in near if m.finding not in derived and recorded.get(m.finding) not in ("present", "absent")
    ]
    return DerivationResult(derived=derived, near_misses=near, conflicts=conflicts)
