"""Finding, reading and writing canonical table files. Nothing else in relapsewatch reads files.

A canonical folder holds one file per table: ``NAME.csv`` or ``NAME.parquet`` (or a folder
``NAME/`` of ``*.parquet`` parts, as streamed writers produce). A table in two formats at once is
an error, so the reader never has to guess which one is meant.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import polars as pl

from relapsewatch.errors import DataError, Problem
from relapsewatch.io.checks import ROW

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["Format", "TableFile", "TableWriter", "find_tables", "read_raw", "write_tables"]

Format = Literal["csv", "parquet"]


@dataclass(frozen=True, slots=True)
class TableFile:
    name: str
    path: Path
    format: Format

    @property
    def display(self) -> str:
        return self.path.name


def find_tables(folder: Path, names: tuple[str, ...]) -> dict[str, TableFile]:
    """The table files present in ``folder`` (only the given table names)."""
    if not folder.exists():
        raise DataError(
            [
                Problem(
                    str(folder),
                    None,
                    None,
                    "no such folder",
                    "a folder of canonical tables",
                    "check the path; give the folder that holds patients.csv etc.",
                )
            ]
        )
    if not folder.is_dir():
        raise DataError(
            [
                Problem(
                    str(folder),
                    None,
                    None,
                    "a file, not a folder",
                    "a folder of canonical tables",
                    "give the folder that holds the table files, not one file",
                )
            ]
        )
    found: dict[str, TableFile] = {}
    problems: list[Problem] = []
    for name in names:
        candidates = []
        if (folder / f"{name}.csv").is_file():
            candidates.append(TableFile(name, folder / f"{name}.csv", "csv"))
        if (folder / f"{name}.parquet").is_file():
            candidates.append(TableFile(name, folder / f"{name}.parquet", "parquet"))
        if (folder / name).is_dir() and any((folder / name).glob("*.parquet")):
            candidates.append(TableFile(name, folder / name, "parquet"))
        if len(candidates) > 1:
            problems.append(
                Problem(
                    str(folder),
                    None,
                    None,
                    " and ".join(c.path.name for c in candidates),
                    f"one file for '{name}'",
                    f"keep only one of the {name} files so it is clear which one to read",
                )
            )
        elif candidates:
            found[name] = candidates[0]
    if problems:
        raise DataError(problems)
    return found


def unreadable(table: TableFile, exc: BaseException) -> DataError:
    """The file-level error for a table that cannot be read at all."""
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    return DataError(
        [
            Problem(
                table.display,
                None,
                None,
                f"a file that could not be read ({reason})",
                f"a {table.format.upper()} file with a header row",
                "save the table as UTF-8 CSV with a header row (or as Parquet) and try again",
            )
        ]
    )


#: What reading a broken file can raise; :func:`unreadable` turns it into a located error.
READ_ERRORS = (pl.exceptions.PolarsError, OSError, UnicodeDecodeError)


def scan_raw(table: TableFile) -> pl.LazyFrame:
    """A lazy raw read of one table: text cells for CSV, Parquet's own types, and ``__row``.

    ``__row`` is the spreadsheet row number (header = 1, first data row = 2).
    """
    if table.format == "csv":
        frame = pl.scan_csv(
            table.path,
            infer_schema=False,
            encoding="utf8",
            raise_if_empty=True,
            truncate_ragged_lines=False,
        )
    else:
        source = sorted(table.path.glob("*.parquet")) if table.path.is_dir() else table.path
        frame = pl.scan_parquet(source)
    names = frame.collect_schema().names()
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in names})
    return frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def read_raw(table: TableFile, *, patient_ids: pl.Series | None = None) -> pl.DataFrame:
    """Read a table file as it is (see :func:`scan_raw`), optionally only some patients.

    A file that cannot be read at all is a file-level :class:`DataError`.
    """
    try:
        frame = scan_raw(table)
        if patient_ids is not None and "patient_id" in frame.collect_schema().names():
            frame = frame.filter(
                pl.col("patient_id").cast(pl.String).str.strip_chars().is_in(patient_ids.implode())
            )
        return frame.collect()
    except READ_ERRORS as exc:
        raise unreadable(table, exc) from None


def _file_view(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV cannot hold lists: join them with '+' (as the derived tables do)."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    return frame.with_columns(pl.col(c).list.join("+") for c in lists)


def _write_one(frame: pl.DataFrame, path: Path, fmt: Format) -> None:
    if fmt == "csv":
        _file_view(frame).write_csv(path)
    else:
        frame.write_parquet(path, compression="zstd", statistics=True)


def write_tables(
    tables: Mapping[str, pl.DataFrame], folder: str | os.PathLike[str], *, format: Format = "csv"
) -> dict[str, Path]:
    """Write each frame as ``NAME.csv`` or ``NAME.parquet`` into ``folder`` (created if needed).

    Each file is written to a temporary name and renamed into place, so a crash never leaves a
    half-written table under its real name.
    """
    if format not in ("csv", "parquet"):
        raise ValueError(f"`format` must be 'csv' or 'parquet', got {format!r}")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        path = target / f"{name}.{format}"
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".{format}", dir=target)
        os.close(fd)
        try:
            _write_one(frame, Path(tmp), format)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        written[name] = path
    return written


class TableWriter:
    """Stream tables to a folder in batches: ``with TableWriter(out, format="parquet") as w:``.

    ``w.write(name, frame)`` appends a batch to ``NAME.parquet`` (one row group per batch) or to
    ``NAME.csv`` (header once). Every batch of a table must have the same columns and types.
    Files are written under temporary names and renamed into place on a clean exit only.
    """

    def __init__(self, folder: str | os.PathLike[str], *, format: Format = "parquet") -> None:
        if format not in ("csv", "parquet"):
            raise ValueError(f"`format` must be 'csv' or 'parquet', got {format!r}")
        self.folder = Path(folder)
        self.format: Format = format
        self._parquet: dict[str, pq.ParquetWriter] = {}
        self._csv: dict[str, Path] = {}
        self._tmp: dict[str, Path] = {}

    def __enter__(self) -> TableWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, name: str, frame: pl.DataFrame) -> None:
        if self.format == "parquet":
            self._append_row_group(name, frame.to_arrow())
        else:
            tmp = self._partial(name)
            first = name not in self._csv
            self._csv[name] = tmp
            with tmp.open("w" if first else "a", encoding="utf-8", newline="") as handle:
                _file_view(frame).write_csv(handle, include_header=first)

    def write_ipc_file(self, name: str, path: str | os.PathLike[str]) -> None:
        """Append the table that another process left in the Arrow IPC file ``path``.

        For Parquet the file is memory-mapped and handed to the writer as it is (no copy into
        Polars and back to Arrow, about 0.15 s per million rows of the course's responses).
        """
        if self.format != "parquet":
            self.write(name, pl.read_ipc(Path(path)))
            return
        import pyarrow as pa

        with pa.memory_map(os.fspath(path)) as source:
            self._append_row_group(name, pa.ipc.open_file(source).read_all())

    def _partial(self, name: str) -> Path:
        """Where table ``name`` is written until the writer closes cleanly."""
        return self._tmp.setdefault(name, self.folder / f".{name}.partial.{self.format}")

    def _append_row_group(self, name: str, arrow: pa.Table) -> None:
        writer = self._parquet.get(name)
        if writer is None:
            # pyarrow writes one row group per batch; imported here, as only writers need it
            import pyarrow.parquet as pq

            writer = pq.ParquetWriter(self._partial(name), arrow.schema, compression="zstd")
            self._parquet[name] = writer
        writer.write_table(arrow)

    def close(self, *, commit: bool) -> None:
        for writer in self._parquet.values():
            writer.close()
        self._parquet.clear()
        for name, tmp in self._tmp.items():
            if commit:
                os.replace(tmp, self.folder / f"{name}.{self.format}")
            elif tmp.exists():
                tmp.unlink()
        self._tmp.clear()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(commit=exc_type is None)


@contextmanager
def staged_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling folder that replaces ``target`` only if the block succeeds.

    Used by commands that write several tables: either all new outputs appear, or none (and
    on failure the parent folders it had to create are removed again).
    """
    final = Path(target)
    made = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:  # the folders made for the output, innermost first, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)
