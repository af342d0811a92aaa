"""The registry's tables (SQLAlchemy 2 declarative models).

A patient has visits (each a validated case snapshot with its assessment, and the numbers a
cohort query needs copied out of it), samples with interferon scores, and treatments with start,
stop, response and status. Users, API tokens and the audit log sit beside them.

Nothing a clinician corrects is destroyed: editing or deleting a patient, visit or treatment first
copies the row into ``record_versions`` (with the reason), and a delete only sets ``deleted_at``
(the services leave such rows out of every list, cohort, timeline and export). Identifying fields
(``name``, ``mrn``, ``birth_date``) live only on the patient row, so a de-identified view is the
patient row without them plus everything else.

The schema is created and changed only by the Alembic migrations in ``registry/migrations``;
``Base.metadata`` is what they are checked against (tests compare the two).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # clinician | researcher | admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; the token is shown once
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True)
    )  # None: tokens before 0002

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A login from a browser: the cookie holds a random id, this row only its SHA-256, so
    logging out, deactivating the user or changing the password can end it (deleting the row)."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the cookie's id
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    user: Mapped[User] = relationship()


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(20), unique=True)  # what researchers see
    name: Mapped[str | None] = mapped_column(String(200))  # identifying
    mrn: Mapped[str | None] = mapped_column(String(80), unique=True)  # identifying
    birth_date: Mapped[dt.date | None] = mapped_column(Date)  # identifying
    sex: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # soft delete
    deleted_by: Mapped[int | None] = mapped_column(Integer)  # user id; no FK (see migration 0003)

    visits: Mapped[list[Visit]] = relationship(
        back_populates="patient", order_by="Visit.visit_date", cascade="all, delete-orphan"
    )
    samples: Mapped[list[Sample]] = relationship(back_populates="patient", cascade="all, delete-orphan")
    treatments: Mapped[list[Treatment]] = relationship(
        back_populates="patient", order_by="Treatment.id", cascade="all, delete-orphan"
    )


class Visit(Base):
    """One assessment of a patient: the case as recorded and what ifnscope said of it."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    visit_date: Mapped[dt.date] = mapped_column(Date)
    # The record itself, loaded only when asked for (lists, summaries and cohorts need only the
    # columns below, and decoding every visit's JSON was most of a patient read).
    case: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)  # the validated case, as JSON
    assessment: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)  # the assessment
    ifnscope_version: Mapped[str] = mapped_column(String(40))
    # Copied out of the assessment for cohort queries (the JSON above stays the record).
    iim_category: Mapped[str | None] = mapped_column(String(20))
    iim_subgroup: Mapped[str | None] = mapped_column(String(40))
    cadm_category: Mapped[str | None] = mapped_column(String(20))
    sle_classified: Mapped[bool | None] = mapped_column(Boolean)
    favours: Mapped[str | None] = mapped_column(String(20))
    cdasi_activity: Mapped[float | None] = mapped_column(Float)  # only when every item was scored
    cdasi_damage: Mapped[float | None] = mapped_column(Float)
    clasi_activity: Mapped[float | None] = mapped_column(Float)
    clasi_damage: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # soft delete
    deleted_by: Mapped[int | None] = mapped_column(Integer)  # user id; no FK (see migration 0003)

    patient: Mapped[Patient] = relationship(back_populates="visits")

    __table_args__ = (Index("ix_visits_patient_date", "patient_id", "visit_date"),)


class SavedReference(Base):
    """A fixed reference (``ifnscope reference fit``) saved for scoring later uploads."""

    __tablename__ = "ifn_references"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Sample(Base):
    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(200))  # the sample's name in the uploaded matrix
    collected_on: Mapped[dt.date | None] = mapped_column(Date)
    tissue: Mapped[str | None] = mapped_column(String(40))  # blood, skin, ...
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    patient: Mapped[Patient] = relationship(back_populates="samples")
    scores: Mapped[list[IfnScore]] = relationship(back_populates="sample", cascade="all, delete-orphan")


