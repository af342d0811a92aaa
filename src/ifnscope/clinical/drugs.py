"""Medication names as clinicians write them -> generic drugs and drug classes.

A medication list says "Keytruda", "Lamisil 250 mg", "PPI" or "mycophenolate mofetil". The
trigger screen and the therapy history need the generic drug and its classes. Names come from
two packaged tables of the same shape, ``data/clinical/drugs.yaml`` (drugs that can trigger
lupus or dermatomyositis) and ``data/clinical/therapies.yaml`` (their treatments), each brand
with the place it was read.

Matching is deliberately conservative: the whole name, then the name without doses, forms and
routes, then a known name as whole words inside the text. Nothing fuzzy is ever *used*; a name
that does not resolve is reported as unrecognised with the nearest known name as a suggestion,
because silently guessing a drug would be worse than saying we do not know it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, SourceRef

DRUG_TABLES = ("clinical/drugs.yaml", "clinical/therapies.yaml")

# Words that say how or how much, never which drug: dropped before the second lookup.
_NOISE = {
    "mg",
    "g",
    "mcg",
    "ug",
    "µg",
    "ml",
    "iu",
    "units",
    "unit",
    "tablet",
    "tablets",
    "tab",
    "tabs",
    "capsule",
    "capsules",
    "cap",
    "caps",
    "cream",
    "ointment",
    "gel",
    "lotion",
    "solution",
    "injection",
    "infusion",
    "oral",
    "po",
    "iv",
    "sc",
    "subcutaneous",
    "intravenous",
    "im",
    "daily",
    "weekly",
    "bid",
    "tid",
    "qd",
    "od",
    "bd",
    "q2w",
    "q3w",
    "q4w",
    "once",
    "twice",
    "a",
    "day",
    "week",
    "per",
    "every",
    "x",
    "sr",
    "xr",
    "er",
    "xl",
    "cr",
    "la",
    "hcl",
    "hydrochloride",
    "sodium",
    "sulfate",
    "sulphate",
    "magnesium",
    "potassium",
    "besylate",
    "mesylate",
    "maleate",
    "tartrate",
    "succinate",
    "dihydrate",
    "monohydrate",
    "generic",
    "and",
    "with",
    "the",
}


class DrugClass(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    terms: list[str] = Field(default_factory=list)


class Drug(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    classes: list[str] = Field(default_factory=list)
    brands: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    names_source: SourceRef | None = None


class DrugTable(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # therapies.yaml carries more keys
    classes: dict[str, DrugClass] = Field(default_factory=dict)
    drugs: dict[str, Drug] = Field(default_factory=dict)


How = Literal["generic", "brand", "alias", "class", "unrecognised"]


class Resolution(BaseModel):
    """What a recorded medication name was taken to mean, and how."""

    model_config = ConfigDict(frozen=True)

    recorded_as: str
    generic: str | None = Field(description="The generic drug, when the name names one drug")
    classes: list[str] = Field(description="Every class the name falls in")
    how: How
    matched: str | None = Field(default=None, description="The known name that matched")
    suggestion: str | None = Field(default=None, description="Nearest known name, when unrecognised")
    names_reference: Reference | None = None

    @property
    def recognised(self) -> bool:
        return self.how != "unrecognised"

    def describe(self) -> str:
        if self.how == "unrecognised":
            hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
            return f"'{self.recorded_as}' is not a drug ifnscope knows{hint}"
        if self.how == "class":
            return f"'{self.recorded_as}' read as the class {label_of_class(self.classes[0])}"
        if self.how == "generic":
            return f"'{self.recorded_as}' read as {self.generic}"
        return f"'{self.recorded_as}' read as {self.generic} ({self.how} name {self.matched})"


@dataclass(frozen=True)
class _Entry:
    generic: str | None
    classes: tuple[str, ...]
    how: How
    source: SourceRef | None


def normalise(name: str) -> str:
    """Lower case, ® and ™ dropped, punctuation except hyphens made spaces, spaces collapsed."""
    s = name.lower().replace("®", " ").replace("™", " ")
    s = re.sub(r"[^a-z0-9\-µ ]+", " ", s)
    return " ".join(s.split())


def _strip_noise(s: str) -> str:
    words = [w for w in s.split() if w not in _NOISE and not re.fullmatch(r"[\d.,/\-]+[a-zµ]*", w)]
    return " ".join(words)


@cache
def _tables() -> tuple[DrugTable, ...]:
    out = []
    for name in DRUG_TABLES:
        out.append(load_table(name, DrugTable))
    return tuple(out)


@cache
def all_classes() -> dict[str, DrugClass]:
    merged: dict[str, DrugClass] = {}
    for t in _tables():
        for key, cls in t.classes.items():
            if key in merged and merged[key] != cls:
                raise DataError(f"drug class {key!r} is defined differently in two drug tables")
            merged[key] = cls
    return merged


@cache
def all_drugs() -> dict[str, Drug]:
    merged: dict[str, Drug] = {}
    classes = all_classes()
    for t in _tables():
        for key, drug in t.drugs.items():
            if key in merged:
                raise DataError(f"drug {key!r} is defined in two drug tables")
            for c in drug.classes:
                if c not in classes:
                    raise DataError(f"drug {key!r}: unknown class {c!r}")
            merged[key] = drug
    return merged


def label_of_class(key: str) -> str:
    return all_classes()[key].label


@cache
def _index() -> dict[str, _Entry]:
    """Every known name (normalised) -> what it means. A name meaning two things is a data bug."""
    idx: dict[str, _Entry] = {}

    def put(name: str, entry: _Entry) -> None:
        key = normalise(name)
        old = idx.get(key)
        if old is not None and (old.generic, old.classes) != (entry.generic, entry.classes):
            raise DataError(f"the drug name {name!r} means two different things in the drug tables")
        if old is None or entry.how == "generic":
            idx[key] = entry

    for generic, drug in all_drugs().items():
        classes = tuple(drug.classes)
        put(generic, _Entry(generic, classes, "generic", None))
        for b in drug.brands:
            put(b, _Entry(generic, classes, "brand", drug.names_source))
        for a in drug.aliases:
            put(a, _Entry(generic, classes, "alias", None))
    for key, cls in all_classes().items():
        for term in cls.terms:
            if normalise(term) not in idx:
                idx[normalise(term)] = _Entry(None, (key,), "class", None)
    return idx


def _result(recorded: str, entry: _Entry, matched: str) -> Resolution:
    return Resolution(
        recorded_as=recorded,
        generic=entry.generic,
        classes=list(entry.classes),
        how=entry.how,
        matched=matched,
        names_reference=Reference.of(entry.source) if entry.source else None,
    )


# The words a route adds to a name when the tables list the treatment by route ("topical
# tacrolimus", "oral steroids"): tried before the name alone.
_ROUTE_WORDS = {
    "topical": ("topical",),
    "oral": ("oral", "systemic"),
    "intravenous": ("intravenous", "systemic"),
    "subcutaneous": ("systemic",),
    "intramuscular": ("systemic",),
}


def resolve(name: str, route: str | None = None) -> Resolution:
    """Resolve one recorded medication name (pure; the tables are read once per process).

    With a ``route``, a name the tables list by route is read as that route's treatment first:
    "steroids" given topically is a topical corticosteroid, "tacrolimus" given topically is
    topical tacrolimus (a calcineurin-inhibitor ointment, not the systemic immunosuppressant)."""
    idx = _index()
    norm = normalise(name)
    for word in _ROUTE_WORDS.get(route or "", ()):
        if not norm.startswith(word):
            for candidate in (f"{word} {norm}", f"{word} {_strip_noise(norm)}"):
                if candidate in idx:
                    return _result(name, idx[candidate], candidate)
    for candidate in (norm, _strip_noise(norm), norm.rstrip("s")):
        if candidate and candidate in idx:
            return _result(name, idx[candidate], candidate)
    # A known name as whole words inside a longer text ("pembrolizumab 200 mg every 3 weeks"),
    # longest names first so "certolizumab pegol" wins over a shorter overlap.
    padded = f" {norm} "
    for known in sorted(idx, key=len, reverse=True):
        if len(known) >= 4 and f" {known} " in padded:
            return _result(name, idx[known], known)
    words = _strip_noise(norm) or norm
    near = difflib.get_close_matches(words, list(idx), n=1, cutoff=0.75)
    return Resolution(
        recorded_as=name, generic=None, classes=[], how="unrecognised", suggestion=near[0] if near else None
    )


def members(class_key: str) -> list[str]:
    """The generic drugs of a class, as listed in the tables."""
    return sorted(g for g, d in all_drugs().items() if class_key in d.classes)


def table_summary() -> list[dict[str, Any]]:
    """One row per drug for ``ifnscope drugs``: generic, classes, brand names and their source."""
    rows = []
    for generic, d in sorted(all_drugs().items()):
        rows.append(
            {
                "generic": generic,
                "classes": [label_of_class(c) for c in d.classes],
                "brands": list(d.brands),
                "aliases": list(d.aliases),
                "names_source": Reference.of(d.names_source).citation if d.names_source else None,
            }
        )
    return rows
