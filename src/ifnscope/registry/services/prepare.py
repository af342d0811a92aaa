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

if TYPE_CHECKING:
    from ifnscope.assessment import Assessment
    from ifnscope.case.model import Case


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
    a = assess(c)
    return Prepared(case=c, assessment=a, document=a.to_json_dict())
