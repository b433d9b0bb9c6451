"""Validate raw tables and turn them into canonical frames (see :mod:`relapsewatch.schema`).

Raw tables are what a file holds: text cells (CSV) or typed columns (Parquet), plus a ``__row``
column with the spreadsheet row number. Every problem is reported with file, row, column, what
was found, what was expected and the fix; nothing is dropped or guessed silently.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

import polars as pl

from relapsewatch import schema
from relapsewatch.errors import Problem, UnitError
from relapsewatch.io.checks import ROW, ProblemLog, blank, clean_text, collect, collect_messages
from relapsewatch.vocab import drugs
from relapsewatch.vocab.analytes import ANALYTES, analyte_lookup_frame
from relapsewatch.vocab.units import (
    MIXUP_SERUM_M_PROTEIN_G_DL,
    canonical_unit_label,
    conversion_factor,
    convert,
)

__all__ = ["normalise_table", "parse_date"]

_BELOW = r"^<\s*=?\s*([+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)$"
_NONQUANT_WORDS = (
    "trace",
    "detected",
    "present",
    "present, not quantified",
    "detected, not quantifiable",
    "detected_nonquantifiable",
    "nonquantifiable",
)
_EARLIEST = dt.date(1900, 1, 1)


def parse_date(column: str, dtype: pl.DataType) -> pl.Expr:
    """Parse an ISO date strictly (a Date column passes through)."""
    if dtype == pl.Date:
        return pl.col(column)
    return (
        pl.col(column)
        .cast(pl.String)
        .str.strip_chars()
        .str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        .alias(column)
    )


def _check_header(raw: pl.DataFrame, table: schema.FileTable, file: str, log: ProblemLog) -> bool:
    ok = True
    for name in table.required_columns:
        if name not in raw.columns:
            log.add(
                Problem(
                    file,
                    None,
                    name,
                    "no such column",
                    f"a column named '{name}'",
                    f"add the column '{name}' to the header ({table.columns[0].name}, ... see "
                    "docs/data-contract.md)",
                )
            )
            ok = False
    for name in raw.columns:
        if name != ROW and name not in table.column_names:
            log.add(
                Problem(
                    file,
                    None,
                    name,
                    f"an extra column '{name}'",
                    f"only the columns {', '.join(table.column_names)}",
                    "the column was not read; rename it if it is one of the expected columns, "
                    "or remove it",
                    severity="warning",
                )
            )
    return ok


def _with_optional_columns(raw: pl.DataFrame, table: schema.FileTable) -> pl.DataFrame:
    missing = [c.name for c in table.columns if c.name not in raw.columns]
    return raw.with_columns(pl.lit(None, pl.String).alias(c) for c in missing).select(
        ROW, *table.column_names
    )


def _check_required(
    frame: pl.DataFrame, table: schema.FileTable, file: str, log: ProblemLog
) -> None:
    for column in table.columns:
        if column.required and not column.nullable:
            collect(
                frame,
                blank(column.name),
                log=log,
                file=file,
                column=column.name,
                expected=f"a value ({column.description.rstrip('.')})",
                fix=f"fill in '{column.name}'; this column may not be empty",
            )


def _check_dates(
    frame: pl.DataFrame, columns: tuple[str, ...], file: str, log: ProblemLog
) -> pl.DataFrame:
    parsed = frame.with_columns(parse_date(c, frame.schema[c]).alias(f"__{c}") for c in columns)
    for c in columns:
        collect(
            parsed,
            ~blank(c) & pl.col(f"__{c}").is_null(),
            log=log,
            file=file,
            column=c,
            expected="a date written YYYY-MM-DD (e.g. 2024-03-01)",
            fix="write the full date as year-month-day; partial dates are not guessed",
        )
        collect(
            parsed,
            (pl.col(f"__{c}") < _EARLIEST) | (pl.col(f"__{c}") > pl.lit(dt.date(2200, 1, 1))),
            log=log,
            file=file,
            column=c,
            expected="a date between 1900 and 2200",
            fix="check the year",
        )
    return parsed.with_columns(pl.col(f"__{c}").alias(c) for c in columns).drop(
        [f"__{c}" for c in columns]
    )


def _check_allowed(
    frame: pl.DataFrame, table: schema.FileTable, file: str, log: ProblemLog
) -> pl.DataFrame:
    """Categorical columns: case-insensitive match to the allowed spelling."""
    out = frame
    for column in table.columns:
        if column.allowed is None or column.name not in frame.columns:
            continue
        lookup = {value.lower(): value for value in column.allowed}
        canonical = (
            pl.col(column.name)
            .str.to_lowercase()
            .replace_strict(lookup, default=None, return_dtype=pl.String)
        )
        out = out.with_columns(canonical.alias(f"__{column.name}"))
        collect(
            out,
            ~blank(column.name) & pl.col(f"__{column.name}").is_null(),
            log=log,
            file=file,
            column=column.name,
            expected="one of " + ", ".join(column.allowed),
            fix=f"use one of the listed values for '{column.name}'",
        )
        out = out.with_columns(pl.col(f"__{column.name}").alias(column.name)).drop(
            f"__{column.name}"
        )
    return out


def _patients(frame: pl.DataFrame, file: str, log: ProblemLog) -> pl.DataFrame:
    dup = pl.col("patient_id").is_duplicated() & pl.col("patient_id").is_not_null()
    collect(
        frame,
        dup,
        log=log,
        file=file,
        column="patient_id",
        expected="each patient_id once",
        fix="remove or merge the duplicate patient row",
    )
    year = pl.col("birth_year").cast(pl.String).str.strip_chars()
    parsed = year.cast(pl.Int32, strict=False)
    collect(
        frame,
        year.is_not_null()
        & (year != "")
        & (parsed.is_null() | (parsed < 1900) | (parsed > dt.date.today().year)),
        log=log,
        file=file,
        column="birth_year",
        expected="a four-digit year, e.g. 1958",
        fix="write the year of birth as a number, or leave it empty",
    )
    frame = frame.with_columns(parsed.alias("birth_year"))
    return frame.select(ROW, *schema.PATIENTS)


def _classify_words(distinct: list[str]) -> tuple[dict[str, str], dict[str, float]]:
    """Result and limit for each distinct cell that is not a plain number (few in practice)."""
    results: dict[str, str] = {}
    limits: dict[str, float] = {}
    for cell in distinct:
        lower = cell.lower()
        below = re.match(_BELOW, cell)
        word = re.sub(r"[\s-]+", "_", lower)
        if lower in _NONQUANT_WORDS or below is not None:
            results[cell] = schema.DETECTED_NONQUANTIFIABLE
            if below is not None and math.isfinite(limit := float(below.group(1))):
                limits[cell] = limit
        elif word in schema.QUALITATIVE_RESULTS:
            results[cell] = word
    return results, limits


def _measurement_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Split the value cell into a number, a qualitative result or a nonquantifiable result.

    Numbers take one strict cast (non-finite values such as 'nan' are not numbers); the few
    distinct cells that are not numbers are classified once each and mapped back.
    """
    if frame.schema["value"].is_numeric():
        number = pl.col("value").cast(pl.Float64)
        return frame.with_columns(
            pl.when(number.is_finite()).then(number).alias("__number"),
            pl.lit(None, pl.String).alias("__result"),
            pl.lit(None, pl.Float64).alias("__limit"),
        )
    text = pl.col("value").cast(pl.String)
    # parse once into the column, then drop what is not finite ('nan', 'inf')
    frame = frame.with_columns(text.cast(pl.Float64, strict=False).alias("__number"))
    number = pl.col("__number")
    frame = frame.with_columns(pl.when(number.is_finite()).then(number).alias("__number"))
    distinct = (
        frame.lazy()
        .filter(pl.col("__number").is_null() & pl.col("value").is_not_null())
        .select(text.unique())
        .collect()
        .to_series()
        .to_list()
    )
    results, limits = _classify_words(distinct)
    return frame.with_columns(
        text.replace_strict(results, default=None, return_dtype=pl.String).alias("__result")
        if results
        else pl.lit(None, pl.String).alias("__result"),
        text.replace_strict(limits, default=None, return_dtype=pl.Float64).alias("__limit")
        if limits
        else pl.lit(None, pl.Float64).alias("__limit"),
    )


