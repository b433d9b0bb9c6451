"""Relapse categories other than PD: X1 relapse from CR, X2 relapse from MRD negativity, X3
candidate CRAB signals and adjudicated clinical relapse (``docs/criteria.md#x1``).

None of these counts as a numbered relapse (K1); they are recorded with readable evidence.
"""

from __future__ import annotations

import polars as pl

from relapsewatch.course.myeloma.assessments import CRAB_TESTS, IMAGING_FINDINGS
from relapsewatch.course.myeloma.exact import compare, format_micro
from relapsewatch.course.myeloma.rules import Criteria
from relapsewatch.course.myeloma.timepoint import CATEGORY, RANK

__all__ = [
    "clinical_relapses",
    "crab_signals",
    "place_in_lines",
    "relapse_from_cr",
    "relapse_from_mrd",
    "with_relapse_signs",
]

_DAY = "%Y-%m-%d"


def place_in_lines(frame: pl.DataFrame, lines: pl.DataFrame, *, after_start: bool) -> pl.DataFrame:
    """Add ``line``, ``start_date`` and ``next_start_date`` to dated rows; rows before line 1
    are dropped. With ``after_start`` a row dated on a line start is that line's baseline and is
    dropped too (on-treatment rows only)."""
    bounds = lines.select("patient_id", "line", "start_date", "next_start_date").sort("start_date")
    placed = (
        frame.sort("date")
        .join_asof(
            bounds,
            left_on="date",
            right_on="start_date",
            by="patient_id",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("line").is_not_null())
    )
    if after_start:
        placed = placed.filter(pl.col("date") > pl.col("start_date"))
    return placed


def with_relapse_signs(frame: pl.DataFrame, *, rules: Criteria) -> pl.DataFrame:
    """Add ``lab_sign`` (M-protein back on immunofixation or electrophoresis; an indeterminate
    IFE from antibody interference never counts, U6), ``next_lab_sign`` (the same at the next
    evaluable assessment), ``marrow_sign`` (plasma cells ≥ 5 %) and ``sign_text``."""
    marrow = rules["X1"].threshold("marrow")
    lab_sign = (
        (pl.col("sife") == "positive")
        | (pl.col("uife") == "positive")
        | (pl.col("s") > 0)
        | pl.col("s_nq")
        | (pl.col("u") > 0)
        | pl.col("u_nq")
    ).fill_null(False)
    marrow_sign = compare(pl.col("bmpc"), marrow.op, marrow.micro).fill_null(False)
    pieces = [
        pl.when(pl.col("sife") == "positive").then(pl.lit("serum immunofixation positive")),
        pl.when(pl.col("uife") == "positive").then(pl.lit("urine immunofixation positive")),
        pl.when(pl.col("s_nq"))
        .then(pl.lit("serum M-protein detected, not quantifiable"))
        .when(pl.col("s") > 0)
        .then(
            pl.concat_str([pl.lit("serum M-protein "), format_micro(pl.col("s")), pl.lit(" g/dL")])
        ),
        pl.when(pl.col("u_nq"))
        .then(pl.lit("urine M-protein detected, not quantifiable"))
        .when(pl.col("u") > 0)
        .then(
            pl.concat_str(
                [pl.lit("urine M-protein "), format_micro(pl.col("u")), pl.lit(" mg/24h")]
            )
        ),
        pl.when(marrow_sign).then(
            pl.concat_str(
                [pl.lit("marrow plasma cells "), format_micro(pl.col("bmpc")), pl.lit("%")]
            )
        ),
        pl.when(pl.col("imaging").is_not_null()).then(
            pl.concat_str(
                [
                    pl.col("imaging").str.replace_all("_", " ").str.replace_all(r"\+", " and "),
                    pl.lit(" on imaging"),
                ]
            )
        ),
    ]
    return frame.with_columns(
        lab_sign=lab_sign,
        marrow_sign=marrow_sign,
        sign_text=pl.concat_str(pieces, separator=", ", ignore_nulls=True),
    ).with_columns(
        next_lab_sign=pl.col("lab_sign").gather(pl.col("next_row")).fill_null(False),
        next_sign_text=pl.col("sign_text").gather(pl.col("next_row")),
    )


