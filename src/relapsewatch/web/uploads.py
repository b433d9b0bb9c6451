"""Uploaded import files: staged on disk between the preview and the apply, zips unpacked safely.

An upload is one or more canonical table files (``patients.csv``, ``measurements.parquet`` ...)
or a zip holding them. :func:`stage_upload` writes them under their table names into a new
staging folder named by a random token, where :mod:`relapsewatch.io` reads them like any other
canonical folder. Nothing here touches the database.

Zip files are checked before anything is unpacked, and again while unpacking, because a zip's
header can lie (RELIABILITY.md C7; ASVS 5.2.3): at most ``max_zip_members`` files, each
unpacked no larger than ``max_zip_ratio`` times its packed size, all of them together no larger
than ``max_unzipped_bytes``. Member paths are never used as paths: only the base name is
matched against the table names, so ``../../etc/passwd`` is just an unknown file.
"""

from __future__ import annotations

import io
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from relapsewatch import schema
from relapsewatch.errors import Problem, echo

__all__ = [
    "TABLE_SUFFIXES",
    "StagedUpload",
    "UploadLimits",
    "UploadedFile",
    "discard_staged",
    "find_staged",
    "prune_staging",
    "stage_upload",
]

TABLE_SUFFIXES = (".csv", ".parquet")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
_CHUNK = 1 << 16
_NAMES_FILE = ".display-names"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The zip guards (see the module docstring)."""

    max_zip_members: int
    max_unzipped_bytes: int
    max_zip_ratio: float


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One uploaded file: the name the browser sent and its content (a seekable stream)."""

    filename: str
    content: IO[bytes]


@dataclass
class StagedUpload:
    """A staging folder of table files plus what was wrong with the upload itself.

    ``display`` maps each staged file name (``measurements.csv``) to the name the user knows
    (``labs.zip: data/measurements.csv``), for problem messages.
    """

    token: str
    folder: Path
    display: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def tables(self) -> list[str]:
        return sorted(self.display)


def _table_name(base: str) -> tuple[str, str] | None:
    """``measurements.CSV`` -> ``("measurements", ".csv")``; None for other names."""
    path = PurePosixPath(base)
    suffix = path.suffix.lower()
    stem = path.stem.lower()
    if suffix in TABLE_SUFFIXES and stem in schema.FILE_TABLES:
        return stem, suffix
    return None


def _unknown_file(shown: str) -> Problem:
    names = ", ".join(f"{n}.csv" for n in schema.FILE_TABLES)
    return Problem(
        shown,
        None,
        None,
        echo(PurePosixPath(shown).name),
        f"a table file named {names} (or .parquet), or a zip of them",
        "rename the file after the table it holds, or leave it out of the upload",
    )


def _too_big(shown: str, found: str, expected: str) -> Problem:
    return Problem(
        shown,
        None,
        None,
        found,
        expected,
        "split the upload into smaller parts, or upload the table files without a zip",
    )


class _OverBudgetError(Exception):
    """A zip member unpacked to more bytes than allowed."""


