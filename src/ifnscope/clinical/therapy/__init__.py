"""Therapy history and the options not yet tried, for skin disease in CLE and DM.

Three parts, read one way:

* :mod:`~ifnscope.clinical.therapy.knowledge`: the knowledge base (``data/clinical/therapies.yaml``)
  validated once, and questions about agents (:func:`find_agent`, :func:`agent_for`,
  :func:`agent_classes`, :func:`is_ifn_targeted`, :func:`on_ifn_pathway`, :func:`trial_text`,
  :func:`approval_text`);
* :mod:`~ifnscope.clinical.therapy.context`: :class:`TherapyContext`, and :func:`context_from` an
  assessment;
* :mod:`~ifnscope.clinical.therapy.evaluation`: :func:`evaluate` a case's medication list against
  the knowledge base, returning a :class:`TherapyResult`
  (:mod:`~ifnscope.clinical.therapy.results`) with its flags.

The wording is decision support: "not recorded as tried", "an option in the published ladder";
nothing here says what to prescribe.
"""

from __future__ import annotations

from ifnscope.clinical.therapy.context import (
    TherapyContext,
    activity_score,
    build_context,
    context_from,
    muscle_involvement,
)
from ifnscope.clinical.therapy.evaluation import diseases_of, eligibility_note, evaluate
from ifnscope.clinical.therapy.knowledge import (
    KB_FILE,
    Agent,
    Approval,
    Caution,
    Disease,
    DiseaseInfo,
    Dosing,
    Eligibility,
    EligibilityRule,
    FlagSpec,
    Indication,
    KnowledgeBase,
    LadderRow,
    Level,
    LevelInfo,
    Matches,
    PathwayRow,
    Position,
    Trial,
    agent_classes,
    agent_for,
    approval_text,
    find_agent,
    is_ifn_targeted,
    is_topical,
    knowledge_base,
    on_ifn_pathway,
    trial_text,
)
from ifnscope.clinical.therapy.results import (
    DISCLAIMER,
    ApprovalCode,
    EligibilityNote,
    HistoryEntry,
    Option,
    PathwayLevelRow,
    PathwaySummary,
    Placement,
    StatusCode,
    TherapyResult,
    Unrecognised,
)

__all__ = [
    "DISCLAIMER",
    "KB_FILE",
    "Agent",
    "Approval",
    "ApprovalCode",
    "Caution",
    "Disease",
    "DiseaseInfo",
    "Dosing",
    "Eligibility",
    "EligibilityNote",
    "EligibilityRule",
    "FlagSpec",
    "HistoryEntry",
    "Indication",
    "KnowledgeBase",
    "LadderRow",
    "Level",
    "LevelInfo",
    "Matches",
    "Option",
    "PathwayLevelRow",
    "PathwayRow",
    "PathwaySummary",
    "Placement",
    "Position",
    "StatusCode",
    "TherapyContext",
    "TherapyResult",
    "Trial",
    "Unrecognised",
    "activity_score",
    "agent_classes",
    "agent_for",
    "approval_text",
    "build_context",
    "context_from",
    "diseases_of",
    "eligibility_note",
    "evaluate",
    "find_agent",
    "is_ifn_targeted",
    "is_topical",
    "knowledge_base",
    "muscle_involvement",
    "on_ifn_pathway",
    "trial_text",
]
