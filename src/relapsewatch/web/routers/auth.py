"""Signing in and out, and changing one's own password (RELIABILITY B1-B5).

* ``GET /login`` shows the form; ``POST /login`` checks it. A wrong username and a wrong
  password get the same page and status (401). After 10 failures for a username (or 60 from an
  address) in a minute, every attempt gets 429 with ``Retry-After`` until the window passes,
  even with the right password (B2). A successful login starts a new session with a new token
  (B3) and goes back to the page that asked for it (local paths only).
* ``POST /logout`` ends the session on the server, clears the cookie and tells the browser to
  forget the site's stored data (``Clear-Site-Data``; G5), so Back shows no patient data.
* ``GET/POST /account/password`` changes the password; every other session of the account ends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relapsewatch.accounts.passwords import MAX_LENGTH, PasswordRejectedError, minimum_length
from relapsewatch.store.accounts import (
    attempt_login,
    change_password,
    end_session,
    start_session,
)
from relapsewatch.web.auth import (
    CurrentUser,
    OptionalUser,
    clear_session_cookie,
    client_address,
    safe_next,
    set_session_cookie,
)
from relapsewatch.web.deps import SessionFactoryDep, SettingsDep, TemplatesDep, render

__all__ = ["home_for", "router"]

router = APIRouter(tags=["auth"])

Username = Annotated[str, Form(max_length=64)]
Password = Annotated[str, Form(max_length=MAX_LENGTH * 4)]
Next = Annotated[str | None, Query(max_length=512, description="Where to go after login.")]


def home_for(request: Request, role: str, patient_id: str | None) -> str:
    """Where an account lands after login: own record, the patient list, or the accounts."""
    if role == "patient" and patient_id is not None:
        return str(request.app.url_path_for("patients.course", patient_id=patient_id))
    if role == "admin":
        return str(request.app.url_path_for("admin.users"))
    return str(request.app.url_path_for("patients.list"))


def _login_page(
    request: Request,
    templates: TemplatesDep,
    *,
    next_path: str | None,
    error: str | None,
    status_code: int = 200,
    username: str = "",
) -> HTMLResponse:
    return render(
        request,
        templates,
        "auth/login.html",
        {"next": next_path or "", "error": error, "username": username},
        status_code=status_code,
    )


@router.get("/login", name="auth.login_form", response_class=HTMLResponse)
def login_form(
    request: Request, templates: TemplatesDep, signed_in: OptionalUser, next: Next = None
) -> Response:
    if signed_in is not None:
        account = signed_in.account
        target = safe_next(next) or home_for(request, account.role, account.patient_id)
        return RedirectResponse(target, status_code=303)
    return _login_page(request, templates, next_path=safe_next(next), error=None)


@router.post("/login", name="auth.login", response_class=HTMLResponse)
async def login(
    request: Request,
    templates: TemplatesDep,
    settings: SettingsDep,
    session_factory: SessionFactoryDep,
    username: Username,
    password: Password,
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    key = settings.secret_key.get_secret_value().encode() if settings.secret_key else b""
    now = request.app.state.clock()
    outcome = await run_in_threadpool(
        attempt_login,
        session_factory,
        username,
        password,
        client_ip=client_address(request),
        key=key,
        now=now,
    )
    if outcome.status == "locked":
        response = _login_page(
            request,
            templates,
            next_path=safe_next(next),
            error="Too many attempts to sign in. Please wait a minute, then try again.",
            status_code=429,
            username=username[:64],
        )
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if outcome.status != "ok" or outcome.account is None:
        return _login_page(
            request,
            templates,
            next_path=safe_next(next),
            error="The username or password is not right. Please try again.",
            status_code=401,
            username=username[:64],
        )
    account = outcome.account
    token, _ = await run_in_threadpool(start_session, session_factory, account.id, now=now)
    draft = getattr(request.state, "audit", None)
    if draft is not None:
        draft.user_id, draft.role = account.id, account.role
    target = safe_next(next) or home_for(request, account.role, account.patient_id)
    redirect = RedirectResponse(target, status_code=303)
    set_session_cookie(redirect, token)
    return redirect


@router.post("/logout", name="auth.logout")
async def logout(
    request: Request, signed_in: CurrentUser, session_factory: SessionFactoryDep
) -> Response:
    await run_in_threadpool(end_session, session_factory, signed_in.token_hash)
    response = RedirectResponse(
        str(request.app.url_path_for("auth.login_form")) + "?signed_out=1", status_code=303
    )
    clear_session_cookie(response)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@router.get("/account/password", name="auth.password_form", response_class=HTMLResponse)
def password_form(request: Request, templates: TemplatesDep, signed_in: CurrentUser) -> Response:
    return render(
        request,
        templates,
        "auth/password.html",
        {"error": None, "done": False, "minimum": minimum_length(signed_in.account.role)},
    )


@router.post("/account/password", name="auth.password", response_class=HTMLResponse)
async def password(
    request: Request,
    templates: TemplatesDep,
    signed_in: CurrentUser,
    session_factory: SessionFactoryDep,
    current_password: Password,
    new_password: Password,
) -> Response:
    account = signed_in.account
    error = None
    try:
        changed = await run_in_threadpool(
            change_password,
            session_factory,
            account.id,
            current_password,
            new_password,
            now=request.app.state.clock(),
            keep_session=signed_in.token_hash,
        )
        if not changed:
            error = "The current password is not right. Please try again."
    except PasswordRejectedError as err:
        error = str(err)
    return render(
        request,
        templates,
        "auth/password.html",
        {"error": error, "done": error is None, "minimum": minimum_length(account.role)},
        status_code=200 if error is None else 400,
    )
