"""What the patient page shows, assembled from the stored records and course (no database here).

:func:`course_page` takes what the repository returned for one patient (their summary, their
canonical tables and their stored course) and calls the library for each section: the chart
(:mod:`relapsewatch.plotting.course`), "Where you are now"
(:func:`relapsewatch.explain.where_you_are`), the key-information page
(:func:`relapsewatch.knowledge.info_for`), the treatment options
(:func:`relapsewatch.knowledge.options_for`) and the residual-disease picture
(:mod:`relapsewatch.web.residual`). Routes stay thin; tests can build a page from frames alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import polars as pl

from relapsewatch.explain import Statement, regimen_in_words, where_you_are
from relapsewatch.io import CanonicalTables
from relapsewatch.knowledge import (
    CARE_TEAM_DECIDES,
    InfoPage,
    OptionView,
    info_for,
    load_regimens,
    options_for,
)
from relapsewatch.plotting.course import MARKER_TESTS, choose_marker, course_figure_spec
from relapsewatch.store.repository import PatientSummary, StoredCourse
from relapsewatch.web.residual import ResidualPicture, residual_picture
from relapsewatch.web.settings import Region

__all__ = ["CoursePage", "LineRow", "Scale", "course_page", "regimen_labels"]

Scale = Literal["linear", "log"]


@dataclass(frozen=True, slots=True)
class LineRow:
    """A line of therapy as the page lists it (the chart's text alternative)."""

    line: int
    regimen: str
    label: str
    start_date: dt.date | None
    end_date: dt.date | None
    best_response: str | None
    refractory_to: str | None
    end_reason: str | None


@dataclass(frozen=True)
class CoursePage:
    """Everything the patient page renders (see the module docstring)."""

    patient: PatientSummary
    status: Mapping[str, Any] | None
    chart: dict[str, Any] | None
    marker_label: str | None
    scale: Scale
    lines: tuple[LineRow, ...]
    relapses: tuple[Mapping[str, Any], ...]
    statements: tuple[Statement, ...]
    info: InfoPage | None
    region: Region
    options: tuple[OptionView, ...]
    care_team_decides: str
    residual: ResidualPicture | None

    @property
    def listed_options(self) -> tuple[OptionView, ...]:
        return tuple(o for o in self.options if o.outcome == "listed")

    @property
    def depending_options(self) -> tuple[OptionView, ...]:
        return tuple(o for o in self.options if o.outcome == "depends")

    @property
    def not_listed_options(self) -> tuple[OptionView, ...]:
        return tuple(o for o in self.options if o.outcome == "not_listed")


def _drug_key(names: Iterable[object]) -> frozenset[str]:
    return frozenset(str(n).strip().lower().replace("_", " ") for n in names if str(n).strip())


@cache
def regimen_labels() -> Mapping[frozenset[str], str]:
    """Drug set -> the regimen's usual abbreviation, from the packaged regimen knowledge."""
    labels: dict[frozenset[str], str] = {}
    for regimen in load_regimens().regimens:
        key = _drug_key(regimen.drugs)
        if key and key not in labels and "(" not in regimen.abbreviation:
            labels[key] = regimen.abbreviation
    return labels


def _short_label(regimen: str) -> str:
    """``daratumumab+dexamethasone+lenalidomide`` -> ``DRd``; words when it has no short name."""
    label = regimen_labels().get(_drug_key(regimen.split("+")))
    return label or regimen_in_words(regimen)


def _line_rows(lines: pl.DataFrame) -> tuple[LineRow, ...]:
    rows = []
    for row in lines.sort("line").iter_rows(named=True):
        regimen = row.get("regimen") or ""
        rows.append(
            LineRow(
                line=int(row["line"]),
                regimen=regimen_in_words(regimen) if regimen else "",
                label=_short_label(regimen) if regimen else "",
                start_date=row.get("start_date"),
                end_date=row.get("end_date"),
                best_response=row.get("best_response"),
                refractory_to=(row.get("refractory_to") or "").replace("+", ", ") or None,
                end_reason=row.get("end_reason"),
            )
        )
    return tuple(rows)


def _confirmed_flags(responses: pl.DataFrame) -> pl.DataFrame:
    """``confirmed`` as true/false whether the engine stored a flag or the confirmed category."""
    if "confirmed" not in responses.columns or responses.schema["confirmed"] == pl.Boolean:
        return responses
    return responses.with_columns(
        (pl.col("confirmed").is_not_null() & (pl.col("confirmed") == pl.col("response"))).alias(
            "confirmed"
        )
    )


def _light_chain_disease(patients: pl.DataFrame, marker: str | None) -> bool:
    """Light-chain-only myeloma: no heavy chain, or followed by a free light chain."""
    heavy = patients.get_column("heavy_chain")[0] if "heavy_chain" in patients.columns else None
    if heavy is not None:
        return bool(heavy == "none")
    return marker is not None and marker.startswith("flc_")


def course_page(
    patient: PatientSummary,
    tables: CanonicalTables,
    course: StoredCourse | None,
    *,
    region: Region,
    scale: Scale = "linear",
) -> CoursePage:
    """Assemble the patient page (see :class:`CoursePage`)."""
    measurements = tables.measurements
    light_chain = None
    if tables.patients.height and "light_chain" in tables.patients.columns:
        light_chain = tables.patients.get_column("light_chain")[0]
    marker = choose_marker(measurements, light_chain=light_chain)
    lines = course.lines if course is not None else None
    relapses = course.relapses if course is not None else None
    responses = _confirmed_flags(course.responses) if course is not None else None
    chart = (
        course_figure_spec(
            measurements,
            lines,
            relapses,
            responses,
            marker=marker,
            log_scale=scale == "log",
            regimen_labels={
                r: _short_label(r)
                for r in (lines.get_column("regimen").drop_nulls().unique().to_list())
            }
            if lines is not None and lines.height
            else None,
        )
        if marker is not None
        else None
    )
    status: Mapping[str, Any] | None = None
    statements: tuple[Statement, ...] = ()
    info: InfoPage | None = None
    options: tuple[OptionView, ...] = ()
    if course is not None and course.status.height:
        status = course.status.row(0, named=True)
        statements = tuple(where_you_are(status, course.lines, course.relapses, course.responses))
        info = info_for(status)
        options = tuple(options_for(status, region=region))
    return CoursePage(
        patient=patient,
        status=status,
        chart=chart,
        marker_label=MARKER_TESTS[marker][0] if marker else None,
        scale=scale,
        lines=_line_rows(lines) if lines is not None else (),
        relapses=tuple(relapses.sort("relapse_number").to_dicts()) if relapses is not None else (),
        statements=statements,
        info=info,
        region=region,
        options=options,
        care_team_decides=CARE_TEAM_DECIDES,
        residual=residual_picture(
            measurements,
            light_chain_disease=_light_chain_disease(tables.patients, marker),
        ),
    )