def _first_event(candidates: pl.DataFrame, since: str, label: pl.Expr, rule: str) -> pl.DataFrame:
    """The first event per line with readable evidence."""
    immediate = pl.col("marrow_sign") | pl.col("imaging").is_not_null()
    return (
        candidates.sort("patient_id", "line", "date")
        .group_by("patient_id", "line", maintain_order=True)
        .first()
        .with_columns(
            confirmed_date=pl.when(immediate).then("date").otherwise("next_date"),
            criterion=pl.concat_str(
                [
                    pl.col("sign_text"),
                    pl.lit(" on "),
                    pl.col("date").dt.to_string(_DAY),
                    pl.when(immediate)
                    .then(pl.lit(" (needs no second test)"))
                    .otherwise(
                        pl.concat_str(
                            [
                                pl.lit("; again on "),
                                pl.col("next_date").dt.to_string(_DAY),
                                pl.lit(": "),
                                pl.col("next_sign_text"),
                            ]
                        )
                    ),
                    pl.lit("; after "),
                    label,
                    pl.lit(" from "),
                    pl.col(since).dt.to_string(_DAY),
                    pl.lit(f"; not counted as a numbered relapse ({rule})"),
                ]
            ),
        )
    )


def relapse_from_cr(frame: pl.DataFrame) -> pl.DataFrame:
    """X1: the first relapse from a confirmed CR/sCR per line.

    Columns: ``patient_id, line, date, confirmed_date, cr_date, criterion``. Signs from
    immunofixation or electrophoresis need the next evaluable assessment to show a sign too (the
    IMWG 2006 note); marrow ≥ 5 % and imaging need no second test (C1).
    """
    own = frame.filter(~pl.col("is_tail"))
    cr = (
        own.filter(pl.col("conf") >= RANK["CR"])
        .group_by("group")
        .agg(
            cr_date=pl.col("date").min(),
            cr_category=pl.col("conf").max(),
        )
    )
    candidates = own.join(cr, on="group").filter(
        (pl.col("date") > pl.col("cr_date"))
        & (
            pl.col("marrow_sign")
            | pl.col("imaging").is_not_null()
            | (pl.col("lab_sign") & pl.col("next_lab_sign"))
        )
    )
    label = pl.concat_str(
        [
            pl.lit("confirmed "),
            pl.col("cr_category").replace_strict(CATEGORY, return_dtype=pl.String),
        ]
    )
    events = _first_event(candidates, "cr_date", label, "X1")
    return events.select("patient_id", "line", "date", "confirmed_date", "cr_date", "criterion")


def relapse_from_mrd(frame: pl.DataFrame, mrd: pl.DataFrame) -> pl.DataFrame:
    """X2: the first relapse from MRD negativity (an IMWG MRD-negative result in CR) per line.

    Columns: ``patient_id, line, date, confirmed_date, mrd_negative_date, criterion``. Signs: MRD
    positive by NGF or NGS, a new lesion on imaging, M-protein back on immunofixation or
    electrophoresis at two consecutive assessments, or marrow plasma cells ≥ 5 % not reported as
    not clonal.
    """
    negatives = (
        mrd.filter(pl.col("category") == "mrd_negative")
        .group_by("patient_id", "line")
        .agg(mrd_negative_date=pl.col("date").min())
    )
    own = frame.filter(~pl.col("is_tail")).join(negatives, on=["patient_id", "line"])
    clonal_marrow = pl.col("marrow_sign") & (pl.col("clonality") != "not_clonal").fill_null(True)
    lab = own.filter(
        (pl.col("date") > pl.col("mrd_negative_date"))
        & (
            clonal_marrow
            | pl.col("imaging").is_not_null()
            | (pl.col("lab_sign") & pl.col("next_lab_sign"))
        )
    ).with_columns(marrow_sign=clonal_marrow)
    lab_events = _first_event(lab, "mrd_negative_date", pl.lit("MRD negativity"), "X2").select(
        "patient_id", "line", "date", "confirmed_date", "mrd_negative_date", "criterion"
    )
    positives = (
        mrd.join(negatives, on=["patient_id", "line"])
        .filter(
            (pl.col("result") == "positive")
            & pl.col("method").is_in(["NGF", "NGS"])
            & (pl.col("date") > pl.col("mrd_negative_date"))
        )
        .select(
            "patient_id",
            "line",
            "date",
            confirmed_date="date",
            mrd_negative_date="mrd_negative_date",
            criterion=pl.concat_str(
                [
                    pl.lit("MRD positive by "),
                    pl.col("method"),
                    pl.lit(" on "),
                    pl.col("date").dt.to_string(_DAY),
                    pl.lit("; after MRD negativity from "),
                    pl.col("mrd_negative_date").dt.to_string(_DAY),
                    pl.lit("; not counted as a numbered relapse (X2)"),
                ]
            ),
        )
    )
    return (
        pl.concat([lab_events, positives])
        .sort("patient_id", "line", "date")
        .group_by("patient_id", "line", maintain_order=True)
        .first()
    )


