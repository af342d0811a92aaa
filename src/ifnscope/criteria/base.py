"""What every criteria engine shares: rule expressions, result types, the what-if.

Rule tables (``data/criteria/*.yaml``) write conditions as expressions over fact names:
a fact name, ``{any_of: [...]}``, ``{all_of: [...]}``, ``{not: ...}`` or ``{not_shown: ...}``.
They are evaluated in Kleene's three-valued logic, so an unrecorded fact stays *unknown* all
the way up instead of silently becoming false. ``not_shown`` is the one deliberate exception,
for criteria worded "in the absence of X": it is present unless X is recorded present.

Criteria count an item only when it is *present* (recorded evidence). Every unknown that
would change a result is then found by :class:`WhatIf`, which sets it to present and runs
the engine again.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from ifnscope.case.facts import ABSENT, PRESENT, UNKNOWN, Facts, TriValue, known_fact_names
from ifnscope.data import load_table, load_yaml
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, RuleModel, SourceRef

# ----------------------------------------------------------------------------- expressions

Expr = str | dict[str, Any]


def evaluate(expr: Expr, facts: Facts) -> TriValue:
    """Evaluate a rule expression in three-valued (Kleene) logic."""
    if isinstance(expr, str):
        return facts.value(expr)
    ((op, arg),) = expr.items()
    if op == "not":
        v = evaluate(arg, facts)
        return {PRESENT: ABSENT, ABSENT: PRESENT}.get(v, UNKNOWN)
    if op == "not_shown":  # "in the absence of X" read on recorded evidence: X not present
        return ABSENT if evaluate(arg, facts) == PRESENT else PRESENT
    values = [evaluate(e, facts) for e in arg]
    if op == "any_of":
        if PRESENT in values:
            return PRESENT
        return ABSENT if all(v == ABSENT for v in values) else UNKNOWN
    if op == "all_of":
        if ABSENT in values:
            return ABSENT
        return PRESENT if all(v == PRESENT for v in values) else UNKNOWN
    raise DataError(f"unknown rule operator {op!r}")


def fact_names(expr: Expr) -> list[str]:
    """Every fact name an expression mentions, in order."""
    if isinstance(expr, str):
        return [expr]
    ((_, arg),) = expr.items()
    if isinstance(arg, list):
        return [n for e in arg for n in fact_names(e)]
    return fact_names(arg)


def check_expr(expr: Any, known: AbstractSet[str], where: str) -> None:
    """Validate a rule expression from a data file against the known fact names."""
    if isinstance(expr, str):
        if expr not in known:
            raise DataError(f"{where}: unknown fact {expr!r}")
        return
    if not isinstance(expr, dict) or len(expr) != 1:
        raise DataError(f"{where}: an expression is a fact name or one of any_of/all_of/not/not_shown")
    ((op, arg),) = expr.items()
    if op in ("not", "not_shown"):
        check_expr(arg, known, where)
    elif op in ("any_of", "all_of") and isinstance(arg, list) and arg:
        for e in arg:
            check_expr(e, known, where)
    else:
        raise DataError(f"{where}: bad operator {op!r}")


# --------------------------------------------------------------------------------- results


class ItemResult(BaseModel):
    """One criterion item as applied to this case."""

    id: str
    label: str
    status: TriValue = Field(description="present = met, absent = not met, unknown = not recorded")
    points: float | None = None
    counted: bool = False
    domain: str | None = None
    because: str
    facts: list[str] = Field(default_factory=list)
    reference: Reference


class WhatIfChange(BaseModel):
    """What the result would be if one unknown fact were present."""

    fact: str
    label: str
    record_at: str
    if_value: TriValue = PRESENT
    result: str


class CriteriaResult(BaseModel):
    """What every criteria result offers its consumers, whatever its own JSON keys.

    * :attr:`met`: does the case meet the set (the one definition of "classified" per set, from
      :meth:`met_in`, which reads the result's JSON keys so a stored assessment answers the same);
    * :attr:`decisive_unknowns`: the unrecorded facts that would change the result if present,
      the Python accessor for the JSON's ``unknowns_that_could_change_category`` /
      ``_classification`` / ``_result`` (IIM: category and subgroup together).

    No fields are declared here, so each result keeps its own JSON key order.
    """

    if TYPE_CHECKING:  # every subclass declares it as a field; not here, to keep the key order
        what_if: list[WhatIfChange]

    @classmethod
    def met_in(cls, values: Mapping[str, Any]) -> bool:
        """Does a result, given as its fields or its JSON form, meet the criteria set?"""
        raise NotImplementedError(cls.__name__)

    @property
    def met(self) -> bool:
        return self.met_in(self.__dict__)

    @property
    def decisive_unknowns(self) -> list[str]:
        return list(dict.fromkeys(c.fact for c in self.what_if))


@dataclass(frozen=True, slots=True)
class FastItem:
    """What a what-if re-run needs of an item (duck-types the fields engines read)."""

    id: str
    status: TriValue
    points: float | None
    counted: bool
    domain: str | None


def item_result(
    id: str,
    label: str,
    when: Expr,
    facts: Facts,
    reference: Reference,
    *,
    points: float | None = None,
    domain: str | None = None,
    explain: bool = True,
) -> ItemResult:
    """Evaluate one criterion item: its status, whether it counts, and the evidence.

    With ``explain=False`` (the what-if re-runs) only the status and points are filled in:
    writing the evidence for every re-run would cost more than the rules themselves.
    """
    status = evaluate(when, facts)
    if not explain:
        # Duck-typed on purpose: the re-runs read only id, status, points, counted and domain, and
        # building the pydantic model for each would cost more than the rules themselves.
        return FastItem(id, status, points, status == PRESENT, domain)  # type: ignore[return-value]
    return ItemResult(
        id=id,
        label=label,
        status=status,
        points=points,
        counted=status == PRESENT,
        domain=domain,
        because=because(when, facts),
        facts=list(dict.fromkeys(fact_names(when))),
        reference=reference,
    )


def with_counted(item: ItemResult, counted: bool) -> ItemResult:
    """The same item with its ``counted`` flag set (e.g. only the best item of a domain)."""
    if isinstance(item, FastItem):
        return replace(item, counted=counted)
    return item.model_copy(update={"counted": counted})


def because(expr: Expr, facts: Facts) -> str:
    """The evidence for an item, in words: each fact it reads, its value and where it came from."""
    parts = []
    for name in dict.fromkeys(fact_names(expr)):
        f = facts[name]
        parts.append(f"{f.label}: {f.value} ({f.detail})")
    return "; ".join(parts)


def decimal_sum(values: Sequence[float]) -> float:
    """Sum published one-decimal weights exactly (1.3 + 3.1 + 2.1 is 6.5, not 6.499…)."""
    return float(sum((Decimal(str(v)) for v in values), Decimal(0)))


# -------------------------------------------------------------------------------- what-if


class _TracingFacts(Facts):
    """Facts that remember which names an engine read."""

    def __init__(self, inner: Facts) -> None:
        super().__init__(
            dict(inner.items()),
            muscle_biopsy_done=inner.muscle_biopsy_done,
            onset_age=inner.onset_age,
            skin_disease_months=inner.skin_disease_months,
        )
        self.read: dict[str, None] = {}

    def value(self, name: str) -> TriValue:
        self.read[name] = None
        return super().value(name)


R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


class WhatIf(Generic[R]):
    """Runs an engine with each unknown fact it read set to present, one at a time."""

    def __init__(self, engine: Callable[..., R], facts: Facts) -> None:
        """``engine(facts, explain=...)``: the re-runs skip the evidence text (``explain=False``);
        ``explained`` is the base result with its evidence, for the output."""
        tracer = _TracingFacts(facts)
        self.facts = facts
        self.base = engine(tracer, explain=False)
        self.unknowns = [n for n in tracer.read if facts.value(n) == UNKNOWN]
        self.alternatives: dict[str, R] = {
            n: engine(facts.with_values({n: PRESENT}), explain=False) for n in self.unknowns
        }
        self.explained = engine(facts, explain=True)

    def changes(self, key: Callable[[R], Hashable], describe: Callable[[R], str]) -> list[WhatIfChange]:
        base = key(self.base)
        out = []
        for name, alt in self.alternatives.items():
            if key(alt) != base:
                f = self.facts[name]
                out.append(
                    WhatIfChange(fact=name, label=f.label, record_at=f.record_at, result=describe(alt))
                )
        return out


class RulesHeader(RuleModel):
    """What every criteria table starts with."""

    id: str
    title: str
    short: str
    use_when: str = ""
    references: list[SourceRef]


def _expressions(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every rule expression in a raw table: under ``when``/``unless_present``, ``fact``,
    ``required`` (lists of fact names) and ``composites`` (named expressions)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key in ("when", "unless_present", "fact"):
                yield here, value
            elif key == "required":
                yield from ((f"{here}[{i}]", v) for i, v in enumerate(value))
            elif key == "composites":
                yield from ((f"{here}.{k}", v) for k, v in value.items())
            else:
                yield from _expressions(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _expressions(value, f"{where}[{i}]")


def load_rules(name: str, model: type[M]) -> M:
    """Load a packaged criteria table, validate its shape and every fact name it uses.

    A malformed table is a :class:`DataError`: a bug in ifnscope's data, reported with the
    file and the place, never a wrong answer.
    """
    raw = load_yaml(f"criteria/{name}")
    rules = load_table(f"criteria/{name}", model)
    known = known_fact_names() | set((raw.get("subgroups") or {}).get("composites", {}))
    for where, expr in _expressions(raw, name):
        check_expr(expr, known, where)
    return rules
