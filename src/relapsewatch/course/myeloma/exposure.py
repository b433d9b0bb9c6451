"""Drug and drug-class exposure (spec §2.4, rules E1–E5) and the condition flags built on it.

A patient is exposed to a drug from its first recorded administration or dispensing, in any line,
including maintenance and bridging (E1). Class exposure is exposure to any drug of the class.
Composite flags (triple-class, penta, quad, double) are true from the date their last component
became true (E2–E4) and never revert (E5). Every flag keeps the date it became true and a short
evidence text.

The condition names are those of the treatment-options condition vocabulary
(``shared/domain/treatment-options.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from relapsewatch.course.myeloma.treatment_rows import ONGOING, classify_treatments, sort_by_codes

__all__ = [
    "COMPOSITES",
    "EXPOSURE_RULES",
    "NAMED_DRUGS",
    "TRACKED_CLASSES",
    "Composite",
    "ExposureRule",
    "composite_conditions",
    "derive_drug_exposure",
    "exposure_conditions",
]


@dataclass(frozen=True, slots=True)
class ExposureRule:
    """One exposure or composite rule, printable and citable."""

    code: str
    rule: str
    source: str


_SPEC = "shared/domain/myeloma-course.md §2.4"
EXPOSURE_RULES: tuple[ExposureRule, ...] = (
    ExposureRule(
        "E1",
        "Exposed to a drug from its first recorded dose, in any line; to a class "
        "from the first dose of any drug in it.",
        _SPEC,
    ),
    ExposureRule(
        "E2", "Triple-class exposed: at least one IMiD, one PI and one anti-CD38 antibody.", _SPEC
    ),
    ExposureRule(
        "E3",
        "Triple-class refractory: refractory to a drug of each of those classes; "
        "double-refractory: an IMiD and a PI.",
        _SPEC,
    ),
    ExposureRule(
        "E4",
        "Penta: lenalidomide, pomalidomide, bortezomib, carfilzomib and an "
        "anti-CD38 antibody; quad: the four without the antibody (strict named drugs, "
        "A-26).",
        _SPEC,
    ),
    ExposureRule("E5", "Each flag carries the date it became true and never reverts.", _SPEC),
)

#: Drugs with their own ``<drug>_exposed`` / ``<drug>_refractory`` condition.
NAMED_DRUGS: tuple[str, ...] = (
    "thalidomide",
    "lenalidomide",
    "pomalidomide",
    "bortezomib",
    "carfilzomib",
    "ixazomib",
    "daratumumab",
    "isatuximab",
    "elotuzumab",
    "selinexor",
    "belantamab mafodotin",
    "teclistamab",
    "elranatamab",
    "talquetamab",
)

#: Drug classes (``drug_classes`` values) with ``<class>_exposed`` / ``<class>_refractory``.
TRACKED_CLASSES: tuple[str, ...] = (
    "imid",
    "pi",
    "anti_cd38",
    "bcma",
    "gprc5d",
    "car_t",
    "bispecific",
    "anti_slamf7",
    "celmod",
)


@dataclass(frozen=True, slots=True)
class Composite:
    """A flag true once every component is true (from the latest component date)."""

    name: str
    components: tuple[str, ...]
    rule: str


def _cond_name(item: str, suffix: str) -> str:
    return f"{item.replace(' ', '_')}_{suffix}"


#: E2–E4 composites over atomic conditions (``<drug or class>_<exposed|refractory>``).
COMPOSITES: tuple[Composite, ...] = (
    Composite("triple_class_exposed", ("imid_exposed", "pi_exposed", "anti_cd38_exposed"), "E2"),
    Composite(
        "triple_class_refractory",
        ("imid_refractory", "pi_refractory", "anti_cd38_refractory"),
        "E3",
    ),
    Composite("double_refractory", ("imid_refractory", "pi_refractory"), "E3"),
    Composite(
        "penta_exposed",
        (
            "lenalidomide_exposed",
            "pomalidomide_exposed",
            "bortezomib_exposed",
            "carfilzomib_exposed",
            "anti_cd38_exposed",
        ),
        "E4",
    ),
    Composite(
        "penta_refractory",
        (
            "lenalidomide_refractory",
            "pomalidomide_refractory",
            "bortezomib_refractory",
            "carfilzomib_refractory",
            "anti_cd38_refractory",
        ),
        "E4",
    ),
    Composite(
        "quad_refractory",
        (
            "lenalidomide_refractory",
            "pomalidomide_refractory",
            "bortezomib_refractory",
            "carfilzomib_refractory",
        ),
        "E4",
    ),
)

CONDITIONS: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "condition": pl.String(),
    "since": pl.Date(),
    "rule": pl.String(),
    "evidence": pl.String(),
}


def derive_drug_exposure(treatments: pl.DataFrame) -> pl.DataFrame:
    """E1: one row per patient and drug with its first and last dose.

    Supportive care and procedures are not drug exposures. ``last_dose`` is null while the drug
    is ongoing.

    >>> import datetime as dt
    >>> d = dt.date
    >>> t = pl.DataFrame({"patient_id": ["p", "p", "p"],
    ...     "therapy": ["lenalidomide", "lenalidomide", "zoledronic acid"],
    ...     "drug_classes": [["imid"], ["imid"], ["supportive"]],
    ...     "start_date": [d(2023, 2, 1), d(2023, 10, 16), d(2023, 2, 1)],
    ...     "end_date": [d(2023, 5, 10), None, None]})
    >>> derive_drug_exposure(t).select("drug", "first_dose", "last_dose").rows()
    [('lenalidomide', datetime.date(2023, 2, 1), None)]
    """
    rows = classify_treatments(treatments).filter(
        pl.col("kind").is_in(("drug", "steroid"))
        | ((pl.col("kind") == "car_t") & (pl.col("therapy") != "car_t_infusion"))
    )
    exposure = (
        rows.group_by("patient_id", pl.col("therapy").alias("drug"))
        .agg(
            pl.col("drug_classes").first(),
            pl.col("kind").first(),
            first_dose=pl.col("start_date").min(),
            last_end=pl.col("end").max(),
        )
        .with_columns(last_dose=pl.when(pl.col("last_end") < ONGOING).then(pl.col("last_end")))
        .drop("last_end")
    )
    return sort_by_codes(exposure, "patient_id", "drug")


def exposure_conditions(drug_exposure: pl.DataFrame, treatments: pl.DataFrame) -> pl.DataFrame:
    """Atomic exposure conditions (long): ``<drug>_exposed`` for :data:`NAMED_DRUGS`,
    ``<class>_exposed`` for :data:`TRACKED_CLASSES`, ``prior_bcma``, ``prior_bcma_car_t``,
    ``prior_gprc5d`` and ``prior_asct`` (first autologous transplant)."""
    per_drug = drug_exposure.filter(pl.col("drug").is_in(NAMED_DRUGS)).select(
        "patient_id",
        (pl.col("drug").str.replace_all(" ", "_") + "_exposed").alias("condition"),
        pl.col("first_dose").alias("since"),
        pl.lit("E1").alias("rule"),
        pl.format(
            "first {} dose {}", pl.col("drug"), pl.col("first_dose").dt.strftime("%Y-%m-%d")
        ).alias("evidence"),
    )
    exploded = drug_exposure.explode("drug_classes").rename({"drug_classes": "drug_class"})
    per_class = _first_per_group(
        exploded.filter(pl.col("drug_class").is_in(TRACKED_CLASSES)).with_columns(
            condition=pl.col("drug_class") + "_exposed"
        ),
    )
    car_t = drug_exposure.filter(
        pl.col("drug_classes").list.contains("car_t") & pl.col("drug_classes").list.contains("bcma")
    )
    aliases = [
        per_class.filter(pl.col("condition") == src).with_columns(condition=pl.lit(dst))
        for src, dst in (("bcma_exposed", "prior_bcma"), ("gprc5d_exposed", "prior_gprc5d"))
    ]
    aliases.append(_first_per_group(car_t.with_columns(condition=pl.lit("prior_bcma_car_t"))))
    asct = (
        treatments.filter(pl.col("therapy") == "autologous_transplant")
        .group_by("patient_id")
        .agg(since=pl.col("start_date").min())
        .select(
            "patient_id",
            pl.lit("prior_asct").alias("condition"),
            "since",
            pl.lit("E1").alias("rule"),
            pl.format(
                "autologous stem-cell transplant on {}", pl.col("since").dt.strftime("%Y-%m-%d")
            ).alias("evidence"),
        )
    )
    frames = [per_drug, per_class, *aliases, asct]
    return pl.concat(
        [
            f.select(list(CONDITIONS)).cast(CONDITIONS)  # type: ignore[arg-type]
            for f in frames
        ]
    )


def _first_per_group(frame: pl.DataFrame) -> pl.DataFrame:
    """Earliest drug per (patient, condition), with ``first <drug> dose <date>`` evidence."""
    return (
        frame.sort("first_dose", "drug")
        .group_by("patient_id", "condition", maintain_order=True)
        .agg(since=pl.col("first_dose").first(), drug=pl.col("drug").first())
        .select(
            "patient_id",
            "condition",
            "since",
            pl.lit("E1").alias("rule"),
            pl.format(
                "first {} dose {}", pl.col("drug"), pl.col("since").dt.strftime("%Y-%m-%d")
            ).alias("evidence"),
        )
    )


def composite_conditions(atomic: pl.DataFrame) -> pl.DataFrame:
    """E2–E4: composite flags from atomic conditions (long in, long out).

    A composite holds from the latest date among its components, once all of them hold.

    >>> import datetime as dt
    >>> d = dt.date
    >>> atomic = pl.DataFrame({"patient_id": ["p"] * 3,
    ...     "condition": ["imid_exposed", "pi_exposed", "anti_cd38_exposed"],
    ...     "since": [d(2022, 11, 7), d(2022, 11, 7), d(2024, 8, 26)],
    ...     "rule": ["E1"] * 3, "evidence": ["a", "b", "c"]})
    >>> composite_conditions(atomic).select("condition", "since").rows()
    [('triple_class_exposed', datetime.date(2024, 8, 26))]
    """
    needed = sorted({c for comp in COMPOSITES for c in comp.components})
    parts = atomic.filter(pl.col("condition").is_in(needed)).select(
        "patient_id", "condition", "since"
    )
    # One column of dates per atomic condition (its earliest date, as a pivot with "min" would
    # give, in one group-by), then each composite across its columns.
    wide = parts.group_by("patient_id").agg(
        pl.col("since").filter(pl.col("condition") == c).min().alias(c) for c in needed
    )
    frames = [
        wide.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in comp.components)).select(
            "patient_id",
            pl.lit(comp.name).alias("condition"),
            pl.max_horizontal(*comp.components).alias("since"),
            pl.lit(comp.rule).alias("rule"),
            pl.concat_str(
                [
                    pl.concat_str([pl.lit(f"{c} since "), pl.col(c).dt.strftime("%Y-%m-%d")])
                    for c in comp.components
                ],
                separator="; ",
            ).alias("evidence"),
        )
        for comp in COMPOSITES
    ]
    out = pl.concat([f.cast(CONDITIONS) for f in frames])  # type: ignore[arg-type]
    return out.sort("patient_id", "condition")
