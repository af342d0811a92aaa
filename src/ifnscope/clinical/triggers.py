"""Triggers: drugs that can induce lupus or dermatomyositis, and events before onset.

Every medication in the case is resolved to a generic drug or class (``clinical.drugs``) and
matched against ``data/clinical/drug_triggers.yaml``. Timing decides how strongly a match is
reported, by the association's published latency:

- ``suspected``: started before onset, within the published latency range (no sooner before
  onset than the shortest and no longer than the longest published interval), or any time
  before onset where latency is reported as years;
- ``possible``: started before onset, but no latency range could be verified for this drug;
- ``timing_uncertain``: started before onset but outside the published range (longer before
  onset than any published case, or sooner than the shortest). A published maximum is the
  longest case seen so far, not a biological limit, so the drug is kept as a trigger and the
  output says why the timing is uncertain instead of setting it aside;
- ``timing_unknown``: the months from starting the drug to onset are not recorded;
- ``after_onset``: started after onset, so it cannot have triggered it.

(``outside_window`` is kept in the status vocabulary so stored assessments still read; it is no
longer produced.) Every trigger also says whether its timing is uncertain
(``timing_uncertain`` and ``timing_uncertain_because``): outside the range; no range verified;
or a range known only from a few patients (fewer than ``timing.few_cases_below`` of the
table, ifnscope's own convention). ``latency_numbers`` lists the published minimum, maximum,
mean and median intervals the judgement used, each with its source.

All but ``after_onset`` are the ``triggers`` of the assessment; ``after_onset`` is listed as
set aside, so a clinician sees that the drug was considered. Events (viral illness, COVID-19,
sunburn …) and history (smoking) raise flags from ``data/clinical/triggers.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ifnscope.case.facts import PRESENT, UNKNOWN, Facts, build_facts
from ifnscope.case.model import Case, Medication
from ifnscope.clinical.base import Disease, Flag, Picture, Severity
from ifnscope.clinical.drugs import Resolution, all_classes, all_drugs, label_of_class, resolve
from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, RuleModel, SourceRef

Status = Literal[
    "suspected", "possible", "timing_uncertain", "timing_unknown", "outside_window", "after_onset"
]
ACTIVE: tuple[Status, ...] = ("suspected", "possible", "timing_uncertain", "timing_unknown")
Strength = Literal["population", "series", "reports"]

STATUS_WORDS = {
    "suspected": "suspected",
    "possible": "possible",
    "timing_uncertain": "timing uncertain",
    "timing_unknown": "timing not recorded",
    "outside_window": "outside the window",
    "after_onset": "started after onset",
}
_STATUS_ORDER = {
    "suspected": 0,
    "possible": 1,
    "timing_uncertain": 2,
    "timing_unknown": 3,
    "outside_window": 4,
    "after_onset": 5,
}
_STRENGTH_ORDER = {"population": 0, "series": 1, "reports": 2}
_STRENGTH_WORDS = {
    "population": "a controlled population study",
    "series": "case series or systematic reviews",
    "reports": "case reports or expert lists",
}
_DISEASE_WORDS = {"lupus": "lupus", "dermatomyositis": "dermatomyositis"}


# ------------------------------------------------------------------------------ rule tables


class Agent(RuleModel):
    drug: str | None = None
    class_: str | None = Field(default=None, alias="class")

    @model_validator(mode="after")
    def _one(self) -> Agent:
        if (self.drug is None) == (self.class_ is None):
            raise ValueError("an agent is a drug or a class")
        return self


LatencyKind = Literal["minimum", "maximum", "mean", "median"]


class LatencyPoint(RuleModel):
    """One published interval from starting the drug to onset, with its own source."""

    months: float = Field(ge=0)
    basis: str
    source: SourceRef


class TypicalLatency(LatencyPoint):
    kind: Literal["mean", "median"]


class Window(RuleModel):
    """The published latency of an association.

    ``max_months`` / ``basis`` / ``source``: the longest published interval (or, where said in
    ``basis``, the look-back window a study used); ``min``: the shortest; ``typical``: means and
    medians; ``cases``: how many patients the range rests on, where the source says.
    """

    max_months: float | None = None
    any_duration: bool = False
    basis: str
    source: SourceRef
    min: LatencyPoint | None = None
    typical: list[TypicalLatency] = Field(default_factory=list)
    cases: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Window:
        if self.any_duration == (self.max_months is not None):
            raise ValueError("a window has either max_months or any_duration: true")
        if self.min is not None and self.max_months is not None and self.min.months > self.max_months:
            raise ValueError("window min is longer than its max")
        return self


class TimingRule(RuleModel):
    """ifnscope's own convention for calling a published range thin (not a published rule)."""

    few_cases_below: int = Field(ge=2)
    rule: str
    source: SourceRef


