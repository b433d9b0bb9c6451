"""The ``relapsewatch`` command line: thin commands over the library.

Exit codes: 0 success; 1 bad data (the message names the file, row and column and the fix);
2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relapsewatch._version import __version__
from relapsewatch.cli.accounts import secret_key, teams_app, users_app
from relapsewatch.cli.audit import audit_app
from relapsewatch.cli.course import course as course_command
from relapsewatch.cli.importer import db_upgrade, import_
from relapsewatch.cli.output import console, print_problems
from relapsewatch.cli.serve import serve as serve_command
from relapsewatch.cli.simulate import simulate as simulate_command
from relapsewatch.io import validate_folder

__all__ = ["app", "main"]

app = typer.Typer(
    name="relapsewatch",
    help="Follow myeloma through treatment, remission and relapse (IMWG 2016).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"relapsewatch {__version__}", markup=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Follow myeloma through treatment, remission and relapse (IMWG 2016)."""


@app.command()
def validate(
    input: Annotated[Path, typer.Argument(help="Folder of canonical tables (CSV or Parquet).")],
) -> None:
    """Check a folder of canonical tables and report every problem.

    Exits 0 when the folder is clean (warnings allowed), 1 when there are problems.
    """
    report = validate_folder(input)
    if report.problems:
        print_problems(report.problems, title=f"Problems in {input}")
    if report.truncated:
        console.print(f"... and {report.truncated} more problem(s) not listed.", markup=False)
    counts = ", ".join(f"{rows} {name}" for name, rows in report.rows.items())
    if report.ok:
        console.print(
            f"OK: {input} is valid ({counts} rows"
            + (f"; {len(report.warnings)} warning(s)" if report.warnings else "")
            + ").",
            markup=False,
        )
        raise typer.Exit(0)
    console.print(
        f"{len(report.errors) + report.truncated} problem(s) found in {input}; nothing was "
        "loaded. Fix them and run validate again.",
        markup=False,
    )
    raise typer.Exit(1)


app.command(name="course")(course_command)
app.command(name="simulate")(simulate_command)
app.command(name="serve")(serve_command)
app.command(name="import")(import_)

db_app = typer.Typer(help="The app database.", no_args_is_help=True)
db_app.command(name="upgrade")(db_upgrade)
app.add_typer(db_app, name="db")

app.command(name="secret-key")(secret_key)
app.add_typer(users_app, name="users", no_args_is_help=True)
app.add_typer(teams_app, name="teams", no_args_is_help=True)
app.add_typer(audit_app, name="audit", no_args_is_help=True)


def main() -> None:
    """Entry point of the ``relapsewatch`` script."""
    app()
