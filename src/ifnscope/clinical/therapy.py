"""Therapy history and the options not yet tried, for skin disease in CLE and DM.

The knowledge base is ``data/clinical/therapies.yaml``: per agent its target and level in the type I
interferon pathway, approvals, ladder position per disease, trials with their numbers, eligibility
rules and cautions, every row with its source. This module only reads it:

* each recorded medication is resolved by :func:`ifnscope.clinical.drugs.resolve` (never guessed)
  and mapped to a knowledge-base agent; its recorded response becomes a status in plain words;
* the agents not recorded as tried are listed in the order of the published ladder for the
  patient's picture, each with its approval status for this indication, its key trial and
  eligibility notes that compare trial entry rules with this patient (CDASI-A, muscle involvement,
  failed agents);
* flags: ``no_antimalarial_tried``, ``hcq_eruption_risk_dm``, ``medication_not_recognised``.

The wording is decision support: "not recorded as tried", "an option in the published ladder";
nothing here says what to prescribe. :func:`evaluate` is pure.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ifnscope.case.model import Case
from ifnscope.clinical.base import Flag, Picture
from ifnscope.clinical.drugs import Resolution, all_classes, all_drugs, resolve
from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, SourceRef

KB_FILE = "clinical/therapies.yaml"
DISCLAIMER = (
    "Decision support, not a prescription: this lists what is recorded as tried and what the "
    "published ladders and trials say about the agents not yet tried, with their sources. The "
    "treatment decision remains the clinician's."
)

Disease = Literal["lupus", "dermatomyositis"]
Level = Literal["producer", "sensor", "ligand", "receptor", "signalling", "not_ifn_specific"]
Indication = Literal["cle", "dle", "sle", "dermatomyositis"]
EligibilityRule = Literal[
    "min_cdasi_activity",
    "min_clasi_activity",
    "min_failed_systemic",
    "requires_failed_antimalarial",
    "requires_muscle_weakness",
    "excludes_amyopathic",
]


# --------------------------------------------------------------------------------------------
# The knowledge base (validated on first use; a malformed file is a DataError)


class _KB(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Matches(_KB):
    drugs: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)


class PathwayRow(_KB):
    level: Level
    note: str | None = None
    source: SourceRef | None = None


class Approval(_KB):
    kind: Literal["approval", "first_approval", "designation", "filing_planned"]
    regulator: str
    product: str | None = None
    indication: str
    covers: list[Indication] = Field(default_factory=list)
    date: str | None = None
    date_note: str | None = None
    source: SourceRef
    date_source: SourceRef | None = None


class LadderRow(_KB):
    position: str
    note: str
    source: SourceRef


class Eligibility(_KB):
    rule: EligibilityRule
    value: float | None = None
    text: str
    source: SourceRef


class Trial(_KB):
    name: str
    registry: str | None = None
    phase: str | None = None
    disease: Disease
    status: str | None = None
    design: str | None = None
    population: str | None = None
    n: str | None = None
    endpoint: str | None = None
    result: str
    sources: list[SourceRef] = Field(min_length=1)
    eligibility: list[Eligibility] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _n_as_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("n"), int | float):
            data = {**data, "n": str(data["n"])}
        if isinstance(data, dict) and isinstance(data.get("phase"), int):
            data = {**data, "phase": str(data["phase"])}
        return data

    @property
    def withdrawn(self) -> bool:
        return (self.status or "").startswith("withdrawn")


class Caution(_KB):
    code: str
    applies_to: list[Disease] = Field(default_factory=list)
    text: str
    sources: list[SourceRef] = Field(min_length=1)


class Dosing(_KB):
    text: str
    source: SourceRef


class Agent(_KB):
    label: str
    kind: Literal["drug", "measure", "symptomatic"]
    matches: Matches
    target: str
    pathway: PathwayRow
    mechanism: str
    approval: list[Approval] = Field(default_factory=list)
    dosing: Dosing | None = None
    ladder: dict[Disease, LadderRow] = Field(default_factory=dict)
    trials: list[Trial] = Field(default_factory=list)
    cautions: list[Caution] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list)


class Position(_KB):
    key: str
    label: str


class DiseaseInfo(_KB):
    label: str
    short: str
    covers: list[Indication]


class LevelInfo(_KB):
    key: Level
    label: str
    ifn_targeted: bool = Field(description="an agent at this level is an IFN-targeted drug (ifnscope's rule)")


class FlagSpec(_KB):
    severity: Literal["info", "check", "act"]
    message: str | dict[Disease, str]
    sources: list[SourceRef] | dict[Disease, list[SourceRef]] = Field(default_factory=list)
    extra: dict[str, str] = Field(default_factory=dict)

    def message_for(self, disease: Disease) -> str:
        text = self.message if isinstance(self.message, str) else self.message[disease]
        return " ".join(text.split())

    def references_for(self, disease: Disease) -> list[Reference]:
        refs = self.sources if isinstance(self.sources, list) else self.sources.get(disease, [])
        return [Reference.of(r) for r in refs]


class KnowledgeBase(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # classes/drugs belong to the resolver

    positions: list[Position]
    diseases: dict[Disease, DiseaseInfo]
    pathway_levels: list[LevelInfo]
    flags: dict[str, FlagSpec]
    agents: dict[str, Agent]

    @model_validator(mode="after")
    def _consistent(self) -> KnowledgeBase:
        keys = {p.key for p in self.positions}
        for name, agent in self.agents.items():
            for disease, row in agent.ladder.items():
                if row.position not in keys:
                    raise ValueError(f"agent {name!r}: unknown ladder position {row.position!r} ({disease})")
        for code in ("no_antimalarial_tried", "hcq_eruption_risk_dm", "medication_not_recognised"):
            if code not in self.flags:
                raise ValueError(f"flag {code!r} is missing")
        return self

    def position_index(self, key: str) -> int:
        return [p.key for p in self.positions].index(key)

    def position_label(self, key: str) -> str:
        return next(p.label for p in self.positions if p.key == key)

    def level_label(self, key: str) -> str:
        return next(lv.label for lv in self.pathway_levels if lv.key == key)


def is_ifn_targeted(level: str | None) -> bool:
    """Is an agent at this pathway level an "IFN-targeted drug"? The one definition (data file)."""
    return any(lv.key == level and lv.ifn_targeted for lv in knowledge_base().pathway_levels)


def on_ifn_pathway(level: str | None) -> bool:
    """Does an agent at this level act on the type I IFN pathway at all (antimalarials included)?"""
    return level is not None and level != "not_ifn_specific"


@cache
def knowledge_base() -> KnowledgeBase:
    """The therapy knowledge base, validated once per process (cross-checked with the drug tables)."""
    kb = load_table(KB_FILE, KnowledgeBase)
    drugs, classes = all_drugs(), all_classes()
    owner: dict[str, str] = {}
    for name, agent in kb.agents.items():
        for d in agent.matches.drugs:
            if d not in drugs:
                raise DataError(f"{KB_FILE}: agent {name!r} matches unknown drug {d!r}")
            if d in owner:
                raise DataError(f"{KB_FILE}: drug {d!r} belongs to agents {owner[d]!r} and {name!r}")
            owner[d] = name
        for c in agent.matches.classes:
            if c not in classes:
                raise DataError(f"{KB_FILE}: agent {name!r} matches unknown class {c!r}")
    return kb


@cache
def _agent_index() -> tuple[dict[str, str], dict[str, str]]:
    """generic drug -> agent, and class (recorded by class name) -> agent."""
    by_drug: dict[str, str] = {}
    by_class: dict[str, str] = {}
    for name, agent in knowledge_base().agents.items():
        for d in agent.matches.drugs:
            by_drug[d] = name
        for c in agent.matches.classes:
            by_class.setdefault(c, name)
    return by_drug, by_class


def agent_for(resolution: Resolution) -> str | None:
    """The knowledge-base agent a resolved medication name stands for, if any."""
    by_drug, by_class = _agent_index()
    if resolution.generic:
        return by_drug.get(resolution.generic)
    for c in resolution.classes:
        if c in by_class:
            return by_class[c]
    return None


def agent_classes(key: str) -> set[str]:
    """Every drug class of an agent (its drugs' classes and the classes it answers to)."""
    agent = knowledge_base().agents[key]
    drugs = all_drugs()
    out = set(agent.matches.classes)
    for d in agent.matches.drugs:
        out |= set(drugs[d].classes)
    return out


def find_agent(name: str) -> str | None:
    """An agent key from a key, generic, brand or alias ("ivig", "Octagam", "anifrolumab")."""
    kb = knowledge_base()
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in kb.agents:
        return key
    res = resolve(name)
    return agent_for(res) if res.recognised else None


# --------------------------------------------------------------------------------------------
# Input and output


class TherapyContext(BaseModel):
    """What the therapy reasoning needs beyond the medication list (built by the caller)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    picture: Picture = Field(description="The working picture: dermatomyositis, lupus or indeterminate")
    classified_as: list[str] = Field(
        default_factory=list,
        description="Classifications met, in words, e.g. 'probable IIM: amyopathic dermatomyositis'",
    )
    cdasi_activity: float | None = Field(default=None, ge=0, description="CDASI activity score, if scored")
    clasi_activity: float | None = Field(default=None, ge=0, description="CLASI activity score, if scored")
    muscle_involvement: Literal["present", "absent", "unknown"] = "unknown"


StatusCode = Literal[
    "inadequate_response", "partial_response", "responded", "intolerant", "too_early", "response_not_recorded"
]
_STATUS: dict[str | None, tuple[StatusCode, str]] = {
    "none": ("inadequate_response", "tried with inadequate response (no response)"),
    "inadequate": ("inadequate_response", "tried with inadequate response"),
    "partial": ("partial_response", "tried with partial response"),
    "good": ("responded", "responded"),
    "intolerant": ("intolerant", "intolerant"),
    "too_early": ("too_early", "too early to judge"),
    None: ("response_not_recorded", "response not recorded"),
}
_FAILED: set[StatusCode] = {"inadequate_response", "intolerant"}


class HistoryEntry(BaseModel):
    """One recorded medication, as read."""

    recorded_as: str
    resolution: Resolution
    read_as: str = Field(description="How the name was read, in words")
    agent: str | None = Field(description="Knowledge-base agent, when the medication is a CLE/DM treatment")
    agent_label: str | None = None
    classes: list[str]
    response: str | None
    started: str | None = None
    stopped: str | None = None
    dose: str | None = None
    status: StatusCode
    status_text: str = Field(description="Plain words: tried with inadequate response, intolerant, …")
    counts_as_failed: bool
    pathway_level: str | None = None


class Unrecognised(BaseModel):
    recorded_as: str
    suggestion: str | None
    message: str


class Placement(BaseModel):
    """Where an agent sits in one disease's ladder."""

    disease: Disease
    position: str
    position_label: str
    note: str | None = None
    reference: Reference | None = None


class EligibilityNote(BaseModel):
    trial: str
    rule: str
    text: str = Field(description="The trial's rule compared with this patient")
    meets: bool | None = Field(description="True/False when the case settles it, None when not recorded")
    reference: Reference


class Option(BaseModel):
    """An agent not recorded as tried, with what the ladder, approvals and trials say."""

    agent: str
    label: str
    kind: str
    position: str = Field(description="Best ladder position across the picture's diseases")
    position_label: str
    placements: list[Placement]
    pathway_level: Level
    pathway_label: str
    approval_status: str
    approval_code: Literal[
        "approved_for_indication", "approved_other_indication", "not_approved", "not_applicable"
    ]
    key_trial: str | None
    trials: list[str]
    eligibility: list[EligibilityNote]
    eligibility_notes: list[str]
    cautions: list[str]
    class_note: str | None = None
    summary: str
    references: list[Reference]


class PathwayLevelRow(BaseModel):
    level: Level
    label: str
    tried: list[str]
    failed: list[str]
    options: list[str]


class PathwaySummary(BaseModel):
    levels: list[PathwayLevelRow]
    targeted: list[Level] = Field(description="IFN-specific levels reached by an agent recorded as tried")
    summary: str


class TherapyResult(BaseModel):
    case_id: str
    context: TherapyContext
    disclaimer: str = DISCLAIMER
    history: list[HistoryEntry]
    tried: list[str] = Field(description="Agent keys recorded as tried, in record order")
    failed: list[str] = Field(description="Agent keys recorded with inadequate response or intolerance")
    tried_classes: list[str] = Field(description="Every drug class among the recognised medications")
    unrecognised: list[Unrecognised]
    options_not_tried: list[Option]
    ifn_pathway: PathwaySummary
    flags: list[Flag]
    references: list[Reference]


# --------------------------------------------------------------------------------------------
# Evaluation


def diseases_of(picture: str) -> list[Disease]:
    if picture == "dermatomyositis":
        return ["dermatomyositis"]
    if picture == "lupus":
        return ["lupus"]
    return ["dermatomyositis", "lupus"]


def evaluate(case: Case, context: TherapyContext) -> TherapyResult:
    """Read the medication list against the knowledge base (pure)."""
    kb = knowledge_base()
    history, unrecognised = _history(case)
    tried = list(dict.fromkeys(h.agent for h in history if h.agent))
    failed = list(dict.fromkeys(h.agent for h in history if h.agent and h.counts_as_failed))
    tried_classes = list(dict.fromkeys(c for h in history for c in h.classes))
    class_only = {c for h in history if h.resolution.how == "class" and h.agent is None for c in h.classes}
    diseases = diseases_of(context.picture)

    options = []
    for key, agent in kb.agents.items():
        if key in tried or agent.kind == "symptomatic":
            continue
        opt = _option(key, agent, diseases, context, history, failed, class_only)
        if opt is not None:
            options.append(opt)
    order = list(kb.agents)
    options.sort(key=lambda o: (kb.position_index(o.position), order.index(o.agent)))

    pathway = _pathway(tried, failed, options)
    flags = _flags(case, context, history, unrecognised, options)
    refs: list[Reference] = []
    for o in options:
        refs += o.references
    for f in flags:
        refs += f.references
    return TherapyResult(
        case_id=case.id,
        context=context,
        history=history,
        tried=tried,
        failed=failed,
        tried_classes=tried_classes,
        unrecognised=unrecognised,
        options_not_tried=options,
        ifn_pathway=pathway,
        flags=flags,
        references=_unique(refs),
    )


def _history(case: Case) -> tuple[list[HistoryEntry], list[Unrecognised]]:
    kb = knowledge_base()
    out, unknown = [], []
    for med in case.medications:
        res = resolve(med.name)
        key = agent_for(res) if res.recognised else None
        agent = kb.agents[key] if key else None
        code, words = _STATUS.get(med.response, _STATUS[None])
        out.append(
            HistoryEntry(
                recorded_as=med.name,
                resolution=res,
                read_as=res.describe(),
                agent=key,
                agent_label=agent.label if agent else None,
                classes=list(res.classes),
                response=med.response,
                started=med.started,
                stopped=med.stopped,
                dose=med.dose,
                status=code,
                status_text=words,
                counts_as_failed=code in _FAILED,
                pathway_level=agent.pathway.level if agent else None,
            )
        )
        if not res.recognised:
            unknown.append(
                Unrecognised(recorded_as=med.name, suggestion=res.suggestion, message=res.describe())
            )
    return out, unknown


def _fmt(x: float) -> str:
    return f"{x:g}"


def eligibility_note(
    trial: Trial, rule: Eligibility, context: TherapyContext, failed: list[str]
) -> EligibilityNote:
    kb = knowledge_base()
    text, meets = rule.text, None
    if rule.rule in ("min_cdasi_activity", "min_clasi_activity"):
        name = "CDASI-A" if rule.rule == "min_cdasi_activity" else "CLASI-A"
        score = context.cdasi_activity if rule.rule == "min_cdasi_activity" else context.clasi_activity
        if score is None or rule.value is None:
            text += f"; {name} is not recorded for this patient"
        elif score >= rule.value:
            meets = True
            text += f"; this patient's {name} of {_fmt(score)} is at or above {_fmt(rule.value)}"
        else:
            meets = False
            text += f"; this patient's {name} of {_fmt(score)} is below {_fmt(rule.value)}"
    elif rule.rule == "min_failed_systemic":
        systemic = [a for a in failed if kb.agents[a].kind == "drug" and not _topical(a)]
        need = rule.value or 1
        meets = len(systemic) >= need
        names = ", ".join(kb.agents[a].label.lower() for a in systemic)
        text += (
            f"; {len(systemic)} systemic agent(s) recorded as failed here ({names})"
            if systemic
            else "; no systemic agent is recorded as failed here"
        )
    elif rule.rule == "requires_failed_antimalarial":
        am = [a for a in failed if "antimalarial" in agent_classes(a)]
        meets = bool(am)
        text += (
            f"; recorded here as failed: {', '.join(am)}"
            if am
            else "; no antimalarial is recorded as failed here"
        )
    elif rule.rule == "requires_muscle_weakness":
        if context.muscle_involvement == "absent":
            meets = False
            text += "; no muscle involvement is recorded for this patient, so the trial population differs"
        elif context.muscle_involvement == "present":
            meets = True
            text += "; muscle involvement is recorded for this patient, as in the trial population"
        else:
            text += "; muscle involvement is not recorded for this patient"
    elif rule.rule == "excludes_amyopathic":
        which = [c for c in context.classified_as if "amyopathic" in c.lower()]
        if which:
            meets = False
            text += f"; this patient is classified as amyopathic ({'; '.join(which)})"
        elif context.muscle_involvement == "absent":
            meets = False
            text += "; no muscle involvement is recorded for this patient"
        elif context.muscle_involvement == "present":
            meets = True
            text += "; muscle involvement is recorded for this patient"
    return EligibilityNote(
        trial=trial.name, rule=rule.rule, text=text, meets=meets, reference=Reference.of(rule.source)
    )


def _topical(key: str) -> bool:
    return any(row.position == "first_line_topical" for row in knowledge_base().agents[key].ladder.values())


def trial_text(trial: Trial) -> str:
    """One line: name (registry, phase; n): endpoint: result."""
    bits = [b for b in (trial.registry, f"phase {trial.phase}" if trial.phase else None) if b]
    if trial.n:
        bits.append(f"n = {trial.n}")
    head = trial.name + (f" ({'; '.join(bits)})" if bits else "")
    body = " ".join(trial.result.split())
    if trial.endpoint:
        body = f"{' '.join(trial.endpoint.split())}: {body}"
    worst = max((r.confidence for r in trial.sources), key="ABU".index)
    return f"{head}: {body} [{worst}]"


def approval_text(a: Approval) -> str:
    who = ", ".join(b for b in (a.regulator, a.product, a.date) if b)
    kind = {
        "approval": "approved",
        "first_approval": "first approved",
        "designation": "designation",
        "filing_planned": "filing planned",
    }[a.kind]
    return f"{kind}: {' '.join(a.indication.split())} ({who})"


def _approval_status(agent: Agent, diseases: list[Disease]) -> tuple[str, str]:
    kb = knowledge_base()
    if agent.kind != "drug":
        return "not applicable (not a drug)", "not_applicable"
    covers = {c for d in diseases for c in kb.diseases[d].covers}
    short = " or ".join(kb.diseases[d].short for d in diseases)
    approvals = [a for a in agent.approval if a.kind == "approval"]
    here = [a for a in approvals if set(a.covers) & covers]
    others = [a for a in approvals if not set(a.covers) & covers]
    pending = [a for a in agent.approval if a.kind in ("designation", "filing_planned")]
    if here:
        text = "; ".join(approval_text(a) for a in here)
        if "lupus" in diseases and not any({"cle", "dle"} & set(a.covers) for a in here):
            text += "; no approval for cutaneous lupus itself was found (the approvals read cover SLE)"
        code = "approved_for_indication"
    elif others:
        text = f"not approved for {short}; " + "; ".join(approval_text(a) for a in others)
        code = "approved_other_indication"
    else:
        text = f"no approval for {short} found in the sources read"
        code = "not_approved"
    if pending:
        text += "; " + "; ".join(approval_text(a) for a in pending)
    return text, code


def _option(
    key: str,
    agent: Agent,
    diseases: list[Disease],
    context: TherapyContext,
    history: list[HistoryEntry],
    failed: list[str],
    class_only: set[str],
) -> Option | None:
    kb = knowledge_base()
    placements: list[Placement] = []
    refs: list[Reference] = []
    for d in diseases:
        row = agent.ladder.get(d)
        covered = any(
            set(a.covers) & set(kb.diseases[d].covers) for a in agent.approval if a.kind == "approval"
        )
        trials = [t for t in agent.trials if t.disease == d and not t.withdrawn]
        if row is not None:
            ref = Reference.of(row.source)
            refs.append(ref)
            placements.append(
                Placement(
                    disease=d,
                    position=row.position,
                    position_label=kb.position_label(row.position),
                    note=row.note,
                    reference=ref,
                )
            )
        elif covered or trials:
            placements.append(
                Placement(disease=d, position="not_placed", position_label=kb.position_label("not_placed"))
            )
    if not placements:
        return None
    best = min(placements, key=lambda p: kb.position_index(p.position))
    in_scope = {p.disease for p in placements}
    trials = [t for t in agent.trials if t.disease in in_scope and not t.withdrawn]
    for t in trials:
        refs += [Reference.of(s) for s in t.sources]
    eligibility = [eligibility_note(t, r, context, failed) for t in trials for r in t.eligibility]
    refs += [e.reference for e in eligibility]
    cautions = []
    for c in agent.cautions:
        if not c.applies_to or set(c.applies_to) & in_scope:
            cautions.append(" ".join(c.text.split()))
            refs += [Reference.of(s) for s in c.sources]
    status, code = _approval_status(agent, [p.disease for p in placements])
    for a in agent.approval:
        refs.append(Reference.of(a.source))
        if a.date_source:
            refs.append(Reference.of(a.date_source))
    if agent.pathway.source:
        refs.append(Reference.of(agent.pathway.source))
    overlap = agent_classes(key) & class_only
    class_note = None
    if overlap:
        recorded = [h.recorded_as for h in history if set(h.classes) & overlap]
        class_note = (
            f"recorded by class name only ({', '.join(recorded)}); whether {agent.label.lower()} "
            "was among them is not recorded"
        )
    return Option(
        agent=key,
        label=agent.label,
        kind=agent.kind,
        position=best.position,
        position_label=best.position_label,
        placements=placements,
        pathway_level=agent.pathway.level,
        pathway_label=kb.level_label(agent.pathway.level),
        approval_status=status,
        approval_code=code,  # type: ignore[arg-type]
        key_trial=trial_text(trials[0]) if trials else None,
        trials=[trial_text(t) for t in trials],
        eligibility=eligibility,
        eligibility_notes=[e.text for e in eligibility],
        cautions=cautions,
        class_note=class_note,
        summary=_summary(placements, status, class_note),
        references=_unique(refs),
    )


def _summary(placements: list[Placement], status: str, class_note: str | None) -> str:
    kb = knowledge_base()
    parts = ["Not recorded as tried" if class_note is None else "Not recorded as tried by name"]
    for p in placements:
        short = kb.diseases[p.disease].short
        if p.position == "not_placed":
            parts.append(
                f"not placed in a published {short} ladder read; listed for its approval or trial evidence"
            )
        elif p.position == "investigational":
            parts.append(f"investigational for {short} ({p.note})")
        elif p.position == "no_benefit_shown":
            parts.append(f"listed for completeness for {short}: {p.note}")
        else:
            parts.append(f"an option in the published ladder for {short}: {p.position_label} ({p.note})")
    parts.append(f"approval status: {status}")
    return ". ".join(s[0].upper() + s[1:] for s in parts) + "."


def _pathway(tried: list[str], failed: list[str], options: list[Option]) -> PathwaySummary:
    kb = knowledge_base()
    rows = []
    for lv in kb.pathway_levels:
        at = [a for a in tried if kb.agents[a].pathway.level == lv.key and kb.agents[a].kind != "symptomatic"]
        rows.append(
            PathwayLevelRow(
                level=lv.key,
                label=lv.label,
                tried=at,
                failed=[a for a in failed if a in at],
                options=[o.agent for o in options if o.pathway_level == lv.key],
            )
        )
    targeted = [r.level for r in rows if r.tried and on_ifn_pathway(r.level)]
    if targeted:
        parts = []
        for r in rows:
            if r.level in targeted:
                names = ", ".join(kb.agents[a].label for a in r.tried)
                note = (
                    "" if kb.agents[r.tried[0]].pathway.source else "; level per project taxonomy, unverified"
                )
                parts.append(f"{r.label} ({names}{note})")
        text = "IFN-pathway levels targeted so far: " + "; ".join(parts) + "."
    else:
        nonspec = next(r for r in rows if r.level == "not_ifn_specific").tried
        names = ", ".join(kb.agents[a].label.lower() for a in nonspec)
        text = "No level of the type I IFN pathway has been targeted so far" + (
            f": every agent recorded ({names}) is not IFN-specific." if names else "."
        )
    open_levels = [
        f"{r.label} ({', '.join(kb.agents[a].label for a in r.options)})"
        for r in rows
        if r.options and r.level not in targeted and on_ifn_pathway(r.level)
    ]
    if open_levels:
        text += " Levels with options not yet tried: " + "; ".join(open_levels) + "."
    return PathwaySummary(levels=rows, targeted=targeted, summary=text)


def _flags(
    case: Case,
    context: TherapyContext,
    history: list[HistoryEntry],
    unrecognised: list[Unrecognised],
    options: list[Option],
) -> list[Flag]:
    kb = knowledge_base()
    flags: list[Flag] = []
    if context.picture in ("dermatomyositis", "lupus"):
        disease: Disease = context.picture  # type: ignore[assignment]
        if not any("antimalarial" in h.classes for h in history):
            spec = kb.flags["no_antimalarial_tried"]
            recorded = ", ".join(h.recorded_as for h in history)
            evidence = [f"medications recorded: {recorded}" if recorded else "no medications recorded"]
            evidence += [
                f"not recognised (check it is not an antimalarial): {u.recorded_as}" for u in unrecognised
            ]
            flags.append(
                Flag.make(
                    "no_antimalarial_tried",
                    spec.severity,
                    spec.message_for(disease),
                    spec.references_for(disease),
                    evidence,
                )
            )
    am_options = [o for o in options if "antimalarial" in agent_classes(o.agent)]
    if context.picture == "dermatomyositis" and am_options:
        spec = kb.flags["hcq_eruption_risk_dm"]
        evidence = [f"{o.label} is listed as an option not recorded as tried" for o in am_options[:1]]
        if case.labs.antibodies.sae == "positive" and "sae_positive" in spec.extra:
            evidence.append(" ".join(spec.extra["sae_positive"].split()))
        flags.append(
            Flag.make(
                "hcq_eruption_risk_dm",
                spec.severity,
                spec.message_for("dermatomyositis"),
                spec.references_for("dermatomyositis"),
                evidence,
            )
        )
    spec = kb.flags["medication_not_recognised"]
    for u in unrecognised:
        flags.append(
            Flag.make(
                "medication_not_recognised",
                spec.severity,
                spec.message_for("dermatomyositis"),
                [],
                [u.message],
            )
        )
    return flags


def _unique(refs: list[Reference]) -> list[Reference]:
    return list({(r.source, r.where, r.confidence): r for r in refs}.values())


# --------------------------------------------------------------------------------------------
# A context from an assessment (for callers without their own differential)


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def activity_score(activity: Any, instrument: str) -> float | None:
    """The activity score of ``cdasi`` or ``clasi`` in whatever shape ``assessment.activity`` has.

    A score marked incomplete (``activity_complete`` false: items not all scored) counts as not
    recorded, because a partial sum is only a lower bound.
    """
    inst = _get(activity, instrument)
    if isinstance(inst, bool) or _get(inst, "activity_complete") is False:
        return None
    if isinstance(inst, int | float):
        return float(inst)
    for name in ("activity", "activity_score", "total_activity", "score", "total"):
        v = _get(inst, name)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int | float):
            return float(v)
        for inner in ("score", "value", "total"):
            w = _get(v, inner)
            if isinstance(w, int | float) and not isinstance(w, bool):
                return float(w)
    return None


