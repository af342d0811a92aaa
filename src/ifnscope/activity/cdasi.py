"""CDASI v2 (dermatomyositis): activity 0–100 and damage 0–32 from item-level entries.

Activity ranges, the Stanford band (≤14 mild), the UPenn cut-off (19), the trial enrolment
threshold (≥14) and the IFN-signature threshold (12) are read in sources (A); the damage
items and their 0–32 total are accepted as ranges and reported as unverified (U).
"""

from __future__ import annotations

from typing import Any

from ifnscope.activity.results import IndexResult
from ifnscope.activity.rules import cdasi_rules
from ifnscope.activity.scoring import evaluate_index


class CdasiResult(IndexResult):
    """CDASI v2 at this visit (``cut_offs`` holds the UPenn cut-off beside the Stanford band)."""


def evaluate(entry: Any) -> CdasiResult:
    """Score a case's ``activity.cdasi`` entry (a :class:`ifnscope.case.activity_section.Cdasi`)."""
    return CdasiResult(**evaluate_index(cdasi_rules(), entry))
