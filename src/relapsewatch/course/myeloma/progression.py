"""Progressive disease: rules P1–P8 and its confirmation C3 (``docs/criteria.md#p1``).

:func:`pd_criteria` builds one boolean expression per criterion from *value* and *nadir*
expressions, so the same rules test an assessment against its own nadir and the next assessment
against the **same** nadir (C3: "PD-qualifying against the same nadir"). :func:`with_progression`
confirms PD per C3 and :func:`progression_tables` writes the evidence a nurse can read.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from relapsewatch.course.myeloma import segments
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.exact import compare, format_micro, format_percent, percent_compare
from relapsewatch.course.myeloma.rules import Criteria, Threshold

__all__ = [
    "CONFIRMED_BY",
    "PD_RULES",
    "PdInputs",
    "pd_criteria",
    "progression_tables",
    "with_progression",
]

#: Criteria evaluated by the engine, in the order evidence is written.
PD_RULES = ("P1", "P2", "P3", "P4", "P5")
_DEATH_CAUSE = r"(?i)myeloma|progress|\bpd\b|disease"
#: How a PD was confirmed (``pd_confirmed_by``), as an enumeration: set on every PD row, and
#: compared, without building and comparing text per row.
CONFIRMED_BY = pl.Enum(["imaging", "next", "marrow", "death", "new_treatment", "absorbing"])


@dataclass(frozen=True, slots=True)
class PdInputs:
    """Value and nadir expressions the P rules read (micro-units)."""

    s: pl.Expr
    u: pl.Expr
    dflc: pl.Expr
    bmpc: pl.Expr
    imaging: pl.Expr
    s_nad: pl.Expr
    u_nad: pl.Expr
    d_nad: pl.Expr
    b_nad: pl.Expr

    @classmethod
    def own(cls) -> PdInputs:
        """An assessment's own values against its own nadir."""
        return cls(
            *(
                pl.col(c)
                for c in ("s", "u", "dflc", "bmpc", "imaging", "s_nad", "u_nad", "d_nad", "b_nad")
            )
        )

    @classmethod
    def next_against_own_nadir(cls) -> PdInputs:
        """The next evaluable assessment's values against this assessment's nadir (C3)."""
        values = (pl.col(f"next_{c}") for c in ("s", "u", "dflc", "bmpc", "imaging"))
        nadirs = (pl.col(c) for c in ("s_nad", "u_nad", "d_nad", "b_nad"))
        return cls(*values, *nadirs)


def _rise(value: pl.Expr, nadir: pl.Expr, absolute: Threshold, relative: Threshold) -> pl.Expr:
    rise = value - nadir
    return compare(rise, absolute.op, absolute.micro) & percent_compare(
        rise, nadir, relative.op, relative.value
    )


def pd_criteria(inputs: PdInputs, *, rules: Criteria) -> dict[str, pl.Expr]:
    """One boolean expression per PD criterion (null inputs give ``False``).

    * P1 serum: nadir ≥ 5 g/dL → rise ≥ 1 g/dL; else rise ≥ 0.5 g/dL and ≥ 25 %;
    * P2 urine: rise ≥ 200 mg/24h and ≥ 25 %;
    * P3 dFLC (``flc_only`` only): rise > 100 mg/L and ≥ 25 %;
    * P4 marrow (``marrow_only`` only): rise ≥ 10 points and ≥ 25 %;
    * P5 imaging finding on the date (any pathway).

    Lab criteria P1–P4 do not apply in the ``not_evaluable`` pathway (M5: NE throughout).
    """
    p1, p2, p3, p4 = (rules[r] for r in ("P1", "P2", "P3", "P4"))
    lab = pl.col("pathway") != "not_evaluable"
    high_nadir = p1.threshold("high_nadir")
    serum = (
        pl.when(compare(inputs.s_nad, high_nadir.op, high_nadir.micro))
        .then(
            compare(
                inputs.s - inputs.s_nad,
                p1.threshold("high_rise").op,
                p1.threshold("high_rise").micro,
            )
        )
        .otherwise(_rise(inputs.s, inputs.s_nad, p1.threshold("rise"), p1.threshold("relative")))
    )
    urine = _rise(inputs.u, inputs.u_nad, p2.threshold("rise"), p2.threshold("relative"))
    flc = _rise(inputs.dflc, inputs.d_nad, p3.threshold("rise"), p3.threshold("relative"))
    marrow = _rise(inputs.bmpc, inputs.b_nad, p4.threshold("rise"), p4.threshold("relative"))
    return {
        "P1": (lab & serum).fill_null(False),
        "P2": (lab & urine).fill_null(False),
        "P3": ((pl.col("pathway") == "flc_only") & flc).fill_null(False),
        "P4": ((pl.col("pathway") == "marrow_only") & marrow).fill_null(False),
        "P5": inputs.imaging.is_not_null(),
    }


