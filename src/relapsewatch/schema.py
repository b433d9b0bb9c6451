"""The canonical tables: the data contract of relapsewatch (see ``docs/data-contract.md``).

Two views of each table exist:

* the **file** view: the columns a canonical CSV/Parquet file holds, as a user writes them
  (:data:`FILE_TABLES`);
* the **canonical frame** view: what the readers return after validation and normalisation, with
  typed columns, canonical test and therapy names and values in canonical units
  (:data:`PATIENTS`, :data:`MEASUREMENTS`, :data:`TREATMENTS`, :data:`FINDINGS`).

The derivations in :mod:`relapsewatch.course` take canonical frames; use
:func:`require_columns` at the top of a public derivation to fail with a message naming the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from relapsewatch.errors import SchemaError

__all__ = [
    "DISEASES",
    "FILE_TABLES",
    "FINDINGS",
    "FINDING_NAMES",
    "HEAVY_CHAINS",
    "LIGHT_CHAINS",
    "MEASUREMENTS",
    "PATIENTS",
    "PROCEDURES",
    "QUALITATIVE_RESULTS",
    "TREATMENTS",
    "Column",
    "FileTable",
    "empty_frame",
    "require_columns",
]

DISEASES = ("myeloma",)
HEAVY_CHAINS = ("IgG", "IgA", "IgD", "IgE", "IgM", "none")
LIGHT_CHAINS = ("kappa", "lambda")
SEXES = ("female", "male", "other", "unknown")

#: Qualitative results a measurement ``value`` may hold (test-specific subsets are in vocab).
QUALITATIVE_RESULTS = (
    "positive",
    "negative",
    "indeterminate",
    "positive_therapeutic_mab_only",
    "clonal",
    "not_clonal",
)
#: A result below the quantitation limit (``<0.1``, ``trace``): detected, not a number, never 0.
DETECTED_NONQUANTIFIABLE = "detected_nonquantifiable"

PROCEDURES = (
    "autologous_transplant",
    "allogeneic_transplant",
    "apheresis",
    "car_t_infusion",
    "radiotherapy",
    "surgery",
)

FINDING_NAMES = (
    "new_bone_lesion",
    "new_plasmacytoma",
    "plasmacytoma_increase",
    "clinical_relapse",
    "death",
    "recurrence",
)

INTENTS = ("maintenance", "consolidation", "bridging", "conditioning", "mobilisation", "step_up")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a canonical file table."""

    name: str
    kind: str  # "text", "date", "integer", "number_or_result", "number"
    required: bool
    description: str
    allowed: tuple[str, ...] | None = None
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class FileTable:
    """A canonical input table as it appears in a file."""

    name: str
    required: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default=())
    description: str = ""

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


FILE_TABLES: dict[str, FileTable] = {
    "patients": FileTable(
        "patients",
        required=True,
        key=("patient_id",),
        description="One row per patient.",
        columns=(
            Column("patient_id", "text", True, "Identifier, unique in the table."),
            Column("disease", "text", True, "Disease; only 'myeloma' for now.", DISEASES),
            Column("diagnosis_date", "date", True, "Date of diagnosis, YYYY-MM-DD."),
            Column("heavy_chain", "text", False, "Paraprotein heavy chain.", HEAVY_CHAINS, True),
            Column("light_chain", "text", False, "Paraprotein light chain.", LIGHT_CHAINS, True),
            Column("sex", "text", False, "Sex.", SEXES, True),
            Column("birth_year", "integer", False, "Year of birth.", None, True),
        ),
    ),
    "measurements": FileTable(
        "measurements",
        required=True,
        description="One row per test result.",
        columns=(
            Column("patient_id", "text", True, "Patient identifier (in patients)."),
            Column("date", "date", True, "Sample date, YYYY-MM-DD."),
            Column("test", "text", True, "Canonical test name or LOINC code."),
            Column("value", "number_or_result", True, "Number, qualitative result, or <LOQ."),
            Column(
                "unit",
                "text",
                True,
                "Unit as reported; empty only for qualitative tests.",
                None,
                True,
            ),
            Column("method", "text", False, "Assay method (NGF, NGS, DIRA, ...).", None, True),
            Column("sensitivity", "number", False, "MRD sensitivity, e.g. 1e-5.", None, True),
        ),
    ),
    "treatments": FileTable(
        "treatments",
        required=True,
        description="One row per administration or continuous course.",
        columns=(
            Column("patient_id", "text", True, "Patient identifier (in patients)."),
            Column("therapy", "text", True, "Drug (generic, brand or regimen) or procedure."),
            Column("start_date", "date", True, "First day, YYYY-MM-DD."),
            Column("end_date", "date", True, "Last day; empty means ongoing.", None, True),
            Column("intent", "text", False, "Planned intent label.", INTENTS, True),
        ),
    ),
    "findings": FileTable(
        "findings",
        required=False,
        description="Clinical findings and events.",
        columns=(
            Column("patient_id", "text", True, "Patient identifier (in patients)."),
            Column("date", "date", True, "Date of the finding, YYYY-MM-DD."),
            Column("finding", "text", True, "What was found.", FINDING_NAMES),
            Column("detail", "text", False, "Free-text detail (site, cause).", None, True),
        ),
    ),
}

