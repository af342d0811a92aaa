"""One presentation model of an assessment, built once and rendered by every output.

``build(assessment_json)`` reads the assessment's JSON contract (``Assessment.to_json_dict()``,
the dict a registry visit stores) into an :class:`AssessmentView`: the verdict of each criteria
set in one wording, the evidence, the unknowns grouped by what they would change, the clinical
parts, the flags by severity and the numbered sources. The terminal report
(:mod:`ifnscope.report.terminal`), the HTML/PDF report (:mod:`ifnscope.report.html`) and the
web visit page (``web/templates/visit.html``) only lay it out, so a live assessment and a stored
one read the same everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ifnscope.presentation.build import (
    activity_view,
    all_references,
    as_view,
    build,
    latest_line,
    patient_lines,
    short_name,
    verdict,
)
from ifnscope.presentation.model import (
    ActivityView,
    AssessmentView,
    CriteriaView,
    FlagView,
    Header,
    SourceView,
    UnknownGroup,
    Verdict,
)
from ifnscope.presentation.words import capital, first_sentence, join_or, short_label, signed, span, words

if TYPE_CHECKING:
    from ifnscope.assessment import Assessment

__all__ = [
    "ActivityView",
    "AssessmentView",
    "CriteriaView",
    "FlagView",
    "Header",
    "SourceView",
    "UnknownGroup",
    "Verdict",
    "activity_view",
    "all_references",
    "as_view",
    "build",
    "capital",
    "first_sentence",
    "from_assessment",
    "join_or",
    "latest_line",
    "patient_lines",
    "short_label",
    "short_name",
    "signed",
    "span",
    "verdict",
    "words",
]


def from_assessment(a: Assessment) -> AssessmentView:
    """The view of a live assessment: exactly ``build(a.to_json_dict())``, so that it reads the
    same as the stored one."""
    return build(a.to_json_dict())
