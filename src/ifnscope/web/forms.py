"""The case form: its fields, the pure conversion of a submitted form to a case document, and the
way back from a validation issue to the field it is about.

Field names are the case's own key paths, so an issue's path points at its field directly:

=================================  ============================================================
``patient.sex``, ``patient.age_years``, ``onset.age_years``, ``onset.skin_disease_months``
``onset.after``                    checkboxes, one value per event
``findings.<name>``                tri-state radios: ``present`` / ``absent`` / ``""`` (not
                                   recorded, the default); the same for ``history.<name>``,
                                   ``skin_biopsy.<name>`` and ``muscle.biopsy.<feature>``
``lesions.<n>.<key>``              repeatable rows: site, morphology, colour, scale, bilateral, note
``labs.<lab>.value`` / ``.upper_limit``  CK, LDH, AST, ALT, aldolase; ``.stated``: normal /
                                   elevated (a result reported without a number)
``labs.ana_titer``                 a select of reciprocal dilutions (0 = negative); the same for
                                   ``labs.ana_titer_cutoff`` (the laboratory's cut-off, no 0)
``labs.c3_low`` / ``c4_low`` / ``ch50_low``  low / not low / not recorded
``labs.antibodies.<name>``         positive / negative / equivocal / not recorded
``muscle.mri``, ``muscle.emg``     normal / abnormal / not_done; ``muscle.biopsy``: not_done / done
``medications.<n>.<key>``          repeatable rows: name, months_before_onset, started, stopped,
                                   response, dose, route, status (never taken: planned,
                                   refused, denied_by_payer)
``cancer_screening.<test>``        negative / positive / not_done
``activity.<index>.areas.<area>.<item>``  the CDASI / CLASI area × item grid (``index`` is
                                   ``cdasi`` or ``clasi``); ``activity.<index>.<group>.<item>``
                                   and ``activity.<index>.<item>`` for the items scored once;
                                   ``activity.<index>.<flag>`` yes / no / not recorded;
                                   ``activity.baseline.<key>`` an earlier visit's totals
=================================  ============================================================

Rows whose fields are all empty are left out, and the *n* of a row in the form is not its index
in the case: :func:`filled_rows` gives the form row of every case row, and :func:`field_for`
uses it to point an issue such as ``lesions[1].colour`` at the right row.

:func:`case_from_form` only converts: a number that does not parse stays text, so the case
validator (``case.reader.validate_case``) reports it against its field like any other problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ifnscope.activity.rules import IndexRules, ItemRule, cdasi_rules, clasi_rules
from ifnscope.case.model import FORMAT
from ifnscope.case.vocabulary import vocabulary

FormInput = Mapping[str, "str | Sequence[str]"]

# Vocabulary groups of findings, in the order of the form, with their headings.
FINDING_GROUPS: tuple[tuple[str, str], ...] = (
    ("skin_dm", "Skin: dermatomyositis pattern"),
    ("skin_lupus", "Skin: lupus pattern"),
    ("dle", "Discoid lupus detail (2020 DLE criteria)"),
    ("muscle", "Muscle weakness (objective, symmetric)"),
    ("symptoms", "Symptoms"),
    ("sle", "Systemic lupus"),
)
TRI_VALUES = ("present", "absent")
ANTIBODY_VALUES = ("positive", "negative", "equivocal")
STUDY_VALUES = ("normal", "abnormal", "not_done")
SCREENING_VALUES = ("negative", "positive", "not_done")
# Reciprocal ANA titres offered (0 = negative): the 1:40 and the 1:100 doubling series.
ANA_TITRES = (0, 40, 80, 100, 160, 200, 320, 400, 640, 800, 1280, 1600, 2560)
LESION_FIELDS = ("site", "morphology", "colour", "scale", "bilateral", "note")
MEDICATION_FIELDS = (
    "name",
    "months_before_onset",
    "started",
    "stopped",
    "response",
    "dose",
    "route",
    "status",
)
ROW_SECTIONS = {"lesions": LESION_FIELDS, "medications": MEDICATION_FIELDS}


# ------------------------------------------------------------------------------- reading


def values(form: FormInput, key: str) -> list[str]:
    """Every value submitted under ``key`` (checkboxes and repeated keys give several)."""
    raw = form.get(key)
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    return [str(v) for v in raw]


def value(form: FormInput, key: str) -> str:
    """The first value under ``key``, stripped; ``""`` when missing."""
    got = values(form, key)
    return got[0].strip() if got else ""


def _number(text: str) -> float | int | str | None:
    """A number from a form field: ``""`` is None, ``1,5`` is 1.5; anything else stays text (and
    fails validation against its field)."""
    t = text.strip()
    if not t:
        return None
    t = t.replace(",", ".") if t.count(",") == 1 and "." not in t else t
    try:
        n = float(t)
    except ValueError:
        return text.strip()
    if n != n or n in (float("inf"), float("-inf")):
        return text.strip()
    return int(n) if n.is_integer() and re.fullmatch(r"[+-]?\d+", t) else n


def _flag(text: str) -> bool | None:
    return True if text.lower() in ("on", "true", "yes", "1") else None


def row_numbers(form: FormInput, section: str) -> list[int]:
    """The row numbers present in the form for a repeatable section, in order."""
    pat = re.compile(rf"^{re.escape(section)}\.(\d+)\.")
    nums = {int(m.group(1)) for k in form if (m := pat.match(k))}
    return sorted(nums)


def _row_is_empty(form: FormInput, section: str, n: int) -> bool:
    return not any(value(form, f"{section}.{n}.{f}") for f in ROW_SECTIONS[section])


def filled_rows(form: FormInput, section: str) -> list[int]:
    """The form row number of each row that becomes part of the case, in case order."""
    return [n for n in row_numbers(form, section) if not _row_is_empty(form, section, n)]


# ---------------------------------------------------------------------------- converting


def _tri_map(form: FormInput, prefix: str, names: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        v = value(form, f"{prefix}.{name}")
        if v and v != "not_recorded":
            out[name] = v  # a word outside `allowed` fails validation, at its field
    return out


def _lesion(form: FormInput, n: int) -> dict[str, Any]:
    p = f"lesions.{n}."
    row: dict[str, Any] = {}
    for key in ("site", "morphology", "colour"):
        if v := value(form, p + key):
            row[key] = v
    for key in ("scale", "bilateral"):
        if _flag(value(form, p + key)):
            row[key] = True
    if note := value(form, p + "note"):
        row["note"] = note
    return row


def _medication(form: FormInput, n: int) -> dict[str, Any]:
    p = f"medications.{n}."
    row: dict[str, Any] = {}
    if name := value(form, p + "name"):
        row["name"] = name
    months = _number(value(form, p + "months_before_onset"))
    if months is not None:
        row["months_before_onset"] = months
    for key in ("started", "stopped", "response", "dose", "route", "status"):
        if v := value(form, p + key):
            row[key] = v
    return row


def case_from_form(form: FormInput, *, case_id: str = "web-case") -> dict[str, Any]:
    """The case document (``ifnscope-case/1``) a submitted case form describes.

    Pure: no validation, no database. Not-recorded values and empty rows are left out (a finding
    not written is unknown, never absent); numbers are parsed where they parse. The case id is
    the form's ``id`` field, else ``case_id``."""
    v = vocabulary()
    doc: dict[str, Any] = {"format": FORMAT, "id": value(form, "id") or case_id}

    patient: dict[str, Any] = {}
    if sex := value(form, "patient.sex"):
        patient["sex"] = sex
    age = _number(value(form, "patient.age_years"))
    if age is not None:
        patient["age_years"] = age
    if patient:
        doc["patient"] = patient

    onset: dict[str, Any] = {}
    for key in ("age_years", "skin_disease_months"):
        n = _number(value(form, f"onset.{key}"))
        if n is not None:
            onset[key] = n
    after = [e.strip() for e in values(form, "onset.after") if e.strip()]
    if after:
        onset["after"] = list(dict.fromkeys(after))
    if onset:
        doc["onset"] = onset

    findings = _tri_map(form, "findings", list(v.findings))
    if findings:
        doc["findings"] = findings

    lesions = [_lesion(form, n) for n in filled_rows(form, "lesions")]
    if lesions:
        doc["lesions"] = lesions

    labs: dict[str, Any] = {}
    for lab in v.labs_numeric:
        val = _number(value(form, f"labs.{lab}.value"))
        uln = _number(value(form, f"labs.{lab}.upper_limit"))
        stated = value(form, f"labs.{lab}.stated")
        if val is None and uln is None and not stated:
            continue
        entry: dict[str, Any] = {}
        if stated:
            entry["stated"] = stated
        if val is not None:
            entry["value"] = val
        if uln is not None:
            entry["upper_limit"] = uln
        labs[lab] = entry  # an upper limit alone: the value or stated result is missing (at the field)
    for key in ("ana_titer", "ana_titer_cutoff"):
        if titre := value(form, f"labs.{key}"):
            labs[key] = _number(titre)
    for key in ("c3_low", "c4_low", "ch50_low"):
        if (x := value(form, f"labs.{key}")) and x != "not_recorded":
            labs[key] = x
    antibodies = _tri_map(form, "labs.antibodies", list(v.antibodies))
    if antibodies:
        labs["antibodies"] = antibodies
    if labs:
        doc["labs"] = labs

    muscle: dict[str, Any] = {}
    for key in ("mri", "emg"):
        if x := value(form, f"muscle.{key}"):
            muscle[key] = x
    biopsy = value(form, "muscle.biopsy")
    if biopsy == "not_done":
        muscle["biopsy"] = "not_done"
    elif biopsy == "done":
        muscle["biopsy"] = _tri_map(form, "muscle.biopsy", list(v.muscle_biopsy))
    elif biopsy:
        muscle["biopsy"] = biopsy
    if muscle:
        doc["muscle"] = muscle

    skin_biopsy = _tri_map(form, "skin_biopsy", list(v.skin_biopsy))
    if skin_biopsy:
        doc["skin_biopsy"] = skin_biopsy

    medications = [_medication(form, n) for n in filled_rows(form, "medications")]
    if medications:
        doc["medications"] = medications

    history = _tri_map(form, "history", list(v.history))
    if history:
        doc["history"] = history

    screening = _tri_map(form, "cancer_screening", list(v.cancer_screening))
    if screening:
        doc["cancer_screening"] = screening

    activity = _activity(form)
    if activity:
        doc["activity"] = activity
    return doc


