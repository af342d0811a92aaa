"""The activity indices' rule tables (``data/activity/*.yaml``) as validated models.

An index is areas × area items, plus groups of items and single items scored once per
patient. Each item has a whole-number range and a part (activity or damage), each row its
source. :func:`load_index` validates a table and its cross-row checks (published totals,
bands that tile the range) once; a malformed table is a :class:`~ifnscope.errors.DataError`.

This module imports nothing from :mod:`ifnscope.case`, so the case model can build its input
models from the same tables (one source of truth for areas and ranges).
"""

# No `from __future__ import annotations` here: pydantic would then compile every field's
# annotation string when the models are defined, which slows importing the case model.
from collections.abc import Iterator
from functools import cache
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import SourceRef

Part = Literal["activity", "damage"]
PARTS: tuple[Part, Part] = ("activity", "damage")

# ------------------------------------------------------------------------------ rule tables


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Sourced(_Row):
    """A row with a source; a U row must say, for a person, what is unverified."""

    source: SourceRef
    unverified: str | None = None

    @model_validator(mode="after")
    def _u_says_why(self) -> Self:
        if self.source.confidence == "U" and not (self.unverified or "").strip():
            raise ValueError(f"a U row needs an 'unverified' text ({self.source.id}: {self.source.where})")
        if self.source.confidence != "U" and self.unverified:
            raise ValueError(f"only U rows carry an 'unverified' text ({self.source.id})")
        return self


class ItemRule(_Sourced):
    key: str
    label: str
    part: Part
    min: int = 0
    max: int
    # The only scores the form offers, where they are not every whole number of the range
    # (CLASI scalp scarring: 0, 3, 4, 5, 6); any other value is refused, never scored.
    values: list[int] | None = None
    values_note: str | None = None
    anchors: dict[int, str] | None
    note: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if not 0 <= self.min < self.max:
            raise ValueError(f"item {self.key}: bad range {self.min}-{self.max}")
        if self.anchors is not None and set(self.anchors) != set(self.allowed):
            raise ValueError(f"item {self.key}: anchors must cover {self.allowed}")
        v = self.values
        if v is not None and (sorted(set(v)) != v or v[0] != self.min or v[-1] != self.max):
            raise ValueError(f"item {self.key}: values must rise from {self.min} to {self.max}")
        if (self.values is None) != (self.values_note is None):
            raise ValueError(f"item {self.key}: values and values_note go together")
        return self

    @property
    def allowed(self) -> list[int]:
        """Every score the item takes."""
        return self.values if self.values is not None else list(range(self.min, self.max + 1))

    def allowed_in_words(self) -> str:
        """'0, 3, 4, 5 or 6'."""
        *head, last = (str(v) for v in self.allowed)
        return f"{', '.join(head)} or {last}" if head else last


class AreaRow(_Row):
    key: str
    label: str
    not_scored: list[str] = []
    instead: str | None = None  # the patient-level item that scores what this area does not


class Areas(_Row):
    source: SourceRef
    rows: list[AreaRow]


class GroupRule(_Row):
    key: str
    label: str
    items: list[ItemRule]


class Scope(_Sourced):
    pass


class MultiplierRule(_Sourced):
    flag: str
    label: str
    item: str
    factor: int
    scope: Scope


class Total(_Sourced):
    max: int


class Totals(_Row):
    activity: Total
    damage: Total


class BandRow(_Row):
    id: str
    label: str
    min: int
    max: int


class Bands(_Row):
    name: str
    rows: list[BandRow]
    rule: str
    source: SourceRef


class BandCutOffRule(_Row):
    """A second published cut-off between two bands (e.g. UPenn 19), shown beside the band."""

    id: str
    label: str
    value: int
    below: str
    above: str
    at: str
    source: SourceRef


class ThresholdRule(_Row):
    id: str
    label: str
    op: Literal["ge", "cut_off"]
    value: int
    source: SourceRef


class BaselineRule(_Row):
    """Where a minimum baseline comes from when it is not part of the rule's definition (the
    trials' CLASI-50 baseline of 10): said wherever it withholds a verdict."""

    note: str
    sources: list[SourceRef]


class ChangeRule(_Row):
    """One change rule between visits (points or per cent)."""

    id: str
    label: str
    points: int | None = None
    percent: int | None = None
    direction: Literal["both", "improvement"]
    min_baseline: int | None = None
    source: SourceRef
    baseline_source: SourceRef | None = None
    baseline_rule: BaselineRule | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> Self:
        if (self.points is None) == (self.percent is None):
            raise ValueError(f"change rule {self.id}: give points or percent, not both")
        if self.baseline_rule is not None and self.min_baseline is None:
            raise ValueError(f"change rule {self.id}: a baseline_rule needs a min_baseline")
        return self


class CombinedRule(_Row):
    id: str
    label: str
    any_of: list[str]
    source: SourceRef


class ChangeSection(_Row):
    """The table's ``change:`` section: the change rules, their combination, worsening, damage."""

    part: Literal["activity"]
    rules: list[ChangeRule]
    combined: CombinedRule | None = None
    worsening: Scope
    damage_note: str


class NotImplementedRule(_Row):
    id: str
    label: str
    why: str
    sources: list[SourceRef]


