"""``relapsewatch simulate``: writes the tables, checks its options, never half-writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relapsewatch.cli.simulate import simulate

app = typer.Typer()
app.command()(simulate)


def test_simulate_writes_canonical_and_truth_tables(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    result = CliRunner().invoke(
        app, ["--patients", "30", "--seed", "4", "-o", str(out), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.csv",
        "measurements.csv",
        "patients.csv",
        "treatments.csv",
        "truth_lines.csv",
        "truth_patients.csv",
    ]
    assert "30 virtual patients" in result.output


def test_unknown_profile_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    result = CliRunner().invoke(
        app, ["--patients", "5", "--seed", "1", "-o", str(out), "--profile", "nope"]
    )
    assert result.exit_code == 2
    assert "profile" in result.output
    assert not out.exists()


def test_us_community_profile_is_selectable(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    result = CliRunner().invoke(
        app,
        [
            "-n",
            "5",
            "-s",
            "1",
            "-o",
            str(out),
            "--profile",
            "us_community_2016",
            "--format",
            "parquet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "truth_lines.parquet").exists()


def test_a_write_failure_leaves_no_output_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relapsewatch.cli import simulate as module
    from relapsewatch.io import TableWriter

    def broken(self: TableWriter, name: str, frame: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(TableWriter, "write", broken)
    out = tmp_path / "cohort"
    with pytest.raises(OSError, match="disk full"):
        module.write_cohort(out, patients=2500, seed=1, batch_size=1000)
    assert not out.exists()


def test_a_failure_on_the_last_block_is_reported_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relapsewatch.cli import simulate as module
    from relapsewatch.io import TableWriter

    original = TableWriter.write
    calls = {"n": 0}

    def fails_late(self: TableWriter, name: str, frame: object) -> None:
        calls["n"] += 1
        if calls["n"] > 6:  # the second (and last) block
            raise OSError("disk full at the end")
        original(self, name, frame)  # type: ignore[arg-type]

    monkeypatch.setattr(TableWriter, "write", fails_late)
    out = tmp_path / "cohort"
    with pytest.raises(OSError, match="at the end"):
        module.write_cohort(out, patients=1500, seed=1, batch_size=1500)
    assert not out.exists()
