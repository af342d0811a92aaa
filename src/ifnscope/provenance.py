"""Provenance of rules: every rule row names a source, the place in it and a confidence tag.

Tags: ``A`` read in the source itself; ``B`` read in a secondary source (to be checked
against the primary paper); ``U`` not verified in any retrieved source, applied only where
the case contract needs it and always reported as unverified.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, field_validator

from ifnscope._cache import IdentityCache
from ifnscope.data import citation, sources

CONFIDENCE_WORDS = {
    "A": "read in the source",
    "B": "read in a secondary source; to be checked against the primary paper",
    "U": "not verified in any retrieved source",
}


class RuleModel(BaseModel):
    """Base of every rule-table model: an unknown key in a table is an error; rows are frozen.

    It lives here, beside :class:`SourceRef`, so that parts which only read tables (the
    signature registry) need not import the case model and the criteria engines.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRef(BaseModel):
    """A rule row's provenance as written in a data file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    where: str
    confidence: str

    @field_validator("confidence")
    @classmethod
    def _tag(cls, v: str) -> str:
        if v not in CONFIDENCE_WORDS:
            raise ValueError("confidence must be A, B or U")
        return v

    @field_validator("id")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in sources():
            raise ValueError(f"unknown source id {v!r} (not in sources.yaml)")
        return v


class Reference(BaseModel):
    """A resolved citation, as it appears in outputs (shared between results: never mutated)."""

    model_config = ConfigDict(frozen=True)

    source: str
    citation: str
    where: str
    confidence: str
    verified: bool

    @classmethod
    def of(cls, ref: SourceRef) -> Reference:
        return _by_identity(ref)


@lru_cache(maxsize=1024)
def _resolve(ref: SourceRef) -> Reference:
    """References are immutable: resolve each rule's citation once per process."""
    return Reference(
        source=ref.id,
        citation=citation(ref.id),
        where=ref.where,
        confidence=ref.confidence,
        verified=ref.confidence != "U",
    )


# First by identity: the rule tables' SourceRefs live as long as the process, and the what-if
# re-runs ask for them thousands of times per assessment; hashing the pydantic model for the
# lru_cache cost 2% of an assessment.
_by_identity: IdentityCache[SourceRef, Reference] = IdentityCache(_resolve)
