"""Schema migrations (Alembic), run in one transaction.

``upgrade(engine)`` brings a database to the newest schema. All pending migrations run inside a
single transaction on one connection: if any step fails, everything is rolled back and the
database is exactly as it was (PostgreSQL has transactional DDL; on SQLite the engine controls
transactions itself, see ``registry.db``). A failure is a :class:`RegistryError` naming the
revision, never a half-migrated schema.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect

from ifnscope.errors import RegistryError

if TYPE_CHECKING:
    from alembic.config import Config


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("ifnscope.registry").joinpath("migrations")))
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    """Upgrade to ``target`` in one transaction; on failure nothing changes."""
    from alembic import command

    cfg = _config()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # a migration may rewrite big tables: no timeout
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, target)
    except Exception as exc:
        raise RegistryError(
            f"database migration to {target} failed and was rolled back; the database is unchanged "
            f"({type(exc).__name__}: {exc})",
            code="registry.migration",
        ) from exc


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())
