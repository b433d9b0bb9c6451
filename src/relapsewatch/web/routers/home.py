"""The site root: the login page, or the signed-in account's own starting page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse

from relapsewatch.web.auth import OptionalUser
from relapsewatch.web.routers.auth import home_for

__all__ = ["router"]

router = APIRouter(tags=["home"])


@router.get("/", name="home", include_in_schema=False)
async def home(request: Request, signed_in: OptionalUser) -> RedirectResponse:
    if signed_in is None:
        return RedirectResponse(request.app.url_path_for("auth.login_form"), status_code=303)
    account = signed_in.account
    return RedirectResponse(home_for(request, account.role, account.patient_id), status_code=303)
