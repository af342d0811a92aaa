"""The scorer every activity index shares: item ranges, unscored entries as score ranges.

Scoring adds what was recorded; a left-out area or item is *unknown*, not zero, so every total
comes with the range it could reach if the rest were scored, and a band is given only when the
whole range falls in one band. Cut-offs and thresholds say where the score lies relative to a
published number; they classify nothing.
"""

# No `from __future__ import annotations` here: pydantic would then compile every field's
# annotation string when the models are defined, which slows importing the case model.
from dataclasses import dataclass, field
from typing import Any, Literal

from ifnscope.activity.results import (
    AreaScore,
    BandCall,
    BandCutOffResult,
    BandInfo,
    ItemScore,
    Range,
    ThresholdResult,
    span,
)
from ifnscope.activity.rules import BandCutOffRule, Bands, IndexRules, ItemRule, ThresholdRule
from ifnscope.errors import Issue
from ifnscope.provenance import Reference


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


def value_issues(rules: IndexRules, entry: Any, at: tuple[str, ...]) -> list[Issue]:
    """Scores the form does not offer (CLASI scalp scarring 1 or 2): each a ``case.invalid-value``
    naming the allowed values. The case model checks each item's range; this checks the few
    items whose form skips values inside it."""
    out: list[Issue] = []
    for path, item in rules.entries():
        if item.values is None:
            continue
        node = entry
        for key in path:
            node = _value(node, key)
        if node is not None and node not in item.values:
            out.append(
                Issue(
                    "case.invalid-value",
                    (*at, *path),
                    f"{node} is not a {rules.short} score for {item.label.lower()}: the form scores "
                    f"{item.values_note}",
                    expected=item.allowed_in_words(),
                    got=node,
                )
            )
    return out


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


def band_cut_off_result(rule: BandCutOffRule, bands: Bands, low: int, high: int) -> BandCutOffResult:
    labels = _labels(bands)
    band: str | None
    could: list[str]
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
    return BandCutOffResult(
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
            f"could be {span(s.activity)} and damage {span(s.damage)}"
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
        "cut_offs": [band_cut_off_result(c, rules.bands, *s.activity) for c in rules.cut_offs],
        "thresholds": [threshold_result(t, rules.short, *s.activity) for t in rules.thresholds],
        "areas": list(s.areas),
        "items": list(s.items),
        "anchors_note": anchors_note,
        "references": references(rules),
        "unverified": rules.unverified_texts(),
        "because": "; ".join(parts) + ".",
    }
