"""The stored assessment (its JSON, as a visit keeps it) in the shape the visit page shows.

A thin adapter over :mod:`ifnscope.presentation`: the visit page renders the same presentation
model as the terminal and HTML reports, so its verdicts, evidence and flags read the same. The
model is built from the stored JSON defensively: a visit stored by an older ifnscope may lack a
key, and the page must still open. The full evidence with numbered sources is the downloadable
report (``report.html.render_html``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ifnscope.presentation import AssessmentView, build, first_sentence, words

__all__ = ["assessment_view", "first_sentence", "words"]


def assessment_view(a: Mapping[str, Any]) -> AssessmentView:
    """Everything the visit page shows, from the stored assessment JSON."""
    return build(a)