# ---------------------------------------------------------------------------------------------
# Canonical frames (what readers return; what derivations take)
# ---------------------------------------------------------------------------------------------

#: patients: one row per patient.
PATIENTS: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "disease": pl.String(),
    "diagnosis_date": pl.Date(),
    "heavy_chain": pl.String(),
    "light_chain": pl.String(),
    "sex": pl.String(),
    "birth_year": pl.Int32(),
}

#: measurements: one row per result, in canonical units.
#:
#: * ``test``: canonical analyte name (see :mod:`relapsewatch.vocab.analytes`);
#: * ``value``: number in the canonical ``unit``, rounded to 6 decimal places; null when the
#:   result is qualitative or below the quantitation limit;
#: * ``result``: null for a plain number; a qualitative result (``positive``, ``negative``,
#:   ``indeterminate``, ``positive_therapeutic_mab_only``, ``clonal``, ``not_clonal``), or
#:   ``detected_nonquantifiable`` for ``<0.1`` / ``trace``;
#: * ``limit``: for ``detected_nonquantifiable``, the quantitation limit in the canonical unit
#:   when one was given (``<0.1`` gives 0.1), else null;
#: * ``method`` / ``sensitivity``: assay method and MRD sensitivity where given;
#: * ``reported_test`` / ``reported_unit``: what the source said, kept for provenance;
#: * ``flags``: comma-separated data-quality flags (e.g. ``probable_g_per_l_mixup``).
MEASUREMENTS: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "date": pl.Date(),
    "test": pl.String(),
    "value": pl.Float64(),
    "result": pl.String(),
    "limit": pl.Float64(),
    "unit": pl.String(),
    "method": pl.String(),
    "sensitivity": pl.Float64(),
    "reported_test": pl.String(),
    "reported_unit": pl.String(),
    "flags": pl.String(),
}

#: treatments: one row per drug administration or course, one drug per row (regimen
#: abbreviations are exploded into their drugs). ``therapy`` is the generic drug name or a
#: procedure; ``drug_classes`` lists the classes of §2.3 (a drug can be in several, e.g.
#: teclistamab is ``bcma`` and ``bispecific``); ``end_date`` null = ongoing at the data cut-off.
TREATMENTS: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "therapy": pl.String(),
    "drug_classes": pl.List(pl.String()),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
    "intent": pl.String(),
    "reported_therapy": pl.String(),
}

#: findings: one row per clinical finding or event.
FINDINGS: dict[str, pl.DataType] = {
    "patient_id": pl.String(),
    "date": pl.Date(),
    "finding": pl.String(),
    "detail": pl.String(),
}

CANONICAL_FRAMES: dict[str, dict[str, pl.DataType]] = {
    "patients": PATIENTS,
    "measurements": MEASUREMENTS,
    "treatments": TREATMENTS,
    "findings": FINDINGS,
}


def empty_frame(schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with the given canonical schema.

    >>> empty_frame(FINDINGS).columns
    ['patient_id', 'date', 'finding', 'detail']
    """
    return pl.DataFrame(schema=dict(schema))


def require_columns(
    frame: pl.DataFrame | pl.LazyFrame,
    needed: Mapping[str, pl.DataType] | tuple[str, ...],
    *,
    table: str,
) -> None:
    """Fail with a message naming the column if ``frame`` lacks a needed column.

    >>> import polars as pl
    >>> frame = pl.DataFrame({"patient_id": ["a"]})
    >>> require_columns(frame, ("patient_id", "date"), table="findings")
    Traceback (most recent call last):
    ...
    relapsewatch.errors.SchemaError: `findings` must have column 'date', got columns ...
    """
    have = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    names = tuple(needed.keys()) if isinstance(needed, Mapping) else tuple(needed)
    for name in names:
        if name not in have:
            raise SchemaError(
                f"`{table}` must have column '{name}', got columns {sorted(have)}; "
                "read it with relapsewatch.io.read_tables, or add the column."
            )
