"""Import: upload canonical tables (or a zip), preview every problem, then apply all or nothing.

1. ``GET /import``: the upload form.
2. ``POST /import/preview``: the files are staged (zip guards in :mod:`relapsewatch.web.uploads`),
   read and validated by :mod:`relapsewatch.io` exactly like ``relapsewatch validate``, and
   compared with the stored patients (:func:`relapsewatch.store.repository.preview_import`).
   The page lists every problem by file, row and column. Nothing is saved.
3. ``POST /import/apply``: only for a clean preview (its token); the tables are read again from
   the staged files and imported in one transaction (all or nothing).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse

from relapsewatch.errors import DataError, Problem
from relapsewatch.io import CanonicalTables, read_tables, validate_folder
from relapsewatch.store.accounts import SignedIn, patients_outside_teams
from relapsewatch.store.repository import import_tables, preview_import
from relapsewatch.web.auth import CurrentUser
from relapsewatch.web.deps import (
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    TemplatesDep,
    render,
)
from relapsewatch.web.settings import WebSettings
from relapsewatch.web.uploads import (
    StagedUpload,
    UploadedFile,
    UploadLimits,
    discard_staged,
    find_staged,
    prune_staging,
    stage_upload,
)

__all__ = ["router", "staging_root"]

logger = logging.getLogger("relapsewatch.web.imports")

router = APIRouter(prefix="/import", tags=["import"])

_ORDER = ("patients", "measurements", "treatments", "findings")


def staging_root(request: Request) -> Path:
    """Where this app stages uploads (made by the app factory)."""
    root: Path = request.app.state.staging_root
    return root


def _limits(settings: WebSettings) -> UploadLimits:
    return UploadLimits(
        max_zip_members=settings.max_zip_members,
        max_unzipped_bytes=settings.max_unzipped_bytes,
        max_zip_ratio=settings.max_zip_ratio,
    )


def _outside_team(session: Session, signed_in: SignedIn, tables: CanonicalTables) -> list[Problem]:
    """Stored patients in the upload that the importer's care teams do not look after: an
    import may add to them only from their own team (RELIABILITY A3, A4)."""
    ids = tables.patients.get_column("patient_id").to_list()
    outside = patients_outside_teams(session, signed_in.account, ids)
    return [
        Problem(
            file="patients",
            row=None,
            column="patient_id",
            found=pid,
            expected="a patient of your care team, or a new patient",
            fix="remove this patient's rows, or ask an admin to add them to your care team",
        )
        for pid in outside
    ]


def _shown(problems: list[Problem] | tuple[Problem, ...], staged: StagedUpload) -> list[Problem]:
    """Problems named by the files the user uploaded, in table order, then row."""
    renamed = [dataclasses.replace(p, file=staged.display.get(p.file, p.file)) for p in problems]
    rank = {name: i for i, name in enumerate(staged.display.values())}
    return sorted(renamed, key=lambda p: (rank.get(p.file, -1), p.row or 0))


@router.get("", name="imports.form", response_class=HTMLResponse)
def upload_form(request: Request, templates: TemplatesDep, settings: SettingsDep) -> HTMLResponse:
    return render(
        request,
        templates,
        "imports/form.html",
        {"section": "import", "max_mb": settings.max_upload_bytes // 1_000_000},
    )


@router.post("/preview", name="imports.preview", response_class=HTMLResponse)
def preview(
    request: Request,
    files: Annotated[list[UploadFile], File(description="Table files or a zip of them.")],
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    signed_in: CurrentUser,
) -> HTMLResponse:
    root = staging_root(request)
    prune_staging(root, max_age_seconds=settings.staging_ttl_seconds)
    staged = stage_upload(
        (UploadedFile(f.filename or "", f.file) for f in files),
        staging_root=root,
        limits=_limits(settings),
    )
    problems: list[Problem] = list(staged.problems)
    rows: dict[str, int] = {}
    store_preview = None
    truncated = 0
    if not problems:
        report = validate_folder(staged.folder)
        problems = list(report.problems)
        truncated = report.truncated
        rows = {name: report.rows[name] for name in _ORDER if name in report.rows}
        if report.ok:
            tables = read_tables(staged.folder)
            store_preview = preview_import(session, tables)
            problems += list(store_preview.problems)
            problems += _outside_team(session, signed_in, tables)
    errors = [p for p in problems if p.severity == "error"]
    ok = not errors and truncated == 0
    if not ok:
        discard_staged(staged.folder)
    return render(
        request,
        templates,
        "imports/preview.html",
        {
            "section": "import",
            "ok": ok,
            "token": staged.token if ok else None,
            "files": list(staged.display.values()),
            "problems": _shown(problems, staged),
            "error_count": len(errors) + truncated,
            "truncated": truncated,
            "rows": rows,
            "store": store_preview,
        },
        status_code=200 if ok else 422,
    )


@router.post("/apply", name="imports.apply", response_class=HTMLResponse)
def apply(
    request: Request,
    token: Annotated[str, Form(max_length=64, description="The preview's token.")],
    session_factory: SessionFactoryDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    signed_in: CurrentUser,
) -> HTMLResponse:
    staged = find_staged(staging_root(request), token, max_age_seconds=settings.staging_ttl_seconds)
    if staged is None:
        return render(
            request,
            templates,
            "imports/preview.html",
            {
                "section": "import",
                "ok": False,
                "token": None,
                "files": [],
                "problems": [],
                "error_count": 0,
                "truncated": 0,
                "rows": {},
                "store": None,
                "expired": True,
            },
            status_code=410,
        )
    try:
        tables = read_tables(staged.folder)
        with session_factory() as session:
            outside = _outside_team(session, signed_in, tables)
        if outside:
            raise DataError(outside)
        result = import_tables(
            session_factory,
            tables,
            source="web upload: " + ", ".join(staged.display.values()),
            care_teams=signed_in.account.team_ids,
        )
    except DataError as err:
        discard_staged(staged.folder)
        errors = [p for p in err.problems if p.severity == "error"]
        return render(
            request,
            templates,
            "imports/preview.html",
            {
                "section": "import",
                "ok": False,
                "token": None,
                "files": list(staged.display.values()),
                "problems": _shown(list(err.problems), staged),
                "error_count": len(errors) + err.truncated,
                "truncated": err.truncated,
                "rows": {},
                "store": None,
            },
            status_code=422,
        )
    discard_staged(staged.folder)
    logger.info("import batch %s applied", result.batch_id)
    return render(
        request,
        templates,
        "imports/done.html",
        {"section": "import", "result": result, "order": _ORDER},
    )