class Association(RuleModel):
    id: str
    agent: Agent
    disease: Disease
    presentation: str
    strength: Strength
    evidence: str
    source: SourceRef
    extra_sources: list[SourceRef] = Field(default_factory=list)
    latency: str
    latency_source: SourceRef
    window: Window | None


class DrugTriggerTable(RuleModel):
    timing: TimingRule
    associations: list[Association]


class EventRule(RuleModel):
    id: str
    onset_after: str | None = None
    history: str | None = None
    flag: str
    severity: Severity
    message: str
    sources: list[SourceRef]
    only_without_drug_match: bool = False


class EventTable(RuleModel):
    events: list[EventRule]
    history: list[EventRule]
    no_rule: list[str]


@cache
def drug_rules() -> DrugTriggerTable:
    table = load_table("clinical/drug_triggers.yaml", DrugTriggerTable)
    drugs, classes = all_drugs(), all_classes()
    for a in table.associations:
        if a.agent.drug is not None and a.agent.drug not in drugs:
            raise DataError(f"drug_triggers.yaml {a.id}: unknown drug {a.agent.drug!r}")
        if a.agent.class_ is not None and a.agent.class_ not in classes:
            raise DataError(f"drug_triggers.yaml {a.id}: unknown class {a.agent.class_!r}")
    return table


@cache
def event_rules() -> EventTable:
    return load_table("clinical/triggers.yaml", EventTable)


# ---------------------------------------------------------------------------------- results


class LatencyNumber(BaseModel):
    """A published latency the timing judgement used, with where it comes from."""

    kind: LatencyKind
    months: float
    basis: str
    reference: Reference


class TriggerOut(BaseModel):
    """One medication matched to a published drug-induced disease, with its timing."""

    agent: str = Field(description="The generic drug (or class, when recorded by class)")
    recorded_as: str
    drug_class: str | None = Field(description="The class the association is about, if any")
    disease: Disease
    presentation: str
    evidence: str
    strength: Strength
    latency: str
    months_before_onset: float | None
    timing: str = Field(description="The timing judgement, in words")
    status: Status
    timing_uncertain: bool = Field(
        default=False,
        description="The timing cannot be judged firmly: outside the published range, no range "
        "verified, or a range known only from a few patients",
    )
    timing_uncertain_because: str | None = Field(default=None, description="Why the timing is uncertain")
    latency_numbers: list[LatencyNumber] = Field(
        default_factory=list,
        description="Published minimum, maximum, mean and median latencies used, each with its source",
    )
    fits_picture: bool | None = Field(
        description="Whether the disease matches what the skin picture favours (None: indeterminate)"
    )
    source: str = Field(description="Citation of the association")
    references: list[Reference]


class TriggerResult(BaseModel):
    triggers: list[TriggerOut] = Field(
        description="Suspected, possible, timing uncertain, and timing not recorded"
    )
    set_aside: list[TriggerOut] = Field(
        description="Considered and set aside by timing (started after onset)"
    )
    medications: list[Resolution] = Field(description="How each recorded medication was read")
    unrecognised: list[Resolution]
    events_without_rule: list[str]
    flags: list[Flag]
    unknowns: list[str] = Field(description="Unrecorded details that could change this screen")


# --------------------------------------------------------------------------------- engine


@dataclass(frozen=True)
class _Timing:
    status: Status
    words: str
    uncertain_because: str | None = None
    thin_range: bool = False  # the few-cases convention was applied


def _m(x: float) -> str:
    return f"{x:g} month" + ("" if x == 1 else "s")


def _thin(w: Window) -> str | None:
    """Why a published range is thin, by the table's own convention (None: not thin)."""
    few = drug_rules().timing.few_cases_below
    if w.cases is not None and w.cases < few:
        return f"the published range rests on {w.cases} patient{'s' if w.cases != 1 else ''} only"
    return None


