"""Value types that the database can store, checked before any database work.

PostgreSQL refuses what SQLite quietly stores or compares: a NUL character in text, text longer
than its ``VARCHAR(n)`` column, an integer outside a 32-bit ``INTEGER`` column. Without these
types such input reached the database and came back as a 500 on PostgreSQL only; with them it is
a 422 ``request.invalid`` naming the field on both (``web.errors`` keeps a backstop for anything
that still gets through). The limits follow the column lengths in ``registry.models``.
They live here (pydantic only) so that service models used as request bodies can use them;
the web API imports them from ``ifnscope.web.api.types``.

::

    def get_visit(visit_id: DbId, ...): ...            # path: 1 .. 2**31-1

    class PatientIn(BaseModel):
        mrn: Text80 | None = None                      # at most 80 characters, no NUL
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le, MaxLen
from pydantic import AfterValidator, Field

MAX_DB_ID = 2**31 - 1
"""The largest id a 32-bit ``INTEGER`` primary key holds (PostgreSQL ``serial``)."""

NO_NUL_PATTERN = "^[^\\u0000]*$"


def storable_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None: a NUL character (PostgreSQL text cannot
    hold one) or a lone surrogate (JSON can escape one, ``\\ud800``; UTF-8 cannot encode it)."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate such as \\ud800)"
    return None


def _storable(value: str) -> str:
    problem = storable_problem(value)
    if problem:
        raise ValueError(problem)
    return value


NoNul = AfterValidator(_storable)
"""Refuse text with a NUL character or a lone surrogate."""
_NUL_SCHEMA = Field(json_schema_extra={"pattern": NO_NUL_PATTERN})

DbId = Annotated[int, Ge(1), Le(MAX_DB_ID)]
"""A row id: a positive 32-bit integer, so an id out of range is 422, never a database error."""

SafeText = Annotated[str, NoNul, _NUL_SCHEMA]
"""Text of any length without NUL (hashed or parsed, never stored as written: passwords)."""
Text10 = Annotated[str, MaxLen(10), NoNul, _NUL_SCHEMA]
Text20 = Annotated[str, MaxLen(20), NoNul, _NUL_SCHEMA]
Text40 = Annotated[str, MaxLen(40), NoNul, _NUL_SCHEMA]
Text80 = Annotated[str, MaxLen(80), NoNul, _NUL_SCHEMA]
Text120 = Annotated[str, MaxLen(120), NoNul, _NUL_SCHEMA]
Text200 = Annotated[str, MaxLen(200), NoNul, _NUL_SCHEMA]
