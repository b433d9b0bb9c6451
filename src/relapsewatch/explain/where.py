"""\"Where you are now\": plain sentences from a derived course, each with its evidence.

:func:`where_you_are` reads one row of the ``status`` table and the ``lines``, ``relapses`` and
``responses`` tables (DESIGN.md "Derived tables"; frames may hold other patients too) and returns
a few :class:`Statement` objects: where the person is (untreated, first treatment, remission, or
which relapse and since when), which treatment, what has stopped working, how the latest results
look, and a rise not yet confirmed. ``text`` is for the person; ``evidence`` is for the nurse:
the values, thresholds, dates and rule ids behind the sentence.

The sentences describe; they never advise and never predict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from relapsewatch.errors import DataError, Problem, echo
from relapsewatch.explain.words import (
    RESPONSE_NAMES,
    date_in_words,
    list_in_words,
    ordinal,
    regimen_in_words,
    response_in_words,
)
from relapsewatch.schema import require_columns

__all__ = ["Evidence", "Statement", "where_you_are"]

_SPEC_K = "myeloma-course.md §2.7 (K1-K3)"
_SPEC_F = "myeloma-course.md §2.6 (F1, F2)"
_SPEC_C = "myeloma-course.md §1.5 (C3)"
_SPEC_R = "myeloma-course.md §1.4 (R rules)"
_STATES = ("untreated", "on_treatment", "remission", "progressing", "off_treatment")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact behind a statement: what it is, its value, and where it comes from."""

    label: str
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class Statement:
    """A patient-facing sentence (or two) with the evidence a nurse can check."""

    topic: str
    text: str
    evidence: tuple[Evidence, ...]


def _date(value: object) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        return dt.date.fromisoformat(value[:10])
    return None


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _rows(frame: pl.DataFrame, patient_id: object, order: str) -> list[dict[str, Any]]:
    return frame.filter(pl.col("patient_id") == patient_id).sort(order).to_dicts()


def _status_value(status: Mapping[str, object], key: str) -> object:
    if key not in status:
        raise DataError(
            [
                Problem(
                    "status",
                    None,
                    key,
                    "no such key",
                    f"a status row with {key}",
                    "Pass a row of the course engine's status table.",
                )
            ]
        )
    return status[key]