def with_progression(
    frame: pl.DataFrame, findings: pl.DataFrame, *, config: MyelomaCourseConfig, rules: Criteria
) -> pl.DataFrame:
    """Confirm PD per C3 and find the first confirmed PD of each line.

    Needs the ``pd_P1`` … ``pd_P5`` columns and ``next_row`` (next evaluable assessment of the
    line or its tail). Adds ``pd_confirmed``, ``pd_confirmed_date``, ``pd_confirmed_by``
    (``next``, ``imaging``, ``marrow``, ``death``, ``new_treatment``, ``absorbing`` for PD after
    the line's confirmed PD, C4), ``death_date`` and ``progression_date`` (the first confirmed
    PD of the line, C5). The decision is taken on the PD rows only (a small share of the rows).
    """
    columns = ("row", "pid", "group", "date", "pathway", "next_row", "next_date",
               "next_start_date", "pd_P4", "pd_P5", "s_nad", "u_nad", "d_nad", "b_nad")  # fmt: skip
    pd_rows = frame.lazy().filter(pl.col("pd_any") & ~pl.col("is_tail")).select(columns).collect()
    following = pd_rows["next_row"]
    pd_rows = pd_rows.with_columns(
        frame.get_column(c).gather(following).alias(f"next_{c}")
        for c in ("s", "u", "dflc", "bmpc", "imaging")
    )
    pd_next = pd_criteria(PdInputs.next_against_own_nadir(), rules=rules)
    pd_rows = pd_rows.with_columns(
        pd_next=pl.any_horizontal(list(pd_next.values())) & pl.col("next_row").is_not_null(),
        death_date=_deaths(findings, pd_rows["pid"], config=config),
    )
    no_next = pl.col("next_row").is_null()
    by_death = (
        no_next & pl.col("death_date").is_not_null() & (pl.col("death_date") >= pl.col("date"))
    )
    by_new_treatment = pl.lit(config.accept_treatment_change_as_confirmation) & (
        pl.col("next_start_date").is_not_null()
        & (no_next | (pl.col("next_date") >= pl.col("next_start_date")))
    )

    def by(name: str) -> pl.Expr:
        return pl.lit(name, dtype=CONFIRMED_BY)

    confirmed_by = (
        pl.when(pl.col("pd_P5")).then(by("imaging"))
        .when(pl.col("pd_next")).then(by("next"))
        .when(pl.col("pd_P4")).then(by("marrow"))
        .when(by_death).then(by("death"))
        .when(by_new_treatment).then(by("new_treatment"))
    )  # fmt: skip
    pd_rows = pd_rows.with_columns(pd_confirmed_by=confirmed_by)
    # rows come by line and date, so a line's first confirmed row has its earliest date
    first = (
        pd_rows.select("group", progression_date="date", confirmed=pl.col("pd_confirmed_by"))
        .filter(pl.col("confirmed").is_not_null())
        .filter(pl.col("group") != pl.col("group").shift(1).fill_null(-1))
    )
    lookup = segments.nulls("progression_date", segments.index_size(frame["group"]), pl.Date)
    if first.height:
        lookup = lookup.scatter(first["group"], first["progression_date"])
    pd_rows = pd_rows.with_columns(lookup.gather(pd_rows["group"]))
    # C4: after the line's confirmed PD, PD is absorbing; later PD assessments stand as PD
    absorbed = (
        pl.col("pd_confirmed_by").is_null() & (pl.col("date") > pl.col("progression_date"))
    ).fill_null(False)
    pd_rows = pd_rows.with_columns(
        pd_confirmed_by=pl.when(absorbed).then(by("absorbing")).otherwise("pd_confirmed_by")
    ).with_columns(
        pd_confirmed_date=pl.when(pl.col("pd_confirmed_by") == "next").then("next_date")
        .when(pl.col("pd_confirmed_by") == "death").then("death_date")
        .when(pl.col("pd_confirmed_by") == "new_treatment").then("next_start_date")
        .when(pl.col("pd_confirmed_by").is_not_null()).then("date"),
    )  # fmt: skip
    size, at = frame.height, pd_rows["row"]
    added = []
    for name, dtype in (("pd_confirmed_by", CONFIRMED_BY), ("pd_confirmed_date", pl.Date),
                        ("death_date", pl.Date)):  # fmt: skip
        column = segments.nulls(name, size, dtype)
        added.append(column.scatter(at, pd_rows[name]) if pd_rows.height else column)
    return frame.with_columns(
        *added, lookup.gather(frame["group"]).alias("progression_date")
    ).with_columns(pd_confirmed=pl.col("pd_confirmed_by").is_not_null())