class IndexRules(_Row):
    id: str
    title: str
    short: str
    form: str
    references: list[SourceRef]
    areas: Areas
    area_items: list[ItemRule]
    groups: list[GroupRule]
    items: list[ItemRule]
    multiplier: MultiplierRule | None = None
    totals: Totals
    bands: Bands
    cut_offs: list[BandCutOffRule]
    thresholds: list[ThresholdRule]
    change: ChangeSection
    not_implemented: list[NotImplementedRule] = []

    def area_items_for(self, area: AreaRow) -> list[ItemRule]:
        return [i for i in self.area_items if i.key not in area.not_scored]

    def maximum(self, part: Part) -> int:
        """The highest possible score of a part, from the item ranges (the multiplier at work)."""
        total = 0
        for area in self.areas.rows:
            for item in self.area_items_for(area):
                if item.part == part:
                    total += item.max * self._factor(item)
        for group in self.groups:
            total += sum(i.max * self._factor(i) for i in group.items if i.part == part)
        total += sum(i.max * self._factor(i) for i in self.items if i.part == part)
        return total

    def entries(self) -> Iterator[tuple[tuple[str, ...], ItemRule]]:
        """Every item with its key path in the case's index entry (``areas.scalp.erythema`` …)."""
        for area in self.areas.rows:
            for item in self.area_items_for(area):
                yield ("areas", area.key, item.key), item
        for group in self.groups:
            for item in group.items:
                yield (group.key, item.key), item
        for item in self.items:
            yield (item.key,), item

    def _factor(self, item: ItemRule) -> int:
        m = self.multiplier
        return m.factor if m is not None and m.item == item.key else 1

    def scoring_sources(self) -> Iterator[SourceRef]:
        """The sources of one visit's score: ranges, totals, bands, cut-offs, thresholds."""
        yield from self.references
        yield self.areas.source
        for item in self.area_items:
            yield item.source
        for group in self.groups:
            yield from (i.source for i in group.items)
        yield from (i.source for i in self.items)
        if self.multiplier is not None:
            yield self.multiplier.source
            yield self.multiplier.scope.source
        yield self.totals.activity.source
        yield self.totals.damage.source
        yield self.bands.source
        yield from (c.source for c in self.cut_offs)
        yield from (t.source for t in self.thresholds)

    def sources(self) -> Iterator[SourceRef]:
        """Every source reference in the table, in table order."""
        yield from self.scoring_sources()
        for r in self.change.rules:
            yield r.source
            if r.baseline_source is not None:
                yield r.baseline_source
            if r.baseline_rule is not None:
                yield from r.baseline_rule.sources
        if self.change.combined is not None:
            yield self.change.combined.source
        yield self.change.worsening.source
        for n in self.not_implemented:
            yield from n.sources

    def unverified_texts(self) -> list[str]:
        """What a result of this index must say is unverified (each text once, table order)."""
        rows: list[_Sourced] = [*self.area_items, *(i for g in self.groups for i in g.items), *self.items]
        if self.multiplier is not None:
            rows += [self.multiplier, self.multiplier.scope]
        rows += [self.totals.activity, self.totals.damage]
        return list(dict.fromkeys(r.unverified for r in rows if r.unverified))


def _check(rules: IndexRules, name: str) -> None:
    """Cross-row checks: unique keys, bands that tile the activity range, published totals."""
    keys = [a.key for a in rules.areas.rows]
    singles = [*(g.key for g in rules.groups), *(i.key for i in rules.items)]
    if rules.multiplier is not None:
        singles.append(rules.multiplier.flag)
    for what, seq in (("area", keys), ("item", [i.key for i in rules.area_items]), ("entry", singles)):
        if len(set(seq)) != len(seq):
            raise DataError(f"activity/{name}: a {what} key is repeated")
    if {"areas", *keys} & set(singles):
        raise DataError(f"activity/{name}: an item key clashes with an area key or 'areas'")
    item_keys = {i.key for i in rules.area_items}
    for area in rules.areas.rows:
        if not set(area.not_scored) <= item_keys:
            raise DataError(f"activity/{name}: area {area.key} skips an unknown item")
        if area.instead is not None and area.instead not in {i.key for i in rules.items}:
            raise DataError(f"activity/{name}: area {area.key} names an unknown item instead")
    if rules.multiplier is not None and rules.multiplier.item not in item_keys:
        raise DataError(f"activity/{name}: the multiplier names an unknown item")
    for part in PARTS:
        published = getattr(rules.totals, part).max
        if rules.maximum(part) != published:
            raise DataError(
                f"activity/{name}: item ranges add up to {rules.maximum(part)} {part}, "
                f"but the published total is {published}"
            )
    expected = 0
    for band in rules.bands.rows:
        if band.min != expected or band.max < band.min:
            raise DataError(f"activity/{name}: bands must tile 0-{rules.totals.activity.max} in order")
        expected = band.max + 1
    if expected != rules.totals.activity.max + 1:
        raise DataError(f"activity/{name}: bands must end at {rules.totals.activity.max}")
    band_ids = {b.id for b in rules.bands.rows}
    for c in rules.cut_offs:
        if not {c.below, c.above} <= band_ids:
            raise DataError(f"activity/{name}: cut-off {c.id} names an unknown band")
    rule_ids = {r.id for r in rules.change.rules}
    if rules.change.combined is not None and not set(rules.change.combined.any_of) <= rule_ids:
        raise DataError(f"activity/{name}: the combined change rule names an unknown rule")


@cache
def load_index(name: str) -> IndexRules:
    """Load and check ``data/activity/<name>.yaml``; a malformed table is a :class:`DataError`."""
    rules = load_table(f"activity/{name}.yaml", IndexRules)
    _check(rules, f"{name}.yaml")
    return rules


def cdasi_rules() -> IndexRules:
    return load_index("cdasi")


def clasi_rules() -> IndexRules:
    return load_index("clasi")
