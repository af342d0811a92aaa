"""What the activity indices share: the rule tables (``data/activity/*.yaml``) and the scorer.

An index is areas × area items, plus groups of items and single items scored once per
patient. Each item has a whole-number range and a part (activity or damage). Scoring adds
what was recorded; a left-out area or item is *unknown*, not zero, so every total comes with
the range it could reach if the rest were scored, and a band is given only when the whole
range falls in one band.

This module imports nothing from :mod:`ifnscope.case`, so the case model can build its input
models from the same tables (one source of truth for areas and ranges).
"""

# No `from __future__ import annotations` here: pydantic would then compile every field's
# annotation string when the models are defined, which slows importing the case model.
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, SourceRef

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
    anchors: dict[int, str] | None
    note: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if not 0 <= self.min < self.max:
            raise ValueError(f"item {self.key}: bad range {self.min}-{self.max}")
        if self.anchors is not None and set(self.anchors) != set(range(self.min, self.max + 1)):
            raise ValueError(f"item {self.key}: anchors must cover {self.min}-{self.max}")
        return self


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


class CutOffRule(_Row):
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


class ChangeRule(_Row):
    id: str
    label: str
    points: int | None = None
    percent: int | None = None
    direction: Literal["both", "improvement"]
    min_baseline: int | None = None
    source: SourceRef
    baseline_source: SourceRef | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> Self:
        if (self.points is None) == (self.percent is None):
            raise ValueError(f"change rule {self.id}: give points or percent, not both")
        return self


class CombinedRule(_Row):
    id: str
    label: str
    any_of: list[str]
    source: SourceRef


class Change(_Row):
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
    cut_offs: list[CutOffRule]
    thresholds: list[ThresholdRule]
    change: Change
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


# ---------------------------------------------------------------------------------- results

Range = tuple[int, int]


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


class CutOffResult(Result):
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
    cut_offs: list[CutOffResult]
    thresholds: list[ThresholdResult]
    areas: list[AreaScore]
    items: list[ItemScore]
    anchors_note: str
    references: list[Reference]
    unverified: list[str]
    because: str


# ---------------------------------------------------------------------------------- scoring


@dataclass
class _Tally:
    known: dict[str, int] = field(default_factory=lambda: {"activity": 0, "damage": 0})
    open: dict[str, int] = field(default_factory=lambda: {"activity": 0, "damage": 0})
    multiplied_known: int = 0
    multiplied_open: int = 0

    def add(self, item: ItemRule, value: int | None, multiplied: bool) -> None:
        if multiplied:
            if value is None:
                self.multiplied_open += item.max
            else:
                self.multiplied_known += value
        elif value is None:
            self.open[item.part] += item.max
        else:
            self.known[item.part] += value


@dataclass(frozen=True)
class Scored:
    """The numbers of one scoring, before they are dressed as a result."""

    activity: Range
    damage: Range
    unscored: tuple[str, ...]
    activity_open: bool
    damage_open: bool
    areas: tuple[AreaScore, ...]
    items: tuple[ItemScore, ...]
    areas_scored: int


def _value(entry: Any, key: str) -> Any:
    return None if entry is None else getattr(entry, key, None)


def score(rules: IndexRules, entry: Any) -> Scored:
    """Score one index entry (the case's ``activity.cdasi`` / ``activity.clasi`` model)."""
    mult = rules.multiplier
    tally = _Tally()
    unscored: list[str] = []
    areas: list[AreaScore] = []
    areas_entry = _value(entry, "areas")
    for area in rules.areas.rows:
        a = _value(areas_entry, area.key)
        sub = _Tally()
        missing: list[str] = []
        for item in rules.area_items_for(area):
            v = _value(a, item.key)
            multiplied = mult is not None and mult.item == item.key
            tally.add(item, v, multiplied)
            sub.add(item, v, False)
            if v is None:
                missing.append(item.label)
        if a is None:
            unscored.append(f"{area.label} (area not scored)")
        else:
            unscored += [f"{area.label}: {m}" for m in missing]
        areas.append(
            AreaScore(
                key=area.key,
                label=area.label,
                scored=a is not None,
                activity=sub.known["activity"],
                damage=sub.known["damage"],
                unscored_items=missing,
                activity_range=(sub.known["activity"], sub.known["activity"] + sub.open["activity"]),
                damage_range=(sub.known["damage"], sub.known["damage"] + sub.open["damage"]),
            )
        )
    items: list[ItemScore] = []
    for group in rules.groups:
        g = _value(entry, group.key)
        for item in group.items:
            v = _value(g, item.key)
            tally.add(item, v, False)
            items.append(_item_score(f"{group.key}.{item.key}", item, v))
            if v is None:
                unscored.append(item.label)
    for item in rules.items:
        v = _value(entry, item.key)
        tally.add(item, v, False)
        items.append(_item_score(item.key, item, v))
        if v is None:
            unscored.append(item.label)
    act = (tally.known["activity"], tally.known["activity"] + tally.open["activity"])
    dmg_known, dmg_open = tally.known["damage"], tally.open["damage"]
    if mult is None:
        damage = (dmg_known, dmg_known + dmg_open)
    else:
        flag = _value(entry, mult.flag)
        low = mult.factor if flag is True else 1
        high = 1 if flag is False else mult.factor
        damage = (
            dmg_known + tally.multiplied_known * low,
            dmg_known + dmg_open + (tally.multiplied_known + tally.multiplied_open) * high,
        )
        if flag is None and tally.multiplied_known + tally.multiplied_open > 0:
            unscored.append(f"{mult.label} (multiplies {mult.item} by {mult.factor})")
    return Scored(
        activity=act,
        damage=damage,
        unscored=tuple(unscored),
        activity_open=act[0] != act[1],
        damage_open=damage[0] != damage[1],
        areas=tuple(areas),
        items=tuple(items),
        areas_scored=sum(a.scored for a in areas),
    )


