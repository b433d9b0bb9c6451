"""Alembic migrations shipped inside the package: upgrade a database to the models' schema.

``relapsewatch db upgrade`` and every ``relapsewatch import`` call :func:`upgrade_database`. The
Alembic command line works too, with the packaged configuration::

    INI=$(python -c 'import relapsewatch.store.migrate as m; print(m.ALEMBIC_INI)')
    alembic -c "$INI" upgrade head

Each upgrade runs in one transaction (SQLite and PostgreSQL both have transactional DDL), so a
crash during a migration leaves the old revision or the new one, never a mix (RELIABILITY F4e).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from relapsewatch.store.db import PG_WRITE_LOCK_KEY, WRITE, is_sqlite

__all__ = [
    "ALEMBIC_INI",
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade_database",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def alembic_config() -> Config:
    """An Alembic configuration that finds the packaged migration scripts."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration revision (there is exactly one head)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a first revision
        raise RuntimeError("no migration revisions found in " + str(MIGRATIONS))
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` in one write transaction (idempotent at head)."""
    config = alembic_config()
    with engine.connect() as connection:
        connection = connection.execution_options(**{WRITE: True})
        with connection.begin():
            if not is_sqlite(connection):
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