def _deaths(findings: pl.DataFrame, pid: pl.Series, *, config: MyelomaCourseConfig) -> pl.Series:
    """For each row's patient, the earliest death that may confirm a pending PD (C3)."""
    cause = pl.col("detail").fill_null("").str.strip_chars()
    counts = cause.str.contains(_DEATH_CAUSE)
    if config.death_of_unknown_cause_confirms_pd:
        counts = counts | (cause == "")
    deaths = (
        findings.filter((pl.col("finding") == "death") & counts)
        .group_by("pid")
        .agg(death_date=pl.col("date").min())
    )
    size = segments.index_size(pid, deaths["pid"])
    lookup = segments.nulls("death_date", size, pl.Date)
    if deaths.height:
        lookup = lookup.scatter(deaths["pid"], deaths["death_date"])
    return lookup.gather(pid)


def _evidence(rules: Criteria) -> dict[str, pl.Expr]:
    """Readable evidence per criterion, for rows where it fired."""
    p1, p2, p3, p4 = (rules[r] for r in ("P1", "P2", "P3", "P4"))

    def rise_text(
        value: str, nadir: str, label: str, unit: str, needs: str, space: str = " "
    ) -> pl.Expr:
        rise = pl.col(value) - pl.col(nadir)
        pct = format_percent(rise, pl.col(nadir))
        return pl.concat_str(
            [
                pl.lit(f"{label} "),
                format_micro(pl.col(nadir)),
                pl.lit(" -> "),
                format_micro(pl.col(value)),
                pl.lit(f"{space}{unit} (+"),
                format_micro(rise),
                pl.lit(f"{space}{unit}"),
                pl.when(pct.is_not_null())
                .then(pl.concat_str([pl.lit(", +"), pct, pl.lit("%")]))
                .otherwise(pl.lit("")),
                pl.lit(" from nadir "),
                format_micro(pl.col(nadir)),
                pl.lit(f"{space}{unit}; "),
                pl.lit(needs),
                pl.lit(")"),
            ]
        )

    def plus(t: Threshold) -> str:
        text = str(t).split(t.quantity, 1)[1].strip()
        return text.replace("≥ ", "+").replace("> ", "more than +")

    p1_high = p1.threshold("high_nadir")
    serum_needs = (
        pl.when(compare(pl.col("s_nad"), p1_high.op, p1_high.micro))
        .then(
            pl.lit(
                f"nadir {plus(p1_high).replace('+', '≥ ')}, so needs "
                f"{plus(p1.threshold('high_rise'))}"
            )
        )
        .otherwise(
            pl.lit(f"needs {plus(p1.threshold('rise'))} and {plus(p1.threshold('relative'))}")
        )
    )
    serum = pl.concat_str(
        [
            pl.lit("serum M-protein "),
            format_micro(pl.col("s_nad")),
            pl.lit(" -> "),
            format_micro(pl.col("s")),
            pl.lit(" g/dL (+"),
            format_micro(pl.col("s") - pl.col("s_nad")),
            pl.lit(" g/dL"),
            pl.when(pl.col("s_nad") > 0)
            .then(
                pl.concat_str(
                    [
                        pl.lit(", +"),
                        format_percent(pl.col("s") - pl.col("s_nad"), pl.col("s_nad")),
                        pl.lit("%"),
                    ]
                )
            )
            .otherwise(pl.lit("")),
            pl.lit(" from nadir "),
            format_micro(pl.col("s_nad")),
            pl.lit(" g/dL; "),
            serum_needs,
            pl.lit(")"),
        ]
    )
    return {
        "P1": serum,
        "P2": rise_text(
            "u",
            "u_nad",
            "urine M-protein",
            "mg/24h",
            f"needs {plus(p2.threshold('rise'))} and {plus(p2.threshold('relative'))}",
        ),
        "P3": rise_text(
            "dflc",
            "d_nad",
            "free light chain difference (dFLC)",
            "mg/L",
            f"needs {plus(p3.threshold('rise'))} and {plus(p3.threshold('relative'))}",
        ),
        "P4": rise_text(
            "bmpc",
            "b_nad",
            "marrow plasma cells",
            "%",
            f"needs {plus(p4.threshold('rise'))} and {plus(p4.threshold('relative'))}",
            space="",
        ),
        "P5": pl.concat_str(
            [
                pl.col("imaging").str.replace_all("_", " ").str.replace_all(r"\+", " and "),
                pl.lit(" on imaging"),
            ]
        ),
    }


