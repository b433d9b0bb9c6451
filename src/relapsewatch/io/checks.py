"""Vectorised checks that turn failing rows into located, teaching :class:`Problem` records.

A check is a boolean Polars expression that is true on bad rows. :func:`collect` evaluates it over
the whole table at once and keeps the first ``cap`` failures, each with the spreadsheet row
number (column ``__row``: header = row 1, first data row = row 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from relapsewatch.errors import Problem, Severity, echo

ROW = "__row"

#: How many problems of one kind in one file are listed before the rest are only counted.
CAP_PER_CHECK = 50
#: How many problems in total are listed before the rest are only counted.
CAP_TOTAL = 500


@dataclass
class ProblemLog:
    """Collects problems up to a cap and counts the rest."""

    problems: list[Problem] = field(default_factory=list)
    truncated: int = 0

    def add(self, problem: Problem) -> None:
        if len(self.problems) < CAP_TOTAL:
            self.problems.append(problem)
        else:
            self.truncated += 1

    def extend(self, problems: list[Problem], more: int = 0) -> None:
        for p in problems:
            self.add(p)
        self.truncated += more

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or self.truncated > 0


def collect(
    frame: pl.DataFrame,
    bad: pl.Expr,
    *,
    log: ProblemLog,
    file: str,
    column: str | None,
    expected: str,
    fix: str,
    found: str | pl.Expr | None = None,
    severity: Severity = "error",
) -> None:
    """Add one problem per row where ``bad`` is true (first :data:`CAP_PER_CHECK` only).

    ``found`` names the column (or gives an expression) whose value is echoed; it defaults to
    ``column``. ``expected`` and ``fix`` may reference ``{found}``.
    """
    found_expr: pl.Expr
    if found is None:
        found_expr = pl.col(column) if column is not None else pl.lit(None, pl.String)
    elif isinstance(found, str):
        found_expr = pl.col(found)
    else:
        found_expr = found
    failing = (
        frame.lazy()
        .filter(bad.fill_null(False))
        .select(pl.col(ROW), found_expr.cast(pl.String).alias("__found"))
    )
    counted = failing.select(pl.len()).collect().item()
    if counted == 0:
        return
    shown = failing.head(CAP_PER_CHECK).collect()
    problems = [
        Problem(
            file=file,
            row=int(row),
            column=column,
            found=echo(value),
            expected=expected.format(found=value),
            fix=fix.format(found=value),
            severity=severity,
        )
        for row, value in shown.iter_rows()
    ]
    log.extend(problems, more=max(0, counted - CAP_PER_CHECK))


def collect_messages(
    frame: pl.DataFrame,
    message: str,
    *,
    log: ProblemLog,
    file: str,
    column: str,
    found: str,
    expected: str,
    severity: Severity = "error",
) -> None:
    """Add one problem per row whose ``message`` column is not null; the message is the fix."""
    failing = frame.lazy().filter(pl.col(message).is_not_null())
    counted = failing.select(pl.len()).collect().item()
    if counted == 0:
        return
    shown = (
        failing.select(ROW, pl.col(found).cast(pl.String), message).head(CAP_PER_CHECK).collect()
    )
    problems = [
        Problem(
            file=file,
            row=int(row),
            column=column,
            found=echo(value),
            expected=expected,
            fix=str(text),
            severity=severity,
        )
        for row, value, text in shown.iter_rows()
    ]
    log.extend(problems, more=max(0, counted - CAP_PER_CHECK))


def blank(column: str) -> pl.Expr:
    """True where a cell is missing; text cells are cleaned first (:func:`clean_text`), so
    cells of only white space are missing too."""
    return pl.col(column).is_null()


def clean_text(column: str) -> pl.Expr:
    """Trimmed text with blanks as null."""
    # one pass: a conditional would evaluate the trimmed text twice (half the reader's time on
    # text columns of millions of rows)
    return pl.col(column).cast(pl.String).str.strip_chars().replace("", None).alias(column)
