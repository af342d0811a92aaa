"""CLASI (cutaneous lupus): activity 0–70 and damage 0–56 from item-level entries.

The activity total (0–70), the bands (0–9 mild, 10–20 moderate, 21–70 severe) and the
erythema and scale anchors are read in sources (A/B); the point values of mucous membrane,
recent hair loss, non-scarring alopecia, scarring and dyspigmentation are accepted as ranges
and reported as unverified (U), as is applying the 12-month doubling to the summed
dyspigmentation score.
"""

from __future__ import annotations

from typing import Any

from ifnscope.activity.results import IndexResult
from ifnscope.activity.rules import clasi_rules
from ifnscope.activity.scoring import evaluate_index


class ClasiResult(IndexResult):
    """CLASI at this visit."""

    dyspigmentation_doubled: bool | None


def evaluate(entry: Any) -> ClasiResult:
    """Score a case's ``activity.clasi`` entry (a :class:`ifnscope.case.activity_section.Clasi`)."""
    rules = clasi_rules()
    flag = getattr(entry, rules.multiplier.flag) if rules.multiplier is not None else None
    return ClasiResult(**evaluate_index(rules, entry), dyspigmentation_doubled=flag)
