"""The therapy result: the medication history as read, the options not yet tried, the IFN pathway."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ifnscope.clinical.base import Flag
from ifnscope.clinical.drugs import Resolution
from ifnscope.clinical.therapy.context import TherapyContext
from ifnscope.clinical.therapy.knowledge import Disease, Level
from ifnscope.provenance import Reference

DISCLAIMER = (
    "Decision support, not a prescription: this lists what is recorded as tried and what the "
    "published ladders and trials say about the agents not yet tried, with their sources. The "
    "treatment decision remains the clinician's."
)

ApprovalCode = Literal[
    "approved_for_indication", "approved_other_indication", "not_approved", "not_applicable"
]
StatusCode = Literal[
    "inadequate_response",
    "partial_response",
    "responded",
    "intolerant",
    "too_early",
    "response_not_recorded",
    "planned",
    "refused",
    "denied_by_payer",
]


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
    route: str | None = None
    prescription: str | None = Field(
        default=None, description="As recorded: taking, stopped, held, planned, refused, denied_by_payer"
    )
    stop_reason: str | None = None
    status: StatusCode
    status_text: str = Field(description="Plain words: tried with inadequate response, intolerant, …")
    taken: bool = Field(
        default=True,
        description="False for a medication planned, refused or denied by the payer: never tried",
    )
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
    approval_code: ApprovalCode
    key_trial: str | None
    trials: list[str]
    eligibility: list[EligibilityNote]
    eligibility_notes: list[str]
    cautions: list[str]
    class_note: str | None = None
    recorded_not_taken: str | None = Field(
        default=None,
        description="The case records it but it was never taken (planned, refused, denied by the payer)",
    )
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
