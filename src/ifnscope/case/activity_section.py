"""The case's ``activity:`` section: CDASI v2 and CLASI item scores, and an earlier visit's totals.

The models are built from the rule tables (``data/activity/cdasi.yaml``, ``clasi.yaml``), so
the areas, the items and their ranges have one source of truth. Scores are whole numbers
within the item's range (``strict``: ``2.0`` or ``"2"`` is an error, not a silent
conversion). An area, an item or a flag left out is *not scored*: unknown, never zero.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ifnscope.activity.rules import IndexRules, ItemRule, cdasi_rules, clasi_rules

_STRICT = ConfigDict(extra="forbid", frozen=True)

# The same partial date as medications' dates (case.model.PartialDate; not imported from
# there because case.model imports this module).
_PARTIAL_DATE = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"


def _date_to_str(value: Any) -> Any:
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _check_date(value: str) -> str:
    if not re.fullmatch(_PARTIAL_DATE, value):
        raise PydanticCustomError(
            "date_format", "{value} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD", {"value": repr(value)}
        )
    return value


PartialDate = Annotated[
    str,
    BeforeValidator(_date_to_str),
    AfterValidator(_check_date),
    WithJsonSchema({"type": "string", "pattern": _PARTIAL_DATE}),
]


def _describe(item: ItemRule, form: str) -> str:
    text = f"{item.label} ({item.part}), {item.min}–{item.max} [{item.source.confidence}]"
    if item.anchors:
        text += ": " + "; ".join(f"{k} {v}" for k, v in sorted(item.anchors.items()))
    else:
        text += f"; score from {form}"
    if item.note:
        text += f" ({item.note})"
    if item.source.confidence == "U":
        text += ". Range unverified"
    return text


def _score_field(item: ItemRule, form: str) -> tuple[Any, Any]:
    return (
        int | None,
        Field(default=None, ge=item.min, le=item.max, strict=True, description=_describe(item, form)),
    )


def _model(
    name: str, fields: dict[str, tuple[Any, Any]], doc: str, validators: dict[str, Any] | None = None
) -> type[BaseModel]:
    # The field definitions, typed Any so that mypy does not match them against create_model's
    # own keyword parameters (__config__, __base__ …): no field name here starts with "__".
    definitions: dict[str, Any] = dict(fields)
    model = create_model(
        name, __config__=_STRICT, __doc__=doc, __validators__=validators or {}, **definitions
    )
    model.__module__ = __name__
    return model


def _scored_elsewhere(label: str, keys: list[str], instead: str | None, index: str) -> dict[str, Any]:
    """A before-validator saying where an item not scored in this area is scored instead."""
    if not keys:
        return {}

    def check(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict):
            for key in keys:
                if key in data:
                    where = f"; score it once with activity.{index}.{instead}" if instead else ""
                    raise PydanticCustomError(
                        "scored_elsewhere",
                        "{key} is not scored in the {area} area{where}",
                        {"key": key, "area": label, "where": where},
                    )
        return data

    return {"_scored_elsewhere": model_validator(mode="before")(check)}


def _index_model(prefix: str, rules: IndexRules) -> type[BaseModel]:
    """``Cdasi`` / ``Clasi``: areas, groups, single items and the multiplier flag of one index."""
    form = rules.form
    area_models: dict[tuple[str, ...], type[BaseModel]] = {}
    area_fields: dict[str, tuple[Any, Any]] = {}
    for area in rules.areas.rows:
        items = rules.area_items_for(area)
        sig = tuple(i.key for i in items)
        if sig not in area_models:
            suffix = "" if not area.not_scored else "".join(p.title() for p in area.key.split("_"))
            area_models[sig] = _model(
                f"{prefix}Area{suffix}",
                {i.key: _score_field(i, form) for i in items},
                f"{rules.short} scores in one area. An item left out is not scored (unknown).",
                _scored_elsewhere(area.label, area.not_scored, area.instead, rules.short.lower()),
            )
        note = f"; {', '.join(area.not_scored)} not scored here" if area.not_scored else ""
        area_fields[area.key] = (
            area_models[sig] | None,
            Field(default=None, description=f"{area.label}{note}. Left out: area not scored (unknown)."),
        )
    areas = _model(
        f"{prefix}Areas",
        area_fields,
        f"The {len(rules.areas.rows)} {rules.short} areas. An area left out is not scored (unknown).",
    )
    fields: dict[str, tuple[Any, Any]] = {
        "areas": (areas, Field(default_factory=areas, description=f"Scores by {rules.short} area"))
    }
    for group in rules.groups:
        gm = _model(
            f"{prefix}{''.join(p.title() for p in group.key.split('_'))}",
            {i.key: _score_field(i, form) for i in group.items},
            f"{group.label}. An item left out is not scored (unknown).",
        )
        fields[group.key] = (gm | None, Field(default=None, description=group.label))
    for item in rules.items:
        fields[item.key] = _score_field(item, form)
    if rules.multiplier is not None:
        m = rules.multiplier
        fields[m.flag] = (
            bool | None,
            Field(
                default=None,
                strict=True,
                description=(
                    f"{m.label}: multiplies the summed {m.item} score by {m.factor} "
                    f"[{m.source.confidence}; applied to the sum, which is unverified]"
                ),
            ),
        )
    return _model(prefix, fields, f"{rules.title} ({rules.short}), item by item.")


_C, _L = cdasi_rules(), clasi_rules()
if TYPE_CHECKING:
    # mypy cannot read the rule tables the two models are built from: an entry is an area map, a
    # group of items, a whole-number score or the multiplier flag (the scorer reads them by name).

    class Cdasi(BaseModel):
        def __getattr__(self, key: str) -> object: ...

    class Clasi(BaseModel):
        def __getattr__(self, key: str) -> object: ...

else:
    Cdasi = _index_model("Cdasi", _C)
    Clasi = _index_model("Clasi", _L)


class ActivityBaseline(BaseModel):
    """Totals recorded at an earlier visit, to compare this visit's scores with."""

    model_config = _STRICT
    date: PartialDate | None = Field(default=None, description="YYYY, YYYY-MM or YYYY-MM-DD")
    cdasi_activity: Annotated[int | None, Field(ge=0, le=_C.totals.activity.max, strict=True)] = Field(
        default=None, description=f"CDASI activity (0–{_C.totals.activity.max})"
    )
    cdasi_damage: Annotated[int | None, Field(ge=0, le=_C.totals.damage.max, strict=True)] = Field(
        default=None, description=f"CDASI damage (0–{_C.totals.damage.max}; scale unverified)"
    )
    clasi_activity: Annotated[int | None, Field(ge=0, le=_L.totals.activity.max, strict=True)] = Field(
        default=None, description=f"CLASI activity (0–{_L.totals.activity.max})"
    )
    clasi_damage: Annotated[int | None, Field(ge=0, le=_L.totals.damage.max, strict=True)] = Field(
        default=None, description=f"CLASI damage (0–{_L.totals.damage.max}; total unverified)"
    )


class Activity(BaseModel):
    """Skin activity and damage indices scored at this visit, and optionally an earlier visit's."""

    model_config = _STRICT
    cdasi: Cdasi | None = Field(default=None, description="CDASI v2 (dermatomyositis), item by item")
    clasi: Clasi | None = Field(default=None, description="CLASI (cutaneous lupus), item by item")
    baseline: ActivityBaseline | None = Field(
        default=None, description="Scores recorded at an earlier visit, for the change since then"
    )