def _confirmation_text() -> pl.Expr:
    day = "%Y-%m-%d"
    after_new_line = pl.col("next_start_date").is_not_null() & (
        pl.col("pd_confirmed_date") >= pl.col("next_start_date")
    )
    return (
        pl.when(pl.col("pd_confirmed_by") == "next")
        .then(
            pl.concat_str(
                [
                    pl.lit("confirmed "),
                    pl.col("next_date").dt.to_string(day),
                    pl.when(after_new_line)
                    .then(pl.lit(" (after the next line started)"))
                    .otherwise(pl.lit("")),
                ]
            )
        )
        .when(pl.col("pd_confirmed_by") == "imaging")
        .then(pl.lit("imaging needs no confirmation"))
        .when(pl.col("pd_confirmed_by") == "marrow")
        .then(pl.lit("marrow results need no confirmation"))
        .when(pl.col("pd_confirmed_by") == "absorbing")
        .then(pl.lit("after the confirmed PD of this line"))
        .when(pl.col("pd_confirmed_by") == "death")
        .then(
            pl.concat_str(
                [pl.lit("confirmed by death on "), pl.col("death_date").dt.to_string(day)]
            )
        )
        .when(pl.col("pd_confirmed_by") == "new_treatment")
        .then(
            pl.concat_str(
                [
                    pl.lit("taken as confirmed: new treatment started "),
                    pl.col("next_start_date").dt.to_string(day),
                    pl.lit(" before another assessment (option A-8)"),
                ]
            )
        )
        .when(pl.col("next_date").is_not_null())
        .then(
            pl.concat_str(
                [
                    pl.lit("not confirmed: the next assessment ("),
                    pl.col("next_date").dt.to_string(day),
                    pl.lit(") did not meet a PD criterion against the same nadir"),
                ]
            )
        )
        .otherwise(pl.lit("not confirmed yet: no later assessment"))
    )


def progression_tables(
    frame: pl.DataFrame, *, rules: Criteria
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``progression`` (first confirmed PD per line) and ``unconfirmed_progression`` tables.

    Columns: ``pid, line, date, confirmed_date, criterion, rule`` (the unconfirmed table
    has no ``confirmed_date``). ``criterion`` says which test, nadir, value, threshold and dates;
    ``rule`` lists the criteria that fired, e.g. ``P1`` or ``P1+P2``.
    """
    evidence = _evidence(rules)
    candidate = (
        pl.col("pd_any")
        & ~pl.col("is_tail")
        & (pl.col("progression_date").is_null() | (pl.col("date") <= pl.col("progression_date")))
    )
    # a criterion that fired on no row adds nothing (a null, ignored): its evidence text, the
    # costly part, is only formatted when some row needs it
    on_some_row = frame.select((candidate & pl.col(f"pd_{r}")).any().alias(r) for r in PD_RULES)
    fired = [r for r in PD_RULES if on_some_row[r].item()]
    # lazily, so only the columns the texts and tables read are filtered, not the wide frame
    described = (
        frame.lazy()
        .filter(candidate)
        .with_columns(
            rule=pl.concat_str(
                [pl.when(pl.col(f"pd_{r}")).then(pl.lit(r)) for r in PD_RULES],
                separator="+",
                ignore_nulls=True,
            ),
            criterion=pl.concat_str(
                [
                    pl.concat_str(
                        [pl.when(pl.col(f"pd_{r}")).then(evidence[r]) for r in fired]
                        or [pl.lit(None, dtype=pl.String)],
                        separator="; ",
                        ignore_nulls=True,
                    ),
                    _confirmation_text(),
                ],
                separator="; ",
            ),
        )
        .select(
            "pid", "line", "date", "pd_confirmed", "pd_confirmed_date", "progression_date",
            "criterion", "rule",
        )
        .collect()
    )  # fmt: skip
    confirmed = (
        described.filter(pl.col("pd_confirmed") & (pl.col("date") == pl.col("progression_date")))
        .select(
            "pid",
            "line",
            "date",
            confirmed_date="pd_confirmed_date",
            criterion="criterion",
            rule="rule",
        )
        .sort("pid", "line")
    )
    unconfirmed = (
        described.filter(~pl.col("pd_confirmed"))
        .select("pid", "line", "date", "criterion", "rule")
        .sort("pid", "date")
    )
    return confirmed, unconfirmed
