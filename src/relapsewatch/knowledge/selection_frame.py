"""The treatment-options selection for a whole ``status`` frame, as Polars expressions.

:func:`options_frame` gives, for every patient and every option considered at their number of
prior lines, the same outcome and the same ``depends_on`` conditions as
:func:`~relapsewatch.knowledge.selection.options_for` (a property test checks this), without the
per-person wording. Use it for cohort views such as "who has a listed option that depends on a
CAR-T assessment"; use ``options_for`` to show one person their options.

>>> import polars as pl
>>> status = pl.DataFrame({"patient_id": ["a", "b"], "prior_lines": [1, 1],
...                        "lenalidomide_refractory": [True, False]})
>>> out = options_frame(status, region="eu")
>>> out.filter(pl.col("regimen_id") == "drd").select("patient_id", "outcome").rows()
[('a', 'not_listed'), ('b', 'depends')]
"""

from __future__ import annotations

import polars as pl

from relapsewatch.errors import VocabularyError
from relapsewatch.knowledge.conditions import CARE_TEAM_CONDITIONS, CONDITIONS, AnyOf, Condition
from relapsewatch.knowledge.regimens import REGIONS, RegimenCatalogue, Region, load_regimens
from relapsewatch.knowledge.rules import Check, check_expr, plan
from relapsewatch.schema import require_columns

__all__ = ["OPTIONS_FRAME", "options_frame"]

#: Columns of :func:`options_frame`.
OPTIONS_FRAME: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "regimen_id": pl.String(),
    "outcome": pl.String(),
    "depends_on": pl.List(pl.String()),
    "approval_status": pl.String(),
}


def _leaf_conditions(check: Check) -> list[str]:
    req = check.requirement
    if isinstance(req, Condition):
        return [req.name]
    if isinstance(req, AnyOf):
        return [x.name for x in req.items if isinstance(x, Condition)]
    return []


def _all_of(exprs: list[pl.Expr]) -> pl.Expr:
    combined = exprs[0]
    for expr in exprs[1:]:
        combined = combined & expr
    return combined


def options_frame(
    status: pl.DataFrame,
    *,
    region: Region,
    catalogue: RegimenCatalogue | None = None,
) -> pl.DataFrame:
    """One row per patient and option considered at their prior lines (see :data:`OPTIONS_FRAME`).

    Rows are sorted by ``patient_id``, options in the knowledge file's order.

    ``status`` needs ``patient_id`` and ``prior_lines``; condition columns that are missing or
    null are unknown, and the care-team conditions are always unknown here. ``outcome`` is
    ``listed``, ``depends`` or ``not_listed``; ``depends_on`` names the unknown conditions an
    option waits on (empty unless ``depends``).
    """
    if region not in REGIONS:
        raise VocabularyError(f"`region` must be one of {list(REGIONS)}, got {region!r}")
    require_columns(status, ("patient_id", "prior_lines"), table="status")
    known = catalogue or load_regimens()
    facts = status.select(
        pl.col("patient_id").cast(pl.String),
        pl.col("prior_lines").cast(pl.Int64),
        *[
            (
                pl.col(name).cast(pl.Boolean)
                if name in status.columns and name not in CARE_TEAM_CONDITIONS
                else pl.lit(None, dtype=pl.Boolean)
            ).alias(name)
            for name in CONDITIONS
        ],
    )
    parts: list[pl.DataFrame] = []
    for regimen in known.regimens:
        if not regimen.displayed:
            continue
        checks = plan(regimen, region)
        results = [check_expr(c) for c in checks]
        passes = _all_of(results)
        waits: list[pl.Expr] = [
            pl.when(result.is_null() & pl.col(name).is_null()).then(pl.lit(name))
            for check, result in zip(checks, results, strict=True)
            for name in _leaf_conditions(check)
        ]
        outcome = (
            pl.when(passes.is_null())
            .then(pl.lit("depends"))
            .when(passes)
            .then(pl.lit("listed"))
            .otherwise(pl.lit("not_listed"))
        )
        depends_on = (
            pl.concat_list(waits).list.drop_nulls().list.unique(maintain_order=True)
            if waits
            else pl.lit([], dtype=pl.List(pl.String))
        )
        top = regimen.max_prior_lines
        relevant = pl.col("prior_lines") >= regimen.min_prior_lines
        if top is not None:
            relevant = relevant & (pl.col("prior_lines") <= top)
        parts.append(
            facts.filter(relevant).select(
                pl.col("patient_id"),
                pl.lit(regimen.id).alias("regimen_id"),
                outcome.alias("outcome"),
                pl.when(outcome == "depends")
                .then(depends_on)
                .otherwise(pl.lit([], dtype=pl.List(pl.String)))
                .alias("depends_on"),
                pl.lit(regimen.approval(region).status).alias("approval_status"),
            )
        )
    if not parts:
        return pl.DataFrame(schema=OPTIONS_FRAME)
    # A stable sort keeps the knowledge file's order of options within each patient.
    out = pl.concat(parts).sort("patient_id", maintain_order=True)
    return out.cast(OPTIONS_FRAME)  # type: ignore[arg-type]