def _item_score(key: str, item: ItemRule, value: int | None) -> ItemScore:
    return ItemScore(
        key=key,
        label=item.label,
        part=item.part,
        value=value,
        max=item.max,
        reference=Reference.of(item.source),
    )


def band_call(bands: Bands, low: int, high: int) -> BandCall:
    hit = [b for b in bands.rows if b.min <= high and b.max >= low]
    if len(hit) == 1:
        return BandCall(band=hit[0].id, band_label=hit[0].label, band_if_complete_could_be=[])
    return BandCall(band=None, band_label=None, band_if_complete_could_be=[b.id for b in hit])


def _labels(bands: Bands) -> dict[str, str]:
    return {b.id: b.label for b in bands.rows}


def cut_off_result(rule: CutOffRule, bands: Bands, low: int, high: int) -> CutOffResult:
    labels = _labels(bands)
    if high < rule.value:
        band, could = rule.below, []
        text = f"{labels[band]} by the {rule.label} ({rule.value})"
    elif low > rule.value:
        band, could = rule.above, []
        text = f"{labels[band]} by the {rule.label} ({rule.value})"
    else:
        band, could = None, [rule.below, rule.above]
        text = (
            rule.at
            if low == high
            else f"the score could fall on either side of the {rule.label} ({rule.value})"
        )
    return CutOffResult(
        id=rule.id,
        label=rule.label,
        value=rule.value,
        band=band,
        band_if_complete_could_be=could,
        text=text,
        reference=Reference.of(rule.source),
    )


def _position(value: int, low: int, high: int) -> Literal["above", "below", "at", "either side"]:
    if low > value:
        return "above"
    if high < value:
        return "below"
    return "at" if low == high else "either side"


def threshold_result(rule: ThresholdRule, short: str, low: int, high: int) -> ThresholdResult:
    position = _position(rule.value, low, high)
    met: bool | None = None
    if rule.op == "ge":
        met = True if low >= rule.value else False if high < rule.value else None
        word = {True: "meets", False: "does not meet", None: "may or may not meet"}[met]
        text = f"{word} the {short} activity ≥{rule.value} threshold"
    else:
        text = {
            "above": f"above the threshold of {rule.value}",
            "below": f"below the threshold of {rule.value}",
            "at": f"at the threshold of {rule.value} (the source does not say on which side it falls)",
            "either side": f"could fall on either side of the threshold of {rule.value}",
        }[position]
    return ThresholdResult(
        id=rule.id,
        label=rule.label,
        value=rule.value,
        op=rule.op,
        position=position,
        met=met,
        text=text,
        reference=Reference.of(rule.source),
    )


def references(rules: IndexRules) -> list[Reference]:
    """Every reference a result of this index rests on, each once, in table order."""
    return list(dict.fromkeys(Reference.of(s) for s in rules.scoring_sources()))


def _span(r: Range) -> str:
    return f"{r[0]}" if r[0] == r[1] else f"{r[0]}–{r[1]}"


def evaluate_index(rules: IndexRules, entry: Any) -> dict[str, Any]:
    """The fields every index result shares (the engines add their own and build the model)."""
    s = score(rules, entry)
    amax, dmax = rules.totals.activity.max, rules.totals.damage.max
    call = band_call(rules.bands, *s.activity)
    anchored = [i.label for i in rules.area_items + rules.items if i.anchors is not None]
    anchors_note = (
        f"Anchor words were verified for: {', '.join(anchored)}. Score every other item from {rules.form}."
        if anchored
        else f"Anchor words were not verified for any item: score from {rules.form}."
    )
    n_areas = len(rules.areas.rows)
    parts = [
        f"{rules.short} activity {s.activity[0]} of {amax} and damage {s.damage[0]} of {dmax}, "
        f"from {s.areas_scored} of {n_areas} areas scored"
    ]
    if s.unscored:
        parts.append(
            f"{len(s.unscored)} entr{'ies' if len(s.unscored) != 1 else 'y'} not scored, so activity "
            f"could be {_span(s.activity)} and damage {_span(s.damage)}"
        )
    labels = _labels(rules.bands)
    if call.band is not None:
        parts.append(f"{rules.bands.name} band: {call.band_label} ({rules.bands.rule})")
    else:
        could = " or ".join(labels[b] for b in call.band_if_complete_could_be)
        parts.append(f"band not determined: if complete it could be {could} ({rules.bands.rule})")
    return {
        "id": rules.id,
        "title": rules.title,
        "short": rules.short,
        "activity": s.activity[0],
        "activity_max": amax,
        "damage": s.damage[0],
        "damage_max": dmax,
        "damage_verified": rules.totals.damage.source.confidence != "U",
        "activity_range": s.activity,
        "damage_range": s.damage,
        "activity_complete": not s.activity_open,
        "damage_complete": not s.damage_open,
        "complete": not s.unscored,
        "unscored": list(s.unscored),
        "band": call.band,
        "band_label": call.band_label,
        "band_if_complete_could_be": call.band_if_complete_could_be,
        "band_rule": rules.bands.rule,
        "bands": [BandInfo(**b.model_dump()) for b in rules.bands.rows],
        "band_reference": Reference.of(rules.bands.source),
        "cut_offs": [cut_off_result(c, rules.bands, *s.activity) for c in rules.cut_offs],
        "thresholds": [threshold_result(t, rules.short, *s.activity) for t in rules.thresholds],
        "areas": list(s.areas),
        "items": list(s.items),
        "anchors_note": anchors_note,
        "references": references(rules),
        "unverified": rules.unverified_texts(),
        "because": "; ".join(parts) + ".",
    }