# ------------------------------------------------------------------- CDASI / CLASI grids


def activity_indices() -> tuple[tuple[str, IndexRules], ...]:
    """The indices the form scores, keyed as in the case's ``activity:`` section."""
    return (("cdasi", cdasi_rules()), ("clasi", clasi_rules()))


BASELINE_TOTALS = ("cdasi_activity", "cdasi_damage", "clasi_activity", "clasi_damage")
FLAG_VALUES = {"yes": True, "no": False}


def index_fields(key: str, rules: IndexRules) -> list[tuple[str, ItemRule]]:
    """Every score field of one index, as (form field name, item), in form order; the names are
    the case's key paths, generated from the rule table (nothing typed by hand)."""
    return [(".".join(("activity", key, *path)), item) for path, item in rules.entries()]


def _activity_index(form: FormInput, key: str, rules: IndexRules) -> dict[str, Any]:
    """One index entry: a score chosen is kept, a cell left blank is left out (not scored,
    unknown, never 0); an area or group with nothing chosen is left out whole."""
    entry: dict[str, Any] = {}
    for name, _item in index_fields(key, rules):
        n = _number(value(form, name))
        if n is None:
            continue
        node = entry
        *parents, leaf = name.split(".")[2:]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = n  # text or a fraction stays as typed: the case model refuses it at its field
    if rules.multiplier is not None:
        flag = value(form, f"activity.{key}.{rules.multiplier.flag}")
        if flag:
            entry[rules.multiplier.flag] = FLAG_VALUES.get(flag, flag)
    return entry


