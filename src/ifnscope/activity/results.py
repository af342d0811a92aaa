"""The result models of an activity index scored at one visit (the JSON contract's shapes).

Results are built on first use (``defer_build``), so importing the case model stays quick.
"""

# No `from __future__ import annotations` here: pydantic would then compile every field's
# annotation string when the models are defined, which slows importing the case model.
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ifnscope.activity.rules import Part
from ifnscope.provenance import Reference

Range = tuple[int, int]


def span(r: Sequence[int] | None) -> str:
    """A score range: '36' when exact, '27–33' when unscored items leave it open."""
    if not r:
        return "?"
    return f"{r[0]}" if r[0] == r[-1] else f"{r[0]}–{r[-1]}"


def signed(r: Sequence[int] | None) -> str:
    """A change range with its sign: '-5', '+2 to +6'."""
    if not r:
        return "?"
    return f"{r[0]:+d}" if r[0] == r[-1] else f"{r[0]:+d} to {r[-1]:+d}"


class Result(BaseModel):
    """Base of the result models: built on first use, so importing the case model stays quick."""

    model_config = ConfigDict(defer_build=True)


class ItemScore(Result):
    """One item scored once per patient (a single item, or one item of a group)."""

    key: str
    label: str
    part: Part
    value: int | None
    max: int
    reference: Reference


class AreaScore(Result):
    """One body area: what was recorded, and what is left unscored in it."""

    key: str
    label: str
    scored: bool
    activity: int
    damage: int
    unscored_items: list[str]
    activity_range: Range
    damage_range: Range


class BandInfo(Result):
    """One severity band of an index (activity score from ``min`` to ``max`` inclusive)."""

    id: str
    label: str
    min: int
    max: int


class BandCall(Result):
    """A band over the score range: one band, or every band the complete score could fall in."""

    band: str | None
    band_label: str | None
    band_if_complete_could_be: list[str]


class BandCutOffResult(Result):
    """A second published cut-off between two bands, shown beside the band."""

    id: str
    label: str
    value: int
    band: str | None
    band_if_complete_could_be: list[str]
    text: str
    reference: Reference


class ThresholdResult(Result):
    """An informational threshold: where the score lies relative to it. It classifies nothing."""

    id: str
    label: str
    value: int
    op: str
    position: Literal["above", "below", "at", "either side"]
    met: bool | None
    text: str
    reference: Reference


class IndexResult(Result):
    """An activity index computed from item-level entries."""

    id: str
    title: str
    short: str
    activity: int
    activity_max: int
    damage: int
    damage_max: int
    damage_verified: bool
    activity_range: Range
    damage_range: Range
    activity_complete: bool
    damage_complete: bool
    complete: bool
    unscored: list[str]
    band: str | None
    band_label: str | None
    band_if_complete_could_be: list[str]
    band_rule: str
    bands: list[BandInfo]
    band_reference: Reference
    cut_offs: list[BandCutOffResult]
    thresholds: list[ThresholdResult]
    areas: list[AreaScore]
    items: list[ItemScore]
    anchors_note: str
    references: list[Reference]
    unverified: list[str]
    because: str
