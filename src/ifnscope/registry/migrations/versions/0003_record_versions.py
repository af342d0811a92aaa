"""Records that can be corrected: ``record_versions`` (a row as it was before each correction or
deletion, with the reason), soft-delete columns on patients, visits and treatments, and a
treatment's status (active, stopped, planned, denied by the payer) with the denial's date and
reason. Existing treatments with a stop date become ``stopped``, the others ``active``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SOFT_DELETE = ("patients", "visits", "treatments")


def upgrade() -> None:
    op.create_table(
        "record_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["changed_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entity", "entity_id", "version", name="uq_record_versions_entity_version"),
    )
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.create_index("ix_record_versions_patient_id", ["patient_id"], unique=False)
    for table in _SOFT_DELETE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("deleted_by", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                f"fk_{table}_deleted_by_users", "users", ["deleted_by"], ["id"], ondelete="SET NULL"
            )
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("denied_on", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("denial_reason", sa.Text(), nullable=True))
    op.execute("UPDATE treatments SET status = 'stopped' WHERE stopped IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.drop_column("denial_reason")
        batch_op.drop_column("denied_on")
        batch_op.drop_column("status")
    for table in reversed(_SOFT_DELETE):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_deleted_by_users", type_="foreignkey")
            batch_op.drop_column("deleted_by")
            batch_op.drop_column("deleted_at")
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_record_versions_patient_id")
    op.drop_table("record_versions")