def muscle_involvement(case: Case) -> Literal["present", "absent", "unknown"]:
    """Present if any weakness, raised CK or abnormal MRI/EMG is recorded; absent if weakness is
    recorded absent and a muscle test (CK or MRI) is recorded normal; otherwise unknown."""
    f = case.findings
    weakness = [
        f.weakness_proximal_upper,
        f.weakness_proximal_lower,
        f.weakness_neck_flexors_gt_extensors,
        f.weakness_proximal_gt_distal_legs,
    ]
    ck = case.labs.ck.above_upper_limit if case.labs.ck else None
    studies = [case.muscle.mri, case.muscle.emg]
    if "present" in weakness or ck is True or "abnormal" in studies:
        return "present"
    if "absent" in weakness and (ck is False or "normal" in studies):
        return "absent"
    return "unknown"


_DM_SUBGROUPS = {"dermatomyositis", "amyopathic_dermatomyositis", "juvenile_dermatomyositis"}


def context_from(case: Case, assessment: Any) -> TherapyContext:
    """A therapy context from an :class:`ifnscope.assessment.Assessment` (classification-based picture).

    Dermatomyositis when the IIM criteria classify (probable or definite) with a DM subgroup or
    Sontheimer gives a CADM category; lupus when SLE 2019 or SLICC classify or DLE 2020 reaches 5;
    indeterminate when both or neither.
    """
    crit = _get(assessment, "criteria") or {}
    classified: list[str] = []
    dm = lupus = False
    iim = crit.get("eular_acr_iim_2017")
    if iim is not None and iim.category in ("probable", "definite"):
        sub = (iim.subgroup or "").replace("_", " ")
        classified.append(f"{iim.category} IIM (score {iim.score:g})" + (f": {sub}" if sub else ""))
        dm = dm or (iim.subgroup in _DM_SUBGROUPS)
    cadm = crit.get("sontheimer_cadm")
    if cadm is not None and cadm.category in ("amyopathic", "hypomyopathic", "premyopathic"):
        classified.append(f"Sontheimer: {cadm.category}")
        dm = True
    sle = crit.get("eular_acr_sle_2019")
    if sle is not None and sle.classified:
        classified.append(f"2019 EULAR/ACR SLE (score {sle.score})")
        lupus = True
    slicc = crit.get("slicc_2012")
    if slicc is not None and slicc.classified:
        classified.append("SLICC 2012 SLE")
        lupus = True
    dle = crit.get("dle_2020")
    if dle is not None and dle.meets_5:
        classified.append(f"2020 DLE criteria (score {dle.score})")
        lupus = True
    picture: Picture = (
        "dermatomyositis" if dm and not lupus else "lupus" if lupus and not dm else "indeterminate"
    )
    activity = getattr(assessment, "activity", None)
    return TherapyContext(
        picture=picture,
        classified_as=classified,
        cdasi_activity=activity_score(activity, "cdasi"),
        clasi_activity=activity_score(activity, "clasi"),
        muscle_involvement=muscle_involvement(case),
    )
