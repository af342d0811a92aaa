"""Read a case file (YAML or JSON) into a :class:`Case`, or say exactly what is wrong.

Every problem comes back as an :class:`~ifnscope.errors.Issue` with a stable code, the key
path, the line (YAML), what was expected, and the nearest valid name; all problems in a
file are reported at once, so a clinician fixes the file in one pass.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ifnscope.case.model import FORMAT, Case, results
from ifnscope.case.vocabulary import vocabulary
from ifnscope.data import load_yaml
from ifnscope.errors import (
    CaseNotFoundError,
    CaseParseError,
    CaseValidationError,
    Issue,
    IssueCode,
)

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

Loc = tuple[str | int, ...]

_BOOL_HINT = "YAML reads yes/no/true/false/on/off as true or false; write the word the format expects"
_BASE60_HINT = (
    "a number written with a colon is kept as text, never read as a YAML 1.1 base-60 number, "
    "where 1:20 would be 80; write a plain number"
)

# pydantic error type -> (our stable code, how to describe what was expected)
_TYPE_CODES: dict[str, IssueCode] = {
    "extra_forbidden": "case.unknown-key",
    "missing": "case.missing-key",
    "literal_error": "case.invalid-value",
    "enum": "case.invalid-value",
    "string_pattern_mismatch": "case.invalid-value",
    "string_too_short": "case.invalid-value",
    "string_too_long": "case.invalid-value",
    "greater_than_equal": "case.out-of-range",
    "greater_than": "case.out-of-range",
    "less_than_equal": "case.out-of-range",
    "less_than": "case.out-of-range",
    "titre_dilution": "case.invalid-value",
    "titre_format": "case.invalid-value",
    "titre_type": "case.wrong-type",
    "biopsy_value": "case.invalid-value",
    "date_order": "case.inconsistent",
    "medication_status": "case.inconsistent",
}
_WRONG_TYPE_EXPECTED: dict[str, str] = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a map of keys to values",
    "model_type": "a map of keys to values",
    "model_attributes_type": "a map of keys to values",
    "list_type": "a list",
    "finite_number": "a finite number",
}


def load_case(path: str | Path) -> Case:
    """Load and validate one case file. Raises a :class:`CaseError` subclass on bad input."""
    p = Path(path)
    if not p.exists():
        raise CaseNotFoundError("no such case file", file=str(p))
    if p.is_dir():
        raise CaseNotFoundError("is a folder, not a case file", file=str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CaseParseError(f"not UTF-8 text ({exc.reason})", file=str(p)) from None
    except OSError as exc:
        raise CaseNotFoundError(f"cannot read: {exc.strerror}", file=str(p)) from None
    return parse_case(text, file=str(p), kind="json" if p.suffix.lower() == ".json" else "yaml")


def read_document(text: str, *, file: str | None = None, kind: Literal["yaml", "json"] = "yaml") -> Any:
    """The parsed document as the case reader reads it (numbers as YAML 1.2, so ``1:40`` stays a
    titre; duplicate keys refused), before validation: for callers that store the document."""
    return (_parse_json(text, file) if kind == "json" else _parse_yaml(text, file))[0]


def parse_case(text: str, *, file: str | None = None, kind: Literal["yaml", "json"] = "yaml") -> Case:
    """Parse case text; ``kind`` chooses the syntax (JSON is read by a strict JSON parser)."""
    data, lines = _parse_json(text, file) if kind == "json" else _parse_yaml(text, file)
    return validate_case(data, file=file, lines=lines)


def validate_case(data: Any, *, file: str | None = None, lines: dict[Loc, int] | None = None) -> Case:
    """Validate an already-parsed document (e.g. a JSON body from the API)."""
    if not isinstance(data, dict):
        got = "nothing" if data is None else type(data).__name__
        raise CaseParseError(f"a case must be a map of keys to values, got {got}", file=file)
    _check_text(data, (), file)
    lines = lines or {}
    fmt = data.get("format")
    if fmt is not None and fmt != FORMAT:
        issue = Issue(
            "case.invalid-value",
            ("format",),
            f"unsupported format {fmt!r}",
            expected=FORMAT,
            got=fmt,
            line=_line(lines, ("format",)),
        )
        raise CaseValidationError("unsupported case format", file=file, issues=[issue])
    try:
        case = Case.model_validate(data)
    except ValidationError as exc:
        issues = [_issue_from_pydantic(e, lines) for e in exc.errors(include_url=False)]
        issues.sort(key=lambda i: (i.line or 0, i.path))
        n = len(issues)
        raise CaseValidationError(
            f"{n} problem{'s' if n != 1 else ''} in the case", file=file, issues=issues
        ) from None
    problems = consistency_issues(case, lines, written_precision(data))
    if problems:
        n = len(problems)
        raise CaseValidationError(
            f"{n} inconsistenc{'ies' if n != 1 else 'y'} in the case", file=file, issues=problems
        )
    return case


def written_precision(data: Any) -> dict[Loc, float]:
    """The unit of the last digit written for each age and duration of a parsed document: 1 for
    ``71``, 0.1 for ``57.6``, 0.01 for ``57.25`` (a form's ``"71"`` is whole years too). The
    consistency checks take their tolerance from it.

    A whole number is whole years however it is written (``71`` or ``71.0``): a stored case (the
    registry keeps ``model_dump`` JSON, where 71 becomes 71.0) must read back exactly as it was
    first read, and whole years are the widest reading of its digits."""
    out: dict[Loc, float] = {}
    if not isinstance(data, dict):
        return out
    for loc in (("patient", "age_years"), ("onset", "age_years"), ("onset", "skin_disease_months")):
        section = data.get(loc[0])
        if isinstance(section, dict) and (unit := _unit_of(section.get(loc[1]))) is not None:
            out[loc] = unit
    return out


def _unit_of(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return 1.0
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int):  # nan, inf: refused by the field itself
        return None
    if number == number.to_integral_value():
        return 1.0
    return float(Decimal(1).scaleb(exponent))


def _unit_words(unit: float) -> str:
    return "in whole years" if unit >= 1 else f"to {unit:g} year"


def _above(unit: float) -> float:
    """How far above its written value a true age may lie: an age in whole years is in completed
    years (71 is 71.0 to 71.99…); a decimal age is rounded (57.6 is 57.55 to 57.65)."""
    return unit if unit >= 1 else unit / 2


def _below(unit: float) -> float:
    """How far below its written value a true age may lie (see :func:`_above`)."""
    return 0.0 if unit >= 1 else unit / 2


def consistency_issues(
    case: Case, lines: dict[Loc, int] | None = None, precision: dict[Loc, float] | None = None
) -> list[Issue]:
    """Checks across keys that a per-field validator cannot see.

    Ages are compared over every true value their written digits allow (``precision``, from
    :func:`written_precision`; without it, the digits of the model's values): an age in whole
    years is in completed years, a decimal age is rounded, and a duration may be half of its last
    written unit less than written. Onset 71 and age 71 therefore allow up to 12 months of skin
    disease, ages to 0.1 year about 1.2 months. What no reading of the digits allows is an error.
    """
    lines = lines or {}
    precision = precision or {}
    out: list[Issue] = []
    age, onset = case.patient.age_years, case.onset.age_years
    months = case.onset.skin_disease_months

    def unit(loc: Loc, value: float | None) -> float:
        return precision.get(loc) or _unit_of(value) or 0.0

    pa = unit(("patient", "age_years"), age)
    po = unit(("onset", "age_years"), onset)
    written = f"age {_unit_words(pa)}" + (f", onset {_unit_words(po)}" if onset is not None else "")
    onset_after_visit = False
    if age is not None and onset is not None and onset > age:
        latest_age, earliest_onset = age + _above(pa), onset - _below(po)
        if earliest_onset + 1e-9 >= latest_age:
            onset_after_visit = True
            out.append(
                Issue(
                    "case.inconsistent",
                    ("onset", "age_years"),
                    f"onset at {onset:g} years is after the visit (patient is {age:g})",
                    expected=f"an onset age of at most {age:g} ({written})",
                    got=onset,
                    line=_line(lines, ("onset", "age_years")),
                )
            )
    if age is not None and months is not None:
        months_below = unit(("onset", "skin_disease_months"), months) / 2
        if onset is not None and not onset_after_visit:
            years = (age + _above(pa)) - (onset - _below(po))
            what = "since onset"
        else:
            years = age + _above(pa)
            what = "in the patient's life"
        limit = years * 12 + months_below
        if months > limit + 1e-9:
            out.append(
                Issue(
                    "case.inconsistent",
                    ("onset", "skin_disease_months"),
                    f"{months:g} months of skin disease is longer than the time {what}",
                    expected=f"at most {limit:.1f} months ({written})",
                    got=months,
                    line=_line(lines, ("onset", "skin_disease_months")),
                )
            )
    out += _lab_consistency(case, lines)
    if case.activity is not None:  # item scores the CDASI/CLASI forms do not offer (rule tables)
        from dataclasses import replace

        from ifnscope.activity import value_issues

        out += [replace(i, line=_line(lines, i.loc)) for i in value_issues(case.activity)]
    return out


_APL_PARTS = {
    "cardiolipin": "anticardiolipin",
    "b2gpi": "anti-beta2-glycoprotein I",
    "lupus_anticoagulant": "lupus anticoagulant",
}


def _lab_consistency(case: Case, lines: dict[Loc, int]) -> list[Issue]:
    """Results that must agree: a stated word and its number; a finding written absent and the
    count that derives it; c3_low/c4_low and the value; a history word and its section; an ANA
    titre, the laboratory's cut-off and its titre-less call; a negative antiphospholipid panel
    and its parts."""
    from ifnscope.case.facts import findings_from_labs, history_from_sections  # facts reads the model

    labs = case.labs
    out: list[Issue] = []

    def inconsistent(loc: Loc, message: str, *, expected: str, got: Any) -> None:
        out.append(
            Issue("case.inconsistent", loc, message, expected=expected, got=got, line=_line(lines, loc))
        )

    for key in vocabulary().labs_numeric:
        each = getattr(labs, key)
        for i, lab in enumerate(results(each)):
            if lab.stated is None or lab.value is None or lab.upper_limit is None:
                continue
            above = lab.value > lab.upper_limit
            if above == (lab.stated == "elevated"):
                continue
            inconsistent(
                ("labs", key, i, "stated") if isinstance(each, list) else ("labs", key, "stated"),
                f"{key} recorded {lab.stated}, but {lab.value:g} is "
                f"{'above' if above else 'not above'} its upper limit {lab.upper_limit:g}",
                expected="elevated" if above else "normal",
                got=lab.stated,
            )
    recorded = case.recorded_findings()
    for name, fact in findings_from_labs(case, written_too=True).items():
        if recorded.get(name) == "absent" and fact.value == "present":
            inconsistent(
                ("findings", name),
                f"{name} recorded absent, but {fact.detail}",
                expected="present, or the laboratory value corrected",
                got="absent",
            )
    for key in ("c3", "c4"):
        call = getattr(labs, f"{key}_low")
        single = not isinstance(getattr(labs, key), list)  # one value is this visit's: both ways
        for measured in results(getattr(labs, key)) if call in ("present", "absent") else []:
            low = measured.value < measured.lower_limit
            if (low and call == "absent") or (single and not low and call == "present"):
                inconsistent(
                    ("labs", f"{key}_low"),
                    f"{key}_low recorded {call}, but {key.upper()} {measured.value:g} is "
                    f"{'below' if low else 'not below'} its lower limit {measured.lower_limit:g}",
                    expected="present" if low else "absent",
                    got=call,
                )
    written = case.history.model_dump()
    for key, (value, detail, section) in history_from_sections(case).items():
        said = written.get(key)
        if said in ("present", "absent") and said != value:
            inconsistent(
                ("history", key),
                f"history.{key} recorded {said}, but {detail}",
                expected=f"{value}, or {section} corrected",
                got=said,
            )
    titre, cutoff = labs.ana_titer, labs.ana_titer_cutoff
    call = labs.antibodies.ana
    at: Loc = ("labs", "antibodies", "ana")
    if call == "positive" and titre == 0:
        inconsistent(
            at,
            "ANA recorded positive, but labs.ana_titer is 0 (negative)",
            expected="negative, or the positive titre in labs.ana_titer",
            got=call,
        )
    elif call in ("positive", "negative") and titre and cutoff:
        above = titre >= cutoff
        if above != (call == "positive"):
            inconsistent(
                at,
                f"ANA recorded {call}, but 1:{titre} is {'at or above' if above else 'below'} "
                f"the laboratory's cut-off 1:{cutoff}",
                expected="positive" if above else "negative",
                got=call,
            )
    elif call == "negative" and titre and not cutoff:
        from ifnscope.case.facts import ana_titre_above_any_reference_range

        # A titre at or above any laboratory's range cannot be a negative result: otherwise the
        # 2019 entry criterion (the titre) and SLICC (the call) would read one test both ways.
        limit = ana_titre_above_any_reference_range()
        if titre >= limit:
            inconsistent(
                at,
                f"ANA recorded negative, but 1:{titre} is at or above 1:{limit}, above the "
                "reference range of any laboratory",
                expected="positive, or the laboratory's cut-off in labs.ana_titer_cutoff",
                got=call,
            )
    if labs.antibodies.antiphospholipid == "negative":
        for key, words in _APL_PARTS.items():
            if getattr(labs.antibodies, key) == "positive":
                inconsistent(
                    ("labs", "antibodies", key),
                    f"{words} recorded positive, but labs.antibodies.antiphospholipid (the panel of "
                    "anticardiolipin, anti-beta2-glycoprotein I and lupus anticoagulant) is negative",
                    expected="negative, or the panel positive",
                    got="positive",
                )
    return out


# --------------------------------------------------------------------------- parsing


def _check_text(value: Any, loc: Loc, file: str | None) -> None:
    """Refuse text no database can store and no response can carry: a NUL character, or a lone
    surrogate (a JSON document may escape one, ``\\ud800``). The value is not quoted back."""
    from ifnscope.registry.limits import storable_problem

    stack: list[tuple[Any, Loc]] = [(value, loc)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                key_problem = storable_problem(k) if isinstance(k, str) else None
                if key_problem:
                    raise CaseParseError(f"a key {key_problem}", file=file, loc=at, code="case.parse")
                stack.append((item, (*at, str(k))))
        elif isinstance(v, list):
            stack.extend((item, (*at, i)) for i, item in enumerate(v))
        elif isinstance(v, str):
            problem = storable_problem(v)
            if problem:
                raise CaseParseError(f"the text {problem}", file=file, loc=at, code="case.parse")


# Caps on what one case document may make the reader do. A case file is a few kilobytes and a
# few hundred values; YAML aliases let 700 bytes name a billion values ("billion laughs"), which
# held a database slot for 39 s and, nested nine deep, exhausted memory. Refused before any work.
MAX_DOCUMENT_BYTES = 1_000_000
"""The largest case document read (UTF-8 bytes); larger ones are ``case.too-large``."""
MAX_NODES = 100_000
"""The most values (maps, lists and scalars, each alias use counted again) built from one document."""
MAX_ALIASES = 1_000
"""The most alias uses (``*name``) in one document; more is ``case.aliases``."""
MAX_DEPTH = 50
"""The deepest nesting of maps and lists (an alias that refers to itself never ends)."""


def _check_size(text: str, file: str | None) -> None:
    # Characters first (cheap); only a text near the cap is encoded to count its bytes.
    if len(text) > MAX_DOCUMENT_BYTES // 4 and len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise CaseParseError(
            f"the document is larger than {MAX_DOCUMENT_BYTES:,} bytes; a case file is a few kilobytes",
            file=file,
            code="case.too-large",
        )


class _Budget:
    """What one document has used of :data:`MAX_NODES` and :data:`MAX_ALIASES`."""

    __slots__ = ("aliases", "nodes", "seen")

    def __init__(self) -> None:
        self.nodes = 0
        self.aliases = 0
        self.seen: set[int] = set()

    def spend(self, node: yaml.Node) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise CaseParseError(
                f"the document expands to more than {MAX_NODES:,} values (through aliases or sheer "
                "size); a case has a few hundred",
                code="case.too-large",
            )
        if isinstance(node, yaml.ScalarNode):
            return  # a repeated scalar is cheap; the node count above still bounds it
        # The composer resolves an alias to the anchored node itself: a collection node met
        # twice is an alias use (scalars are counted through the node budget only).
        key = id(node)
        if key in self.seen:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise CaseParseError(
                    f"the document uses YAML aliases (*name) more than {MAX_ALIASES:,} times; "
                    "write the values out",
                    code="case.aliases",
                )
        else:
            self.seen.add(key)


def _parse_yaml(text: str, file: str | None) -> tuple[Any, dict[Loc, int]]:
    _check_size(text, file)
    loader = _Loader(text)
    lines: dict[Loc, int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        return _construct(loader, node, (), lines, 0, _Budget()), lines
    except CaseParseError as exc:
        exc.file = file
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise CaseParseError(f"not valid YAML ({where}{problem})", file=file) from None
    except yaml.YAMLError as exc:
        raise CaseParseError(f"not valid YAML ({exc})", file=file) from None
    finally:
        loader.dispose()


def _construct(
    loader: Any, node: yaml.Node, loc: Loc, lines: dict[Loc, int], depth: int, budget: _Budget
) -> Any:
    if depth > MAX_DEPTH:
        raise CaseParseError(
            "the document is nested too deeply (or refers to itself)",
            code="case.aliases" if id(node) in budget.seen else "case.too-large",
        )
    budget.spend(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node)
            if not isinstance(key, str):
                key = str(key)
            line = key_node.start_mark.line + 1
            if key in out:
                raise CaseParseError(
                    f"line {line}: key {key!r} appears twice in the same map "
                    f"(first at line {lines.get((*loc, key), '?')}); keep one",
                    code="case.duplicate-key",
                )
            lines[(*loc, key)] = line
            out[key] = _construct(loader, value_node, (*loc, key), lines, depth + 1, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            items.append(_construct(loader, item, (*loc, i), lines, depth + 1, budget))
        return items
    return _scalar(loader, node)


_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
# Numbers as YAML 1.2 (core schema) writes them. YAML 1.1, which PyYAML implements, also reads
# base-60 ("1:40" is 100, "12:30" is 750), octal ("010" is 8), hexadecimal and binary numbers:
# in a clinical file "1:40" is a titre or a time and "010" is ten, so those are kept as written.
_YAML12_INT = re.compile(r"[-+]?[0-9]+")
_YAML12_FLOAT = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)
_SEXAGESIMAL = re.compile(r"\s*[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?\s*")


def _scalar(loader: Any, node: yaml.Node) -> Any:
    """A scalar as written: plain numbers follow YAML 1.2, so nothing YAML 1.1 alone reads as
    a number (base 60, octal, hexadecimal, binary) becomes a plausible but wrong value."""
    if isinstance(node, yaml.ScalarNode) and not node.style and node.tag in (_INT_TAG, _FLOAT_TAG):
        text = node.value
        if node.tag == _INT_TAG and _YAML12_INT.fullmatch(text):
            return int(text, 10)  # decimal, also with leading zeros ("010" is ten)
        if node.tag == _FLOAT_TAG and _YAML12_FLOAT.fullmatch(text):
            return loader.construct_object(node, deep=True)
        return text  # base 60, octal, hex, binary, digit groups: the field's validator decides
    return loader.construct_object(node, deep=True)


def _parse_json(text: str, file: str | None) -> tuple[Any, dict[Loc, int]]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise CaseParseError(
                    f"key {k!r} appears twice in the same object; keep one",
                    file=file,
                    code="case.duplicate-key",
                )
            out[k] = v
        return out

    _check_size(text, file)
    try:
        return json.loads(text, object_pairs_hook=no_duplicates), {}
    except json.JSONDecodeError as exc:
        raise CaseParseError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", file=file
        ) from None


# ------------------------------------------------------------------ error translation


def _line(lines: dict[Loc, int], loc: Loc) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _unwrap(ann: Any) -> Any:
    """Strip Optional/Annotated/Union-with-None to the interesting type."""
    while True:
        origin = get_origin(ann)
        if origin is typing.Annotated:
            ann = get_args(ann)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(ann) if a is not type(None)]
            if len(args) != 1:
                return ann
            ann = args[0]
        else:
            return ann


def _map_form(ann: Any) -> Any:
    """Of a value written as a word or a map (a finding), the map's model; else ``ann``."""
    if get_origin(ann) not in (typing.Union, types.UnionType):
        return ann
    models = [m for m in map(_unwrap, get_args(ann)) if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def _annotation_at(loc: Loc) -> Any:
    """The type annotation at a key path of :class:`Case` (None where it cannot tell)."""
    ann: Any = Case
    for part in loc:
        ann = _unwrap(ann)
        if isinstance(part, str):
            ann = _map_form(ann)
        if isinstance(part, int):
            if get_origin(ann) is list:
                ann = get_args(ann)[0]
                continue
            return None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part)
            if field is None:
                return None
            ann = field.annotation
        elif get_origin(ann) is dict:
            ann = get_args(ann)[1]
        else:
            return None
    return _unwrap(ann)


def _allowed_keys(loc: Loc) -> list[str]:
    ann = _map_form(_annotation_at(loc))
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [k for k in ann.model_fields if k != "done"]
    return []


def _literal_options(loc: Loc) -> list[str]:
    ann = _annotation_at(loc)
    if get_origin(ann) is list:
        ann = _unwrap(get_args(ann)[0])
    if get_origin(ann) is Literal:
        return [str(a) for a in get_args(ann)]
    if get_origin(ann) in (typing.Union, types.UnionType):  # a word or a map: the words
        return [str(a) for m in map(_unwrap, get_args(ann)) if get_origin(m) is Literal for a in get_args(m)]
    return []


@cache
def _synonyms() -> dict[str, str]:
    """Words clinicians write for a vocabulary word (``synonyms:`` in data/vocabulary.yaml)."""
    return dict(load_yaml("vocabulary.yaml").get("synonyms") or {})


def _nearest(word: Any, options: list[str]) -> str | None:
    if not isinstance(word, str) or not options:
        return None
    synonym = _synonyms().get(word.strip().lower().replace("-", "_").replace(" ", "_"))
    if synonym in options:
        return synonym
    norm = word.strip().lower().replace("-", "_").replace(" ", "_").replace("'", "")
    if norm in options and norm != word:
        return norm
    hits = difflib.get_close_matches(norm, options, n=1, cutoff=0.6)
    if hits:
        return hits[0]
    # 'viral' -> 'viral_illness', 'dsdna' -> 'anti_dsdna': a word that starts an option
    starts = [o for o in options if o.startswith(norm) or norm.startswith(o)]
    return starts[0] if len(norm) >= 3 and len(starts) == 1 else None


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    """Drop pydantic's internal union/validator markers from a location."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            part.startswith(("function-", "literal[", "lax-or-strict", "json-or-python"))
            or part
            in {"int", "str", "float", "MuscleBiopsy", "constrained-str", "word", "record", "one", "series"}
        ):
            continue
        out.append(part)
    return tuple(out)


def _issue_from_pydantic(err: ErrorDetails, lines: dict[Loc, int]) -> Issue:
    etype: str = err["type"]
    loc = _clean_loc(tuple(err["loc"]))
    got = err.get("input")
    line = _line(lines, loc)
    if etype == "extra_forbidden":
        key = loc[-1] if loc else "?"
        allowed = _allowed_keys(loc[:-1])
        where = ".".join(str(p) for p in loc[:-1] if isinstance(p, str)) or "the top level"
        return Issue(
            "case.unknown-key",
            loc,
            f"unknown key {key!r} in {where}",
            expected=_few(allowed),
            got=None,
            suggestion=_nearest(key, allowed),
            line=line,
        )
    if etype == "missing":
        return Issue("case.missing-key", loc, "required key is missing", line=line)
    if etype == "lab_result_missing":
        return Issue(
            "case.missing-key",
            loc,
            "a laboratory result needs its value, or how the report stated it",
            expected="value (with upper_limit), or stated: normal or elevated",
            line=line,
        )
    if etype in ("literal_error", "enum"):
        options = _literal_options(loc)
        msg = f"{_show(got)} is not an allowed value"
        if isinstance(got, bool):
            msg += f" ({_BOOL_HINT})"
        return Issue(
            "case.invalid-value",
            loc,
            msg,
            expected=_few(options, quote=True),
            got=_plain(got),
            suggestion=_nearest(got, options),
            line=line,
        )
    if etype in _WRONG_TYPE_EXPECTED:
        expected = _WRONG_TYPE_EXPECTED[etype]
        options = _literal_options(loc)
        msg = f"wrong type: got {_type_name(got)}"
        if isinstance(got, str) and len(loc) == 2 and loc[0] == "labs" and expected.startswith("a map"):
            word = got.strip().lower()
            if word in ("normal", "elevated"):  # "CK normal": the stated form
                return Issue(
                    "case.wrong-type",
                    loc,
                    f"{msg}: a result stated without a number is written {{stated: {word}}}",
                    expected=f"{{stated: {word}}}, or {{value: …, upper_limit: …}}",
                    got=got,
                    line=line,
                )
        if isinstance(got, bool):
            msg += f" ({_BOOL_HINT})"
        elif isinstance(got, str) and _SEXAGESIMAL.fullmatch(got):
            msg += f" ({_BASE60_HINT})"
        return Issue(
            "case.wrong-type",
            loc,
            msg,
            expected=expected,
            got=_plain(got),
            suggestion=_nearest(got, options),
            line=line,
        )
    code = _TYPE_CODES.get(etype, "case.invalid-value")
    msg = err.get("msg", "invalid value")
    msg = msg.removeprefix("Value error, ")
    if code == "case.out-of-range":
        msg = f"{got!r} is out of range: {msg[0].lower()}{msg[1:]}"
        if loc and loc[-1] in ("age_years", "skin_disease_months", "value", "upper_limit"):
            msg += " (ages, durations and lab values cannot be negative)"
    elif etype == "string_pattern_mismatch" and loc and loc[-1] in ("started", "stopped"):
        msg = f"{got!r} is not a date"
        return Issue(code, loc, msg, expected="YYYY, YYYY-MM or YYYY-MM-DD", got=_plain(got), line=line)
    elif etype == "string_pattern_mismatch" and loc == ("id",):
        return Issue(
            code,
            loc,
            f"{got!r} is not a usable case id",
            got=_plain(got),
            line=line,
            expected="letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return Issue(code, loc, msg, got=_plain(got), line=line)


def _few(options: list[str], quote: bool = False) -> str | None:
    if not options:
        return None
    shown = [f"'{o}'" if quote else o for o in options[:12]]
    more = f" … ({len(options)} in all; see `ifnscope schema`)" if len(options) > 12 else ""
    if len(shown) == 1:
        return shown[0]
    return "one of " + ", ".join(shown) + more


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return f"text ({value!r})"


def _show(value: Any) -> str:
    """A value as the clinician wrote it (YAML spells booleans true/false)."""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _plain(value: Any) -> Any:
    """Something JSON can carry, short enough for a message."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."
