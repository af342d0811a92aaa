"""What the service functions return: plain pydantic views, already de-identified for researchers.

The API answers with these models as they are (their names are the OpenAPI schema names), and
the pages render them; neither sees a database row.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field


def _utc(t: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes (stored in UTC): say so, so a client never guesses."""
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


UtcDateTime = Annotated[dt.datetime, AfterValidator(_utc)]
"""A timestamp sent as ISO 8601 with its offset (always +00:00)."""


class PatientSummary(BaseModel):
    id: int
    pseudonym: str
    name: str | None = Field(description="Only for clinicians and admins")
    mrn: str | None = Field(description="Only for clinicians and admins")
    sex: str | None
    visits: int
    last_visit: str | None = Field(
        description="Date (clinicians) or 'day N' since the first visit (researchers)"
    )
    latest_verdict: str | None = Field(description="IIM category / CLE-vs-DM picture at the last visit")


class VisitView(BaseModel):
    id: int
    patient_id: int
    visit_date: str | None = Field(description="Calendar date (clinicians); null for researchers")
    visit_year: int | None = Field(description="Calendar year (clinicians); null for researchers")
    days_since_first_visit: int
    iim_category: str | None
    iim_subgroup: str | None
    cadm_category: str | None
    sle_classified: bool | None
    favours: str | None
    cdasi_activity: float | None
    cdasi_damage: float | None
    clasi_activity: float | None
    clasi_damage: float | None
    ifnscope_version: str
    case: dict[str, Any] | None = None
    assessment: dict[str, Any] | None = None


class ScoreView(BaseModel):
    sample_id: int
    sample: str
    visit_id: int | None
    collected_on: str | None
    days_since_first_visit: int | None
    tissue: str | None
    signature: str
    method: str
    score: float | None
    call: str | None
    genes_found: int
    genes_total: int
    reference: str | None


class NotScored(BaseModel):
    """A signature of an upload that could not be scored (the others were stored)."""

    signature: str
    code: str = Field(description="Stable error code, e.g. signature.coverage")
    message: str


class ScoreUpload(BaseModel):
    """The answer to an upload: the patient's scores (all samples), and what was not scored."""

    scores: list[ScoreView]
    not_scored: list[NotScored] = Field(
        default_factory=list, description="Signatures refused for this upload, with why; the rest were stored"
    )
    notes: list[str] = Field(default_factory=list, description="What was assumed about the data")


class TreatmentView(BaseModel):
    id: int
    recorded_as: str | None = Field(
        description="As typed (clinicians); the knowledge-base agent key for researchers (null: unrecognised)"
    )
    agent: str | None
    pathway_level: str | None
    ifn_targeted: bool
    started: str | None = Field(
        description="As recorded (clinicians); null for researchers (see started_days)"
    )
    stopped: str | None
    started_days: int | None = Field(
        default=None, description="Days since the first visit (a partial date counts from its first day)"
    )
    stopped_days: int | None = None
    response: str | None
    dose: str | None
    status: str = Field(default="active", description="active, stopped, planned, refused or denied_by_payer")
    denied_on: str | None = Field(default=None, description="When the payer refused it (researchers: year)")
    denial_reason: str | None = Field(default=None, description="Why the payer refused it: clinicians only")


class PatientRecord(BaseModel):
    patient: PatientSummary
    birth_date: str | None
    visits: list[VisitView]
    scores: list[ScoreView]
    treatments: list[TreatmentView]
    deidentified: bool


class ExportFile(BaseModel):
    """A patient's record as a file to download, named by the pseudonym (never the name)."""

    filename: str
    media_type: str
    content: str


class ReferenceInfo(BaseModel):
    name: str
    controls: int | None
    normalization: str | None
    created_at: UtcDateTime


class UserInfo(BaseModel):
    id: int
    username: str
    role: str
    active: bool
    created_at: UtcDateTime
    last_login_at: UtcDateTime | None = None  # from the audit log; None: never, or not recorded


class TokenInfo(BaseModel):  # an API token as listed: never the token itself
    id: int
    name: str
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    revoked: bool
    expires_at: UtcDateTime | None = None  # None: made before tokens expired


class NewToken(BaseModel):
    """A token just created: the only time its secret is seen."""

    id: int
    name: str
    token: str
    user_id: int
    expires_at: UtcDateTime


class AuditEntry(BaseModel):
    at: UtcDateTime
    user: str | None
    action: str
    patient_id: int | None
    detail: str | None
    via: str | None


class VersionInfo(BaseModel):
    """One earlier version of a patient, visit or treatment (clinicians and admins only)."""

    id: int
    entity: str = Field(description="patient, visit or treatment")
    entity_id: int
    patient_id: int
    version: int = Field(description="1 is the row as first stored")
    action: str = Field(description="update or delete: what was done to this version")
    reason: str = Field(description="Why it was changed, as the clinician wrote it")
    changed_by: str | None
    changed_at: UtcDateTime


class VersionView(VersionInfo):
    """An earlier version with the row as it was (identifiers and clinical content included)."""

    snapshot: dict[str, Any]


class DuplicateCandidate(BaseModel):
    """An existing patient a new record may duplicate, and why it is suspected."""

    id: int
    pseudonym: str
    name: str | None
    mrn: str | None
    birth_date: str | None
    why: str = Field(description="same_mrn or same_name_and_birth_date")
