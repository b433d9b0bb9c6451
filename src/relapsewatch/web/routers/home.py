"""The site root: sends the browser to the list of patients."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse

__all__ = ["router"]

router = APIRouter(tags=["home"])


@router.get("/", name="home", include_in_schema=False)
async def home(request: Request) -> RedirectResponse:
    return RedirectResponse(request.app.url_path_for("patients.list"), status_code=303)