def crab_signals(
    daily: pl.DataFrame,
    findings: pl.DataFrame,
    lines: pl.DataFrame,
    baselines: pl.DataFrame,
    *,
    rules: Criteria,
) -> pl.DataFrame:
    """X3: candidate CRAB and imaging signals during each line, never a relapse by themselves.

    Columns: ``patient_id, line, date, signal`` (``hypercalcaemia``, ``haemoglobin_drop``,
    ``creatinine_rise``, ``new_bone_lesion``, ``new_plasmacytoma``, ``plasmacytoma_increase``),
    ``value`` and ``baseline`` (canonical units, Float64), ``criterion``.
    """
    x3 = rules["X3"]
    calcium, haemoglobin, creatinine = (
        x3.threshold(n) for n in ("calcium", "haemoglobin", "creatinine")
    )
    labs = place_in_lines(
        daily.filter(pl.col("test").is_in(CRAB_TESTS)).select(
            "patient_id", "date", "test", "value"
        ),
        lines,
        after_start=True,
    ).join(
        baselines.select("patient_id", "line", "hb0", "creat0"),
        on=["patient_id", "line"],
        how="left",
    )
    baseline = (
        pl.when(pl.col("test") == "hemoglobin")
        .then("hb0")
        .when(pl.col("test") == "creatinine")
        .then("creat0")
    )
    signal = (
        pl.when((pl.col("test") == "calcium") & compare(pl.col("value"), calcium.op, calcium.micro))
        .then(pl.lit("hypercalcaemia"))
        .when(
            (pl.col("test") == "hemoglobin")
            & compare(pl.col("hb0") - pl.col("value"), haemoglobin.op, haemoglobin.micro)
        )
        .then(pl.lit("haemoglobin_drop"))
        .when(
            (pl.col("test") == "creatinine")
            & compare(pl.col("value") - pl.col("creat0"), creatinine.op, creatinine.micro)
        )
        .then(pl.lit("creatinine_rise"))
    )
    lab_signals = (
        labs.with_columns(signal=signal, baseline_micro=baseline)
        .filter(pl.col("signal").is_not_null())
        .select(
            "patient_id",
            "line",
            "date",
            "signal",
            value=pl.col("value").cast(pl.Float64) / 1_000_000,
            baseline=pl.col("baseline_micro").cast(pl.Float64) / 1_000_000,
            criterion=pl.concat_str(
                [
                    pl.when(pl.col("signal") == "hypercalcaemia")
                    .then(
                        pl.concat_str(
                            [
                                pl.lit("calcium "),
                                format_micro(pl.col("value")),
                                pl.lit(f" mg/dL ({calcium})"),
                            ]
                        )
                    )
                    .when(pl.col("signal") == "haemoglobin_drop")
                    .then(
                        pl.concat_str(
                            [
                                pl.lit("haemoglobin "),
                                format_micro(pl.col("baseline_micro")),
                                pl.lit(" -> "),
                                format_micro(pl.col("value")),
                                pl.lit(f" g/dL ({haemoglobin})"),
                            ]
                        )
                    )
                    .otherwise(
                        pl.concat_str(
                            [
                                pl.lit("creatinine "),
                                format_micro(pl.col("baseline_micro")),
                                pl.lit(" -> "),
                                format_micro(pl.col("value")),
                                pl.lit(f" mg/dL ({creatinine})"),
                            ]
                        )
                    ),
                    pl.lit("; a candidate sign only: the care team decides if myeloma caused it"),
                ]
            ),
        )
    )
    imaging = place_in_lines(
        findings.filter(pl.col("finding").is_in(IMAGING_FINDINGS)).select(
            "patient_id", "date", "finding", "detail"
        ),
        lines,
        after_start=True,
    ).select(
        "patient_id",
        "line",
        "date",
        signal="finding",
        value=pl.lit(None, dtype=pl.Float64),
        baseline=pl.lit(None, dtype=pl.Float64),
        criterion=pl.concat_str(
            [
                pl.col("finding").str.replace_all("_", " "),
                pl.when(pl.col("detail").is_not_null())
                .then(pl.concat_str([pl.lit(" ("), pl.col("detail"), pl.lit(")")]))
                .otherwise(pl.lit("")),
                pl.lit(" on imaging; also progression by imaging (P5)"),
            ]
        ),
    )
    return pl.concat([lab_signals, imaging]).sort("patient_id", "date", "signal")


def clinical_relapses(findings: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """Adjudicated clinical relapses (X3) passed through with their line.

    Columns: ``patient_id, line, date, criterion``.
    """
    return (
        place_in_lines(
            findings.filter(pl.col("finding") == "clinical_relapse").select(
                "patient_id", "date", "detail"
            ),
            lines,
            after_start=False,
        )
        .select(
            "patient_id",
            "line",
            "date",
            criterion=pl.concat_str(
                [
                    pl.lit("clinical relapse recorded by the care team"),
                    pl.when(pl.col("detail").is_not_null())
                    .then(pl.concat_str([pl.lit(": "), pl.col("detail")]))
                    .otherwise(pl.lit("")),
                ]
            ),
        )
        .sort("patient_id", "date")
    )
