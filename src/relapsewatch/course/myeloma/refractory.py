"""Drug refractoriness and patient-level relapsed / refractory states (spec §2.2, §2.6, F1–F4).

IMWG 2011 (Rajkumar et al.): disease is refractory to a drug when it progresses on it or within
60 days of its last dose, or does not respond while on it. The engine keeps every qualifying
episode with its evidence and reports the earliest as the date the drug became refractory; once
refractory, always refractory (F3).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exposure import CONDITIONS, NAMED_DRUGS, TRACKED_CLASSES
from relapsewatch.course.myeloma.treatment_rows import (
    classify_treatments,
    cum_max_date_in_run,
    shift_in_run,
    sorted_runs,
)

__all__ = [
    "REFRACTORY_RULES",
    "Refractoriness",
    "RefractoryRule",
    "derive_refractoriness",
    "first_response_dates",
    "nonresponsive_lines",
    "patient_states",
    "refractory_conditions",
]

_DEFAULT = MyelomaCourseConfig()


@dataclass(frozen=True, slots=True)
class RefractoryRule:
    """One refractoriness rule, printable and citable."""

    code: str
    rule: str
    source: str


_IMWG = "Rajkumar et al. Blood 2011 (IMWG uniform reporting); spec §2.6"
REFRACTORY_RULES: tuple[RefractoryRule, ...] = (
    RefractoryRule(
        "F1",
        "Refractory to a drug when a progression event falls on it or within "
        "60 days of its last dose before the event.",
        _IMWG,
    ),
    RefractoryRule(
        "F2",
        "Refractory by non-response: a finished line with the drug for at least "
        "56 days and 2 evaluable assessments never reached MR; dated at the drug's "
        "last dose in that line (56-day floor is a local default, A-23).",
        _IMWG,
    ),
    RefractoryRule("F3", "Once refractory, always refractory.", _IMWG),
    RefractoryRule(
        "F4",
        "Primary refractory: never MR or better, with progression or "
        "non-response. Relapsed and refractory: MR or better, then progression on "
        "or within 60 days of therapy, or a non-responsive later line. Relapsed: "
        "progression otherwise.",
        _IMWG,
    ),
)

_EPISODES: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "drug": pl.String(),
    "drug_classes": pl.List(pl.String()),
    "date": pl.Date(),
    "clause": pl.String(),
    "line": pl.Int32(),
    "last_dose": pl.Date(),
    "days_after_last_dose": pl.Int64(),
    "evidence": pl.String(),
}


@dataclass(frozen=True)
class Refractoriness:
    """Drug refractoriness of a cohort.

    Attributes
    ----------
    episodes:
        Every qualifying episode (F1 per progression event and drug, F2 per non-responsive line
        and drug): ``patient_id, drug, drug_classes, date, clause, line, last_dose,
        days_after_last_dose, evidence``.
    refractory:
        The earliest episode per patient and drug (F3): the date the drug became refractory.
    events:
        The progression events with ``on_therapy``: true when the event fell on or within the
        refractory window of the last dose of any line-opening drug (used by F4).
    """

    episodes: pl.DataFrame
    refractory: pl.DataFrame
    events: pl.DataFrame


def _fmt(date: pl.Expr) -> pl.Expr:
    return date.dt.strftime("%Y-%m-%d")


def _drug_rows(treatments: pl.DataFrame, config: MyelomaCourseConfig) -> pl.DataFrame:
    """Line-opening drug exposures with episode starts (runs with gaps <= the episode gap)."""
    rows = classify_treatments(treatments).filter(
        (pl.col("kind") == "drug")
        | ((pl.col("kind") == "car_t") & (pl.col("therapy") != "car_t_infusion"))
    )
    run = pl.col("__run")
    rows = (
        rows.sort("patient_id", "therapy", "start_date", "end")
        .with_columns(__run=sorted_runs("patient_id", "therapy"))
        .with_columns(cum_end=cum_max_date_in_run(pl.col("end"), run))
    )
    new_episode = (
        (pl.col("start_date") - shift_in_run(pl.col("cum_end"), run))
        > pl.duration(days=config.refractory_episode_gap_days)
    ).fill_null(True)
    return (
        # Episode numbers are unique across the frame (a global running count of starts).
        rows.with_columns(episode=new_episode.cum_sum())
        .with_columns(episode_start=pl.col("start_date").min().over("episode"))
        .select(
            "patient_id",
            pl.col("therapy").alias("drug"),
            "drug_classes",
            "start_date",
            "cum_end",
            "episode_start",
        )
    )


def _progression_clause(
    rows: pl.DataFrame, events: pl.DataFrame, config: MyelomaCourseConfig
) -> pl.DataFrame:
    """F1: each event against each drug the patient had started by then, ``within`` the
    refractory window of its last dose or not (the evidence is :func:`_progression_evidence`)."""
    drugs = rows.select("patient_id", "drug", "drug_classes").unique(["patient_id", "drug"])
    pairs = events.select("patient_id", "date", "line", "kind").join(drugs, on="patient_id")
    pairs = (
        pairs.sort("date")
        .join_asof(
            rows.select("patient_id", "drug", "start_date", "cum_end", "episode_start").sort(
                "start_date"
            ),
            left_on="date",
            right_on="start_date",
            by=["patient_id", "drug"],
            check_sortedness=False,
        )
        .filter(pl.col("start_date").is_not_null())
    )
    pairs = pairs.with_columns(
        last_dose=pl.min_horizontal("cum_end", "date"),
    ).with_columns(days_after_last_dose=(pl.col("date") - pl.col("last_dose")).dt.total_days())
    return pairs.with_columns(
        within=pl.col("days_after_last_dose") <= config.refractory_window_days
    )


def _progression_evidence(episodes: pl.DataFrame, config: MyelomaCourseConfig) -> pl.DataFrame:
    """F1 ``clause`` and ``evidence`` of the pairs of :func:`_progression_clause` that count."""
    on_drug = pl.col("cum_end") >= pl.col("date")
    what = (
        pl.when(pl.col("kind") == "clinical")
        .then(pl.lit("clinical relapse"))
        .otherwise(pl.lit("progression"))
    )
    evidence = (
        pl.when(on_drug)
        .then(
            pl.format(
                "{} on {} while on {} (taken since {})",
                what,
                _fmt(pl.col("date")),
                pl.col("drug"),
                _fmt(pl.col("episode_start")),
            )
        )
        .otherwise(
            pl.format(
                "{} on {}, {} days after the last {} dose on {} (within {} days)",
                what,
                _fmt(pl.col("date")),
                pl.col("days_after_last_dose"),
                pl.col("drug"),
                _fmt(pl.col("last_dose")),
                pl.lit(config.refractory_window_days),
            )
        )
    )
    return episodes.with_columns(clause=pl.lit("F1"), evidence=evidence)


def first_response_dates(line_summary: pl.DataFrame) -> pl.DataFrame:
    """Date of the first confirmed response of MR or better per patient (null if never)."""
    return (
        line_summary.filter(pl.col("reached_mr").fill_null(False))
        .group_by("patient_id")
        .agg(first_response_date=pl.col("first_response_date").min())
    )


def nonresponsive_lines(
    lines: pl.DataFrame,
    line_summary: pl.DataFrame,
    line_drugs: pl.DataFrame,
    *,
    config: MyelomaCourseConfig = _DEFAULT,
) -> pl.DataFrame:
    """Finished lines whose best confirmed response stayed below MR (F2, F4).

    A line counts once it has finished (a next line started or every drug stopped), with at least
    ``config.nonresponse_min_assessments`` evaluable assessments. ``known_date`` is the day the
    non-response was known: the next line's start, else the day after the line's end.
    """
    summary = line_summary.select(
        "patient_id",
        pl.col("line").cast(pl.Int32),
        "best_response",
        "reached_mr",
        "evaluable_assessments",
    )
    longest = (
        line_drugs.filter(pl.col("kind") != "steroid")
        .group_by("patient_id", "line")
        .agg(longest_days=pl.col("days_in_line").max())
    )
    return (
        lines.select(
            "patient_id", pl.col("line").cast(pl.Int32), "start_date", "end_date", "next_start_date"
        )
        .join(summary, on=["patient_id", "line"], how="inner")
        .join(longest, on=["patient_id", "line"], how="left")
        .filter(
            (pl.col("next_start_date").is_not_null() | pl.col("end_date").is_not_null())
            & ~pl.col("reached_mr").fill_null(False)
            & pl.col("best_response").is_in(("SD", "PD"))
            & (pl.col("evaluable_assessments") >= config.nonresponse_min_assessments)
        )
        .with_columns(
            known_date=pl.coalesce("next_start_date", pl.col("end_date") + pl.duration(days=1))
        )
    )


def _nonresponse_clause(
    nonresponsive: pl.DataFrame, line_drugs: pl.DataFrame, config: MyelomaCourseConfig
) -> pl.DataFrame:
    """F2: drugs given long enough in a non-responsive line."""
    return (
        nonresponsive.select("patient_id", "line", "best_response", "evaluable_assessments")
        .join(line_drugs.filter(pl.col("kind") != "steroid"), on=["patient_id", "line"])
        .filter(pl.col("days_in_line") >= config.nonresponse_min_days)
        .select(
            "patient_id",
            "drug",
            "drug_classes",
            pl.col("last_dose").alias("date"),
            pl.lit("F2").alias("clause"),
            "line",
            "last_dose",
            pl.lit(0, pl.Int64).alias("days_after_last_dose"),
            pl.format(
                "no response to {} in line {}: best response {} after {} days on it "
                "({} evaluable assessments)",
                pl.col("drug"),
                pl.col("line"),
                pl.col("best_response"),
                pl.col("days_in_line"),
                pl.col("evaluable_assessments"),
            ).alias("evidence"),
        )
    )


def derive_refractoriness(
    treatments: pl.DataFrame,
    events: pl.DataFrame,
    nonresponsive: pl.DataFrame,
    line_drugs: pl.DataFrame,
    *,
    config: MyelomaCourseConfig = _DEFAULT,
) -> Refractoriness:
    """F1–F3 per drug, and which progression events happened on therapy.

    Parameters
    ----------
    treatments:
        Canonical treatments.
    events:
        Progression events (:func:`relapsewatch.course.myeloma.relapses.progression_events`).
    nonresponsive:
        From :func:`nonresponsive_lines` (used when ``config.refractory_include_nonresponse``).
    line_drugs:
        ``Lines.line_drugs``.
    """
    rows = _drug_rows(treatments, config)
    f1 = _progression_clause(rows, events, config)
    on_therapy = f1.group_by("patient_id", "date").agg(
        on_therapy=pl.col("within").any(), days_after_therapy=pl.col("days_after_last_dose").min()
    )
    events_out = events.join(on_therapy, on=["patient_id", "date"], how="left").with_columns(
        pl.col("on_therapy").fill_null(False)
    )
    f1_episodes = _progression_evidence(f1.filter(pl.col("within")), config)
    parts = [f1_episodes.select(list(_EPISODES)).cast(_EPISODES)]  # type: ignore[arg-type]
    if config.refractory_include_nonresponse:
        parts.append(_nonresponse_clause(nonresponsive, line_drugs, config).cast(_EPISODES))  # type: ignore[arg-type]
    episodes = pl.concat(parts).sort("patient_id", "drug", "date", "clause")
    refractory = episodes.unique(["patient_id", "drug"], keep="first", maintain_order=True).rename(
        {"date": "since"}
    )
    return Refractoriness(episodes=episodes, refractory=refractory, events=events_out)


def refractory_conditions(refractory: pl.DataFrame) -> pl.DataFrame:
    """Atomic refractory conditions (long): ``<drug>_refractory`` for the named drugs and
    ``<class>_refractory`` for the tracked classes, each from its earliest drug."""
    per_drug = refractory.filter(pl.col("drug").is_in(NAMED_DRUGS)).select(
        "patient_id",
        (pl.col("drug").str.replace_all(" ", "_") + "_refractory").alias("condition"),
        "since",
        pl.col("clause").alias("rule"),
        "evidence",
    )
    per_class = (
        refractory.explode("drug_classes")
        .filter(pl.col("drug_classes").is_in(TRACKED_CLASSES))
        .sort("since", "drug")
        .group_by("patient_id", pl.col("drug_classes").alias("cls"), maintain_order=True)
        .agg(
            pl.col("since").first(),
            pl.col("clause").first().alias("rule"),
            pl.format("{}: {}", pl.col("drug"), pl.col("evidence")).first().alias("evidence"),
        )
        .select(
            "patient_id",
            (pl.col("cls") + "_refractory").alias("condition"),
            "since",
            "rule",
            "evidence",
        )
    )
    return pl.concat([per_drug.cast(CONDITIONS), per_class.cast(CONDITIONS)])  # type: ignore[arg-type]


def patient_states(
    points: pl.DataFrame,
    events: pl.DataFrame,
    nonresponsive: pl.DataFrame,
    first_response: pl.DataFrame,
) -> pl.DataFrame:
    """F4 evaluated at each ``points`` row (``patient_id, at``).

    Returns ``points`` with ``primary_refractory``, ``primary_refractory_type``
    (``progressive`` / ``non_progressive``), ``relapsed_and_refractory``, ``relapsed`` and
    ``refractory_state`` (one of those names, or ``none``).

    Examples
    --------
    Ex-6: non-response in line 1 (known 2024-03-25) with no response yet: primary refractory.

    >>> import datetime as dt
    >>> d = dt.date
    >>> pts = pl.DataFrame({"patient_id": ["p"], "at": [d(2024, 3, 25)]})
    >>> ev = pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date,
    ...                           "on_therapy": pl.Boolean})
    >>> nr = pl.DataFrame({"patient_id": ["p"], "line": [1], "known_date": [d(2024, 3, 25)]})
    >>> fr = pl.DataFrame(schema={"patient_id": pl.String, "first_response_date": pl.Date})
    >>> patient_states(pts, ev, nr, fr).select("refractory_state", "primary_refractory_type").row(0)
    ('primary_refractory', 'non_progressive')
    """
    base = (
        points.select("patient_id", "at")
        .with_row_index("__point")
        .join(
            first_response.select("patient_id", "first_response_date"), on="patient_id", how="left"
        )
    )
    responded = (pl.col("first_response_date") < pl.col("at")).fill_null(False)
    ev = (
        base.join(events.select("patient_id", "date", "on_therapy"), on="patient_id")
        .filter(pl.col("date") <= pl.col("at"))
        .group_by("__point")
        .agg(
            any_event=pl.len() > 0,
            refractory_relapse=(
                pl.col("on_therapy")
                & (pl.col("date") > pl.col("first_response_date")).fill_null(False)
            ).any(),
        )
    )
    nr = (
        base.join(nonresponsive.select("patient_id", "line", "known_date"), on="patient_id")
        .filter(pl.col("known_date") <= pl.col("at"))
        .group_by("__point")
        .agg(
            any_nonresponse=pl.len() > 0,
            later_nonresponse=(
                (pl.col("line") >= 2)
                & (pl.col("known_date") > pl.col("first_response_date")).fill_null(False)
            ).any(),
        )
    )
    out = (
        base.join(ev, on="__point", how="left")
        .join(nr, on="__point", how="left")
        .with_columns(
            pl.col(
                "any_event", "refractory_relapse", "any_nonresponse", "later_nonresponse"
            ).fill_null(False)
        )
    )
    primary = ~responded & (pl.col("any_event") | pl.col("any_nonresponse"))
    rr = responded & (pl.col("refractory_relapse") | pl.col("later_nonresponse"))
    out = (
        out.with_columns(primary_refractory=primary, relapsed_and_refractory=rr)
        .with_columns(
            primary_refractory_type=pl.when(primary & pl.col("any_event"))
            .then(pl.lit("progressive"))
            .when(primary)
            .then(pl.lit("non_progressive")),
            relapsed=pl.col("any_event")
            & ~pl.col("primary_refractory")
            & ~pl.col("relapsed_and_refractory"),
        )
        .with_columns(
            refractory_state=pl.when(pl.col("primary_refractory"))
            .then(pl.lit("primary_refractory"))
            .when(pl.col("relapsed_and_refractory"))
            .then(pl.lit("relapsed_and_refractory"))
            .when(pl.col("relapsed"))
            .then(pl.lit("relapsed"))
            .otherwise(pl.lit("none")),
        )
    )
    return out.sort("__point").select(
        *points.columns,
        "primary_refractory",
        "primary_refractory_type",
        "relapsed_and_refractory",
        "relapsed",
        "refractory_state",
    )
