"""The therapy knowledge base (``data/clinical/therapies.yaml``) and what reads it alone.

Per agent: its target and level in the type I interferon pathway, approvals, ladder position per
disease, trials with their numbers, eligibility rules and cautions, every row with its source. This
module validates the file once (cross-checked with the drug resolver's tables) and answers
questions about agents: which agent a medication name stands for, an agent's drug classes, whether
a pathway level is IFN-targeted, and one line of text per trial or approval. It knows nothing of a
case; :mod:`ifnscope.clinical.therapy.evaluation` reads a case against it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ifnscope.clinical.drugs import Resolution, all_classes, all_drugs, resolve
from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, SourceRef

KB_FILE = "clinical/therapies.yaml"

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
    short: str = Field(description="the label where space is short (a table cell)")
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


def is_topical(key: str) -> bool:
    """Is the agent a first-line topical in any ladder (not a systemic drug)?"""
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
