"""Output for the command line: Rich on a terminal, plain lines when piped."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from relapsewatch.errors import Problem

__all__ = ["console", "error_console", "print_problems"]

console = Console(highlight=False, soft_wrap=True)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_problems(problems: Iterable[Problem], *, title: str, out: Console | None = None) -> None:
    """A table of problems on a terminal; one line per problem when piped."""
    target = out or console
    items = list(problems)
    if not items:
        return
    if target.is_terminal:
        table = Table(title=title, show_lines=False, title_justify="left")
        for heading in ("", "file", "row", "column", "found", "expected", "fix"):
            table.add_column(heading, overflow="fold")
        for p in items:
            mark = "[red]error[/red]" if p.severity == "error" else "[yellow]warning[/yellow]"
            table.add_row(
                mark,
                p.file,
                "" if p.row is None else str(p.row),
                p.column or "",
                p.found,
                p.expected,
                p.fix,
            )
        target.print(table)
    else:
        target.print(title, markup=False)
        for p in items:
            target.print(f"{p.severity}: {p}", markup=False)


def is_terminal() -> bool:
    return sys.stdout.isatty()