class IfnScore(Base):
    __tablename__ = "ifn_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    signature: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(40))
    score: Mapped[float | None] = mapped_column(Float)
    call: Mapped[str | None] = mapped_column(String(20))  # high | low | None
    genes_found: Mapped[int] = mapped_column(Integer)
    genes_total: Mapped[int] = mapped_column(Integer)
    reference_name: Mapped[str | None] = mapped_column(String(120))
    cutoff_source: Mapped[str | None] = mapped_column(Text)

    sample: Mapped[Sample] = relationship(back_populates="scores")


class Treatment(Base):
    __tablename__ = "treatments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    recorded_as: Mapped[str] = mapped_column(String(200))
    agent: Mapped[str | None] = mapped_column(String(80))  # knowledge-base key, when recognised
    pathway_level: Mapped[str | None] = mapped_column(String(30))
    ifn_targeted: Mapped[bool] = mapped_column(Boolean, default=False)
    started: Mapped[str | None] = mapped_column(String(10))  # YYYY, YYYY-MM or YYYY-MM-DD, as recorded
    stopped: Mapped[str | None] = mapped_column(String(10))
    response: Mapped[str | None] = mapped_column(String(20))
    dose: Mapped[str | None] = mapped_column(String(120))
    # active | stopped | planned | refused | denied_by_payer (TREATMENT_STATUSES in services.treatments)
    status: Mapped[str] = mapped_column(String(20), default="active")
    denied_on: Mapped[str | None] = mapped_column(String(10))  # partial date, like started
    denial_reason: Mapped[str | None] = mapped_column(Text)  # free text: clinicians only
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # soft delete
    deleted_by: Mapped[int | None] = mapped_column(Integer)  # user id; no FK (see migration 0003)

    patient: Mapped[Patient] = relationship(back_populates="treatments")


class RecordVersion(Base):
    """A patient, visit or treatment row as it was before a correction or deletion.

    ``snapshot`` is the whole row as JSON (so it holds identifiers and clinical text: only
    clinicians and admins may read it); ``reason`` is why it was changed. ``patient_id`` has no
    foreign key, like the audit log: versions outlive whatever happens to the patient row."""

    __tablename__ = "record_versions"
    __table_args__ = (
        UniqueConstraint("entity", "entity_id", "version", name="uq_record_versions_entity_version"),
        Index("ix_record_versions_patient_id", "patient_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))  # patient | visit | treatment
    entity_id: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)  # 1 = the row as first stored
    action: Mapped[str] = mapped_column(String(10))  # update | delete
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AuditEvent(Base):
    """Who read or changed which patient. Never holds clinical content or identifiers."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))  # read, create, update, delete, export, login, ...
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: kept after deletion
    detail: Mapped[str | None] = mapped_column(String(200))  # e.g. "visit 12", never clinical text
    via: Mapped[str | None] = mapped_column(String(10))  # web | api | cli


class CdsCall(Base):
    """One CDS Hooks call answered (``web.api.cds``): the case the EHR's record gave, kept until
    ``expires_at`` so that the card's link can open the full report; then the case is erased
    and the row stays for the feedback. No EHR patient id is stored."""

    __tablename__ = "cds_calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a random UUID: the report link
    service: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(200))  # the JWT issuer
    hook_instance: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    case: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)  # clinical: erased at expiry


class CdsCard(Base):
    """A card returned: its uuid, which the EHR's feedback names."""

    __tablename__ = "cds_cards"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("cds_calls.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # classification | unknowns | trigger | screening


class CdsFeedback(Base):
    """A clinician's response to a card, as the EHR reported it (CDS Hooks feedback)."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_uuid: Mapped[str] = mapped_column(ForeignKey("cds_cards.uuid", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # accepted | overridden
    override_system: Mapped[str | None] = mapped_column(String(200))
    override_code: Mapped[str | None] = mapped_column(String(100))
    user_comment: Mapped[str | None] = mapped_column(Text)  # the clinician's words: admins only
    outcome_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CdsJti(Base):
    """A CDS Hooks JWT seen (issuer, jti), kept until it expires: no worker process and no
    restart accepts the same token twice."""

    __tablename__ = "cds_jti"
    __table_args__ = (UniqueConstraint("iss", "jti", name="uq_cds_jti_iss_jti"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    iss: Mapped[str] = mapped_column(String(200))
    jti: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