def _with_unit_factors(frame: pl.DataFrame, is_qual: pl.Expr) -> pl.DataFrame:
    """``__factor`` (the exact factor to the canonical unit) or ``__unit_problem`` (why there is
    none), worked out once per distinct test and unit and mapped back by one text key.

    A number (or a '<' limit) needs a unit that fits the test; a quantitative result without a
    number ('trace') may omit the unit; a qualitative test takes no unit.
    """
    key = pl.concat_str([pl.col("test"), pl.col("unit").fill_null("\x00")], separator="\x1f")
    frame = frame.with_columns(key.alias("__unit_key"))
    pairs = frame.select("test", "unit", "__unit_key").unique("__unit_key").drop_nulls("test")
    factors: dict[str, float] = {}
    problems: dict[str, str] = {}
    for test, unit, text in pairs.iter_rows():
        try:
            factors[text] = float(conversion_factor(test, unit))
        except UnitError as exc:
            problems[text] = str(exc)
    # a unit is checked where there is a number, a unit or a qualitative test
    checked = pl.col("__has_number") | pl.col("unit").is_not_null() | is_qual
    unit_key = pl.col("__unit_key")
    return frame.with_columns(
        pl.when(checked)
        .then(unit_key.replace_strict(factors, default=None, return_dtype=pl.Float64))
        .alias("__factor"),
        pl.when(checked)
        .then(unit_key.replace_strict(problems, default=None, return_dtype=pl.String))
        .alias("__unit_problem"),
    ).drop("__unit_key")


