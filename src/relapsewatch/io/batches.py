"""Reading a canonical folder in patient batches, so memory is bounded by the batch, not the cohort.

:class:`PatientBatches` gives the same canonical frames as :func:`relapsewatch.io.read_tables`,
split by patient:

1. **Partition** (one streaming pass per table): every row gets its spreadsheet row number and the
   batch of its patient (patients sorted by identifier and split into equal batches of at most
   ``batch_size``; their number a multiple of ``multiple_of``, so that parallel workers finish
   together), and is written to a temporary Arrow IPC part of that batch. Rows whose patient is
   unknown go to the first batch, where the reference check reports them.
2. **Validate**: each batch goes through the reader's own validation and normalisation
   (:func:`relapsewatch.io.normalise_tables`), so problems carry the original file, row and
   column. Every batch is checked before any is handed out: bad input fails as a whole with every
   problem found, and the data cut-off (the latest date in the records) is known for the cohort.
3. **Iterate**: each batch's canonical frames are read back from the temporary folder.

With ``validate=False`` only step 1 runs: :attr:`PatientBatches.raw_parts` then gives each
batch's raw frames to whoever validates and uses them batch by batch (the parallel course run,
:mod:`relapsewatch.io.course_folder`, validates and derives a batch in one go in a worker process).

A folder with no more patients than ``batch_size`` is read in one go with
:func:`~relapsewatch.io.read_tables` (no temporary files).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import polars as pl

from relapsewatch import schema
from relapsewatch.errors import DataError, Problem
from relapsewatch.io import CanonicalTables, normalise_tables, read_tables
from relapsewatch.io.files import (
    READ_ERRORS,
    TableFile,
    find_tables,
    read_raw,
    scan_raw,
    unreadable,
)
from relapsewatch.io.normalise import parse_date

__all__ = ["DEFAULT_BATCH_SIZE", "PatientBatches", "Progress", "RawParts", "cutoff_of"]

#: Patients per batch unless told otherwise (at most; batches are made equal): about 1.6 million
#: measurement rows at 80 per patient, about 1.2 GB in each worker of the course command, so two
#: workers and the partitioning process stay inside 4 GB for any cohort (docs/benchmarks.md).
DEFAULT_BATCH_SIZE = 20_000
TABLE_NAMES = tuple(schema.FILE_TABLES)
_BATCH = "__batch"
#: How the partition pass names its temporary files (Arrow IPC).
_PART_SUFFIX = ".ipc"

#: ``progress(step, done, total)``: called as partitioning and validation advance.
Progress = Callable[[str, int, int], None]


#: The dated columns whose latest value is the data cut-off, per table.
CUTOFF_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("diagnosis_date",),
    "measurements": ("date",),
    "treatments": ("start_date", "end_date"),
    "findings": ("date",),
}


def cutoff_of(tables: CanonicalTables) -> dt.date | None:
    """The latest date in canonical tables (diagnosis, results, doses, findings)."""
    frames = tables.as_dict()
    candidates = [frames[name][c].max() for name, cols in CUTOFF_COLUMNS.items() for c in cols]
    dates = [c for c in candidates if isinstance(c, dt.date)]
    return max(dates) if dates else None


@dataclass(frozen=True)
class RawParts:
    """The partitioned raw tables of a folder: each batch's rows as the files hold them.

    Small and picklable, so a worker process can read its own batch.
    """

    root: Path
    #: Raw schema of each table present (an absent batch part is an empty frame of it).
    schemas: dict[str, dict[str, pl.DataType]]
    #: How each table's file is named in problems (``measurements.csv``).
    files: dict[str, str]

    def read(self, index: int) -> dict[str, pl.DataFrame]:
        """The raw frames of batch ``index`` (each with ``__row``, the file's row number)."""
        raw: dict[str, pl.DataFrame] = {}
        for name, raw_schema in self.schemas.items():
            part = self.root / name / f"{_BATCH}={index}"
            files = sorted(part.glob(f"*{_PART_SUFFIX}")) if part.is_dir() else []
            raw[name] = pl.scan_ipc(files).collect() if files else pl.DataFrame(schema=raw_schema)
        return raw

    def remove(self, index: int) -> None:
        """Delete the files of batch ``index`` once it is no longer needed (the folder is removed
        at the end anyway; removing each batch as it is done spreads the work over the run)."""
        for name in self.schemas:
            shutil.rmtree(self.root / name / f"{_BATCH}={index}", ignore_errors=True)

    def cutoff(self) -> dt.date | None:
        """The latest date in the raw tables, parsed as the reader parses dates.

        For a folder that passes validation this is exactly :func:`cutoff_of` of its canonical
        tables (every row is kept and dates are parsed the same way), so a run can derive each
        batch as soon as it is validated; a folder with bad dates fails validation anyway.
        """
        found: list[dt.date] = []
        for name, raw_schema in self.schemas.items():
            columns = [c for c in CUTOFF_COLUMNS.get(name, ()) if c in raw_schema]
            parts = sorted((self.root / name).glob(f"{_BATCH}=*/*{_PART_SUFFIX}"))
            if not columns or not parts:
                continue
            latest = (
                pl.scan_ipc(parts)
                .select(parse_date(c, raw_schema[c]).max() for c in columns)
                .collect()
                .row(0)
            )
            found.extend(d for d in latest if isinstance(d, dt.date))
        return max(found) if found else None


class PatientBatches:
    """Canonical tables of a folder, one batch of patients at a time.

    Use as a context manager (the temporary folder is removed on exit)::

        with PatientBatches(folder, batch_size=50_000) as batches:
            for tables in batches:        # CanonicalTables, patients in identifier order
                ...
            batches.cutoff                # latest date in the whole folder

    Construction does not read anything; entering validates the whole folder and raises
    :class:`~relapsewatch.errors.DataError` with every problem found.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workdir: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
        validate: bool = True,
        on_batches: Callable[[int], None] | None = None,
        multiple_of: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be at least 1, got {batch_size}")
        if multiple_of < 1:
            raise ValueError(f"`multiple_of` must be at least 1, got {multiple_of}")
        self._multiple_of = multiple_of
        self.folder = Path(folder)
        self.batch_size = batch_size
        self._workdir = Path(workdir) if workdir is not None else None
        self._progress = progress or (lambda step, done, total: None)
        # told the number of batches once the patients are known, before the partition pass
        # (so a caller can start worker processes while the folder is partitioned)
        self._on_batches = on_batches or (lambda n: None)
        self._tmp: Path | None = None
        self._single: CanonicalTables | None = None
        self.n_patients = 0
        self.n_batches = 0
        self.cutoff: dt.date | None = None
        self.warnings: tuple[Problem, ...] = ()
        self._schemas: dict[str, pl.Schema] = {}
        self._validate_on_enter = validate
        self._files: dict[str, str] = {}

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> PatientBatches:
        try:
            self._prepare()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- passes ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        located = find_tables(self.folder, TABLE_NAMES)
        if "patients" not in located:
            self._read_whole()
            return
        raw_patients = read_raw(located["patients"])
        keys = self._patient_keys(raw_patients)
        self.n_patients = keys.len()
        if self.n_patients <= self.batch_size:
            self._read_whole()
            return
        needed = (self.n_patients - 1) // self.batch_size + 1
        self.n_batches = min(-(-needed // self._multiple_of) * self._multiple_of, self.n_patients)
        self._on_batches(self.n_batches)
        self._tmp = Path(tempfile.mkdtemp(prefix=".relapsewatch-batches-", dir=self._workdir))
        self._partition(located, raw_patients, self._batch_of(keys))
        self._files = {name: t.display for name, t in located.items()}
        if self._validate_on_enter:
            self._validate(located)

    @property
    def single(self) -> CanonicalTables | None:
        """The validated tables when the folder fits in one batch (read whole), else ``None``."""
        return self._single

    @property
    def raw_parts(self) -> RawParts:
        """The partitioned raw tables (only for a folder of several batches)."""
        if self._tmp is None:
            raise RuntimeError("raw parts exist only for a folder of several batches, once entered")
        schemas = {name: dict(schema.items()) for name, schema in self._schemas.items()}
        return RawParts(self._tmp / "raw", schemas, dict(self._files))

    @property
    def workdir(self) -> Path:
        """The temporary folder of this read (removed on exit)."""
        if self._tmp is None:
            raise RuntimeError("a temporary folder exists only for a folder of several batches")
        return self._tmp

    def _read_whole(self) -> None:
        self._progress("reading", 0, 1)
        tables = read_tables(self.folder)
        self._single = tables
        self.n_patients = tables.patients.height
        self.n_batches = 1
        self.cutoff = cutoff_of(tables)
        self.warnings = tables.warnings
        self._progress("reading", 1, 1)

    def _patient_keys(self, raw_patients: pl.DataFrame) -> pl.Series:
        """The distinct trimmed patient identifiers, sorted."""
        if "patient_id" not in raw_patients.columns:
            return pl.Series("patient_id", [], dtype=pl.String)
        ids = raw_patients["patient_id"].cast(pl.String).str.strip_chars()
        return ids.drop_nulls().unique().sort()

    def _batch_of(self, keys: pl.Series) -> pl.Expr:
        """The batch of each row's patient: the patient's rank among the sorted identifiers
        ``keys``, split into ``n_batches`` equal runs; 0 for a patient not in ``keys``.

        The rank is the patient's place in an enumeration of ``keys`` (a hash lookup that
        streams, and cheaper than a join: 0.3 CPU s less over 8 million rows).
        """
        patients = pl.Enum(keys)
        rank = (
            pl.col("patient_id")
            .cast(pl.String)
            .str.strip_chars()
            .cast(patients, strict=False)
            .to_physical()
            .cast(pl.Int64)
        )
        return (rank * self.n_batches // self.n_patients).fill_null(0).cast(pl.Int32).alias(_BATCH)

    def _partition(
        self, located: dict[str, TableFile], raw_patients: pl.DataFrame, batch_of: pl.Expr
    ) -> None:
        assert self._tmp is not None
        names = list(located)
        for step, name in enumerate(names):
            self._progress("partitioning", step, len(names))
            table = located[name]
            frame = raw_patients.lazy() if name == "patients" else scan_raw(table)
            self._schemas[name] = frame.collect_schema()
            if "patient_id" in self._schemas[name].names():
                frame = frame.with_columns(batch_of)
            else:
                frame = frame.with_columns(pl.lit(0, pl.Int32).alias(_BATCH))
            try:
                # Temporary parts are read once, right away: Arrow IPC, uncompressed (about half
                # the CPU of uncompressed Parquet, which still encodes every page).
                frame.sink_ipc(
                    pl.PartitionBy(self._tmp / "raw" / name, key=_BATCH, include_key=False),
                    mkdir=True,
                    compression=None,
                )
            except READ_ERRORS as exc:
                raise unreadable(table, exc) from None
        self._progress("partitioning", len(names), len(names))

    def _validate(self, located: dict[str, TableFile]) -> None:
        assert self._tmp is not None
        files = {name: t.display for name, t in located.items()}
        problems: list[Problem] = []
        warnings: list[Problem] = []
        truncated = 0
        cutoffs: list[dt.date] = []
        for index in range(self.n_batches):
            self._progress("checking", index, self.n_batches)
            tables, log = normalise_tables(self.raw_parts.read(index), files=files)
            problems.extend(p for p in log.problems if p.severity == "error")
            warnings.extend(p for p in log.problems if p.severity == "warning")
            truncated += log.truncated
            if tables is None:
                continue
            if problems:
                continue  # keep checking, but do not store what will not be used
            out = self._tmp / "canonical" / str(index)
            out.mkdir(parents=True)
            for name, frame in tables.as_dict().items():
                frame.write_parquet(
                    out / f"{name}.parquet", compression="uncompressed", statistics=False
                )
            cutoff = cutoff_of(tables)
            if cutoff is not None:
                cutoffs.append(cutoff)
        shutil.rmtree(self._tmp / "raw", ignore_errors=True)
        if problems or truncated:
            raise DataError(
                problems,
                truncated=truncated,
                summary=f"{len(problems) + truncated} problem(s) in {self.folder}",
            )
        self.warnings = tuple(warnings)
        self.cutoff = max(cutoffs) if cutoffs else None
        self._progress("checking", self.n_batches, self.n_batches)

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[CanonicalTables]:
        if self._single is not None:
            yield self._single
            return
        if self._tmp is None:
            raise RuntimeError("enter PatientBatches first: `with PatientBatches(...) as b:`")
        for index in range(self.n_batches):
            part = self._tmp / "canonical" / str(index)
            read = {name: pl.read_parquet(part / f"{name}.parquet") for name in TABLE_NAMES}
            yield CanonicalTables(
                patients=read["patients"],
                measurements=read["measurements"],
                treatments=read["treatments"],
                findings=read["findings"],
            )

    def __len__(self) -> int:
        return self.n_batches
