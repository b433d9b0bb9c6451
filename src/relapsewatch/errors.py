"""The exception tree of relapsewatch.

Every error the library raises on purpose is a :class:`RelapsewatchError`. Errors teach: they say
what was expected, what was found, where (file, row, column) and how to fix it.

The tree::

    RelapsewatchError
    ├── SchemaError      a table or column is missing or has the wrong shape
    ├── UnitError        a unit is missing, unknown or impossible for the test
    ├── VocabularyError  an unknown test, therapy, finding or category
    ├── DataError        one or more problems in input data (carries every Problem found)
    └── ConfigError      a setting is out of range or unknown

Row numbers follow spreadsheet numbering: the header is row 1, so the first data row is row 2.
A file-level problem (e.g. a missing column) has ``row=None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ConfigError",
    "DataError",
    "Problem",
    "RelapsewatchError",
    "SchemaError",
    "UnitError",
    "VocabularyError",
]

Severity = Literal["error", "warning"]


class RelapsewatchError(Exception):
    """Root of every error raised on purpose by relapsewatch."""


class SchemaError(RelapsewatchError):
    """A table or column is missing, or a frame does not have the canonical shape."""


class UnitError(RelapsewatchError):
    """A unit is missing, unknown, or impossible for the test it is attached to."""


class VocabularyError(RelapsewatchError):
    """A name (test, therapy, finding, category) is not in the vocabulary."""


class ConfigError(RelapsewatchError):
    """A setting is unknown or out of range."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in input data, located precisely enough to fix it.

    Attributes
    ----------
    file:
        The file name as the user gave it (e.g. ``measurements.csv``).
    row:
        Spreadsheet row (header = 1, first data row = 2); ``None`` for file-level problems.
    column:
        The column name, or ``None`` when the problem is about the whole row or file.
    found:
        What was found, echoed briefly (at most 32 characters of input).
    expected:
        What was expected there.
    fix:
        How to fix it, in one sentence.
    severity:
        ``"error"`` stops the load; ``"warning"`` is reported but the data loads.
    """

    file: str
    row: int | None
    column: str | None
    found: str
    expected: str
    fix: str
    severity: Severity = "error"

    def location(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        fix = self.fix[:1].upper() + self.fix[1:]
        return f"{self.location()}: found {self.found!s}; expected {self.expected}. {fix}"


def echo(value: object, limit: int = 32) -> str:
    """Quote a piece of input for a message, cut to ``limit`` characters (no PHI floods)."""
    if value is None:
        return "an empty cell"
    text = str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\x1b", "\\x1b")
    if text == "":
        return "an empty cell"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


class DataError(RelapsewatchError):
    """Input data has problems; ``problems`` lists every one found (up to a cap).

    The message summarises; iterate over :attr:`problems` for the details.
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        *,
        truncated: int = 0,
        summary: str | None = None,
    ) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.truncated = truncated
        errors = [p for p in self.problems if p.severity == "error"]
        head = summary or f"{len(errors) + truncated} problem(s) in the input"
        lines = [head + ":"]
        lines += [f"  - {p}" for p in errors[:20]]
        more = len(errors) - 20 + truncated
        if more > 0:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines))

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")