def _count(value: object, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise DataError(
        [
            Problem(
                "status",
                None,
                key,
                echo(value),
                "a whole number >= 0",
                "Pass a row of the course engine's status table.",
            )
        ]
    )


# ---------------------------------------------------------------------------------------------
# One statement per topic
# ---------------------------------------------------------------------------------------------


def _stage_without_relapse(
    state: str, lines: list[dict[str, Any]], status: Mapping[str, object]
) -> Statement:
    count = len(lines)
    evidence: tuple[Evidence, ...] = (
        Evidence("state", state, "status.state"),
        Evidence("lines received", str(count), "lines"),
        Evidence("relapses", "0", "status.relapses"),
    )
    nth = ordinal(max(count, 1))
    if count == 0 or state == "untreated":
        text = "Your records do not show any treatment for myeloma yet."
    elif state == "remission":
        text = (
            f"Your myeloma is in remission after your {nth} line of treatment. This means "
            "treatment has brought it under control."
        )
    elif state == "off_treatment":
        text = f"Your {nth} line of treatment has ended. The records do not show a relapse."
    elif count == 1:
        text = "You are having your first treatment for myeloma."
    else:
        text = f"You are having your {nth} line of treatment. The records do not show a relapse."
    if status.get("primary_refractory") is True and count:
        text += " The records show the myeloma has not yet responded well to treatment."
        evidence += (Evidence("primary refractory", "true", "status.primary_refractory"),)
    return Statement("stage", text, evidence)


def _relapse_statement(
    count: int, relapses: list[dict[str, Any]], state: str, lines: list[dict[str, Any]]
) -> Statement:
    latest = relapses[-1] if relapses else {}
    day = _date(latest.get("date"))
    when = f" on {date_in_words(day)}" if day else ""
    if count <= 2:
        times = "first" if count == 1 else "second"
        text = (
            f"Your myeloma came back for the {times} time{when}. Doctors call this a "
            f"{times} relapse."
        )
    else:
        text = (
            f"Your myeloma has come back {count} times. The most recent time was{when}. "
            "Doctors group this as the third relapse and beyond."
        )
    kind = latest.get("kind")
    if kind == "clinical":
        text += " Your care team found signs that it was active again."
    elif kind == "progression":
        text += " Your test results showed it growing again."
    if any(r.get("primary_refractory") is True for r in relapses[:1]):
        text += " The myeloma did not respond well to the first treatment."
    newest_line = lines[-1] if lines else {}
    started = _date(newest_line.get("start_date"))
    if state == "remission":
        text += " Since then, treatment has brought it under control again."
    elif state == "on_treatment" and day and started and started >= day:
        text += " You are now having treatment for it."
    evidence = [
        Evidence("relapses counted", str(count), "status.relapses"),
        Evidence("relapse number", _text(latest.get("relapse_number")), "relapses.relapse_number"),
        Evidence("relapse date (first of the confirming pair)", _text(day), "relapses.date"),
        Evidence(
            "confirmed on", _text(_date(latest.get("confirmed_date"))), "relapses.confirmed_date"
        ),
        Evidence("in line", _text(latest.get("line")), "relapses.line"),
        Evidence("kind", _text(kind), "relapses.kind"),
        Evidence("criterion", _text(latest.get("criterion")), "relapses.criterion"),
        Evidence("rule", "K1-K3 relapse numbering", _SPEC_K),
    ]
    if relapses and relapses[0].get("primary_refractory") is True:
        evidence.append(Evidence("primary refractory", "true", "relapses.primary_refractory"))
    return Statement("relapse", text, tuple(e for e in evidence if e.value))


def _treatment_statement(line: dict[str, Any], state: str, current_line: object) -> Statement:
    regimen = regimen_in_words(_text(line.get("regimen")))
    start = _date(line.get("start_date"))
    end = _date(line.get("end_date"))
    number = line.get("line")
    ongoing = current_line == number or (end is None and state in ("on_treatment", "progressing"))
    if ongoing:
        text = f"Your current treatment is {regimen}."
        if start:
            text += f" It started on {date_in_words(start)}."
    else:
        text = f"Your most recent treatment was {regimen}."
        if start and end:
            text += f" It ran from {date_in_words(start)} to {date_in_words(end)}."
    if isinstance(number, int):
        text += (
            f" This is your {ordinal(number)} line of treatment."
            if ongoing
            else (f" It was your {ordinal(number)} line of treatment.")
        )
    evidence = (
        Evidence("line", _text(number), "lines.line"),
        Evidence("regimen", _text(line.get("regimen")), "lines.regimen"),
        Evidence("start", _text(start), "lines.start_date"),
        Evidence("end", _text(end) or "ongoing", "lines.end_date"),
        Evidence("end reason", _text(line.get("end_reason")), "lines.end_reason"),
        Evidence("best response", _text(line.get("best_response")), "lines.best_response"),
    )
    return Statement("treatment", text, tuple(e for e in evidence if e.value))


def _refractory_statement(lines: list[dict[str, Any]]) -> Statement | None:
    drugs: list[str] = []
    evidence: list[Evidence] = []
    for line in lines:
        named = [d.strip() for d in _text(line.get("refractory_to")).split("+") if d.strip()]
        if named:
            evidence.append(
                Evidence(
                    f"refractory in line {line.get('line')}", "+".join(named), "lines.refractory_to"
                )
            )
        drugs += [d.replace("_", " ") for d in named if d.replace("_", " ") not in drugs]
    if not drugs:
        return None
    text = (
        f"The records show the myeloma stopped responding to {list_in_words(drugs)}. "
        "Doctors call this refractory."
    )
    evidence.append(
        Evidence(
            "rule", "F1 progression on or within 60 days of the last dose; F2 no response", _SPEC_F
        )
    )
    return Statement("refractory", text, tuple(evidence))


def _flags(row: Mapping[str, Any]) -> list[str]:
    return [f.strip() for f in _text(row.get("flags")).replace(",", ";").split(";") if f.strip()]


def _awaiting(row: Mapping[str, Any]) -> bool:
    """Is this assessment still waiting for the test that would confirm it (C1/C2)?"""
    return "awaiting_confirmation" in _flags(row) or (
        row.get("confirmed") is False
        and not any(f.startswith("confirmed_as=") for f in _flags(row))
    )


def _confirmed_category(row: Mapping[str, Any]) -> str | None:
    """The confirmed category of a responses row, or ``None`` while it is not settled.

    The engine writes ``confirmed`` as true/false with ``confirmed_as=<category>`` in ``flags``
    when C2 confirmed a different category; a string ``confirmed`` (the category) is accepted too.
    """
    confirmed = row.get("confirmed")
    if isinstance(confirmed, str):
        return confirmed if confirmed in RESPONSE_NAMES else None
    if confirmed is True:
        return _text(row.get("response")) or None
    if _awaiting(row):
        return None
    for flag in _flags(row):
        if flag.startswith("confirmed_as="):
            category = flag.split("=", 1)[1]
            return category if category in RESPONSE_NAMES else None
    return None


def _is_unconfirmed_rise(row: Mapping[str, Any], relapse_dates: set[dt.date]) -> bool:
    if row.get("response") != "PD" or _date(row.get("date")) in relapse_dates:
        return False
    return "pd_unconfirmed" in _flags(row) or _confirmed_category(row) != "PD"


def _pending_statement(row: Mapping[str, Any]) -> Statement | None:
    """The newest result looks better or worse, but its confirming test is still to come."""
    category = _text(row.get("response"))
    if category not in RESPONSE_NAMES or category == "PD":
        return None
    day = _date(row.get("date"))
    lead = f"Your most recent result is from {date_in_words(day)}." if day else ""
    text = (
        f"{lead} It looks like {RESPONSE_NAMES[category]}, but a second test is needed to "
        "confirm it."
    ).strip()
    evidence = (
        Evidence("date", _text(day), "responses.date"),
        Evidence("time-point response", category, "responses.response"),
        Evidence("flags", _text(row.get("flags")), "responses.flags"),
        Evidence(
            "rule",
            "C1/C2: a response counts once a second assessment confirms it",
            "myeloma-course.md §1.5",
        ),
    )
    return Statement("awaiting_confirmation", text, tuple(e for e in evidence if e.value))


def _results_statement(row: Mapping[str, Any], category: str) -> Statement | None:
    meaning = response_in_words(category, row.get("pathway"))
    if meaning is None:
        return None
    day = _date(row.get("date"))
    lead = f"Your latest results are from {date_in_words(day)}." if day else "Your latest results:"
    text = f"{lead} {meaning}"
    if category != "PD":
        text += f" Doctors call this {RESPONSE_NAMES[category]}."
    evidence = (
        Evidence("date", _text(day), "responses.date"),
        Evidence("confirmed response", category, "responses.confirmed"),
        Evidence("line", _text(row.get("line")), "responses.line"),
        Evidence("pathway", _text(row.get("pathway")), "responses.pathway"),
        Evidence("flags", _text(row.get("flags")), "responses.flags"),
        Evidence("rule", "IMWG 2016 response categories", _SPEC_R),
    )
    return Statement("latest_results", text, tuple(e for e in evidence if e.value))


def _rise_statement(row: Mapping[str, Any], unconfirmed: list[dict[str, Any]]) -> Statement:
    day = _date(row.get("date"))
    when = f", from {date_in_words(day)}," if day else ""
    text = f"One result{when} went up. A second test is needed to know if this is a relapse."
    evidence = [
        Evidence("date", _text(day), "responses.date"),
        Evidence("time-point response", "PD (not confirmed)", "responses.response"),
        Evidence("confirmed", _text(row.get("confirmed")) or "not yet", "responses.confirmed"),
        Evidence("flags", _text(row.get("flags")), "responses.flags"),
    ]
    for match in (u for u in unconfirmed if _date(u.get("date")) == day):
        evidence.append(
            Evidence(
                "criterion", _text(match.get("criterion")), "unconfirmed_progression.criterion"
            )
        )
    evidence.append(
        Evidence(
            "rule", "C3: progression counts only when a second assessment confirms it", _SPEC_C
        )
    )
    return Statement("suspected_rise", text, tuple(e for e in evidence if e.value))


# ---------------------------------------------------------------------------------------------
# Public function
# ---------------------------------------------------------------------------------------------


def where_you_are(
    status_row: Mapping[str, object],
    lines_frame: pl.DataFrame,
    relapses_frame: pl.DataFrame,
    responses_frame: pl.DataFrame,
    *,
    unconfirmed_progression: pl.DataFrame | None = None,
) -> list[Statement]:
    """Plain sentences for "Where you are now", each with its evidence.

    Parameters
    ----------
    status_row:
        One row of the ``status`` table: ``patient_id``, ``relapses``, ``state`` and, when
        known, ``current_line``, ``primary_refractory``.
    lines_frame, relapses_frame, responses_frame:
        The derived tables (DESIGN.md); rows of other patients are ignored. ``responses`` as the
        engine writes it (``confirmed`` true/false, ``flags`` with ``confirmed_as=<category>``,
        ``pd_unconfirmed``, ``awaiting_confirmation``), or with ``confirmed`` as the category.
    unconfirmed_progression:
        Optional: the engine's unconfirmed-progression table, whose ``criterion`` is added to
        the evidence of a suspected rise.

    Returns
    -------
    list[Statement]
        In reading order: ``stage`` or ``relapse``; ``treatment``; ``refractory``;
        ``latest_results``; then ``suspected_rise`` (the newest result is a rise not yet
        confirmed) or ``awaiting_confirmation`` (the newest result looks different but its
        confirming test is still to come); each only when it applies.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> lines = pl.DataFrame({"patient_id": ["p"], "line": [1], "start_date": [dt.date(2024, 1, 8)],
    ...     "end_date": [None], "regimen": ["bortezomib+dexamethasone+lenalidomide"]})
    >>> relapses = pl.DataFrame(schema={"patient_id": pl.String, "relapse_number": pl.Int32,
    ...     "date": pl.Date})
    >>> responses = pl.DataFrame({"patient_id": ["p"], "date": [dt.date(2024, 4, 1)],
    ...     "response": ["PR"], "confirmed": ["PR"], "pathway": ["serum_urine"]})
    >>> status = {"patient_id": "p", "relapses": 0, "state": "on_treatment", "current_line": 1}
    >>> for s in where_you_are(status, lines, relapses, responses):
    ...     print(s.text)
    You are having your first treatment for myeloma.
    Your current treatment is bortezomib, lenalidomide and dexamethasone. It started on 8 January 2024. This is your first line of treatment.
    Your latest results are from 1 April 2024. The myeloma protein has fallen by at least half since this treatment began. Doctors call this a partial response.
    """  # noqa: E501
    require_columns(
        lines_frame, ("patient_id", "line", "start_date", "end_date", "regimen"), table="lines"
    )
    require_columns(relapses_frame, ("patient_id", "relapse_number", "date"), table="relapses")
    require_columns(responses_frame, ("patient_id", "date", "response"), table="responses")
    patient_id = _status_value(status_row, "patient_id")
    count = _count(_status_value(status_row, "relapses"), "relapses")
    state = _status_value(status_row, "state")
    if state not in _STATES:
        raise DataError(
            [
                Problem(
                    "status",
                    None,
                    "state",
                    echo(state),
                    f"one of {list(_STATES)}",
                    "Pass a row of the course engine's status table.",
                )
            ]
        )
    assert isinstance(state, str)
    lines = _rows(lines_frame, patient_id, "line")
    relapses = _rows(relapses_frame, patient_id, "relapse_number")
    responses = _rows(responses_frame, patient_id, "date")
    unconfirmed = (
        []
        if unconfirmed_progression is None
        else _rows(unconfirmed_progression, patient_id, "date")
    )

    statements: list[Statement] = []
    if count == 0:
        statements.append(_stage_without_relapse(state, lines, status_row))
    else:
        statements.append(_relapse_statement(count, relapses, state, lines))
    if lines:
        current = status_row.get("current_line")
        chosen = next((ln for ln in lines if ln.get("line") == current), lines[-1])
        statements.append(_treatment_statement(chosen, state, current))
    refractory = _refractory_statement(lines)
    if refractory is not None:
        statements.append(refractory)

    relapse_dates = {d for r in relapses if (d := _date(r.get("date"))) is not None}
    newest = responses[-1] if responses else None
    settled = [r for r in responses if _confirmed_category(r) not in (None, "NE")]
    if settled:
        results = _results_statement(settled[-1], str(_confirmed_category(settled[-1])))
        if results is not None:
            statements.append(results)
    if newest is not None and _is_unconfirmed_rise(newest, relapse_dates):
        statements.append(_rise_statement(newest, unconfirmed))
    elif (
        newest is not None
        and newest is not (settled[-1] if settled else None)
        and _awaiting(newest)
        and (pending := _pending_statement(newest)) is not None
    ):
        statements.append(pending)
    return statements
