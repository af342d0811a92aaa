"""What the clinical parts share: a flag, and the picture of the case they reason from.

A flag is something to act on or check at the visit (a possible trigger, a lung risk, a first-line
drug not yet tried). Its ``code`` is stable (the JSON contract lists some), its ``message`` is for
a clinician, and ``source`` is the citation of the rule that raised it, so that every flag can be
traced to what was read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ifnscope.provenance import Reference

Disease = Literal["dermatomyositis", "lupus"]
Picture = Literal["dermatomyositis", "lupus", "indeterminate"]
Severity = Literal["info", "check", "act"]
YesNoUnknown = Literal["yes", "no", "unknown"]
SEVERITY_ORDER: dict[str, int] = {"act": 0, "check": 1, "info": 2}  # act first


class Flag(BaseModel):
    """One thing to check or act on, with the rule's citation."""

    code: str = Field(description="Stable machine-readable code, e.g. drug_trigger_suspected")
    severity: Severity = Field(
        description="info: for awareness; check: verify or record; act: consider acting"
    )
    message: str = Field(description="For a clinician, in plain words")
    source: str = Field(description="Citation of the rule that raised the flag")
    evidence: list[str] = Field(default_factory=list, description="What in the case raised it")
    references: list[Reference] = Field(default_factory=list)

    @classmethod
    def make(
        cls,
        code: str,
        severity: Severity,
        message: str,
        references: list[Reference],
        evidence: list[str] | None = None,
    ) -> Flag:
        """A flag whose ``source`` is the citations of its references, joined."""
        cites = list(dict.fromkeys(r.citation for r in references))
        return cls(
            code=code,
            severity=severity,
            message=message,
            source="; ".join(cites),
            evidence=evidence or [],
            references=references,
        )
