"""A cache keyed by object identity, for the rule tables' objects (expressions, citations).

Those objects live as long as the process and are asked for thousands of times per assessment
(the what-if re-runs): hashing them by value (a nested dict, a pydantic model) would cost more
than the work the cache saves. ``functools.lru_cache`` hashes by value, hence this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityCache(Generic[K, V]):
    """``cache(obj)`` is ``make(obj)``, computed once per object. An entry holds its object, so
    the object's id cannot be reused by another while cached; the cache empties at ``limit``."""

    __slots__ = ("_hits", "_limit", "_make")

    def __init__(self, make: Callable[[K], V], limit: int = 4096) -> None:
        self._make, self._limit = make, limit
        self._hits: dict[int, tuple[K, V]] = {}

    def __call__(self, key: K) -> V:
        hit = self._hits.get(id(key))
        if hit is None or hit[0] is not key:
            if len(self._hits) >= self._limit:
                self._hits.clear()
            hit = self._hits[id(key)] = (key, self._make(key))
        return hit[1]
