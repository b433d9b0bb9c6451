"""`relapsewatch import` and `relapsewatch db upgrade`, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from relapsewatch.cli.importer import db_upgrade, import_
from relapsewatch.io import read_tables
from relapsewatch.store.models import ImportBatch, Measurement, Patient, PatientCourse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()

# The lead registers these in relapsewatch.cli; the test app registers them the same way.
app = typer.Typer()
app.command("import")(import_)
db_app = typer.Typer()
db_app.command("upgrade")(db_upgrade)
app.add_typer(db_app, name="db")


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def test_import_adds_the_folder_and_says_what_it_added(
    database_url: str, db_engine: Engine
) -> None:
    tables = read_tables(EXAMPLES / "valid")
    result = runner.invoke(app, ["import", str(EXAMPLES / "valid"), "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert f"{tables.patients.height} new patient(s)" in result.output
    assert f"{tables.measurements.height} measurements" in result.output
    assert _count(db_engine, Patient) == tables.patients.height
    assert _count(db_engine, Measurement) == tables.measurements.height
    assert _count(db_engine, PatientCourse) == tables.patients.height

    again = runner.invoke(app, ["import", str(EXAMPLES / "valid"), "--database-url", database_url])
    assert again.exit_code == 0, again.output
    assert "Already imported" in again.output
    assert _count(db_engine, ImportBatch) == 1


def test_bad_tables_exit_1_name_file_row_column_and_write_nothing(
    database_url: str, db_engine: Engine
) -> None:
    result = runner.invoke(
        app, ["import", str(EXAMPLES / "invalid"), "--database-url", database_url]
    )
    assert result.exit_code == 1, result.output
    assert "measurements.csv" in result.output and "row " in result.output
    assert "column" in result.output
    assert "nothing was imported" in result.output
    assert _count(db_engine, Patient) == 0
    assert _count(db_engine, ImportBatch) == 0


def test_import_creates_a_new_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'app.sqlite3'}"
    result = runner.invoke(app, ["import", str(EXAMPLES / "valid"), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "app.sqlite3").exists()


def test_an_unusable_database_url_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["import", str(EXAMPLES / "valid"), "--database-url", "sqlite:///:memory:"]
    )
    assert result.exit_code == 2
    assert "SQLite file" in result.output


def test_db_upgrade_reports_the_revision_and_can_run_again(tmp_path: Path) -> None:
    from relapsewatch.store.migrate import head_revision

    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade", "--database-url", url])
        assert result.exit_code == 0, result.output
        assert head_revision() in result.output
