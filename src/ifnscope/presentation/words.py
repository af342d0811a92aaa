"""The words every output uses: one place for status words, short labels and sentence cutting.

The terminal report, the HTML/PDF report and the web pages all read the assessment through
:mod:`ifnscope.presentation`; the wording they share lives here so that a clinician reads the
same sentence in each of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ifnscope.activity.compare import OUTCOME_WORDS
from ifnscope.activity.results import signed, span
from ifnscope.clinical.base import SEVERITY_ORDER
from ifnscope.clinical.screening import TEST_STATUS_WORDS
from ifnscope.clinical.triggers import STATUS_WORDS as TRIGGER_STATUS_WORDS
from ifnscope.provenance import CONFIDENCE_WORDS

__all__ = [
    "APPROVAL_WORDS",
    "CONFIDENCE_WORDS",
    "OUTCOME_WORDS",
    "SEVERITY_ORDER",
    "STRENGTH_WORDS",
    "TEST_WORDS",
    "TIER_WORDS",
    "TRIGGER_STATUS_WORDS",
    "TRI_WORDS",
    "capital",
    "first_sentence",
    "join_or",
    "short_label",
    "signed",
    "span",
    "words",
]

# A three-valued fact or step answer in words ("unknown" is never "no").
TRI_WORDS = {"present": "yes", "absent": "no", "unknown": "not recorded"}
# A screening test: a result reads "done: negative"; the other states are the engine's words.
TEST_WORDS = {**TEST_STATUS_WORDS, "negative": "done: negative", "positive": "done: POSITIVE"}
APPROVAL_WORDS = {
    "approved_for_indication": "approved for this indication",
    "approved_other_indication": "approved for another indication only",
    "not_approved": "not approved",
    "not_applicable": "not a drug",
}
STRENGTH_WORDS = {"population": "population study", "series": "case series", "reports": "case reports"}
TIER_WORDS = {"criteria": "criteria item", "specific": "specific antibody"}

_ULN = re.compile(r"\s+above the upper limit of normal\b")
_FIRST = re.compile(r"(?<=[a-z0-9)%])\.\s+(?=[A-Z])")


def words(s: Any) -> str:
    """A code in words: ``amyopathic_dermatomyositis`` -> 'amyopathic dermatomyositis'."""
    return str(s or "").replace("_", " ")


def capital(s: Any) -> str:
    text = str(s or "")
    return text[:1].upper() + text[1:]


def join_or(items: Iterable[str]) -> str:
    """'a, b or c' (repeats dropped)."""
    unique = list(dict.fromkeys(items))
    if len(unique) <= 1:
        return "".join(unique)
    return f"{', '.join(unique[:-1])} or {unique[-1]}"


def short_label(label: str) -> str:
    """Shorter wording for glance lines and evidence ('… above the upper limit of normal' ->
    '… > ULN'); the labels in the criteria tables keep the full wording."""
    return _ULN.sub(" > ULN", label)


def first_sentence(message: str, limit: int = 150) -> str:
    """The first sentence of a message (a flag's), cut at a clause if it is still long."""
    first = _FIRST.split(message or "", maxsplit=1)[0].rstrip(".")
    if len(first) <= limit:
        return first + "."
    for sep in (": ", "; ", ", and "):
        cut = first.find(sep)
        if 40 <= cut <= limit:
            return first[:cut] + " …"
    return first[:limit].rsplit(" ", 1)[0] + " …"
