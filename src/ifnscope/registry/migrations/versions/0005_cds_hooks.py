"""CDS Hooks: the calls answered (the case kept until the report link expires), the cards
returned, the clinicians' feedback on them, and the JWTs seen (replay protection) (issue 13).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 22:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("hook_instance", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cds_calls", schema=None) as batch_op:
        batch_op.create_index("ix_cds_calls_expires_at", ["expires_at"], unique=False)
    op.create_table(
        "cds_cards",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["cds_calls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("uuid"),
    )
    with op.batch_alter_table("cds_cards", schema=None) as batch_op:
        batch_op.create_index("ix_cds_cards_call_id", ["call_id"], unique=False)
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_uuid", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("override_system", sa.String(length=200), nullable=True),
        sa.Column("override_code", sa.String(length=100), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_uuid"], ["cds_cards.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.create_index("ix_cds_feedback_card_uuid", ["card_uuid"], unique=False)

    op.create_table(
        "cds_jti",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iss", sa.String(length=200), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("iss", "jti", name="uq_cds_jti_iss_jti"),
    )
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.create_index("ix_cds_jti_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.drop_index("ix_cds_jti_expires_at")
    op.drop_table("cds_jti")
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_cds_feedback_card_uuid")
    op.drop_table("cds_feedback")
    with op.batch_alter_table("cds_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_cds_cards_call_id")
    op.drop_table("cds_cards")
    with op.batch_alter_table("cds_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_cds_calls_expires_at")
    op.drop_table("cds_calls")