def _measurements(frame: pl.DataFrame, file: str, log: ProblemLog) -> pl.DataFrame:
    # the canonical name of each distinct reported test, mapped back (null when unknown)
    lookup = analyte_lookup_frame(frame["test"])
    names = dict(zip(lookup["reported_test"], lookup["test"], strict=True))
    frame = frame.rename({"test": "reported_test"})
    frame = frame.with_columns(
        pl.col("reported_test")
        .replace_strict(names, default=None, return_dtype=pl.String)
        .alias("test")
    )
    collect(
        frame,
        pl.col("reported_test").is_not_null() & pl.col("test").is_null(),
        log=log,
        file=file,
        column="test",
        found="reported_test",
        expected="a canonical test name or LOINC code (e.g. serum_m_protein or 33358-3)",
        fix="use one of: " + ", ".join(ANALYTES),
    )
    frame = _measurement_values(frame)
    qualitative = [a.name for a in ANALYTES.values() if a.kind == "qualitative"]
    is_qual = pl.col("test").is_in(qualitative)
    collect(
        frame,
        pl.col("test").is_not_null()
        & ~blank("value")
        & ~is_qual
        & pl.col("__number").is_null()
        & (pl.col("__result") != schema.DETECTED_NONQUANTIFIABLE).fill_null(True),
        log=log,
        file=file,
        column="value",
        expected="a number, or '<' and a number, or 'trace' for this test",
        fix="write the number the lab reported (0 means not detected); a qualitative word "
        "belongs to an immunofixation, clonality or MRD test",
    )
    for analyte in ANALYTES.values():
        if analyte.kind != "qualitative":
            continue
        collect(
            frame,
            (pl.col("test") == analyte.name)
            & ~blank("value")
            & ~pl.col("__result").is_in(list(analyte.results)).fill_null(False),
            log=log,
            file=file,
            column="value",
            expected=f"one of {', '.join(analyte.results)} for {analyte.name}",
            fix=f"write the {analyte.label} result as one of the listed words",
        )
    frame = frame.with_columns(
        pl.when(is_qual)
        .then(pl.lit(None, pl.Float64))
        .otherwise(pl.col("__number"))
        .alias("__number")
    )
    frame = frame.with_columns(
        (pl.col("__number").is_not_null() | pl.col("__limit").is_not_null()).alias("__has_number")
    )
    frame = _with_unit_factors(frame, is_qual)
    collect_messages(
        frame,
        "__unit_problem",
        log=log,
        file=file,
        column="unit",
        found="unit",
        expected="a unit that fits the test",
    )
    collect(
        frame,
        pl.col("__number") < 0,
        log=log,
        file=file,
        column="value",
        expected="a number of 0 or more",
        fix="a concentration cannot be negative",
    )
    sensitivity_text = pl.col("sensitivity").cast(pl.String).str.strip_chars()
    sensitivity = sensitivity_text.cast(pl.Float64, strict=False)
    collect(
        frame,
        ~blank("sensitivity") & (sensitivity.is_null() | (sensitivity <= 0) | (sensitivity > 1)),
        log=log,
        file=file,
        column="sensitivity",
        expected="a fraction such as 1e-5",
        fix="write the MRD sensitivity as a number between 0 and 1 (e.g. 1e-5)",
    )
    is_mrd = pl.col("test") == "mrd"
    collect(
        frame,
        is_mrd & blank("sensitivity"),
        log=log,
        file=file,
        column="sensitivity",
        found="sensitivity",
        expected="the sensitivity of the MRD test (e.g. 1e-5)",
        fix="add the sensitivity; an MRD result means nothing without it (IMWG 2016, D5)",
    )
    method = pl.col("method").str.to_uppercase()
    collect(
        frame,
        is_mrd & ~method.is_in(["NGF", "NGS"]).fill_null(False),
        log=log,
        file=file,
        column="method",
        expected="NGF or NGS for an MRD result",
        fix="write the MRD method: NGF (next-generation flow) or NGS (sequencing)",
    )
    frame = frame.with_columns(
        convert(pl.col("__number"), pl.col("__factor")).alias("value"),
        convert(pl.col("__limit"), pl.col("__factor")).alias("limit"),
        pl.col("__result").alias("result"),
        pl.when(pl.col("test").is_not_null())
        .then(
            pl.col("test").replace_strict(
                {a.name: canonical_unit_label(a.name) for a in ANALYTES.values()},
                default=None,
                return_dtype=pl.String,
            )
        )
        .alias("__canonical_unit"),
        pl.when(is_mrd).then(method).otherwise(pl.col("method")).alias("method"),
        sensitivity.alias("sensitivity"),
    )
    mixup = (pl.col("test") == "serum_m_protein") & (pl.col("value") > MIXUP_SERUM_M_PROTEIN_G_DL)
    collect(
        frame,
        mixup,
        log=log,
        file=file,
        column="unit",
        severity="warning",
        found=pl.format("{} {}", pl.col("value"), pl.col("unit")),
        expected=f"a serum M-protein of at most {MIXUP_SERUM_M_PROTEIN_G_DL} g/dL",
        fix="this looks like a g/L value labelled g/dL (§5.1 U1); it is kept as reported and "
        "flagged probable_g_per_l_mixup: check the unit with the lab",
    )
    collect(
        frame,
        (pl.col("test") == "bm_plasma_cells") & (pl.col("value") > 100),
        log=log,
        file=file,
        column="value",
        expected="a percentage from 0 to 100",
        fix="write bone-marrow plasma cells as a percentage",
    )
    frame = frame.with_columns(
        pl.when(mixup).then(pl.lit("probable_g_per_l_mixup")).alias("flags"),
        pl.col("unit").alias("reported_unit"),
        pl.col("__canonical_unit").alias("unit"),
    )
    return frame.select(ROW, *schema.MEASUREMENTS)


