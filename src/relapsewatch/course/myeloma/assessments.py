"""From single lab results to assessments, line baselines and the tracking pathway.

* :class:`PatientIndex`: patient identifiers as dense integers (``pid``) in sorted identifier
  order, so every sort and join below is on integers and sorting by ``pid`` is sorting by
  ``patient_id``.
* :func:`daily_results`: one row per patient, date and test (A-29 same-day duplicates; U7
  unquantifiable results), values as exact integer micro-units (:mod:`.exact`).
* :func:`build_assessments`: results within ±7 days combined into one assessment anchored at the
  serum M-protein date, else the free light chain date (A-28); imaging findings (P5) join as
  assessments on their own date.
* :func:`line_baselines`: the baseline of every test for every line (M1), measurability (M2–M4),
  the tracking pathway (M5) and the involved compartments (M6).
* :func:`line_frame`: every assessment placed in its line, plus one *tail* row per line (the first
  assessment on or after the next line start), which may confirm a PD (C3) but is never output.

Rows are kept sorted by packed integer keys (patient, date, test), so nearest-anchor search is a
forward/backward fill and line placement an as-of join on one integer column: no per-patient
loops and no string sorts. Qualitative results are small integer codes (:data:`RESULT_CODE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from relapsewatch.course.myeloma import segments
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exact import MICRO, format_micro, ratio_compare, to_micro
from relapsewatch.course.myeloma.rules import Criteria
from relapsewatch.course.myeloma.segments import GROUP_LIMIT, VALUE_LIMIT
from relapsewatch.errors import SchemaError
from relapsewatch.schema import DETECTED_NONQUANTIFIABLE

__all__ = [
    "CLONAL",
    "CRAB_TESTS",
    "IMAGING_FINDINGS",
    "INDETERMINATE",
    "MAB_ONLY",
    "NEGATIVE",
    "NOT_CLONAL",
    "PATHWAYS",
    "POSITIVE",
    "RESPONSE_TESTS",
    "RESULT_CODE",
    "TEST_CODE",
    "PatientIndex",
    "build_assessments",
    "daily_results",
    "day_key",
    "line_baselines",
    "line_frame",
]

#: Tests that enter the response assessment.
RESPONSE_TESTS = (
    "serum_m_protein",
    "urine_m_protein",
    "flc_kappa",
    "flc_lambda",
    "flc_ratio",
    "serum_ife",
    "urine_ife",
    "bm_plasma_cells",
    "bm_clonality",
)
#: Tests used only for candidate CRAB signals (X3).
CRAB_TESTS = ("calcium", "hemoglobin", "creatinine")
#: Findings that are progression by imaging (P5).
IMAGING_FINDINGS = ("new_bone_lesion", "new_plasmacytoma", "plasmacytoma_increase")
#: Internal test name of a serum IFE read by a DIRA / Hydrashift reflex assay (U6).
SERUM_IFE_DIRA = "serum_ife_dira"
_DIRA_METHODS = ("dira", "hydrashift")

#: Internal test codes (SPEP first, so an anchor is the first row of its day).
TEST_CODE: dict[str, int] = {
    "serum_m_protein": 1,
    "flc_kappa": 2,
    "flc_lambda": 3,
    "flc_ratio": 4,
    "urine_m_protein": 5,
    "serum_ife": 6,
    SERUM_IFE_DIRA: 7,
    "urine_ife": 8,
    "bm_plasma_cells": 9,
    "bm_clonality": 10,
    "calcium": 11,
    "hemoglobin": 12,
    "creatinine": 13,
}
_QUANTITATIVE = (
    "serum_m_protein", "urine_m_protein", "flc_kappa", "flc_lambda", "flc_ratio",
    "bm_plasma_cells", *CRAB_TESTS,
)  # fmt: skip

#: Qualitative results as codes, ordered from better to worse within a test (A-29 keeps the worse).
NEGATIVE, NOT_CLONAL, MAB_ONLY, INDETERMINATE, POSITIVE, CLONAL = 1, 2, 3, 4, 5, 6
RESULT_CODE: dict[str, int] = {
    "negative": NEGATIVE,
    "not_clonal": NOT_CLONAL,
    "positive_therapeutic_mab_only": MAB_ONLY,
    "indeterminate": INDETERMINATE,
    "positive": POSITIVE,
    "clonal": CLONAL,
}
RESULT_NAME: dict[int, str] = {code: name for name, code in RESULT_CODE.items()}
#: The tracking pathways (M5) as an enumeration.
PATHWAYS = pl.Enum(["not_evaluable", "serum_urine", "flc_only", "marrow_only"])
_URINE_STATUS = pl.Enum(["unknown", "involved", "not_involved"])
_CHAIN = pl.Enum(["kappa", "lambda"])

#: Tests that form an assessment of their own when no anchor is near (A-28).
_STANDALONE = (TEST_CODE["urine_m_protein"], TEST_CODE["bm_plasma_cells"])
_FLC = (TEST_CODE["flc_kappa"], TEST_CODE["flc_lambda"])
_SPEP = TEST_CODE["serum_m_protein"]

#: Wide assessment columns: test -> (column, source) where source is value, result or nq.
_WIDE: tuple[tuple[str, str, str], ...] = (
    ("serum_m_protein", "s", "value"),
    ("serum_m_protein", "s_nq", "nonquantifiable"),
    ("urine_m_protein", "u", "value"),
    ("urine_m_protein", "u_nq", "nonquantifiable"),
    ("flc_kappa", "kappa", "value"),
    ("flc_lambda", "lambda", "value"),
    ("flc_ratio", "ratio", "value"),
    ("serum_ife", "sife_plain", "result"),
    (SERUM_IFE_DIRA, "sife_dira", "result"),
    ("urine_ife", "uife", "result"),
    ("bm_plasma_cells", "bmpc", "value"),
    ("bm_clonality", "clonality", "result"),
)

# Packed keys: day = days since 1970 + offset (24 bits); pid < 2^23; test code < 2^8.
_DAY_OFFSET = 40_000
_DAY_BITS = 24
_MAX_PATIENTS = 1 << 23


def day_key(pid: pl.Expr, when: pl.Expr) -> pl.Expr:
    """``(pid, date)`` packed into one sortable Int64 (``pid << 32 | day``)."""
    return (pid.cast(pl.Int64) * (1 << 32)) + when.cast(pl.Int32).cast(pl.Int64) + _DAY_OFFSET


def _day(when: pl.Expr) -> pl.Expr:
    return when.cast(pl.Int32).cast(pl.Int64) + _DAY_OFFSET


def _date(day: pl.Expr) -> pl.Expr:
    return (day - _DAY_OFFSET).cast(pl.Int32).cast(pl.Date)


#: Below this many identifiers to look up, a binary search in the sorted identifiers is cheaper
#: than building the enumeration's lookup table.
_SEARCH_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class PatientIndex:
    """Patient identifiers as dense integers in sorted order (``pid`` = position in ``ids``)."""

    ids: pl.Series

    @classmethod
    def of(cls, *columns: pl.Series) -> PatientIndex:
        """The index of every identifier found in ``columns``.

        >>> PatientIndex.of(pl.Series(["b", "a"]), pl.Series(["c", "a"])).ids.to_list()
        ['a', 'b', 'c']
        """
        ids = pl.concat([c.cast(pl.String).unique() for c in columns]).unique().drop_nulls()
        ids = ids.sort().alias("patient_id")
        if ids.len() >= _MAX_PATIENTS:
            raise SchemaError(
                f"`measurements` must hold fewer than {_MAX_PATIENTS} patients per call, got "
                f"{ids.len()}; process the cohort in patient batches."
            )
        return cls(ids)

    def encode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``patient_id`` replaced by ``pid`` (UInt32), row order kept.

        Identifiers are looked up as an enumeration of ``ids`` (whose positions are the
        ``pid``). Input grouped by patient (as readers and the simulator write it) takes a fast
        path: one lookup per run of equal identifiers.
        """
        ids = frame["patient_id"].cast(pl.String)
        if ids.len() == 0:
            pid = pl.Series("pid", [], dtype=pl.UInt32)
        elif ids.null_count() == 0:
            run = ids.rle_id()
            if (run[-1] + 1) * 2 <= ids.len():
                starts = ids.filter((run != run.shift(1)).fill_null(True))
                pid = self._positions(starts).gather(run)
            else:
                pid = self._positions(ids)
        else:
            positions = pl.int_range(self.ids.len(), eager=True, dtype=pl.UInt32)
            pid = ids.replace_strict(self.ids, positions, return_dtype=pl.UInt32)
        return frame.drop("patient_id").insert_column(0, pid.alias("pid"))

    def _positions(self, ids: pl.Series) -> pl.Series:
        if ids.len() < _SEARCH_LIMIT:
            return self.ids.search_sorted(ids).cast(pl.UInt32)
        return ids.cast(pl.Enum(self.ids)).to_physical().cast(pl.UInt32)

    def decode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``pid`` replaced by ``patient_id`` as the first column."""
        return frame.drop("pid").insert_column(0, self.ids.gather(frame["pid"]))


def daily_results(
    measurements: pl.DataFrame, tests: Sequence[str], *, as_of: date | None = None
) -> pl.DataFrame:
    """One row per ``pid``, ``date`` and ``test`` (rule A-29, U7), sorted by them.

    Takes measurements encoded by :class:`PatientIndex`. ``test`` becomes a code
    (:data:`TEST_CODE`); values become Int64 micro-units in ``value``; an unquantifiable result
    (``<0.1``, ``trace``) is 0 with ``nonquantifiable`` set (N4, A-13); a quantitative test
    reported ``negative`` is 0; a qualitative result is a code in ``result``
    (:data:`RESULT_CODE`). Same-day duplicates keep the worse value (the larger number, the more
    positive result) and set ``duplicate``. A serum IFE read by DIRA or Hydrashift is kept apart
    as ``serum_ife_dira``.

    >>> import datetime as dt
    >>> m = pl.DataFrame({"pid": [0, 0], "date": [dt.date(2024, 1, 1)] * 2,
    ...     "test": ["serum_m_protein"] * 2, "value": [1.4, 1.5], "result": [None, None],
    ...     "method": [None, None]}, schema_overrides={"result": pl.String, "method": pl.String,
    ...     "pid": pl.UInt32})
    >>> daily_results(m, ["serum_m_protein"]).select("value", "duplicate").row(0)
    (1500000, True)
    """
    wanted = {test: TEST_CODE[test] for test in tests}
    frame = measurements.with_columns(_code(pl.col("test"), wanted, pl.UInt8)).filter(
        pl.col("test").is_not_null()
    )
    if as_of is not None:
        frame = frame.filter(pl.col("date") <= as_of)
    dira = (pl.col("test") == TEST_CODE["serum_ife"]) & pl.col("method").str.to_lowercase().is_in(
        _DIRA_METHODS
    ).fill_null(False)
    nonquantifiable = (pl.col("result") == DETECTED_NONQUANTIFIABLE).fill_null(False)
    quantitative = pl.col("test").is_in([TEST_CODE[t] for t in _QUANTITATIVE])
    frame = frame.select(
        "pid",
        "date",
        test=pl.when(dira)
        .then(pl.lit(TEST_CODE[SERUM_IFE_DIRA], dtype=pl.UInt8))
        .otherwise("test"),
        value=pl.when(nonquantifiable | (quantitative & (pl.col("result") == "negative")))
        .then(pl.lit(0, dtype=pl.Int64))
        .otherwise(to_micro(pl.col("value"))),
        nonquantifiable=nonquantifiable,
        result=_code(pl.col("result"), RESULT_CODE, pl.Int8),
    )
    _check_ranges(frame)
    frame = frame.with_columns(
        key=day_key(pl.col("pid"), pl.col("date")) * 256 + pl.col("test").cast(pl.Int64)
    ).sort("key")
    repeated = pl.col("key") == pl.col("key").shift(1)
    if frame.select(repeated.any()).item():
        worst = pl.col("value").max().over("key")
        frame = frame.with_columns(
            value=worst,
            nonquantifiable=pl.col("nonquantifiable").any().over("key") & (worst.fill_null(0) == 0),
            result=pl.col("result").max().over("key"),
            duplicate=pl.len().over("key") > 1,
        ).filter(~repeated.fill_null(False))
    else:
        frame = frame.with_columns(duplicate=pl.lit(False))
    return frame.drop("key")


def _code(
    text: pl.Expr, codes: Mapping[str, int], dtype: pl.DataType | type[pl.DataType]
) -> pl.Expr:
    """``codes[text]``, null for text not in ``codes``: the text cast to an enumeration whose
    positions are the codes (unused positions get names no text has), which is cheaper than
    ``replace_strict`` hashing every value."""
    names = [f"\x00{position}" for position in range(max(codes.values()) + 1)]
    for name, code in codes.items():
        names[code] = name
    return text.cast(pl.Enum(names), strict=False).to_physical().cast(dtype)


def _check_ranges(frame: pl.DataFrame) -> None:
    """Dates and values must fit the packed keys and running extremes (:mod:`.segments`)."""
    if frame.height == 0:
        return
    low, high, smallest, largest = frame.select(
        low=pl.col("date").min(), high=pl.col("date").max(),
        smallest=pl.col("value").min(), largest=pl.col("value").max(),
    ).row(0)  # fmt: skip
    if low is not None and (
        low < date(1900, 1, 1) or (high - date(1970, 1, 1)).days + _DAY_OFFSET >= 1 << _DAY_BITS
    ):
        raise SchemaError(
            f"`measurements.date` must be a real sample date, got {low} … {high}; fix the dates."
        )
    if smallest is not None and (smallest < 0 or largest >= VALUE_LIMIT):
        raise SchemaError(
            "`measurements.value` must be between 0 and a million in the canonical unit, got "
            f"{smallest / MICRO} … {largest / MICRO}; fix the values or their units."
        )


def _with_nearest(rows: pl.DataFrame, anchor: pl.Expr, tolerance: int) -> pl.DataFrame:
    """Add ``before`` and ``after``: the distance (days) to the previous and next anchor row of
    the same patient, if within ``tolerance``.

    Rows are sorted by patient and date and carry ``dkey`` (``pid`` and ``day`` packed, like
    :func:`day_key`), so one difference of keys gives the distance and, for another patient's
    anchor, a value of at least 2^32 - 2^24: beyond any distance between two days.
    """
    tolerance = min(tolerance, 1 << _DAY_BITS)
    anchor_key = pl.when(anchor).then(pl.col("dkey"))
    rows = rows.with_columns(
        before=pl.col("dkey") - anchor_key.forward_fill(),
        after=anchor_key.backward_fill() - pl.col("dkey"),
    )
    return rows.with_columns(
        pl.when(pl.col(name) <= tolerance).then(name).alias(name) for name in ("before", "after")
    )


def build_assessments(
    daily: pl.DataFrame, findings: pl.DataFrame, *, config: MyelomaCourseConfig
) -> pl.DataFrame:
    """Combine daily results into assessments (A-28) and add imaging findings (P5).

    Anchors are the serum M-protein dates, then free light chain dates with no serum M-protein
    within the tolerance. Every other result joins the nearest anchor within
    ``assessment_tolerance_days`` (on a tie, the later one); a urine M-protein or marrow result
    with no anchor near is an assessment of its own; other lone results (an immunofixation alone)
    support no response and are left out. Within an assessment a test's result from the anchor
    day wins, then the nearer day, then the later day.

    Returns one row per ``pid`` and ``date`` (sorted; ``akey`` is the packed key) with the wide
    columns ``s``, ``s_nq``, ``u``, ``u_nq``, ``kappa``, ``lambda``, ``ratio`` (micro-units),
    ``sife_plain``, ``sife_dira``, ``uife``, ``clonality`` (result codes), ``bmpc``,
    ``imaging`` (finding names joined by ``+``), ``duplicate`` and ``combined`` (results from
    other days joined in).
    """
    tolerance = config.assessment_tolerance_days
    codes = [TEST_CODE[t] for t in (*RESPONSE_TESTS, SERUM_IFE_DIRA)]
    rows = daily.filter(pl.col("test").is_in(codes)).with_columns(day=_day(pl.col("date")))
    rows = rows.with_columns(dkey=pl.col("pid").cast(pl.Int64) * (1 << 32) + pl.col("day"))
    rows = _with_nearest(rows, pl.col("test") == _SPEP, tolerance).with_columns(
        anchor=(pl.col("test") == _SPEP)
        | (pl.col("test").is_in(_FLC) & pl.col("before").is_null() & pl.col("after").is_null())
    )
    rows = _with_nearest(rows, pl.col("anchor"), tolerance)
    before, after = pl.col("before"), pl.col("after")
    use_before = before.is_not_null() & (after.is_null() | (before < after))
    rows = (
        rows.with_columns(
            adate=pl.when(use_before)
            .then(pl.col("day") - before)
            .when(after.is_not_null())
            .then(pl.col("day") + after)
            .when(pl.col("test").is_in(_STANDALONE))
            .then(pl.col("day"))
        )
        .filter(pl.col("adate").is_not_null())
        .with_columns(
            # lower is better: the anchor day, then nearer, then later
            priority=(pl.col("day") - pl.col("adate")).abs() * 2
            + (pl.col("day") < pl.col("adate")).cast(pl.Int64),
            akey=pl.col("pid").cast(pl.Int64) * (1 << 32) + pl.col("adate"),
        )
        .with_columns(aid=pl.col("akey").rle_id())
    )
    first = rows.select("pid", "adate", "akey", "aid").filter(
        pl.col("aid") != pl.col("aid").shift(1).fill_null(-1)
    )
    size = first.height
    columns: list[pl.Series] = [
        first["pid"],
        first.select(_date(pl.col("adate")).alias("date")).to_series(),
        first["akey"],
    ]
    # one pass splits the rows by test (row order kept within each test), instead of one
    # filter over every row per wide column
    wanted = ("aid", "priority", "value", "nonquantifiable", "result")
    by_test = rows.select("test", *wanted).partition_by("test", as_dict=True, include_key=False)
    picked: dict[int, pl.DataFrame] = {}
    for test, name, source in _WIDE:
        code = TEST_CODE[test]
        if code not in picked:
            sub = by_test.get((code,), rows.select(wanted).head(0))
            if sub.select((pl.col("aid") == pl.col("aid").shift(1)).any()).item():
                sub = sub.sort("aid", "priority").filter(
                    pl.col("aid") != pl.col("aid").shift(1).fill_null(-1)
                )
            picked[code] = sub
        sub = picked[code]
        column = segments.nulls(name, size, sub[source].dtype)
        columns.append(column.scatter(sub["aid"], sub[source]) if sub.height else column)
    for name, flagged in (("duplicate", pl.col("duplicate")), ("combined", pl.col("priority") > 0)):
        hits = rows.filter(flagged)["aid"]
        column = pl.repeat(False, size, dtype=pl.Boolean, eager=True).alias(name)
        columns.append(column.scatter(hits, True) if hits.len() else column)
    wide = pl.DataFrame(columns).with_columns(pl.col("s_nq", "u_nq").fill_null(False))
    return _with_imaging(wide, findings)


def _with_imaging(wide: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """Imaging findings (P5) as the ``imaging`` column; dates with no lab assessment become
    assessments of their own."""
    imaging = (
        findings.filter(pl.col("finding").is_in(IMAGING_FINDINGS))
        .group_by("pid", "date")
        .agg(imaging=pl.col("finding").unique().sort().str.join("+"))
        .with_columns(akey=day_key(pl.col("pid"), pl.col("date")))
        .sort("akey")
    )
    position = wide.select("akey").with_row_index("position")
    matched = imaging.join(position, on="akey", how="inner")
    column = segments.nulls("imaging", wide.height, pl.String)
    if matched.height:
        column = column.scatter(matched["position"], matched["imaging"])
    wide = wide.with_columns(column)
    # (the few matched keys, not an anti join that hashes every assessment key)
    alone = imaging.filter(~pl.col("akey").is_in(matched["akey"].implode()))
    if alone.height == 0:
        return wide
    extra = alone.select(
        *(
            pl.col(c) if c in alone.columns else pl.lit(None, dtype=dtype).alias(c)
            for c, dtype in wide.schema.items()
        )
    ).with_columns(pl.col("duplicate", "combined", "s_nq", "u_nq").fill_null(False))
    return wide.merge_sorted(extra, key="akey")


_BASELINE_TESTS = (
    ("serum_m_protein", "s0", "value"),
    ("urine_m_protein", "u0", "value"),
    ("flc_kappa", "kappa0", "value"),
    ("flc_lambda", "lambda0", "value"),
    ("flc_ratio", "ratio0", "value"),
    ("serum_ife", "sife0", "result"),
    ("urine_ife", "uife0", "result"),
    ("bm_plasma_cells", "bmpc0", "value"),
    ("hemoglobin", "hb0", "value"),
    ("creatinine", "creat0", "value"),
)


def line_baselines(
    daily: pl.DataFrame, lines: pl.DataFrame, *, config: MyelomaCourseConfig, rules: Criteria
) -> pl.DataFrame:
    """Per line (in ``lines`` order): baselines (M1), measurability (M2–M4), pathway (M5),
    involvement (M6).

    ``lines`` must be encoded and sorted by ``pid, start_date``. Columns: ``pid, line,
    start_date, next_start_date``; for each test ``<name>0`` (value in micro-units or result code)
    and ``<name>0_date``; ``s0_nq``, ``u0_nq``; ``chain`` (involved light chain), ``d0``
    (baseline dFLC), ``serum_involved`` (bool), ``urine_status`` (``involved``,
    ``not_involved``, ``unknown``), ``pathway``, ``response_from`` (assessments after this date
    are on-line responses: the later of the line start and a look-ahead baseline date of the
    tracked test) and ``baseline`` (readable).
    """
    keys = lines.select(kstart=day_key(pl.col("pid"), pl.col("start_date")))
    columns: dict[str, pl.Series] = {}
    for test, name, source in _BASELINE_TESTS:
        sub = daily.filter(pl.col("test") == TEST_CODE[test]).select(
            k=day_key(pl.col("pid"), pl.col("date")),
            found=pl.col("date"),
            found_value=pl.col(source),
            found_nq=pl.col("nonquantifiable"),
        )
        before = keys.join_asof(
            sub, left_on="kstart", right_on="k", strategy="backward",
            tolerance=config.baseline_window_days, check_sortedness=False,
        )  # fmt: skip
        after = keys.join_asof(
            sub, left_on="kstart", right_on="k", strategy="forward",
            tolerance=config.baseline_lookahead_days, check_sortedness=False,
        )  # fmt: skip
        use_before = before["found"].is_not_null()
        for suffix, field in (("", "found_value"), ("_date", "found"), ("_nq", "found_nq")):
            merged = before[field].zip_with(use_before, after[field])
            columns[f"{name}{suffix}"] = merged.alias(f"{name}{suffix}")
    frame = lines.with_columns(
        *(columns[f"{name}{s}"] for _, name, _ in _BASELINE_TESTS for s in ("", "_date")),
        columns["s0_nq"].fill_null(False),
        columns["u0_nq"].fill_null(False),
    )
    return (
        frame.with_columns(_pathway_columns(rules))
        .with_columns(_response_from())
        .with_columns(baseline=_baseline_text())
    )


def _ratio_outside(threshold_name: str, rules: Criteria) -> pl.Expr:
    """Exact κ/λ ratio compare at baseline: recomputed from κ and λ when both exist, else the
    reported ratio."""
    t = rules["M4"].threshold(threshold_name)
    both = (
        pl.col("kappa0").is_not_null() & pl.col("lambda0").is_not_null() & (pl.col("lambda0") > 0)
    )
    from_chains = ratio_compare(pl.col("kappa0"), pl.col("lambda0"), t.op, t.value)
    from_ratio = ratio_compare(pl.col("ratio0"), pl.lit(MICRO, dtype=pl.Int64), t.op, t.value)
    return pl.when(both).then(from_chains).otherwise(from_ratio).fill_null(False)


def _pathway_columns(rules: Criteria) -> list[pl.Expr]:
    m2, m3 = rules["M2"].threshold("serum"), rules["M3"].threshold("urine")
    m4, m5 = rules["M4"].threshold("involved"), rules["M5"].threshold("marrow")
    chain = (
        pl.when(_ratio_outside("kappa", rules)).then(pl.lit("kappa"))
        .when(_ratio_outside("lambda", rules)).then(pl.lit("lambda"))
        .cast(_CHAIN)
    )  # fmt: skip
    involved0 = pl.when(chain == "kappa").then("kappa0").otherwise("lambda0")
    uninvolved0 = pl.when(chain == "kappa").then("lambda0").otherwise("kappa0")
    serum_measurable = (pl.col("s0") >= m2.micro).fill_null(False)
    urine_measurable = (pl.col("u0") >= m3.micro).fill_null(False)
    flc_measurable = (chain.is_not_null() & (involved0 >= m4.micro)).fill_null(False)
    marrow_measurable = (pl.col("bmpc0") >= m5.micro).fill_null(False)
    pathway = (
        pl.when(serum_measurable | urine_measurable).then(pl.lit("serum_urine"))
        .when(flc_measurable).then(pl.lit("flc_only"))
        .when(marrow_measurable).then(pl.lit("marrow_only"))
        .otherwise(pl.lit("not_evaluable"))
        .cast(PATHWAYS)
    )  # fmt: skip
    urine_involved = (pl.col("u0") > 0) | pl.col("u0_nq") | (pl.col("uife0") == POSITIVE)
    urine_clear = (pl.col("u0") == 0) | (pl.col("uife0") == NEGATIVE)
    return [
        chain.alias("chain"),
        pl.when(chain.is_not_null())
        .then(pl.max_horizontal(involved0 - uninvolved0, pl.lit(0, dtype=pl.Int64)))
        .alias("d0"),
        ((pl.col("s0") > 0) | pl.col("s0_nq") | (pl.col("sife0") == POSITIVE))
        .fill_null(False)
        .alias("serum_involved"),
        pl.when(urine_involved.fill_null(False)).then(pl.lit("involved"))
        .when(urine_clear.fill_null(False)).then(pl.lit("not_involved"))
        .otherwise(pl.lit("unknown"))
        .cast(_URINE_STATUS)
        .alias("urine_status"),
        pathway.alias("pathway"),
    ]  # fmt: skip


def _response_from() -> pl.Expr:
    """The later of the line start and the date of a look-ahead baseline of the tracked test."""
    tracked_date = (
        pl.when(pl.col("pathway") == "serum_urine")
        .then(pl.when(pl.col("serum_involved")).then("s0_date").otherwise("u0_date"))
        .when(pl.col("pathway") == "flc_only")
        .then(pl.max_horizontal("kappa0_date", "lambda0_date"))
        .when(pl.col("pathway") == "marrow_only")
        .then("bmpc0_date")
    )
    return pl.max_horizontal("start_date", tracked_date).alias("response_from")


def _baseline_text() -> pl.Expr:
    """The line baseline in words (M1), e.g. ``serum M-protein 3 g/dL (2024-01-10); …``."""

    def part(label: str, value: pl.Expr, unit: str, on: str) -> pl.Expr:
        return pl.when(pl.col(on).is_not_null()).then(
            pl.concat_str(
                [pl.lit(label + " "), value, pl.lit(f"{unit} ("),
                 pl.col(on).dt.to_string("%Y-%m-%d"), pl.lit(")")]
            )
        )  # fmt: skip

    def result(column: str) -> pl.Expr:
        return pl.col(column).replace_strict(RESULT_NAME, default=None, return_dtype=pl.String)

    s_value = (
        pl.when(pl.col("s0_nq"))
        .then(pl.lit("detected, not quantifiable"))
        .otherwise(pl.concat_str([format_micro(pl.col("s0")), pl.lit(" g/dL")]))
    )
    chain = pl.col("chain").cast(pl.String).replace_strict({"kappa": "κ", "lambda": "λ"})
    return pl.concat_str(
        [
            part("serum M-protein", s_value, "", "s0_date"),
            part("urine M-protein", format_micro(pl.col("u0")), " mg/24h", "u0_date"),
            part("free κ", format_micro(pl.col("kappa0")), " mg/L", "kappa0_date"),
            part("free λ", format_micro(pl.col("lambda0")), " mg/L", "lambda0_date"),
            pl.when(pl.col("chain").is_not_null()).then(
                pl.concat_str(
                    [
                        pl.lit("involved chain "),
                        chain,
                        pl.lit(", dFLC "),
                        format_micro(pl.col("d0")),
                        pl.lit(" mg/L"),
                    ]
                )
            ),
            part("serum IFE", result("sife0"), "", "sife0_date"),
            part("urine IFE", result("uife0"), "", "uife0_date"),
            part("marrow plasma cells", format_micro(pl.col("bmpc0")), "%", "bmpc0_date"),
        ],
        separator="; ",
        ignore_nulls=True,
    ).replace("", "no baseline results")


#: Per-line columns copied onto every assessment row of the line (those the response rules
#: read: the κ and λ baselines enter through ``chain`` and ``d0``, ``response_from`` only
#: through the placement of the rows).
_LINE_COLUMNS = (
    "line", "start_date", "next_start_date", "s0", "u0", "bmpc0", "d0", "chain",
    "serum_involved", "urine_status", "pathway",
)  # fmt: skip


def line_frame(
    assessments: pl.DataFrame, lines: pl.DataFrame, baselines: pl.DataFrame
) -> pl.DataFrame:
    """Place each assessment in its line, add one tail row per line, and sort.

    ``lines`` and ``baselines`` are in the same order (encoded, sorted by ``pid, start_date``).
    A line's own rows are the assessments dated after ``response_from`` and before the next line
    start. Its *tail* is the first assessment on or after the next line start that carries a
    tracking value or an imaging finding: it may confirm a PD of this line (C3) or, on the very
    day of the next start, a response (C2), but it is never output for this line.

    Adds ``group`` (the line's position in ``lines``; one value per patient and line), the line
    columns, ``is_tail``, ``dflc`` (A-11: involved minus uninvolved, at least 0) and ``row``.
    """
    if lines.height >= GROUP_LIMIT:
        raise SchemaError(
            f"`lines` must have fewer than {GROUP_LIMIT} rows per call, got {lines.height}; "
            "process the cohort in patient batches."
        )
    starts = lines.select(
        kstart=day_key(pl.col("pid"), pl.col("start_date")),
        group=pl.int_range(pl.len(), dtype=pl.UInt32),
    )
    owner = lines["pid"]
    # an imaging finding on the day a line starts belongs to the line before: it is why the
    # treatment changed, not a baseline (so it is placed one day earlier)
    imaging_only = pl.col("imaging").is_not_null() & pl.all_horizontal(
        pl.col(c).is_null() for c in ("s", "u", "kappa", "lambda", "bmpc")
    )
    trackable = (
        pl.col("s").is_not_null() | pl.col("u").is_not_null() | pl.col("kappa").is_not_null()
        | pl.col("bmpc").is_not_null() | pl.col("imaging").is_not_null()
    )  # fmt: skip
    # rows are placed by their keys alone; the wide columns are gathered once, at the end
    keys = assessments.select(
        "pid", "date", "akey", place=pl.col("akey") - imaging_only.cast(pl.Int64),
        imaging_only=imaging_only, trackable=trackable,
        arow=pl.int_range(pl.len(), dtype=pl.UInt32),
    )  # fmt: skip
    placed = keys.join_asof(
        starts, left_on="place", right_on="kstart", strategy="backward", check_sortedness=False
    ).drop("kstart")
    same_patient = owner.gather(placed["group"]) == placed["pid"]
    nexts = (
        lines.with_row_index("group")
        .filter(pl.col("next_start_date").is_not_null())
        .select(pl.col("group").cast(pl.UInt32), knext=day_key(pl.col("pid"),
                                                               pl.col("next_start_date")))
    )  # fmt: skip
    tails = nexts.join_asof(
        keys.filter("trackable").select("arow", "place"), left_on="knext", right_on="place",
        strategy="forward", check_sortedness=False,
    )  # fmt: skip
    tails = tails.filter(
        pl.col("arow").is_not_null()
        & ((pl.col("place") // (1 << 32)) == (pl.col("knext") // (1 << 32)))
    )
    tail_rows = tails.select(
        "arow", "group", akey=keys["akey"].gather(tails["arow"]), is_tail=pl.lit(True)
    )
    per_line = baselines.select(*_LINE_COLUMNS, "response_from")
    # keep a line's own rows before copying the line's columns onto them
    response_from = per_line["response_from"].gather(placed["group"])
    next_start = per_line["next_start_date"].gather(placed["group"])
    date_column = placed["date"]
    keep = (
        same_patient
        & (date_column > response_from)
        & (
            next_start.is_null()
            | (date_column < next_start)
            | (placed["imaging_only"] & (date_column == next_start))
        )
    )
    placed = placed.filter(keep.fill_null(False)).select(
        "arow", "group", "akey", is_tail=pl.lit(False)
    )
    order = pl.col("group").cast(pl.Int64) * (1 << _DAY_BITS) + (pl.col("akey") % (1 << 32))
    rows = _interleave(
        placed.with_columns(fkey=order).drop("akey"),
        tail_rows.with_columns(fkey=order).drop("akey"),
    )
    # the rows are in line order (then date); flagged as sorted, ``group`` lets group-bys and
    # gathers by line take slices of the frame instead of hashing it
    frame = assessments.gather(rows["arow"]).with_columns(
        rows.drop("arow").with_columns(pl.col("group").set_sorted())
    )
    frame = frame.with_columns(per_line.get_column(c).gather(frame["group"]) for c in _LINE_COLUMNS)
    involved = pl.when(pl.col("chain") == "kappa").then("kappa").otherwise("lambda")
    uninvolved = pl.when(pl.col("chain") == "kappa").then("lambda").otherwise("kappa")
    return frame.with_columns(
        dflc=pl.when(pl.col("chain").is_not_null()).then(
            pl.max_horizontal(involved - uninvolved, pl.lit(0, dtype=pl.Int64))
        ),
        row=pl.int_range(pl.len(), dtype=pl.UInt32),
    )


def _interleave(placed: pl.DataFrame, tails: pl.DataFrame) -> pl.DataFrame:
    """``placed.merge_sorted(tails, key="fkey")`` (a tail after placed rows of an equal key),
    as one gather: only the few tail positions are searched, so no key comparison runs per
    placed row. :func:`line_frame` interleaves row numbers and keys only, then gathers the
    wide columns once."""
    if tails.height == 0:
        return placed
    at = placed["fkey"].search_sorted(tails["fkey"], side="right").cast(pl.Int64)
    at = at + pl.int_range(tails.height, dtype=pl.Int64, eager=True)
    size = placed.height + tails.height
    is_tail = pl.repeat(False, size, dtype=pl.Boolean, eager=True).scatter(at, True)
    source = pl.select(
        pl.when(is_tail)
        .then(placed.height + is_tail.cum_sum().cast(pl.Int64) - 1)
        .otherwise((~is_tail).cum_sum().cast(pl.Int64) - 1)
    ).to_series()
    return pl.concat([placed, tails]).gather(source)