def _timing(a: Association, months: float | None) -> _Timing:
    w = a.window
    if months is None:
        return _Timing("timing_unknown", "months from starting the drug to onset not recorded")
    if months < 0:
        return _Timing("after_onset", f"started {_m(-months)} after onset")
    started = f"started {_m(months)} before onset"
    if w is None:
        why = "no published latency range could be verified for this association"
        return _Timing("possible", f"{started}; {why}", why)
    if w.any_duration:
        return _Timing(
            "suspected", f"{started}; latency is reported as {w.basis}, so any exposure before onset counts"
        )
    assert w.max_months is not None
    thin = _thin(w)
    if months > w.max_months:
        why = (
            f"{started}, longer before onset than the published range (up to {_m(w.max_months)}: {w.basis}); "
            "a published maximum is the longest case seen so far, not a limit"
            + (f", and {thin}" if thin else "")
        )
        return _Timing("timing_uncertain", f"timing uncertain: {why}", why, thin is not None)
    if w.min is not None and months < w.min.months:
        why = f"{started}, sooner than the shortest published interval ({w.min.basis})" + (
            f", and {thin}" if thin else ""
        )
        return _Timing("timing_uncertain", f"timing uncertain: {why}", why, thin is not None)
    span = f"{_m(w.min.months)} to {_m(w.max_months)}" if w.min is not None else f"up to {_m(w.max_months)}"
    words = f"{started}, within the published range ({span}: {w.basis})"
    if thin:
        return _Timing("suspected", f"{words}; timing uncertain: {thin}", thin, True)
    return _Timing("suspected", words)


def _latency_numbers(a: Association) -> list[LatencyNumber]:
    w = a.window
    if w is None:
        return []
    out: list[LatencyNumber] = []
    if w.min is not None:
        out.append(
            LatencyNumber(
                kind="minimum", months=w.min.months, basis=w.min.basis, reference=Reference.of(w.min.source)
            )
        )
    if w.max_months is not None:
        out.append(
            LatencyNumber(
                kind="maximum", months=w.max_months, basis=w.basis, reference=Reference.of(w.source)
            )
        )
    for t in w.typical:
        out.append(
            LatencyNumber(kind=t.kind, months=t.months, basis=t.basis, reference=Reference.of(t.source))
        )
    return out


def _matches(a: Association, r: Resolution) -> bool:
    if a.agent.drug is not None:
        return r.generic == a.agent.drug
    return a.agent.class_ in r.classes


def _refs(a: Association, timing: _Timing) -> list[Reference]:
    refs = [a.source, *a.extra_sources, a.latency_source]
    w = a.window
    if w is not None:
        refs.append(w.source)
        if w.min is not None:
            refs.append(w.min.source)
        refs += [t.source for t in w.typical]
    if timing.thin_range:
        refs.append(drug_rules().timing.source)
    return list(dict.fromkeys(Reference.of(s) for s in refs))


def _agent_name(r: Resolution) -> str:
    if r.generic is not None:
        return r.generic
    return label_of_class(r.classes[0]) if r.classes else r.recorded_as


def _trigger(a: Association, med: Medication, r: Resolution, picture: Picture) -> TriggerOut:
    timing = _timing(a, med.months_before_onset)
    refs = _refs(a, timing)
    return TriggerOut(
        agent=_agent_name(r),
        recorded_as=med.name,
        drug_class=label_of_class(a.agent.class_) if a.agent.class_ else None,
        disease=a.disease,
        presentation=a.presentation,
        evidence=a.evidence,
        strength=a.strength,
        latency=a.latency,
        months_before_onset=med.months_before_onset,
        timing=timing.words,
        status=timing.status,
        timing_uncertain=timing.uncertain_because is not None,
        timing_uncertain_because=timing.uncertain_because,
        latency_numbers=_latency_numbers(a),
        fits_picture=None if picture == "indeterminate" else picture == a.disease,
        source=refs[0].citation,
        references=refs,
    )


def _order(t: TriggerOut) -> tuple[int, int, int]:
    fits = {True: 0, None: 1, False: 2}[t.fits_picture]
    return (_STATUS_ORDER[t.status], fits, _STRENGTH_ORDER[t.strength])


