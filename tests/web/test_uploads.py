"""Staging uploads: table names, zip guards (count, ratio, total, lying headers), expiry."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

from relapsewatch.web.uploads import (
    UploadLimits,
    as_upload,
    find_staged,
    prune_staging,
    stage_upload,
)

LIMITS = UploadLimits(max_zip_members=4, max_unzipped_bytes=50_000, max_zip_ratio=100)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_table_files_are_staged_under_their_table_names(tmp_path: Path) -> None:
    staged = stage_upload(
        [as_upload("Patients.CSV", b"a\n1\n"), as_upload("measurements.parquet", b"PAR1")],
        staging_root=tmp_path,
        limits=LIMITS,
    )
    assert staged.problems == []
    assert sorted(p.name for p in staged.folder.iterdir() if not p.name.startswith(".")) == [
        "measurements.parquet",
        "patients.csv",
    ]
    assert staged.display["patients.csv"] == "Patients.CSV"


def test_unknown_names_and_duplicate_tables_are_problems(tmp_path: Path) -> None:
    staged = stage_upload(
        [
            as_upload("labs.csv", b"x"),
            as_upload("patients.csv", b"a"),
            as_upload("patients.parquet", b"b"),
        ],
        staging_root=tmp_path,
        limits=LIMITS,
    )
    found = {(p.file, p.expected) for p in staged.problems}
    assert any(file == "labs.csv" for file, _ in found)
    assert ("patients.parquet", "one file for the patients table") in found


def test_zip_members_are_matched_by_base_name_only(tmp_path: Path) -> None:
    archive = _zip({"a/b/patients.csv": b"a\n", "../../evil/treatments.csv": b"t\n"})
    staged = stage_upload([as_upload("x.zip", archive)], staging_root=tmp_path, limits=LIMITS)
    assert staged.problems == []
    assert (staged.folder / "treatments.csv").read_bytes() == b"t\n"
    assert not (tmp_path.parent / "evil").exists()


def test_a_zip_with_too_many_files_is_refused_before_unpacking(tmp_path: Path) -> None:
    archive = _zip({f"f{i}.csv": b"x" for i in range(5)})
    staged = stage_upload([as_upload("x.zip", archive)], staging_root=tmp_path, limits=LIMITS)
    assert [p.found for p in staged.problems] == ["5 files"]
    assert [p for p in staged.folder.iterdir() if not p.name.startswith(".")] == []


def test_a_highly_compressed_member_is_refused(tmp_path: Path) -> None:
    archive = _zip({"patients.csv": b"0" * 40_000})
    staged = stage_upload([as_upload("x.zip", archive)], staging_root=tmp_path, limits=LIMITS)
    assert len(staged.problems) == 1
    assert "times smaller" in staged.problems[0].found


def test_a_zip_larger_than_the_budget_once_unpacked_is_refused(tmp_path: Path) -> None:
    data = os.urandom(30_000)  # incompressible, so the ratio guard does not fire
    archive = _zip({"patients.csv": data, "measurements.csv": data})
    staged = stage_upload([as_upload("x.zip", archive)], staging_root=tmp_path, limits=LIMITS)
    assert "once unpacked" in staged.problems[0].found


def test_a_zip_whose_header_understates_a_member_is_cut_at_the_stated_size(
    tmp_path: Path,
) -> None:
    archive = bytearray(_zip({"patients.csv": b"0123456789" * 10}))
    # Rewrite the central directory's uncompressed size (offset 24 in the entry) to 10 bytes.
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
    staged = stage_upload(
        [as_upload("lying.zip", bytes(archive))], staging_root=tmp_path, limits=LIMITS
    )
    assert staged.problems, "a member larger than its header says must not be accepted"
    assert not (staged.folder / "patients.csv").exists()


def test_an_empty_upload_says_what_to_upload(tmp_path: Path) -> None:
    staged = stage_upload([], staging_root=tmp_path, limits=LIMITS)
    assert staged.problems[0].found == "no files"


def test_staged_uploads_are_found_by_token_until_they_expire(tmp_path: Path) -> None:
    staged = stage_upload([as_upload("patients.csv", b"a")], staging_root=tmp_path, limits=LIMITS)
    assert find_staged(tmp_path, staged.token, max_age_seconds=60) is not None
    assert find_staged(tmp_path, "../" + staged.token[3:], max_age_seconds=60) is None
    assert find_staged(tmp_path, staged.token, max_age_seconds=0) is None  # expired and removed
    assert not staged.folder.exists()
    old = stage_upload([as_upload("patients.csv", b"a")], staging_root=tmp_path, limits=LIMITS)
    past = time.time() - 7200
    os.utime(old.folder, (past, past))
    assert prune_staging(tmp_path, max_age_seconds=3600) == 1
