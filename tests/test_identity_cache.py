"""ifnscope._cache.IdentityCache: one value per object, by identity, never by equality."""

from __future__ import annotations

from ifnscope._cache import IdentityCache


def test_values_are_made_once_per_object_and_never_shared_by_equal_objects() -> None:
    made: list[object] = []

    def make(key: dict[str, int]) -> int:
        made.append(key)
        return len(made)

    cache: IdentityCache[dict[str, int], int] = IdentityCache(make, limit=3)
    a, b = {"x": 1}, {"x": 1}  # equal, not the same object
    assert cache(a) == 1
    assert cache(a) == 1  # cached
    assert cache(b) == 2  # an equal object is another key
    a["x"] = 2
    assert cache(a) == 1  # by identity: a mutated key keeps its value (the tables' never change)
    cache({"y": 0})
    cache({"z": 0})  # over the limit: emptied, then this one stored
    assert cache(a) == 5
    assert len(made) == 5
