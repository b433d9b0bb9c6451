"""The ``relapsewatch`` command line: thin commands over the library.

Exit codes: 0 success; 1 bad data (the message names the file, row and column and the fix);
2 usage error.

Commands are imported when they are run (:class:`_LazyCommands`), so ``relapsewatch course``
does not pay for the web app, the database layer and the server it never uses (about a second of
start-up, once per run and once per worker process).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from relapsewatch._version import __version__
from relapsewatch.cli.output import console, print_problems

if TYPE_CHECKING:  # Typer 0.29 carries its own copy of Click; these are the types it uses
    from typer._click.core import Command, Context

__all__ = ["app", "main"]

#: Commands loaded on first use: name -> (module, attribute). An attribute that is a
#: :class:`typer.Typer` is a group of subcommands; otherwise it is the command's function.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "course": ("relapsewatch.cli.course", "course"),
    "simulate": ("relapsewatch.cli.simulate", "simulate"),
    "serve": ("relapsewatch.cli.serve", "serve"),
    "import": ("relapsewatch.cli.importer", "import_"),
    "db": ("relapsewatch.cli.importer", "db_app"),
    "secret-key": ("relapsewatch.cli.accounts", "secret_key"),
    "users": ("relapsewatch.cli.accounts", "users_app"),
    "teams": ("relapsewatch.cli.accounts", "teams_app"),
    "audit": ("relapsewatch.cli.audit", "audit_app"),
}


class _LazyCommands(TyperGroup):
    """A command group whose listed commands are imported only when looked up (Click's lazy
    loading pattern): ``--help`` loads them all, a run loads only its own."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *LAZY_COMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = LAZY_COMMANDS[cmd_name]
        target: Any = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            group = typer.main.get_group(target)
            group.name = cmd_name
            return group
        single = typer.Typer(add_completion=False)
        single.command(name=cmd_name)(target)
        return typer.main.get_command(single)


app = typer.Typer(
    name="relapsewatch",
    cls=_LazyCommands,
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
    from relapsewatch.io import validate_folder

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


def main() -> None:
    """Entry point of the ``relapsewatch`` script."""
    app()