def _activity(form: FormInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, rules in activity_indices():
        entry = _activity_index(form, key, rules)
        if entry:
            out[key] = entry
    baseline: dict[str, Any] = {}
    if date := value(form, "activity.baseline.date"):
        baseline["date"] = date
    for key in BASELINE_TOTALS:
        n = _number(value(form, f"activity.baseline.{key}"))
        if n is not None:
            baseline[key] = n
    if baseline:
        out["baseline"] = baseline
    return out


def _cell(name: str, item: ItemRule, *, multiplied: bool = False) -> dict[str, Any]:
    """One score field of the grid: its choices (with the anchor words where a source gave them)."""
    anchors = item.anchors or {}
    return {
        "name": name,
        "item": item,
        "options": [(v, f"{v} · {anchors[v]}" if v in anchors else str(v)) for v in item.allowed],
        "multiplied": multiplied,
        "unverified": item.source.confidence == "U",
    }


@cache
def activity_grid() -> tuple[dict[str, Any], ...]:
    """What the CDASI / CLASI grid template draws, built from the rule tables: per index the
    area × item table, the items scored once, the multiplier flag, the maxima and the sourced
    bands (the running totals in ``static/activity.js`` read them from data attributes)."""
    out: list[dict[str, Any]] = []
    for key, rules in activity_indices():
        mult = rules.multiplier
        rows = []
        for area in rules.areas.rows:
            scored = {i.key for i in rules.area_items_for(area)}
            cells: dict[str, dict[str, Any]] = {}
            for item in rules.area_items:
                name = f"activity.{key}.areas.{area.key}.{item.key}"
                if item.key in scored:
                    cells[item.key] = _cell(name, item, multiplied=mult is not None and mult.item == item.key)
                else:
                    instead = next((i.label for i in rules.items if i.key == area.instead), None)
                    cells[item.key] = {"name": None, "item": item, "instead": instead}
            rows.append({"area": area, "cells": cells})
        once = [
            {"label": g.label, "cells": [_cell(f"activity.{key}.{g.key}.{i.key}", i) for i in g.items]}
            for g in rules.groups
        ]
        singles = [_cell(f"activity.{key}.{i.key}", i) for i in rules.items]
        out.append(
            {
                "key": key,
                "rules": rules,
                "columns": {p: [i for i in rules.area_items if i.part == p] for p in ("activity", "damage")},
                "rows": rows,
                "groups": once,
                "singles": singles,
                "flag": None if mult is None else {"name": f"activity.{key}.{mult.flag}", "rule": mult},
                "bands_json": json.dumps(
                    [{"id": b.id, "label": b.label, "min": b.min, "max": b.max} for b in rules.bands.rows]
                ),
                "fields": [name for name, _ in index_fields(key, rules)]
                + ([f"activity.{key}.{mult.flag}"] if mult is not None else []),
            }
        )
    return tuple(out)


# ------------------------------------------------------------------- issues -> fields


@cache
def field_names() -> frozenset[str]:
    """Every fixed field of the case form (rows not included)."""
    v = vocabulary()
    names = {
        "visit_date",
        "patient.sex",
        "patient.age_years",
        "onset.age_years",
        "onset.skin_disease_months",
        "onset.after",
        "labs.ana_titer",
        "labs.ana_titer_cutoff",
        "labs.c3_low",
        "labs.c4_low",
        "labs.ch50_low",
        "muscle.mri",
        "muscle.emg",
        "muscle.biopsy",
    }
    names |= {f"findings.{k}" for k in v.findings}
    names |= {f"history.{k}" for k in v.history}
    names |= {f"skin_biopsy.{k}" for k in v.skin_biopsy}
    names |= {f"muscle.biopsy.{k}" for k in v.muscle_biopsy}
    names |= {f"labs.antibodies.{k}" for k in v.antibodies}
    names |= {f"cancer_screening.{k}" for k in v.cancer_screening}
    for lab in v.labs_numeric:
        names |= {f"labs.{lab}.value", f"labs.{lab}.upper_limit", f"labs.{lab}.stated"}
    for key, rules in activity_indices():
        names |= {name for name, _ in index_fields(key, rules)}
        if rules.multiplier is not None:
            names.add(f"activity.{key}.{rules.multiplier.flag}")
    names |= {f"activity.baseline.{k}" for k in ("date", *BASELINE_TOTALS)}
    return frozenset(names)


def field_for(loc: Sequence[str | int], form: FormInput) -> str | None:
    """The form field an issue at case path ``loc`` is about (the nearest enclosing field), or
    None when the form has no field for it (the issue is then shown in the summary only)."""
    parts: list[str | int] = list(loc)
    if len(parts) >= 2 and parts[0] in ROW_SECTIONS and isinstance(parts[1], int):
        section = str(parts[0])
        rows = filled_rows(form, section)
        if parts[1] >= len(rows):
            return None
        n = rows[parts[1]]
        if len(parts) >= 3 and parts[2] in ROW_SECTIONS[section]:
            return f"{section}.{n}.{parts[2]}"
        return f"{section}.{n}"
    names = [str(p) for p in parts if not isinstance(p, int)]
    known = field_names()
    for end in range(len(names), 0, -1):
        candidate = ".".join(names[:end])
        if candidate in known:
            return candidate
    return None


_FIXED_LABELS = {
    "visit_date": "Visit date",
    "patient.sex": "Sex",
    "patient.age_years": "Age at this visit",
    "onset.age_years": "Age at onset",
    "onset.skin_disease_months": "Duration of skin disease",
    "onset.after": "Onset followed",
    "labs.ana_titer": "ANA titre",
    "labs.ana_titer_cutoff": "ANA: the laboratory's cut-off",
    "labs.c3_low": "C3 low",
    "labs.c4_low": "C4 low",
    "labs.ch50_low": "CH50 low",
    "muscle.mri": "Muscle MRI",
    "muscle.emg": "EMG",
    "muscle.biopsy": "Muscle biopsy",
}
_ROW_WORDS = {"months_before_onset": "months before onset", "name": "name"}


def field_label(name: str) -> str:
    """A field name in the words of the form (``labs.ck.upper_limit`` -> 'Creatine kinase: upper
    limit of normal'), for the error summary."""
    v = vocabulary()
    if name in _FIXED_LABELS:
        return _FIXED_LABELS[name]
    parts = name.split(".")
    if parts[0] in ROW_SECTIONS and len(parts) >= 2 and parts[1].isdigit():
        what = "Lesion" if parts[0] == "lesions" else "Medication"
        head = f"{what} {int(parts[1]) + 1}"
        return f"{head}: {_ROW_WORDS.get(parts[2], parts[2].replace('_', ' '))}" if len(parts) > 2 else head
    if parts[0] == "findings" and len(parts) == 2:
        return v.label(parts[1])
    if parts[0] == "activity" and len(parts) >= 3:
        return _activity_label(parts)
    if parts[0] == "labs" and len(parts) == 3 and parts[1] in v.labs_numeric:
        part = {"value": "value", "stated": "as reported"}.get(parts[2], "upper limit of normal")
        return f"{v.labs_numeric[parts[1]]}: {part}"
    tables = {
        "labs.antibodies": v.antibodies,
        "history": v.history,
        "skin_biopsy": v.skin_biopsy,
        "muscle.biopsy": v.muscle_biopsy,
        "cancer_screening": v.cancer_screening,
    }
    prefix, _, key = name.rpartition(".")
    if prefix in tables and key in tables[prefix]:
        return tables[prefix][key].split(" (", 1)[0]
    return name


def _activity_label(parts: list[str]) -> str:
    """``activity.cdasi.areas.scalp.erythema`` -> 'CDASI, Scalp: Erythema'."""
    if parts[1] == "baseline":
        index, _, part = parts[2].partition("_")
        return f"Earlier visit: {index.upper()} {part}" if part else "Earlier visit: date"
    rules = dict(activity_indices()).get(parts[1])
    if rules is None:
        return ".".join(parts)
    if rules.multiplier is not None and parts[2:] == [rules.multiplier.flag]:
        return f"{rules.short}: {rules.multiplier.label}"
    for path, item in rules.entries():
        if list(path) == parts[2:]:
            if path[0] == "areas":
                area = next(a.label for a in rules.areas.rows if a.key == path[1])
                return f"{rules.short}, {area}: {item.label}"
            return f"{rules.short}: {item.label}"
    return ".".join(parts)


# ------------------------------------------------------------------- form state for templates


@dataclass
class FormState:
    """What the case form template shows: submitted (or default) values, the rows to draw, and the
    problems by field."""

    data: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    summary: list[dict[str, str]] = field(default_factory=list)
    lesion_rows: list[int] = field(default_factory=lambda: [0, 1, 2])
    medication_rows: list[int] = field(default_factory=lambda: [0, 1])

    @classmethod
    def from_form(cls, form: FormInput, *, extra: str | None = None) -> FormState:
        data = {k: values(form, k) for k in form}
        lesions = row_numbers(form, "lesions") or [0]
        meds = row_numbers(form, "medications") or [0]
        if extra == "lesion":
            lesions.append(max(lesions) + 1)
        elif extra == "medication":
            meds.append(max(meds) + 1)
        return cls(data=data, lesion_rows=lesions, medication_rows=meds)

    def value(self, name: str, default: str = "") -> str:
        got = self.data.get(name)
        return got[0] if got else default

    def checked(self, name: str, option: str) -> bool:
        got = self.data.get(name)
        if not got:
            return option in ("", "not_recorded")
        return option in got

    def selected(self, name: str, option: str) -> bool:
        return self.value(name) == option

    def error(self, name: str) -> list[str]:
        return self.errors.get(name, [])

    def add_issue(self, name: str | None, path: str, message: str) -> None:
        """One problem: beside its field (when it has one) and in the summary at the top."""
        anchor = f"f-{name}" if name else ""
        label = field_label(name) if name else path
        self.summary.append({"path": path, "label": label, "message": message, "anchor": anchor})
        if name:
            self.errors.setdefault(name, []).append(message)

    def touched(self, prefix: str) -> bool:
        """Whether any field under ``prefix`` has a value or a problem (to open its section)."""
        return any(k.startswith(prefix) and any(v for v in vals) for k, vals in self.data.items()) or any(
            k.startswith(prefix) for k in self.errors
        )

    def next_row(self, kind: str) -> int:
        rows = self.lesion_rows if kind == "lesion" else self.medication_rows
        return max(rows, default=-1) + 1


def field_id(name: str) -> str:
    """The HTML id of a field (``f-labs.ck.value``): dots are valid in ids; the summary links to
    them with ``#f-...``."""
    return f"f-{name}"


def describe_issue(issue: Any) -> str:
    """An issue as a sentence for the form: the message, what was expected, a suggestion."""
    text = str(issue.message)
    if getattr(issue, "expected", None):
        text += f" (expected {issue.expected})"
    if getattr(issue, "suggestion", None):
        text += f"; did you mean '{issue.suggestion}'?"
    return text
