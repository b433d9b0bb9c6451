"""Alembic environment of relapsewatch: runs the packaged migrations on the app's engine.

The connection is passed in by :func:`relapsewatch.store.migrate.upgrade_database` (already in
its write transaction); from the Alembic command line the URL is ``-x url=...`` or the
settings (``RELAPSEWATCH_DATABASE_URL``, else the default SQLite file).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from relapsewatch.store.db import create_engine_for
from relapsewatch.store.models import Base
from relapsewatch.store.settings import database_url

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(context.get_x_argument(as_dictionary=True).get("url")),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = create_engine_for(context.get_x_argument(as_dictionary=True).get("url"))
    try:
        with engine.connect() as fresh:
            _configure(fresh)
            fresh.commit()
    finally:
        engine.dispose()


# Alembic provides ``context.config`` only while it runs this script; importing the module
# elsewhere (e.g. doctest collection) does nothing.
if hasattr(context, "config"):
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
