"""A visit's case validated and assessed before any database work.

Assessing a case takes tens of milliseconds (a hostile file could take far longer before the
reader's caps); done inside ``Registry.transaction`` it held the database slot, and on SQLite
the one write lock, for all of that time. Callers that hold a slot prepare the visit first::

    prepared = await run_in_threadpool(prepare_visit, case)       # no transaction
    await in_transaction(request, services.add_visit, actor, pid, prepared)  # writes only

``add_visit`` accepts a :class:`Prepared` as it is, and prepares anything else itself (the
command line and the demo, which hold no contended slot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ifnscope import __version__
from ifnscope.errors import CaseError

if TYPE_CHECKING:
    from ifnscope.assessment import Assessment
    from ifnscope.case.model import Case


# The case sections that hold something to assess. A case with none of them (only its id, title,
# the patient's age and sex, onset or medications) is "empty": nothing to classify or score.
CLINICAL_SECTIONS = (
    "findings",
    "lesions",
    "labs",
    "muscle",
    "skin_biopsy",
    "history",
    "cancer_screening",
    "activity",
)


def _has_value(x: Any) -> bool:
    if x is None:
        return False
    if isinstance(x, dict):
        return any(_has_value(v) for v in x.values())
    if isinstance(x, list):
        return any(_has_value(v) for v in x)
    if isinstance(x, str):
        return bool(x.strip())
    return True


def require_content(c: Any) -> None:
    """Refuse a case that records nothing to assess (``case.empty``, 422 in the API)."""
    doc = c.model_dump(mode="json", exclude_none=True)
    if not any(_has_value(doc.get(k)) for k in CLINICAL_SECTIONS):
        raise CaseError(
            "the visit records nothing to assess: no findings, lesions, laboratory results or "
            "antibodies, muscle or skin studies, history, cancer screening or activity scores",
            code="case.empty",
        )


@dataclass(frozen=True)
class Prepared:
    """A validated case, its assessment and that assessment's JSON, made by one ifnscope version."""

    case: Case
    assessment: Assessment
    document: dict[str, Any]
    version: str = __version__


def prepare_visit(case: Case | Mapping[str, Any] | Prepared | object) -> Prepared:
    """Validate (a ``case.*`` error names every problem) and assess ``case``: a :class:`Case`, its
    parsed JSON/YAML structure, or an already prepared visit (returned as it is). Pure: no
    database, no audit."""
    from ifnscope.assessment import assess
    from ifnscope.case.model import Case
    from ifnscope.case.reader import validate_case

    if isinstance(case, Prepared):
        return case
    c = case if isinstance(case, Case) else validate_case(case)
    require_content(c)  # refused before the work of assessing it
    a = assess(c)
    return Prepared(case=c, assessment=a, document=a.to_json_dict())
