"""Migrations: one head, empty -> head on both backends, models equal the DDL, every FK indexed,
down -> up consistent (RELIABILITY F4 a, b, d, f)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from relapsewatch.store.db import create_engine_for
from relapsewatch.store.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    upgrade_database,
)
from relapsewatch.store.models import Base
from relapsewatch.store.testing import PostgresServer


def _diffs(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _unindexed_foreign_keys(engine: Engine) -> list[str]:
    inspector = inspect(engine)
    missing = []
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        leading = [tuple(ix["column_names"]) for ix in inspector.get_indexes(table)]
        leading += [tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)]
        leading.append(tuple(inspector.get_pk_constraint(table)["constrained_columns"]))
        for fk in inspector.get_foreign_keys(table):
            columns = tuple(fk["constrained_columns"])
            if not any(index[: len(columns)] == columns for index in leading):
                missing.append(f"{table}.{','.join(columns)}")
    return missing


def test_there_is_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [head_revision()]


def _empty_engines(tmp_path: Path, postgres_server: PostgresServer, name: str) -> list[Engine]:
    return [
        create_engine_for(f"sqlite:///{tmp_path / (name + '.sqlite3')}"),
        create_engine_for(postgres_server.create_database(name)),
    ]


def test_empty_database_upgrades_to_head_and_matches_the_models(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    for engine in _empty_engines(tmp_path, postgres_server, "mig_empty"):
        try:
            assert current_revision(engine) is None
            upgrade_database(engine)
            assert current_revision(engine) == head_revision()
            assert _diffs(engine) == []
            assert _unindexed_foreign_keys(engine) == []
            upgrade_database(engine)  # idempotent at head
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()


def test_down_to_base_and_up_again_gives_the_same_schema(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    for engine in _empty_engines(tmp_path, postgres_server, "mig_roundtrip"):
        try:
            upgrade_database(engine)
            config = alembic_config()
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "base")
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
            upgrade_database(engine)
            assert _diffs(engine) == []
        finally:
            engine.dispose()


def test_every_foreign_key_of_the_models_is_indexed() -> None:
    for table in Base.metadata.sorted_tables:
        leading = [tuple(c.name for c in ix.columns) for ix in table.indexes]
        leading += [
            tuple(c.name for c in con.columns)
            for con in table.constraints
            if hasattr(con, "columns") and not con.__class__.__name__.startswith("ForeignKey")
        ]
        for fk in table.foreign_key_constraints:
            columns = tuple(c.name for c in fk.columns)
            assert any(ix[: len(columns)] == columns for ix in leading), (table.name, columns)
