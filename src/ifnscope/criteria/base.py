"""What every criteria engine shares: rule expressions, result types, the what-if.

Rule tables (``data/criteria/*.yaml``) write conditions as expressions over fact names:
a fact name, ``{any_of: [...]}``, ``{all_of: [...]}``, ``{not: ...}`` or ``{not_shown: ...}``.
They are evaluated in Kleene's three-valued logic, so an unrecorded fact stays *unknown* all
the way up instead of silently becoming false. ``not_shown`` is the one deliberate exception,
for criteria worded "in the absence of X": it is present unless X is recorded present.

Criteria count an item only when it is *present* (recorded evidence). Every unknown that
would change a result is then found by :class:`WhatIf`, which sets it to present and runs
the engine again; it also finds the smallest sets of unknowns that change a result only
together (see the what-if section below), for every engine alike.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from ifnscope._cache import IdentityCache
from ifnscope.case.facts import ABSENT, PRESENT, UNKNOWN, Fact, Facts, TriValue, known_fact_names
from ifnscope.data import load_table, load_yaml
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, RuleModel, SourceRef

# ----------------------------------------------------------------------------- expressions

Expr = str | dict[str, Any]


def evaluate(expr: Expr, facts: Facts) -> TriValue:
    """Evaluate a rule expression in three-valued (Kleene) logic."""
    if type(facts) is _TracingFacts:  # a what-if run: record the expression, then evaluate it
        return facts.evaluate(expr)
    return _evaluate(expr, facts)


def _evaluate(expr: Expr, facts: Facts) -> TriValue:
    if isinstance(expr, str):
        return facts.value(expr)
    origin = facts.what_if_of
    if origin is not None and origin[1].isdisjoint(_names(expr)):
        # A what-if copy, and the expression reads none of the facts it changed: its value is
        # the original's (computed once there). Most of a what-if search's re-runs differ from
        # the case in two facts, which most of the rules never read.
        return _memoised(expr, origin[0])
    return _compiled(expr)(facts)


def _memoised(expr: Expr, facts: Facts) -> TriValue:
    hit = facts.memo.get(id(expr))
    if hit is None or hit[0] is not expr:
        hit = facts.memo[id(expr)] = (expr, _compiled(expr)(facts))
    return hit[1]


# Expressions are compiled once into closures (the what-if re-runs every engine many times).
_Compiled = Callable[[Facts], TriValue]
_NEGATE: dict[TriValue, TriValue] = {PRESENT: ABSENT, ABSENT: PRESENT, UNKNOWN: UNKNOWN}


def _compile(expr: Expr) -> _Compiled:
    if isinstance(expr, str):
        name = expr
        return lambda facts: facts.value(name)
    ((op, arg),) = expr.items()
    if op == "not":
        inner = _compile(arg)
        return lambda facts: _NEGATE[inner(facts)]
    if op == "not_shown":  # "in the absence of X" read on recorded evidence: X not present
        shown = _compile(arg)
        return lambda facts: ABSENT if shown(facts) == PRESENT else PRESENT
    if op not in ("any_of", "all_of"):
        raise DataError(f"unknown rule operator {op!r}")
    parts = tuple(_compile(e) for e in arg)
    # any_of: present as soon as one is present, absent when all are; all_of the other way round
    decided, otherwise = (PRESENT, ABSENT) if op == "any_of" else (ABSENT, PRESENT)

    def either(facts: Facts) -> TriValue:
        unknown = False
        for part in parts:
            v = part(facts)
            if v == decided:
                return decided
            if v == UNKNOWN:
                unknown = True
        return UNKNOWN if unknown else otherwise

    return either


# The compiled form of a rule expression, by identity (the tables' expressions live on).
_compiled: IdentityCache[Expr, _Compiled] = IdentityCache(_compile)


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


class WhatIfSet(BaseModel):
    """A smallest set of unrecorded facts that would change the result if all were present,
    none of them (and, for three, no two of them) being enough alone."""

    facts: list[str]
    labels: list[str]
    record_at: list[str]
    alternatives: dict[str, list[str]] = Field(
        default_factory=dict,
        description="For a fact of the set, the other unrecorded facts that would do the same in its place",
    )
    alternative_labels: dict[str, list[str]] = Field(
        default_factory=dict, description="The alternatives in words, by the fact they stand for"
    )
    result: str


class SetSearch(BaseModel):
    """How far the search for sets of unrecorded facts went, and whether the list is complete."""

    candidates: int = Field(
        description="Unrecorded facts that alone change nothing: the only ones a set holds"
    )
    max_size: int = Field(description="Sets up to this size were searched completely (2 pairs, 3 triples)")
    tried: int = Field(description="Combinations run through the criteria")
    found: int
    listed: int
    capped: bool = Field(description="More sets were found than are listed")
    complete: bool = Field(description="Every pair was tried (false: the run budget stopped the search)")
    note: str


class UnknownSets(BaseModel):
    """The sets found for one result, and the search that found them."""

    sets: list[WhatIfSet]
    search: SetSearch


class WhatIfChanges(list[WhatIfChange]):
    """The single changes (a list, as before), carrying the search for sets of unknowns.

    The search runs only when a result asks for it (:class:`CriteriaResult` does, from its
    ``what_if``), so a consumer that wants single changes only pays nothing for it."""

    def __init__(self, changes: Iterable[WhatIfChange] = (), search: Callable[[], UnknownSets] | None = None):
        super().__init__(changes)
        self._search = search
        self._found: UnknownSets | None = None

    @property
    def unknown_sets(self) -> UnknownSets | None:
        if self._found is None and self._search is not None:
            self._found = self._search()
        return self._found

    def _carry(self, other: object) -> Callable[[], UnknownSets] | None:
        theirs = other._search if isinstance(other, WhatIfChanges) else None
        return self._search or theirs

    def __add__(self, other: Iterable[WhatIfChange]) -> WhatIfChanges:  # type: ignore[override]
        return WhatIfChanges([*self, *other], self._carry(other))

    def __radd__(self, other: Iterable[WhatIfChange]) -> WhatIfChanges:
        return WhatIfChanges([*other, *self], self._carry(other))


class CriteriaResult(BaseModel):
    """What every criteria result offers its consumers, whatever its own JSON keys.

    * :attr:`met`: does the case meet the set (the one definition of "classified" per set, from
      :meth:`met_in`, which reads the result's JSON keys so a stored assessment answers the same);
    * :attr:`decisive_unknowns`: the unrecorded facts that would change the result if present,
      the Python accessor for the JSON's ``unknowns_that_could_change_category`` /
      ``_classification`` / ``_result`` (IIM: category and subgroup together).

    * :attr:`decisive_unknown_sets`: the smallest sets of unrecorded facts that would change the
      result only together (JSON: ``unknown_sets_that_could_change_category`` / ``_classification``
      / ``_result``, the suffix of the result's own single-fact key, with ``unknown_sets_search``).

    The one field declared here, ``unknown_sets``, is filled from the ``what_if`` changes
    (:meth:`WhatIf.changes` carries the search) and written right after ``what_if`` under the
    result's own key, so each result keeps its own JSON key order.
    """

    if TYPE_CHECKING:  # every subclass declares it as a field; not here, to keep the key order
        what_if: list[WhatIfChange]

    unknown_sets: UnknownSets | None = Field(
        default=None, description="The smallest sets of unrecorded facts that change the result together"
    )
    _sets_key: ClassVar[str] = "unknown_sets_that_could_change_result"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        single = [n for n in cls.model_fields if n.startswith("unknowns_that_could_change_")]
        if single:
            cls._sets_key = "unknown_sets_that_could_change_" + single[0].removeprefix(
                "unknowns_that_could_change_"
            )

    @model_validator(mode="before")
    @classmethod
    def _sets_from_what_if(cls, data: Any) -> Any:
        """Take the sets the what-if found (live) or the two JSON keys (a stored result)."""
        if not isinstance(data, dict) or data.get("unknown_sets") is not None:
            return data
        changes = data.get("what_if")
        if isinstance(changes, WhatIfChanges) and changes.unknown_sets is not None:
            return {**data, "unknown_sets": changes.unknown_sets}
        if cls._sets_key in data:
            rest = {k: v for k, v in data.items() if k not in (cls._sets_key, "unknown_sets_search")}
            return {
                **rest,
                "unknown_sets": {"sets": data[cls._sets_key], "search": data.get("unknown_sets_search")},
            }
        return data

    @model_serializer(mode="wrap")
    def _sets_after_what_if(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        found = data.pop("unknown_sets", None)
        if found is None:
            return data
        extra = {self._sets_key: found["sets"], "unknown_sets_search": found["search"]}
        out: dict[str, Any] = {}
        for k, v in data.items():
            out[k] = v
            if k == "what_if":
                out.update(extra)
        out.update({k: v for k, v in extra.items() if k not in out})
        return out

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

    @property
    def decisive_unknown_sets(self) -> list[list[str]]:
        """The sets listed (each a list of fact names); empty when no search ran."""
        return [list(x.facts) for x in self.unknown_sets.sets] if self.unknown_sets else []

    @classmethod
    def unknown_sets_key(cls) -> str:
        """The JSON key of the sets in this result ('unknown_sets_that_could_change_category')."""
        return cls._sets_key


class FastItem(NamedTuple):
    """What a what-if re-run needs of an item (duck-types the fields engines read). A named
    tuple: the re-runs build one per item, and it is the quickest immutable record to build."""

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
    if not explain:
        # Duck-typed on purpose: the re-runs read only id, status, points, counted and domain, and
        # building the pydantic model for each would cost more than the rules themselves.
        status = evaluate(when, facts)
        return FastItem(id, status, points, status == PRESENT, domain)  # type: ignore[return-value]
    status = evaluate(when, facts)
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
    if isinstance(item, FastItem):  # not dataclasses.replace: this runs for every item of every re-run
        return FastItem(item.id, item.status, item.points, counted, item.domain)
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
#
# WhatIf runs an engine once on the case, then once per unrecorded fact it read, set to present
# (the single findings that would change a result). It also finds the *smallest sets* of
# unrecorded facts that change a result only together (heliotrope rash and Gottron's sign, each
# alone not enough): every engine gets them without code of its own, because the search only
# re-runs the engine with several facts present and compares results by the engine's own key.
#
# The search is bounded by what the runs reveal about the engine, read from a trace of each run
# (every rule expression it evaluated and every fact it read directly):
#
# * a set is *minimal*: no fact in it changes the result alone, and (for three) no pair in it;
# * a fact that can no longer change any value the run read is *dead* in that run (``any_of``
#   already met by a recorded fact, ``all_of`` already failed): Kleene logic only settles more as
#   facts are recorded, so ``{a, b}`` is run only when ``b`` is live in ``a``'s run and ``a`` in
#   ``b``'s (otherwise the pair gives exactly what one of its members gives alone);
# * facts read only side by side in the same ``any_of`` conditions, in every run, have the same
#   effect (CK, LDH, AST or ALT above the upper limit): they are searched once, and a set names
#   the others as ``alternatives``;
# * two facts recorded at the same place (three onset-age bands) are never combined: one entry
#   cannot record both;
# * pairs, then triples only where they fit in the run budget; at most MAX_LISTED sets are listed,
#   and the search says when it stopped or capped.

MAX_SET_SIZE = 3  # pairs always (within the budget); triples where they fit
RUN_BUDGET = 300  # engine runs for the combinations of one criteria set
MAX_LISTED = 10  # sets listed per criteria set; the rest are counted

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


class _TracingFacts(Facts):
    """Facts that record what an engine read: each top-level rule expression it evaluated and
    each fact it read directly (the expression ``name``). Iterating the facts makes the trace
    opaque: then every unrecorded fact is taken to matter."""

    def __init__(self, inner: Facts) -> None:
        super().__init__(
            {},
            muscle_biopsy_done=inner.muscle_biopsy_done,
            onset_age=inner.onset_age,
            skin_disease_months=inner.skin_disease_months,
        )
        self.inner = inner
        self.reads: dict[Hashable, Expr] = {}
        self.opaque = False

    def value(self, name: str) -> TriValue:
        value = self.inner.value(name)  # first: a name that is not a fact is not a read
        self.reads.setdefault(name, name)
        return value

    def __getitem__(self, name: str) -> Fact:
        fact = self.inner[name]
        self.reads.setdefault(name, name)
        return fact

    def __iter__(self) -> Iterator[str]:
        self.opaque = True
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)

    def evaluate(self, expr: Expr) -> TriValue:
        self.reads.setdefault(expr if isinstance(expr, str) else id(expr), expr)
        return _evaluate(expr, self.inner)

    def trace(self, base: _Trace | None = None, changed: Iterable[str] = ()) -> _Trace:
        return _Trace(self.inner, tuple(self.reads.values()), self.opaque, base, frozenset(changed))


def _fact_names_once(expr: Expr) -> tuple[str, ...]:
    return tuple(dict.fromkeys(fact_names(expr)))


_names_of: IdentityCache[Expr, tuple[str, ...]] = IdentityCache(_fact_names_once)


def _names(expr: Expr) -> tuple[str, ...]:
    """The fact names of an expression, once each (cached: the tables' expressions live on)."""
    return (expr,) if isinstance(expr, str) else _names_of(expr)


Token = Hashable  # where a live fact occurs: id(any_of node) for a leaf of it, else ("solo", name)
_Scan = tuple[TriValue, bool, list[tuple[str, Token]]]


def _scan(expr: Expr, facts: Facts) -> _Scan:
    """An expression's value, whether recording more facts can still change it (settled), and
    where its live unrecorded facts occur. Kleene ``any_of``/``all_of``/``not`` only settle as
    facts are recorded; ``not_shown`` settles only with its argument."""
    if isinstance(expr, str):
        v = facts.value(expr)
        return (v, True, []) if v != UNKNOWN else (v, False, [(expr, ("solo", expr))])
    ((op, arg),) = expr.items()
    if op in ("not", "not_shown"):
        v, settled, below = _scan(arg, facts)
        value: TriValue = _NEGATE[v] if op == "not" else (ABSENT if v == PRESENT else PRESENT)
        return value, settled, ([] if settled else below)
    parts = [_scan(e, facts) for e in arg]
    values = [p[0] for p in parts]
    decisive = PRESENT if op == "any_of" else ABSENT
    if any(v == decisive and settled for v, settled, _ in parts) or all(p[1] for p in parts):
        return _evaluate(expr, facts), True, []
    occ: list[tuple[str, Token]] = []
    for e, (_, settled, o) in zip(arg, parts, strict=True):
        if settled:
            continue
        if op == "any_of" and isinstance(e, str):
            occ.append((e, id(expr)))  # a leaf of this any_of: any sibling leaf does the same
        else:
            occ.extend(o)
    if decisive in values:
        value = decisive
    else:
        value = (ABSENT if op == "any_of" else PRESENT) if all(v != UNKNOWN for v in values) else UNKNOWN
    return value, False, occ


@dataclass
class _Trace:
    """What one run read, in the facts it ran on; its live unrecorded facts, computed on demand.

    A run that differs from the base run by a few facts present (``base``, ``changed``) rescans
    only the expressions that mention them, or that the base run did not read, and updates the
    base run's tokens only for the facts those expressions hold (the search builds a trace per
    candidate: rebuilding every fact's tokens for each was a tenth of a visit write's CPU)."""

    facts: Facts
    exprs: tuple[Expr, ...]
    opaque: bool
    base: _Trace | None = None
    changed: frozenset[str] = frozenset()
    _tokens: dict[str, frozenset[Token]] | None = None
    _by_expr: dict[int, list[tuple[str, Token]]] | None = None
    _counts: dict[str, dict[Token, int]] | None = None
    _mentions: dict[str, list[int]] | None = None

    def _derived(self) -> _Trace | None:
        """The base trace this one is computed from (none when either cannot be: opaque)."""
        base = self.base
        return base if base is not None and not base.opaque and not self.opaque else None

    def reads_as_base(self) -> bool:
        """Did this run read exactly the expressions the base run read (then its names are the base's)?"""
        base = self.base
        return (
            base is not None
            and len(base.exprs) == len(self.exprs)
            and all(map(operator.is_, base.exprs, self.exprs))
        )

    def names(self) -> list[str]:
        return list(dict.fromkeys(n for e in self.exprs for n in _names(e)))

    def mentions(self) -> dict[str, list[int]]:
        """The expressions read that mention each fact, by identity (which a derived run rescans)."""
        if self._mentions is None:
            out: dict[str, list[int]] = {}
            for e in self.exprs:
                for n in _names(e):
                    out.setdefault(n, []).append(id(e))
            self._mentions = out
        return self._mentions

    def occurrences(self) -> dict[int, list[tuple[str, Token]]]:
        """The live occurrences in each expression read, by the expression's identity."""
        if self._by_expr is None:
            base = self.base if self.base is not None and not self.base.opaque else None
            known = base.occurrences() if base is not None else {}
            rescan: set[int] = set()
            if base is not None:
                index = base.mentions()
                for n in self.changed:
                    rescan.update(index.get(n, ()))
            out: dict[int, list[tuple[str, Token]]] = {}
            for e in self.exprs:
                key = id(e)
                reuse = known.get(key)
                if reuse is not None and key not in rescan:
                    out[key] = reuse
                else:
                    out[key] = _scan(e, self.facts)[2]
            self._by_expr = out
        return self._by_expr

    def counts(self) -> dict[str, dict[Token, int]]:
        """How many expressions read hold each live fact at each token (a derived run adjusts these)."""
        if self._counts is None:
            found: dict[str, dict[Token, int]] = {}
            for occ in self.occurrences().values():
                for name, token in occ:
                    at = found.setdefault(name, {})
                    at[token] = at.get(token, 0) + 1
            self._counts = found
        return self._counts

    def tokens(self) -> dict[str, frozenset[Token]]:
        """Each live unrecorded fact and where it occurs (its signature in this run)."""
        if self._tokens is None:
            base = self._derived()
            if base is not None:
                self._tokens = self._tokens_from(base)
            else:
                found: dict[str, frozenset[Token]] = {}
                if self.opaque:
                    found = {
                        n: frozenset({("solo", n)}) for n in self.facts if self.facts.value(n) == UNKNOWN
                    }
                for n, at in self.counts().items():
                    found[n] = found.get(n, frozenset()) | frozenset(at)
                self._tokens = found
        return self._tokens

    def _tokens_from(self, base: _Trace) -> dict[str, frozenset[Token]]:
        """The base run's tokens, changed only for the facts of the expressions that differ."""
        mine, theirs = self.occurrences(), base.occurrences()
        delta: dict[str, dict[Token, int]] = {}
        for key, occ in mine.items():
            old = theirs.get(key)
            if old is occ:
                continue
            for name, token in old or ():
                at = delta.setdefault(name, {})
                at[token] = at.get(token, 0) - 1
            for name, token in occ:
                at = delta.setdefault(name, {})
                at[token] = at.get(token, 0) + 1
        if mine.keys() != theirs.keys():
            for key, old in theirs.items():
                if key not in mine:
                    for name, token in old:
                        at = delta.setdefault(name, {})
                        at[token] = at.get(token, 0) - 1
        out = dict(base.tokens())
        counts = base.counts()
        for name, change in delta.items():
            at = dict(counts.get(name, {}))
            for token, d in change.items():
                at[token] = at.get(token, 0) + d
            live = frozenset(t for t, c in at.items() if c > 0)
            if live:
                out[name] = live
            else:
                out.pop(name, None)
        return out

    def live(self, name: str) -> bool:
        return name in self.tokens()


class WhatIf(Generic[R]):
    """Runs an engine with each unknown fact it read set to present, one at a time; on request,
    finds the smallest sets of unknown facts that change its result together."""

    def __init__(self, engine: Callable[..., R], facts: Facts) -> None:
        """``engine(facts, explain=...)``: the re-runs skip the evidence text (``explain=False``);
        ``explained`` is the base result with its evidence, for the output."""
        self.engine = engine
        self.facts = facts
        tracer = _TracingFacts(facts)
        self.base = engine(tracer, explain=False)
        self.base_trace = tracer.trace()
        self.unknowns = [n for n in self.base_trace.names() if facts.value(n) == UNKNOWN]
        self.alternatives: dict[str, R] = {}
        self.traces: dict[str, _Trace] = {}
        for n in self.unknowns:
            t = _TracingFacts(facts.with_values({n: PRESENT}))
            self.alternatives[n] = engine(t, explain=False)
            self.traces[n] = t.trace(self.base_trace, (n,))
        self.explained = engine(facts, explain=True)

    def changes(self, key: Callable[[R], Hashable], describe: Callable[[R], str]) -> WhatIfChanges:
        """The single unknown facts whose presence changes ``key`` of the result, each with the
        result it gives; the returned list also carries the search for sets (run on demand)."""
        base = key(self.base)
        out = []
        for name, alt in self.alternatives.items():
            if key(alt) != base:
                f = self.facts[name]
                out.append(
                    WhatIfChange(fact=name, label=f.label, record_at=f.record_at, result=describe(alt))
                )
        return WhatIfChanges(out, lambda: self.sets(key, describe, limit=MAX_LISTED))

    def sets(
        self, key: Callable[[R], Hashable], describe: Callable[[R], str], *, limit: int | None = MAX_LISTED
    ) -> UnknownSets:
        """The smallest sets of unknown facts that change ``key`` of the result only together
        (at most ``limit`` listed; ``None``: all that were found)."""
        return _SetSearcher(self, key, describe, limit).run()


class _SetSearcher(Generic[R]):
    def __init__(
        self, wi: WhatIf[R], key: Callable[[R], Hashable], describe: Callable[[R], str], limit: int | None
    ) -> None:
        self.wi, self.key, self.describe, self.limit = wi, key, describe, limit
        self.base_key = key(wi.base)
        self.runs = 0
        self.pair_traces: dict[tuple[str, ...], _Trace] = {}

    def trace_of(self, name: str) -> _Trace:
        """The trace of the run with ``name`` present (the base run's, if the base never read it)."""
        return self.wi.traces.get(name, self.wi.base_trace)

    def run_with(self, names: Sequence[str]) -> R:
        self.runs += 1
        return self.wi.engine(self.wi.facts.with_values(dict.fromkeys(names, PRESENT)), explain=False)

    def traced(self, names: Sequence[str]) -> _Trace:
        """The trace of a run with ``names`` present (for the alternatives of a set of three)."""
        if len(names) == 1:
            return self.trace_of(names[0])
        found = self.pair_traces.get(tuple(names))
        if found is None:
            self.runs += 1
            t = _TracingFacts(self.wi.facts.with_values(dict.fromkeys(names, PRESENT)))
            self.wi.engine(t, explain=False)
            found = self.pair_traces[tuple(names)] = t.trace(self.wi.base_trace, names)
        return found

    def candidates(self) -> list[str]:
        """Unrecorded facts read in any run whose presence alone changes nothing, in reading order."""
        wi, facts = self.wi, self.wi.facts
        names = dict.fromkeys(wi.unknowns)
        for t in wi.traces.values():
            if not t.reads_as_base():  # else its names are the base run's: ``wi.unknowns``
                names.update(dict.fromkeys(n for n in t.names() if facts.value(n) == UNKNOWN))
        return [n for n in names if n not in wi.alternatives or self.key(wi.alternatives[n]) == self.base_key]

    def classes(self, cands: list[str]) -> list[list[str]]:
        """Candidates grouped when they occur only side by side in the same ``any_of`` conditions
        in the base run and in every candidate's run (their own runs aside)."""
        wi = self.wi
        if wi.base_trace.opaque or any(t.opaque for t in wi.traces.values()):
            return [[c] for c in cands]
        runs = [(a, wi.traces[a].tokens()) for a in cands if a in wi.traces]
        base = wi.base_trace.tokens()
        empty: frozenset[Token] = frozenset()

        def same(f: str, r: str) -> bool:
            return all(t.get(f, empty) == t.get(r, empty) for a, t in runs if a not in (f, r))

        out: list[list[str]] = []
        by_base: dict[frozenset[Token], list[list[str]]] = {}
        for f in cands:
            sig = base.get(f, empty)
            solo = any(isinstance(tok, tuple) for tok in sig)
            group = by_base.setdefault(sig, [])
            for cls in group if not solo else ():
                if same(f, cls[0]):
                    cls.append(f)
                    break
            else:
                cls = [f]
                group.append(cls)
                out.append(cls)
        return out

    def pick(self, groups: Sequence[list[str]]) -> list[str] | None:
        """One fact from each group, no two recorded at the same place (first such choice)."""
        at = self.wi.facts
        firsts = [g[0] for g in groups]
        if len({at[f].record_at for f in firsts}) == len(firsts):
            return firsts

        def walk(i: int, chosen: list[str]) -> list[str] | None:
            if i == len(groups):
                return chosen
            used = {at[c].record_at for c in chosen}
            for f in groups[i]:
                if at[f].record_at not in used:
                    found = walk(i + 1, [*chosen, f])
                    if found is not None:
                        return found
            return None

        return walk(0, [])

    def family(self, found: _Found) -> WhatIfSet:
        """A set found, with the alternatives of each of its facts: the others of its group,
        recorded elsewhere than the rest of the set and occurring as it does in the run with the
        rest of the set present."""
        facts, chosen = self.wi.facts, found.chosen
        alternatives: dict[str, list[str]] = {}
        for i, (f, group) in enumerate(zip(chosen, found.groups, strict=True)):
            if len(group) < 2:
                continue
            rest = [c for j, c in enumerate(chosen) if j != i]
            at = {facts[c].record_at for c in rest}
            tokens = self.traced(rest).tokens()
            same = [
                g for g in group if g != f and facts[g].record_at not in at and tokens.get(g) == tokens.get(f)
            ]
            if same:
                alternatives[f] = same
        return WhatIfSet(
            facts=list(chosen),
            labels=[facts[f].label for f in chosen],
            record_at=[facts[f].record_at for f in chosen],
            alternatives=alternatives,
            alternative_labels={f: [facts[g].label for g in gs] for f, gs in alternatives.items()},
            result=self.describe(found.alt),
        )

    def run(self) -> UnknownSets:
        cands = self.candidates()
        classes = self.classes(cands)
        n = len(classes)
        found: list[_Found] = []
        # pair status: "changed", "same" (no change: run, or what one of its facts gives alone), or
        # None (its facts are recorded at one place: not a combination)
        status: dict[tuple[int, int], str | None] = {}
        todo: list[tuple[int, int, list[str]]] = []
        for i in range(n):
            for j in range(i + 1, n):
                chosen = self.pick([classes[i], classes[j]])
                if chosen is None:
                    status[i, j] = None
                    continue
                a, b = chosen
                if not (self.trace_of(a).live(b) and self.trace_of(b).live(a)):
                    status[i, j] = "same"
                    continue
                todo.append((i, j, chosen))
        complete = len(todo) <= RUN_BUDGET
        for i, j, chosen in todo[:RUN_BUDGET]:
            alt = self.run_with(chosen)
            k = self.key(alt)
            status[i, j] = "changed" if k != self.base_key else "same"
            if k != self.base_key:
                found.append(_Found(chosen, (classes[i], classes[j]), alt, k))
        max_size = 2 if complete else 1
        triples: list[tuple[int, int, int]] = []
        if complete and MAX_SET_SIZE >= 3:
            same = {p for p, v in status.items() if v == "same"}
            triples = [
                (i, j, k)
                for i, j in sorted(same)
                for k in range(j + 1, n)
                if (i, k) in same and (j, k) in same
            ]
            if len(triples) <= RUN_BUDGET - self.runs:
                max_size = 3
                for i, j, k in triples:
                    groups = (classes[i], classes[j], classes[k])
                    chosen = self.pick(groups)
                    if chosen is None:
                        continue
                    alt = self.run_with(chosen)
                    key = self.key(alt)
                    if key != self.base_key:
                        found.append(_Found(chosen, groups, alt, key))
        listed = [self.family(f) for f in _spread(found)[: self.limit]]
        search = SetSearch(
            candidates=len(cands),
            max_size=max_size,
            tried=self.runs,
            found=len(found),
            listed=len(listed),
            capped=len(found) > len(listed),
            complete=complete,
            note=self.note(
                cands, classes, complete, max_size, len(todo), len(triples), len(found), len(listed)
            ),
        )
        return UnknownSets(sets=listed, search=search)

    @staticmethod
    def note(
        cands: list[str],
        classes: list[list[str]],
        complete: bool,
        max_size: int,
        pairs: int,
        triples: int,
        found: int,
        listed: int,
    ) -> str:
        grouped = sum(len(c) - 1 for c in classes)
        parts = [
            f"{len(cands)} unrecorded fact{'s' if len(cands) != 1 else ''} that alone change nothing"
            + (f" ({grouped} with the same effect as another, searched once)" if grouped else "")
        ]
        if not complete:
            parts.append(
                f"the search stopped at its budget of {RUN_BUDGET} combinations with "
                f"{pairs - RUN_BUDGET} pairs untried: the list may be incomplete"
            )
        elif max_size == 3:
            parts.append("every pair and every set of three tried")
        elif triples:
            parts.append(f"every pair tried; sets of three not searched ({triples} would exceed the budget)")
        else:
            parts.append("every pair tried")
        parts.append(f"{found} set{'s' if found != 1 else ''} found")
        if found > listed:
            parts.append(f"{listed} listed")
        return "; ".join(parts) + "."


@dataclass(frozen=True)
class _Found:
    """A set found: the facts run, the group each stands for, the result and its key."""

    chosen: list[str]
    groups: tuple[list[str], ...]
    alt: Any
    key: Hashable


def _spread(found: list[_Found]) -> list[_Found]:
    """Smallest sets first and, within a size, one set per distinct result in turn, so that a
    capped list still shows every kind of change (definite as well as possible IIM)."""
    out: list[_Found] = []
    for size in sorted({len(f.chosen) for f in found}):
        by_key: dict[Hashable, list[_Found]] = {}
        for f in found:
            if len(f.chosen) == size:
                by_key.setdefault(f.key, []).append(f)
        queues = list(by_key.values())
        for i in range(max(len(q) for q in queues)):
            out += [q[i] for q in queues if i < len(q)]
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
