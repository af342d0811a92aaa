"""Records that can be corrected: ``record_versions`` (a row as it was before each correction or
deletion, with the reason), soft-delete columns on patients, visits and treatments, and a
treatment's status (active, stopped, planned, denied by the payer) with the denial's date and
reason. Existing treatments with a stop date become ``stopped``, the others ``active``.

Only columns are added to existing tables, never constraints: on SQLite a new foreign key makes
Alembic rebuild the table (copy, drop, rename), and dropping ``patients`` with foreign keys on
would cascade-delete every visit and treatment. So ``deleted_by`` is a plain user id, like the
audit log's ids (tests/registry/test_records.py migrates a filled 0002 database to check).

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
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("denied_on", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("denial_reason", sa.Text(), nullable=True))
    op.execute("UPDATE treatments SET status = 'stopped' WHERE stopped IS NOT NULL")


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch rebuild of
    # ``patients`` on SQLite would cascade-delete visits and treatments (see above).
    for column in ("denial_reason", "denied_on", "status"):
        op.execute(f"ALTER TABLE treatments DROP COLUMN {column}")
    for table in reversed(_SOFT_DELETE):
        for column in ("deleted_by", "deleted_at"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index("ix_record_versions_patient_id", table_name="record_versions")
    op.drop_table("record_versions")
