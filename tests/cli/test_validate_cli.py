"""`relapsewatch validate`: exit codes and a readable report."""

from pathlib import Path

from typer.testing import CliRunner

from relapsewatch import __version__
from relapsewatch.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_help_lists_validate() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "validate" in result.stdout


def test_valid_example_exits_0() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "valid")])
    assert result.exit_code == 0, result.stdout
    assert "OK" in result.stdout


def test_invalid_example_exits_1_and_names_file_row_column() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "invalid")])
    assert result.exit_code == 1
    assert "measurements.csv, row 3, column 'unit'" in result.stdout
    assert "24-hour" in result.stdout
    assert "treatments.csv, row 2, column 'therapy'" in result.stdout


def test_piped_output_is_plain_text() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "invalid")])
    assert "\x1b[" not in result.stdout and "┃" not in result.stdout


def test_usage_error_exits_2() -> None:
    assert runner.invoke(app, ["validate"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2


def test_missing_folder_exits_1_with_a_fix(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "check the path" in result.stdout.lower()
