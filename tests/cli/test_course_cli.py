"""`relapsewatch course INPUT -o OUT`: the four derived tables, all or nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from relapsewatch.cli.course import course
from relapsewatch.course.myeloma import derive_course
from relapsewatch.io import read_tables

ROOT = Path(__file__).resolve().parents[2]
WORKED = ROOT / "tests" / "data" / "examples" / "worked"
INVALID = ROOT / "examples" / "invalid"
TABLES = ("lines", "relapses", "responses", "status")

runner = CliRunner()
app = typer.Typer(add_completion=False)


@app.callback()
def _root() -> None:
    """Test harness: the command as the lead's app registers it."""


app.command("course")(course)


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["course", *args])


def read(folder: Path, name: str, fmt: str = "csv") -> pl.DataFrame:
    path = folder / f"{name}.{fmt}"
    return pl.read_csv(path, infer_schema_length=None) if fmt == "csv" else pl.read_parquet(path)


def test_writes_the_four_tables_as_csv(tmp_path: Path) -> None:
    out = tmp_path / "course"
    result = run(str(WORKED), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    expected = derive_course(read_tables(WORKED))
    for name in TABLES:
        assert read(out, name).height == expected.tables()[name].height, name
    assert "11 patient(s)" in result.stdout and "as of 2025-04-21" in result.stdout


def test_writes_parquet_with_the_engine_types(tmp_path: Path) -> None:
    out = tmp_path / "course"
    result = run(str(WORKED), "-o", str(out), "--format", "parquet")
    assert result.exit_code == 0, result.output
    expected = derive_course(read_tables(WORKED)).tables()
    for name in TABLES:
        assert read(out, name, "parquet").equals(expected[name]), name


def test_batches_give_the_same_tables_as_one_pass(tmp_path: Path) -> None:
    one, many = tmp_path / "one", tmp_path / "many"
    assert run(str(WORKED), "-o", str(one), "--format", "parquet").exit_code == 0
    result = run(str(WORKED), "-o", str(many), "--format", "parquet", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    for name in TABLES:
        assert read(one, name, "parquet").equals(read(many, name, "parquet")), name


def test_as_of_is_honoured(tmp_path: Path) -> None:
    out = tmp_path / "course"
    result = run(str(WORKED), "-o", str(out), "--as-of", "2024-06-05", "--format", "parquet")
    assert result.exit_code == 0, result.output
    status = read(out, "status", "parquet")
    assert status["as_of"].unique().to_list() == [dt.date(2024, 6, 5)]
    relapses = read(out, "relapses", "parquet")
    assert relapses["date"].max() <= dt.date(2024, 6, 5)
    ex1 = status.filter(pl.col("patient_id") == "EX1").row(0, named=True)
    assert (ex1["state"], ex1["relapses"]) == ("progressing", 1)


def test_parity_configuration_by_name(tmp_path: Path) -> None:
    out = tmp_path / "course"
    result = run(str(WORKED), "-o", str(out), "--config", "parity-28-180")
    assert result.exit_code == 0, result.output
    lines = read(out, "lines").filter(pl.col("patient_id") == "EX5")
    assert lines.height == 5


def test_unknown_configuration_is_a_usage_error(tmp_path: Path) -> None:
    result = run(str(WORKED), "-o", str(tmp_path / "out"), "--config", "nope")
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("batch_size", ["100000", "1"])
def test_bad_input_exits_1_names_the_problem_and_writes_nothing(
    tmp_path: Path, batch_size: str
) -> None:
    out = tmp_path / "nested" / "course"
    result = run(str(INVALID), "-o", str(out), "--batch-size", batch_size)
    assert result.exit_code == 1
    assert "measurements.csv, row 3, column 'unit'" in result.output
    assert "Nothing was written" in result.output
    assert not out.exists() and not out.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_run_leaves_an_earlier_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "course"
    assert run(str(WORKED), "-o", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert run(str(INVALID), "-o", str(out)).exit_code == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course"]


def test_missing_input_folder_exits_1(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nowhere"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "no such folder" in result.output


def test_piped_output_is_plain_and_rerun_replaces_the_folder(tmp_path: Path) -> None:
    source = tmp_path / "in"
    shutil.copytree(WORKED, source)
    out = tmp_path / "course"
    assert run(str(source), "-o", str(out)).exit_code == 0
    (source / "findings.csv").write_text(
        "patient_id,date,finding,detail\nEX2,2024-07-15,clinical_relapse,new rib lesion\n"
    )
    result = run(str(source), "-o", str(out))
    assert result.exit_code == 0 and "\x1b[" not in result.output
    relapses = read(out, "relapses").filter(pl.col("patient_id") == "EX2")
    assert relapses["kind"].to_list() == ["clinical"]


def test_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import io

    from rich.console import Console

    command = importlib.import_module("relapsewatch.cli.course")
    screen = io.StringIO()
    monkeypatch.setattr(
        command, "error_console", Console(file=screen, force_terminal=True, width=100)
    )
    result = run(str(WORKED), "-o", str(tmp_path / "out"), "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert "deriving" in screen.getvalue()


def test_plain_progress_lines_when_piped_and_batched(tmp_path: Path) -> None:
    result = run(str(WORKED), "-o", str(tmp_path / "out"), "--batch-size", "4", "--jobs", "1")
    assert result.exit_code == 0
    assert "deriving: 3/3" in result.output and "\x1b[" not in result.output


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_worker_processes_give_the_same_tables_as_one_pass(tmp_path: Path, jobs: str) -> None:
    one, many = tmp_path / "one", tmp_path / "many"
    assert run(str(WORKED), "-o", str(one), "--format", "parquet").exit_code == 0
    result = run(
        str(WORKED), "-o", str(many), "--format", "parquet", "--batch-size", "2", "--jobs", jobs
    )
    assert result.exit_code == 0, result.output
    assert "11 patient(s)" in result.stdout and "as of 2025-04-21" in result.stdout
    for name in TABLES:
        assert read(one, name, "parquet").equals(read(many, name, "parquet")), name


def test_problems_of_every_batch_are_reported_from_worker_processes(tmp_path: Path) -> None:
    single = run(str(INVALID), "-o", str(tmp_path / "a"))
    batched = run(str(INVALID), "-o", str(tmp_path / "b"), "--batch-size", "1", "--jobs", "2")
    assert single.exit_code == batched.exit_code == 1

    def located(output: str) -> list[str]:
        return sorted(line for line in output.splitlines() if ".csv, row " in line)

    assert located(batched.output) == located(single.output) != []
    assert list(tmp_path.iterdir()) == []
