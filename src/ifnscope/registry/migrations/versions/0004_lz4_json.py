"""PostgreSQL: compress the large JSON columns with LZ4 instead of the default pglz.

A visit's assessment is about 170 KB of JSON. PostgreSQL compresses a value that large before
storing it: with pglz that took 2.1 ms of PostgreSQL's CPU per visit written, with LZ4 0.5 ms
(and 37 KB stored instead of 48 KB), out of about 20 ms that a visit write costs the machine in
all (docs/benchmarks.md, issue 11). Values already stored keep their compression until rewritten;
PostgreSQL reads both.

Only on PostgreSQL 14 or later built with LZ4 (Debian's and the official images are); elsewhere,
and on SQLite, nothing changes. Column compression is not part of the models' schema, so the
models and the migrations still agree (tests/registry/test_registry.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The JSON columns that hold whole documents (a case, an assessment, a reference, a row's version).
COLUMNS = (
    ("visits", "case"),
    ("visits", "assessment"),
    ("ifn_references", "content"),
    ("record_versions", "snapshot"),
)


def lz4_available(bind: sa.engine.Connection) -> bool:
    """Can this PostgreSQL server compress with LZ4 (version 14+, built with it)?"""
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return found is not None and "lz4" in found


def _set(method: str) -> None:
    for table, column in COLUMNS:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" SET COMPRESSION {method}')


def upgrade() -> None:
    if lz4_available(op.get_bind()):
        _set("lz4")


def downgrade() -> None:
    if lz4_available(op.get_bind()):
        _set("default")