def evaluate(case: Case, picture: Picture = "indeterminate", facts: Facts | None = None) -> TriggerResult:
    """Screen a case's medications and pre-onset events. Pure: no I/O. ``facts``: the case's
    (built here when not given), whose history words include those the case's sections give
    (smoking from ``smoking``)."""
    facts = facts if facts is not None else build_facts(case)
    rules = drug_rules()
    resolved = [(m, resolve(m.name, m.route)) for m in case.medications]
    found: list[TriggerOut] = []
    for med, r in resolved:
        if not r.recognised:
            continue
        for a in rules.associations:
            if _matches(a, r):
                found.append(_trigger(a, med, r, picture))
    found.sort(key=_order)
    active = [t for t in found if t.status in ACTIVE]
    set_aside = [t for t in found if t not in active]

    flags: list[Flag] = []
    suspected = [t for t in active if t.status == "suspected"]
    if suspected:
        lead = suspected[0]
        names = ", ".join(dict.fromkeys(f"{t.agent} ({_DISEASE_WORDS[t.disease]})" for t in suspected))
        flags.append(
            Flag.make(
                "drug_trigger_suspected",
                "act",
                f"Drug trigger suspected: {names}. {lead.agent.capitalize()} — {lead.presentation}; "
                f"{lead.evidence}; {lead.timing}. Consider whether the drug is needed.",
                list(dict.fromkeys(r for t in suspected for r in t.references)),
                evidence=[f"{t.recorded_as}: {t.timing}" for t in suspected],
            )
        )
    uncertain = [t for t in active if t.status == "timing_uncertain"]
    if uncertain:
        names = ", ".join(dict.fromkeys(f"{t.agent} ({_DISEASE_WORDS[t.disease]})" for t in uncertain))
        flags.append(
            Flag.make(
                "drug_timing_uncertain",
                "check",
                f"Drug trigger, timing uncertain: {names}. The drug was started outside the published "
                "latency range, which rests on the cases reported so far; it is kept as a possible "
                "trigger rather than set aside. Consider whether the drug is needed.",
                list(dict.fromkeys(r for t in uncertain for r in t.references)),
                evidence=[f"{t.recorded_as}: {t.timing}" for t in uncertain],
            )
        )
    unknown_timing = [t for t in active if t.status == "timing_unknown"]
    if unknown_timing:
        names = ", ".join(dict.fromkeys(t.recorded_as for t in unknown_timing))
        flags.append(
            Flag.make(
                "drug_timing_not_recorded",
                "check",
                f"{names}: associated with drug-induced "
                f"{' or '.join(dict.fromkeys(_DISEASE_WORDS[t.disease] for t in unknown_timing))}, "
                "but the months from starting the drug to onset are not recorded "
                "(medications[].months_before_onset); the timing decides whether it is a suspect.",
                list(dict.fromkeys(r for t in unknown_timing for r in t.references)),
                evidence=[t.recorded_as for t in unknown_timing],
            )
        )

    events = event_rules()
    after = set(case.onset.after)
    has_drug_match = bool(found)
    raised: set[str] = set()
    matched = [
        (rule, f"onset.after: {rule.onset_after}")
        for rule in events.events
        if rule.onset_after in after and not (rule.only_without_drug_match and has_drug_match)
    ] + [
        (rule, f"history.{rule.history}: present")
        for rule in events.history
        if rule.history and facts.value(f"history_{rule.history}") == PRESENT
    ]
    for rule, evidence in matched:
        if rule.flag in raised:  # one flag per code (sunburn and sun exposure share one)
            continue
        raised.add(rule.flag)
        flags.append(
            Flag.make(
                rule.flag,
                rule.severity,
                " ".join(rule.message.split()),
                [Reference.of(s) for s in rule.sources],
                evidence=[evidence],
            )
        )

    unknowns = [f"timing of {t.recorded_as} relative to onset" for t in unknown_timing]
    unrecognised = [r for _, r in resolved if not r.recognised]
    unknowns += [f"medication '{r.recorded_as}' not recognised" for r in unrecognised]
    for key in ("smoking", "sun_exposure"):
        if facts.value(f"history_{key}") == UNKNOWN:
            unknowns.append(f"history.{key} not recorded")
    return TriggerResult(
        triggers=active,
        set_aside=set_aside,
        medications=[r for _, r in resolved],
        unrecognised=unrecognised,
        events_without_rule=[e for e in case.onset.after if e in events.no_rule],
        flags=flags,
        unknowns=unknowns,
    )
