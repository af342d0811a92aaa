"""Triggers: drugs that can induce lupus or dermatomyositis, and events before onset.

Every medication in the case is resolved to a generic drug or class (``clinical.drugs``) and
matched against ``data/clinical/drug_triggers.yaml``. Timing decides how strongly a match is
reported, by the association's published latency:

- ``suspected``: started before onset and no longer before it than the longest published
  interval (or any time before onset where latency is reported as years);
- ``possible``: started before onset, but no latency range could be verified for this drug;
- ``timing_unknown``: the months from starting the drug to onset are not recorded;
- ``outside_window``: started longer before onset than any published case;
- ``after_onset``: started after onset, so it cannot have triggered it.

The first three are the ``triggers`` of the assessment; the last two are listed as set aside,
so a clinician sees that the drug was considered. Events (viral illness, COVID-19, sunburn …)
and history (smoking) raise flags from ``data/clinical/triggers.yaml``.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ifnscope.case.model import Case, Medication
from ifnscope.clinical.base import Disease, Flag, Picture, Severity
from ifnscope.clinical.drugs import Resolution, all_classes, all_drugs, label_of_class, resolve
from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, RuleModel, SourceRef

Status = Literal["suspected", "possible", "timing_unknown", "outside_window", "after_onset"]
Strength = Literal["population", "series", "reports"]

STATUS_WORDS = {
    "suspected": "suspected",
    "possible": "possible",
    "timing_unknown": "timing not recorded",
    "outside_window": "outside the window",
    "after_onset": "started after onset",
}
_STATUS_ORDER = {"suspected": 0, "possible": 1, "timing_unknown": 2, "outside_window": 3, "after_onset": 4}
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


class Window(RuleModel):
    max_months: float | None = None
    any_duration: bool = False
    basis: str
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
    fits_picture: bool | None = Field(
        description="Whether the disease matches what the skin picture favours (None: indeterminate)"
    )
    source: str = Field(description="Citation of the association")
    references: list[Reference]


class TriggerResult(BaseModel):
    triggers: list[TriggerOut] = Field(description="Suspected, possible, and timing not recorded")
    set_aside: list[TriggerOut] = Field(description="Considered and set aside by timing")
    medications: list[Resolution] = Field(description="How each recorded medication was read")
    unrecognised: list[Resolution]
    events_without_rule: list[str]
    flags: list[Flag]
    unknowns: list[str] = Field(description="Unrecorded details that could change this screen")


# --------------------------------------------------------------------------------- engine


def _timing(a: Association, months: float | None) -> tuple[Status, str]:
    w = a.window
    if months is None:
        return "timing_unknown", "months from starting the drug to onset not recorded"
    if months < 0:
        return "after_onset", f"started {-months:g} months after onset"
    started = f"started {months:g} months before onset"
    if w is None:
        return "possible", f"{started}; no published latency range could be verified for this association"
    if w.any_duration:
        return (
            "suspected",
            f"{started}; latency is reported as {w.basis}, so any exposure before onset counts",
        )
    assert w.max_months is not None
    if months <= w.max_months:
        return (
            "suspected",
            f"{started}, within the published range (up to {w.max_months:g} months: {w.basis})",
        )
    return (
        "outside_window",
        f"{started}, longer than any published interval ({w.max_months:g} months: {w.basis})",
    )


def _matches(a: Association, r: Resolution) -> bool:
    if a.agent.drug is not None:
        return r.generic == a.agent.drug
    return a.agent.class_ in r.classes


def _refs(a: Association) -> list[Reference]:
    refs = [a.source, *a.extra_sources, a.latency_source]
    if a.window is not None:
        refs.append(a.window.source)
    return list(dict.fromkeys(Reference.of(s) for s in refs))


def _agent_name(r: Resolution) -> str:
    if r.generic is not None:
        return r.generic
    return label_of_class(r.classes[0]) if r.classes else r.recorded_as


def _trigger(a: Association, med: Medication, r: Resolution, picture: Picture) -> TriggerOut:
    status, timing = _timing(a, med.months_before_onset)
    refs = _refs(a)
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
        timing=timing,
        status=status,
        fits_picture=None if picture == "indeterminate" else picture == a.disease,
        source=refs[0].citation,
        references=refs,
    )


def _order(t: TriggerOut) -> tuple[int, int, int]:
    fits = {True: 0, None: 1, False: 2}[t.fits_picture]
    return (_STATUS_ORDER[t.status], fits, _STRENGTH_ORDER[t.strength])


def evaluate(case: Case, picture: Picture = "indeterminate") -> TriggerResult:
    """Screen a case's medications and pre-onset events. Pure: no I/O."""
    rules = drug_rules()
    resolved = [(m, resolve(m.name)) for m in case.medications]
    found: list[TriggerOut] = []
    for med, r in resolved:
        if not r.recognised:
            continue
        for a in rules.associations:
            if _matches(a, r):
                found.append(_trigger(a, med, r, picture))
    found.sort(key=_order)
    active = [t for t in found if t.status in ("suspected", "possible", "timing_unknown")]
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
    history = case.history.model_dump()
    has_drug_match = bool(found)
    raised: set[str] = set()
    matched = [
        (rule, f"onset.after: {rule.onset_after}")
        for rule in events.events
        if rule.onset_after in after and not (rule.only_without_drug_match and has_drug_match)
    ] + [
        (rule, f"history.{rule.history}: present")
        for rule in events.history
        if rule.history and history.get(rule.history) == "present"
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
        if history.get(key) in (None, "unknown"):
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
