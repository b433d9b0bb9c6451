"""Relapse categories other than PD: X1 relapse from CR, X2 relapse from MRD negativity, X3
candidate CRAB signals and adjudicated clinical relapse (``docs/criteria.md#x1``).

None of these counts as a numbered relapse (K1); they are recorded with readable evidence.
Frames are keyed by ``pid`` (see :class:`~.assessments.PatientIndex`).
"""

from __future__ import annotations

import polars as pl

from relapsewatch.course.myeloma.assessments import (
    IMAGING_FINDINGS,
    NOT_CLONAL,
    POSITIVE,
    TEST_CODE,
    day_key,
)
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
_LINE_BOUNDS = ("line", "start_date", "next_start_date")
#: Columns the relapse events read (selected before filtering the wide frame).
_EVENT_COLUMNS = (
    "pid", "line", "group", "date", "is_tail", "conf", "next_row", "next_date", "lab_sign",
    "next_lab_sign", "marrow_sign", "imaging", "sife", "uife", "s", "s_nq", "u", "u_nq", "bmpc",
    "clonality",
)  # fmt: skip


def place_in_lines(
    frame: pl.DataFrame,
    lines: pl.DataFrame,
    *,
    after_start: bool,
    start_day_to_previous: bool = False,
) -> pl.DataFrame:
    """Add ``group`` (the line's position in ``lines``), ``line``, ``start_date`` and
    ``next_start_date`` to rows with ``pid`` and ``date``; rows before line 1 are dropped.

    ``lines`` is encoded and sorted by ``pid, start_date``. With ``after_start`` a row dated on
    a line start is that line's baseline and is dropped too (on-treatment rows only). With
    ``start_day_to_previous`` a row dated on a line start belongs to the line before (an event
    that made the treatment change).
    """
    starts = lines.select(
        kstart=day_key(pl.col("pid"), pl.col("start_date")),
        group=pl.int_range(pl.len(), dtype=pl.UInt32),
    )
    shift = 1 if start_day_to_previous else 0
    placed = (
        frame.with_columns(k=day_key(pl.col("pid"), pl.col("date")) - shift)
        .sort("k")
        .join_asof(starts, left_on="k", right_on="kstart", strategy="backward",
                   check_sortedness=False)
        .filter((pl.col("k") // (1 << 32)) == (pl.col("kstart") // (1 << 32)))
        .drop("k", "kstart")
    )  # fmt: skip
    placed = placed.with_columns(lines.get_column(c).gather(placed["group"]) for c in _LINE_BOUNDS)
    if after_start:
        placed = placed.filter(pl.col("date") > pl.col("start_date"))
    return placed


def with_relapse_signs(frame: pl.DataFrame, *, rules: Criteria) -> pl.DataFrame:
    """Add ``lab_sign`` (M-protein back on immunofixation or electrophoresis; an indeterminate
    IFE from antibody interference never counts, U6), ``next_lab_sign`` (the same at the next
    evaluable assessment) and ``marrow_sign`` (plasma cells ≥ 5 %)."""
    marrow = rules["X1"].threshold("marrow")
    lab_sign = (
        (pl.col("sife") == POSITIVE)
        | (pl.col("uife") == POSITIVE)
        | (pl.col("s") > 0)
        | pl.col("s_nq")
        | (pl.col("u") > 0)
        | pl.col("u_nq")
    ).fill_null(False)
    marrow_sign = compare(pl.col("bmpc"), marrow.op, marrow.micro).fill_null(False)
    return frame.with_columns(lab_sign=lab_sign, marrow_sign=marrow_sign).with_columns(
        next_lab_sign=pl.col("lab_sign").gather(pl.col("next_row")).fill_null(False)
    )


def _sign_text() -> pl.Expr:
    """The relapse signs of an assessment in words."""
    pieces = [
        pl.when(pl.col("sife") == POSITIVE).then(pl.lit("serum immunofixation positive")),
        pl.when(pl.col("uife") == POSITIVE).then(pl.lit("urine immunofixation positive")),
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
        pl.when(pl.col("marrow_sign")).then(
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
    return pl.concat_str(pieces, separator=", ", ignore_nulls=True)


def _first_event(
    frame: pl.DataFrame, candidates: pl.DataFrame, since: str, label: pl.Expr, rule: str
) -> pl.DataFrame:
    """The first event per line with readable evidence (signs of the event and its
    confirming assessment)."""
    immediate = pl.col("marrow_sign") | pl.col("imaging").is_not_null()
    first = candidates.sort("group", "date").filter(
        pl.col("group") != pl.col("group").shift(1).fill_null(-1)
    )
    next_rows = first["next_row"].fill_null(0)
    next_text = frame[next_rows].select(_sign_text()).to_series()
    return first.with_columns(sign_text=_sign_text(), next_sign_text=next_text).with_columns(
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


def relapse_from_cr(frame: pl.DataFrame) -> pl.DataFrame:
    """X1: the first relapse from a confirmed CR/sCR per line.

    Columns: ``pid, line, date, confirmed_date, cr_date, criterion``. Signs from
    immunofixation or electrophoresis need the next evaluable assessment to show a sign too (the
    IMWG 2006 note); marrow ≥ 5 % and imaging need no second test (C1).
    """
    own = ~pl.col("is_tail")
    # the first CR date and best CR category of each line, from the (few) rows in CR; lines
    # never in CR have no candidates
    cr = (
        frame.select("group", "date", "conf", "is_tail")
        .filter(own & (pl.col("conf") >= RANK["CR"]))
        .group_by("group")
        .agg(cr_date=pl.col("date").min(), cr_category=pl.col("conf").max())
    )
    signs = (
        pl.col("marrow_sign")
        | pl.col("imaging").is_not_null()
        | (pl.col("lab_sign") & pl.col("next_lab_sign"))
    )
    # only the lines that reached CR are searched (the rows of the others are not gathered)
    in_cr_line = pl.col("group").is_in(cr["group"].implode())
    candidates = (
        frame.select(_EVENT_COLUMNS)
        .filter(own & signs & in_cr_line)
        .join(cr, on="group", how="inner", maintain_order="left")
        .filter(pl.col("date") > pl.col("cr_date"))
    )
    label = pl.concat_str(
        [
            pl.lit("confirmed "),
            pl.col("cr_category").replace_strict(CATEGORY, return_dtype=pl.String),
        ]
    )
    events = _first_event(frame, candidates, "cr_date", label, "X1")
    return events.select("pid", "line", "date", "confirmed_date", "cr_date", "criterion")


def relapse_from_mrd(frame: pl.DataFrame, mrd: pl.DataFrame) -> pl.DataFrame:
    """X2: the first relapse from MRD negativity (an IMWG MRD-negative result in CR) per line.

    Columns: ``pid, line, date, confirmed_date, mrd_negative_date, criterion``. Signs: MRD
    positive by NGF or NGS, a new lesion on imaging, M-protein back on immunofixation or
    electrophoresis at two consecutive assessments, or marrow plasma cells ≥ 5 % not reported as
    not clonal.
    """
    negatives = (
        mrd.filter(pl.col("category") == "mrd_negative")
        .group_by("group")
        .agg(mrd_negative_date=pl.col("date").min())
    )
    columns = ("pid", "line", "date", "confirmed_date", "mrd_negative_date", "criterion")
    if negatives.height == 0:
        return pl.DataFrame(schema={"pid": pl.UInt32, "line": pl.Int64, "date": pl.Date,
                                    "confirmed_date": pl.Date, "mrd_negative_date": pl.Date,
                                    "criterion": pl.String})  # fmt: skip
    own = frame.select(_EVENT_COLUMNS).filter(~pl.col("is_tail")).join(negatives, on="group")
    clonal_marrow = pl.col("marrow_sign") & (pl.col("clonality") != NOT_CLONAL).fill_null(True)
    lab = own.filter(
        (pl.col("date") > pl.col("mrd_negative_date"))
        & (
            clonal_marrow
            | pl.col("imaging").is_not_null()
            | (pl.col("lab_sign") & pl.col("next_lab_sign"))
        )
    ).with_columns(marrow_sign=clonal_marrow)
    lab_events = _first_event(frame, lab, "mrd_negative_date", pl.lit("MRD negativity"), "X2")
    positives = (
        mrd.join(negatives, on="group")
        .filter(
            (pl.col("result") == "positive")
            & pl.col("method").is_in(["NGF", "NGS"])
            & (pl.col("date") > pl.col("mrd_negative_date"))
        )
        .with_columns(
            confirmed_date="date",
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
    both = pl.concat([lab_events.select("group", *columns), positives.select("group", *columns)])
    return (
        both.sort("group", "date")
        .filter(pl.col("group") != pl.col("group").shift(1).fill_null(-1))
        .select(columns)
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

    Columns: ``pid, line, date, signal`` (``hypercalcaemia``, ``haemoglobin_drop``,
    ``creatinine_rise``, ``new_bone_lesion``, ``new_plasmacytoma``, ``plasmacytoma_increase``),
    ``value`` and ``baseline`` (canonical units, Float64), ``criterion``.
    """
    x3 = rules["X3"]
    calcium, haemoglobin, creatinine = (
        x3.threshold(n) for n in ("calcium", "haemoglobin", "creatinine")
    )
    codes = {name: TEST_CODE[name] for name in ("calcium", "hemoglobin", "creatinine")}
    test = pl.col("test")
    labs = place_in_lines(
        daily.filter(test.is_in(list(codes.values()))).select("pid", "date", "test", "value"),
        lines,
        after_start=True,
    )
    labs = labs.with_columns(
        baselines.get_column(c).gather(labs["group"]) for c in ("hb0", "creat0")
    )
    baseline = (
        pl.when(test == codes["hemoglobin"])
        .then("hb0")
        .when(test == codes["creatinine"])
        .then("creat0")
    )
    signal = (
        pl.when((test == codes["calcium"]) & compare(pl.col("value"), calcium.op, calcium.micro))
        .then(pl.lit("hypercalcaemia"))
        .when(
            (test == codes["hemoglobin"])
            & compare(pl.col("hb0") - pl.col("value"), haemoglobin.op, haemoglobin.micro)
        )
        .then(pl.lit("haemoglobin_drop"))
        .when(
            (test == codes["creatinine"])
            & compare(pl.col("value") - pl.col("creat0"), creatinine.op, creatinine.micro)
        )
        .then(pl.lit("creatinine_rise"))
    )

    def change(label: str, unit: str, threshold: str) -> pl.Expr:
        return pl.concat_str(
            [
                pl.lit(f"{label} "),
                format_micro(pl.col("baseline_micro")),
                pl.lit(" -> "),
                format_micro(pl.col("value")),
                pl.lit(f" {unit} ({threshold})"),
            ]
        )

    lab_signals = (
        labs.with_columns(signal=signal, baseline_micro=baseline)
        .filter(pl.col("signal").is_not_null())
        .select(
            "pid",
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
                    .then(change("haemoglobin", "g/dL", str(haemoglobin)))
                    .otherwise(change("creatinine", "mg/dL", str(creatinine))),
                    pl.lit("; a candidate sign only: the care team decides if myeloma caused it"),
                ]
            ),
        )
    )
    imaging = place_in_lines(
        findings.filter(pl.col("finding").is_in(IMAGING_FINDINGS)).select(
            "pid", "date", "finding", "detail"
        ),
        lines,
        after_start=True,
    ).select(
        "pid",
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
    return pl.concat([lab_signals, imaging]).sort("pid", "date", "signal")


def clinical_relapses(findings: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """Adjudicated clinical relapses (X3) passed through with their line (one dated on a line
    start belongs to the line before: it is why the treatment changed).

    Columns: ``pid, line, date, criterion``.
    """
    return (
        place_in_lines(
            findings.filter(pl.col("finding") == "clinical_relapse").select(
                "pid", "date", "detail"
            ),
            lines,
            after_start=False,
            start_day_to_previous=True,
        )
        .select(
            "pid",
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
        .sort("pid", "date")
    )