def _treatments(frame: pl.DataFrame, file: str, log: ProblemLog) -> pl.DataFrame:
    frame = frame.with_columns(clean_text("therapy"))
    resolved = drugs.resolve_therapies(frame["therapy"].drop_nulls())
    unknown = resolved.filter(pl.col("therapy").is_null())["reported_therapy"].to_list()
    advice = {name: drugs.unknown_therapy_message(name) for name in unknown}
    frame = frame.with_columns(
        pl.col("therapy")
        .replace_strict(advice, default=None, return_dtype=pl.String)
        .alias("__therapy_problem")
    )
    collect_messages(
        frame,
        "__therapy_problem",
        log=log,
        file=file,
        column="therapy",
        found="therapy",
        expected="a known therapy name",
    )
    collect(
        frame,
        pl.col("end_date") < pl.col("start_date"),
        log=log,
        file=file,
        column="end_date",
        expected="an end date on or after the start date",
        fix="check the dates; swap them if they were entered the wrong way round",
    )
    frame = (
        frame.rename({"therapy": "reported_therapy"})
        .join(resolved.filter(pl.col("therapy").is_not_null()), on="reported_therapy", how="inner")
        .sort(ROW, "component")
    )
    return frame.select(ROW, *schema.TREATMENTS)


def _findings(frame: pl.DataFrame, file: str, log: ProblemLog) -> pl.DataFrame:
    return frame.with_columns(clean_text("detail")).select(ROW, *schema.FINDINGS)


def normalise_table(
    name: str, raw: pl.DataFrame, *, file: str, log: ProblemLog
) -> pl.DataFrame | None:
    """Validate one raw table and return its canonical frame (with ``__row``).

    Returns ``None`` when the header is unusable; row problems are added to ``log`` and the
    returned frame must not be used when ``log.has_errors``.
    """
    table = schema.FILE_TABLES[name]
    if not _check_header(raw, table, file, log):
        return None
    frame = _with_optional_columns(raw, table)
    frame = frame.with_columns(
        clean_text(c) for c in table.column_names if frame.schema[c] == pl.String
    )
    _check_required(frame, table, file, log)
    dates = tuple(c.name for c in table.columns if c.kind == "date")
    frame = _check_dates(frame, dates, file, log)
    frame = _check_allowed(frame, table, file, log)
    if name == "patients":
        return _patients(frame, file, log)
    if name == "measurements":
        return _measurements(frame, file, log)
    if name == "treatments":
        return _treatments(frame, file, log)
    return _findings(frame, file, log)


def check_patient_references(
    frames: Mapping[str, pl.DataFrame], files: Mapping[str, str], log: ProblemLog
) -> None:
    """Every patient_id in another table must exist in patients."""
    known = frames["patients"]["patient_id"].unique().implode()
    for name, frame in frames.items():
        if name == "patients":
            continue
        orphan = frame.filter(
            pl.col("patient_id").is_not_null() & ~pl.col("patient_id").is_in(known)
        ).unique(subset=ROW, keep="first", maintain_order=True)
        collect(
            orphan,
            pl.lit(True),
            log=log,
            file=files[name],
            column="patient_id",
            expected="a patient_id listed in patients",
            fix="add the patient to the patients table, or correct the id",
        )
