"""The nadir in force at each assessment: rules N1–N4 (``docs/criteria.md#n1``).

IMWG 2016 measures progression from the "lowest confirmed response value". The default reading
(N1, ``nadir_mode="confirmed_pair"``) is::

    x_nad(t) = min(x0, min{ max(x_i, x_i+1) : consecutive i, i+1 in the line, dated < t })

so a single low value (a haemolysed sample, a unit slip) becomes the nadir only once the next
measurement confirms it. ``raw_min`` (N2) is ``min(x0, every x_i dated < t)``. The nadir resets
at every line (N3: the frame is grouped by patient and line and ``x0`` is the line baseline) and
unquantifiable values enter as 0 (N4: :func:`~.assessments.daily_results` stores them as 0).

Everything is a whole-column expression over a frame sorted by ``group`` (numbered from 0) and
date (:mod:`.segments`).

>>> import polars as pl
>>> f = pl.DataFrame({"group": [1] * 6, "x0": [3_000_000] * 6,
...     "x": [1_400_000, 1_200_000, 800_000, 800_000, 1_400_000, 900_000]})
>>> f.select(nadir_in_force("x", "x0", mode="confirmed_pair")).to_series().to_list()
[3000000, 3000000, 1400000, 1200000, 800000, 800000]
>>> f.select(nadir_in_force("x", "x0", mode="raw_min")).to_series().to_list()
[3000000, 1400000, 1200000, 800000, 800000, 800000]
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from relapsewatch.course.myeloma import segments
from relapsewatch.course.myeloma.config import MyelomaCourseConfig, NadirMode

__all__ = ["NADIR_COLUMNS", "nadir_in_force", "with_nadirs"]

#: value column -> (baseline column, nadir column)
NADIR_COLUMNS: dict[str, tuple[str, str]] = {
    "s": ("s0", "s_nad"),
    "u": ("u0", "u_nad"),
    "dflc": ("d0", "d_nad"),
    "bmpc": ("bmpc0", "b_nad"),
}


def nadir_in_force(
    value: str,
    baseline: str,
    *,
    mode: NadirMode,
    group: str = "group",
    include_current: bool = False,
) -> pl.Expr:
    """The nadir in force at each row, from the baseline and the rows before it (N1/N2).

    Rows where ``value`` is null are skipped when forming consecutive pairs; the nadir at a row
    uses only rows strictly before it, so the value being tested never lowers its own nadir.
    With ``include_current`` the row itself counts too: the nadir in force *after* the row (used
    to report the confirmed nadir at the end of a line). ``group`` numbers the lines from 0 in
    row order (see :mod:`.segments`).
    """
    return _nadir_steps(
        value, baseline, mode=mode, group=group, include_current=include_current,
        step=lambda _, expression: expression,
    ).alias(f"{value}_nadir")  # fmt: skip


def _nadir_steps(
    value: str,
    baseline: str,
    *,
    mode: NadirMode,
    group: str,
    include_current: bool,
    step: Callable[[str, pl.Expr], pl.Expr],
) -> pl.Expr:
    """:func:`nadir_in_force`, with each intermediate passed through ``step(name, expr)``.

    ``step`` either returns the expression itself (one nested expression) or records it and
    returns ``pl.col(name)`` (:func:`with_nadirs` computes the steps as columns, one after the
    other: the nested expression reads each intermediate several times and Polars would
    compute it again every time).
    """
    g = pl.col(group)
    x = pl.col(value)
    candidate: pl.Expr
    if mode == "confirmed_pair":
        earlier_value = step(f"_{value}_earlier", segments.previous(segments.forward_fill(x, g), g))
        candidate = pl.when(x.is_not_null() & earlier_value.is_not_null()).then(
            pl.max_horizontal(x, earlier_value)
        )
    elif mode == "raw_min":
        candidate = x
    else:
        raise ValueError(f"`nadir_mode` must be 'confirmed_pair' or 'raw_min', got {mode!r}")
    lowest = step(f"_{value}_lowest", segments.cumulative_min(candidate, g))
    running = segments.forward_fill(lowest, g)
    if not include_current:
        running = segments.previous(running, g)
    return pl.min_horizontal(pl.col(baseline), running)


def _recorder(recorded: list[pl.Expr]) -> Callable[[str, pl.Expr], pl.Expr]:
    """A ``step`` for :func:`_nadir_steps` that appends each intermediate to ``recorded`` and
    reads it back as a column."""

    def step(name: str, expression: pl.Expr) -> pl.Expr:
        recorded.append(expression.alias(name))
        return pl.col(name)

    return step


def with_nadirs(frame: pl.DataFrame, *, config: MyelomaCourseConfig) -> pl.DataFrame:
    """Add ``s_nad``, ``u_nad``, ``d_nad`` (dFLC) and ``b_nad`` (marrow) to a line frame, and
    ``tracked_nadir_after`` (the nadir of the pathway's tracked value in force after each row).

    dFLC and marrow nadirs are computed only when some line tracks them (P3 and P4 read them
    only in the ``flc_only`` and ``marrow_only`` pathways). Marrow plasma cells always use the
    raw minimum: marrow results need no confirmation (C1), so every marrow value is already a
    confirmed value (decision recorded in docs/criteria.md#n3).
    """
    pathways = set(frame["pathway"].unique().cast(pl.String).to_list())
    needed = {"s": True, "u": True, "dflc": "flc_only" in pathways,
              "bmpc": "marrow_only" in pathways}  # fmt: skip
    expressions = []
    steps: list[list[pl.Expr]] = []  # steps[i]: the i-th intermediate column of every nadir
    for value, (baseline, name) in NADIR_COLUMNS.items():
        mode: NadirMode = "raw_min" if value == "bmpc" else config.nadir_mode
        if not needed[value]:
            expressions.append(pl.lit(None, dtype=pl.Int64).alias(name))
        elif frame[value].null_count() == frame.height:
            # no measurement in any line: the nadir in force is the baseline
            expressions.append(pl.col(baseline).alias(name))
        else:
            recorded: list[pl.Expr] = []
            nadir = _nadir_steps(
                value, baseline, mode=mode, group="group", include_current=False,
                step=_recorder(recorded),
            )  # fmt: skip
            for i, expression in enumerate(recorded):
                if i == len(steps):
                    steps.append([])
                steps[i].append(expression)
            expressions.append(nadir.alias(name))
    for stage in steps:
        frame = frame.with_columns(stage)
    intermediate = [e.meta.output_name() for stage in steps for e in stage]
    frame = frame.with_columns(expressions).drop(intermediate)
    pathway = pl.col("pathway")
    tracked_value, tracked_nadir = (
        pl.when((pathway == "serum_urine") & pl.col("serum_involved")).then(pl.col(f"{v}"))
        .when(pathway == "serum_urine").then(pl.col(f"{u}"))
        .when(pathway == "flc_only").then(pl.col(f"{d}"))
        .when(pathway == "marrow_only").then(pl.col(f"{b}"))
        for v, u, d, b in (("s", "u", "dflc", "bmpc"), ("s_nad", "u_nad", "d_nad", "b_nad"))
    )  # fmt: skip
    frame = frame.with_columns(tracked=tracked_value, tracked_nad=tracked_nadir)
    x = pl.col("tracked")
    earlier = segments.previous(segments.forward_fill(x))
    use_raw = pl.lit(config.nadir_mode == "raw_min") | (pathway == "marrow_only")
    pair = pl.when(use_raw).then(x).otherwise(pl.max_horizontal(x, earlier))
    after = pl.min_horizontal("tracked_nad", pl.when(x.is_not_null()).then(pair))
    return frame.with_columns(tracked_nadir_after=after).drop("tracked", "tracked_nad")