class _Stager:
    def __init__(self, folder: Path, limits: UploadLimits) -> None:
        self.folder = folder
        self.limits = limits
        self.display: dict[str, str] = {}
        self.tables: dict[str, str] = {}
        self.problems: list[Problem] = []

    def add(self, base: str, shown: str, source: IO[bytes], budget: int | None = None) -> int:
        """Copy one table file into the folder; returns the bytes written."""
        found = _table_name(base)
        if found is None:
            self.problems.append(_unknown_file(shown))
            return 0
        table, suffix = found
        if table in self.tables:
            self.problems.append(
                Problem(
                    shown,
                    None,
                    None,
                    f"a second {table} table (also in {self.tables[table]})",
                    f"one file for the {table} table",
                    f"upload only one {table} file so it is clear which one to import",
                )
            )
            return 0
        target = self.folder / f"{table}{suffix}"
        written = 0
        try:
            with target.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if budget is not None and written > budget:
                        raise _OverBudgetError
                    out.write(chunk)
        except _OverBudgetError:
            target.unlink()
            self.problems.append(
                _too_big(
                    shown,
                    f"more than {budget:,} bytes once unpacked",
                    "a zip whose files unpack to the sizes its header states",
                )
            )
            return written
        except BaseException:
            target.unlink(missing_ok=True)  # never leave half a table behind
            raise
        self.tables[table] = shown
        self.display[target.name] = shown
        return written

    def add_zip(self, upload: UploadedFile) -> None:
        shown = upload.filename
        try:
            archive = zipfile.ZipFile(upload.content)
        except (zipfile.BadZipFile, OSError, ValueError):
            self.problems.append(
                Problem(
                    shown,
                    None,
                    None,
                    "a file that is not a readable zip",
                    "a zip archive of table files",
                    "make the zip again, or upload the table files themselves",
                )
            )
            return
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            members = [m for m in members if not PurePosixPath(m.filename).name.startswith(".")]
            if len(members) > self.limits.max_zip_members:
                self.problems.append(
                    _too_big(
                        shown,
                        f"{len(members)} files",
                        f"at most {self.limits.max_zip_members} files in one zip",
                    )
                )
                return
            declared = sum(m.file_size for m in members)
            if declared > self.limits.max_unzipped_bytes:
                self.problems.append(
                    _too_big(
                        shown,
                        f"{declared:,} bytes once unpacked",
                        f"at most {self.limits.max_unzipped_bytes:,} bytes once unpacked",
                    )
                )
                return
            for member in members:
                packed = max(member.compress_size, 1)
                if member.file_size / packed > self.limits.max_zip_ratio:
                    self.problems.append(
                        _too_big(
                            f"{shown}: {member.filename}",
                            f"a file packed {member.file_size / packed:,.0f} times smaller",
                            f"at most {self.limits.max_zip_ratio:g} times smaller when packed",
                        )
                    )
                    return
            remaining = self.limits.max_unzipped_bytes
            for member in members:
                member_shown = f"{shown}: {member.filename}"
                base = PurePosixPath(member.filename.replace("\\", "/")).name
                if _table_name(base) is None:
                    self.problems.append(_unknown_file(member_shown))
                    continue
                try:
                    with archive.open(member) as source:
                        # Never trust the header: stop at its stated size (and the total budget).
                        budget = min(member.file_size, remaining)
                        remaining -= self.add(base, member_shown, source, budget=budget)
                except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
                    self.problems.append(
                        Problem(
                            member_shown,
                            None,
                            None,
                            "a file that could not be unpacked (damaged or encrypted)",
                            "an unencrypted zip made with standard compression",
                            "make the zip again without a password",
                        )
                    )


def stage_upload(
    files: Iterable[UploadedFile], *, staging_root: Path, limits: UploadLimits
) -> StagedUpload:
    """Write the uploaded table files into a new staging folder (see the module docstring)."""
    token = secrets.token_urlsafe(24)
    folder = staging_root / token
    folder.mkdir(parents=True, mode=0o700)
    stager = _Stager(folder, limits)
    for upload in files:
        name = upload.filename or "(unnamed file)"
        if name.lower().endswith(".zip"):
            stager.add_zip(UploadedFile(name, upload.content))
        else:
            stager.add(PurePosixPath(name.replace("\\", "/")).name, name, upload.content)
    if not stager.tables and not stager.problems:
        stager.problems.append(
            Problem(
                "(upload)",
                None,
                None,
                "no files",
                "at least the patients, measurements and treatments tables",
                "choose the table files (or a zip of them) and upload again",
            )
        )
    (folder / _NAMES_FILE).write_text(
        "\n".join(f"{k}\t{v}" for k, v in stager.display.items()), encoding="utf-8"
    )
    return StagedUpload(token, folder, stager.display, stager.problems)


def find_staged(staging_root: Path, token: str, *, max_age_seconds: float) -> StagedUpload | None:
    """The staged upload for ``token`` if it exists and has not expired, else None."""
    if not _TOKEN.match(token):
        return None
    folder = staging_root / token
    names = folder / _NAMES_FILE
    if not names.is_file():
        return None
    if time.time() - names.stat().st_mtime > max_age_seconds:
        discard_staged(folder)
        return None
    display = dict(
        line.split("\t", 1) for line in names.read_text(encoding="utf-8").splitlines() if line
    )
    return StagedUpload(token, folder, display)


def discard_staged(folder: Path) -> None:
    """Remove a staging folder and everything in it."""
    shutil.rmtree(folder, ignore_errors=True)


def prune_staging(staging_root: Path, *, max_age_seconds: float) -> int:
    """Remove staging folders older than ``max_age_seconds``; returns how many were removed."""
    if not staging_root.is_dir():
        return 0
    removed = 0
    now = time.time()
    for folder in staging_root.iterdir():
        expired = now - folder.stat().st_mtime > max_age_seconds
        if folder.is_dir() and _TOKEN.match(folder.name) and expired:
            discard_staged(folder)
            removed += 1
    return removed


def as_upload(filename: str, data: bytes) -> UploadedFile:
    """An :class:`UploadedFile` from bytes (tests and the command line)."""
    return UploadedFile(filename, io.BytesIO(data))
