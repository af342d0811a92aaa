"""Request value types the database can store (ids in range, text within its column and without
NUL): defined in :mod:`ifnscope.registry.limits`, where service models can use them too."""

from __future__ import annotations

from ifnscope.registry.limits import (
    MAX_DB_ID,
    DbId,
    NoNul,
    SafeText,
    Text10,
    Text20,
    Text40,
    Text80,
    Text120,
    Text200,
    storable_problem,
)

__all__ = [
    "MAX_DB_ID",
    "DbId",
    "NoNul",
    "SafeText",
    "Text10",
    "Text20",
    "Text40",
    "Text80",
    "Text120",
    "Text200",
    "storable_problem",
]
