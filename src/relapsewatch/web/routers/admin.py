"""Admin pages: accounts, care teams and the audit trail (admins only; no clinical data).

* ``/admin/users``: every account with its role, care teams, linked patient record, whether it
  is disabled and whether it is a demo account; a form to create one. The server makes the
  first password (``secrets``, 144 bits) and shows it once, on the page that answers the form;
  it is never stored in clear or shown again. Disable (every session of the account ends at
  once, RELIABILITY B3), enable, and reset the password (a new one shown once; every session
  of the account ends).
* ``/admin/teams``: care teams, their staff, a form to create one and a field to add patients
  to a team by id.
* ``/admin/audit``: the audit trail newest first, 100 rows a page, filtered by account and
  outcome; patients appear only by pseudonym (RELIABILITY G2). "Check the chain" runs
  :func:`relapsewatch.store.audit.verify_audit` (D3). ``/admin/audit/export.csv`` downloads
  every row with its hash, cells neutralised against formula injection (C6).

Every change to accounts and care teams is a privilege change and is audited (D1): the policy
gives these routes an action (``create``/``update``) on ``account`` or ``care_team``, and the
routes name the account or team in the row's ``resource_id``. Admins see no measurements,
treatments or courses on any of these pages.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from relapsewatch.accounts.passwords import PasswordRejectedError
from relapsewatch.accounts.roles import ROLES
from relapsewatch.store.accounts import (
    Account,
    add_patients_to_team,
    create_team,
    create_user,
    get_account,
    list_teams,
    list_users,
    set_password,
    set_user_disabled,
)
from relapsewatch.store.audit import OUTCOMES, audit_rows, verify_audit
from relapsewatch.store.audit_export import audit_csv_chunks, export_records
from relapsewatch.store.errors import AccountError
from relapsewatch.web.auth import CurrentUser
from relapsewatch.web.deps import SessionDep, SessionFactoryDep, TemplatesDep, render

__all__ = ["AUDIT_PAGE_SIZE", "new_password", "router"]

router = APIRouter(prefix="/admin", tags=["admin"])

#: Audit rows per page (RELIABILITY C7: pages of at most 100).
AUDIT_PAGE_SIZE = 100

#: Largest id accepted in an address or a query (fits a 64-bit column on every backend).
_MAX_ID = 2**62

UserId = Annotated[int, Path(ge=1, le=_MAX_ID, description="The account's id.")]
TeamId = Annotated[int, Path(ge=1, le=_MAX_ID, description="The care team's id.")]
ShortText = Annotated[str, Form(max_length=128)]

_TEAM_NOTICES = {"created": "The care team was created."}
_USER_NOTICES = {
    "disabled": "The account was disabled. Its sessions have ended.",
    "enabled": "The account was enabled. It can sign in again.",
}
_SEPARATORS = re.compile(r"[\s,;]+")


def new_password() -> str:
    """A password the server makes for a new or reset account: 18 random bytes from the
    operating system's CSPRNG as 24 URL-safe characters (passes every rule of B1 for every
    role: longer than 15, never on the common list)."""
    return secrets.token_urlsafe(18)


def _printable(values: Iterable[str]) -> None:
    """Refuse control characters (a NUL cannot even be stored on PostgreSQL) in typed fields."""
    for value in values:
        if any(not c.isprintable() for c in value):
            raise AccountError("use letters, digits, spaces and punctuation only")


def _audit_target(request: Request, resource_id: int, detail: str | None = None) -> None:
    """Name the account or team this request changes in its audit row (D1)."""
    draft = getattr(request.state, "audit", None)
    if draft is not None:
        draft.resource_id = str(resource_id)
        if detail is not None:
            draft.detail = detail


def _team_names(session: Session) -> dict[int, str]:
    return {team.id: team.name for team in list_teams(session)}


def _users_page(
    request: Request,
    templates: TemplatesDep,
    session: Session,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        templates,
        "admin/users.html",
        {
            "section": "accounts",
            "users": list_users(session),
            "teams": _team_names(session),
            "roles": ROLES,
            "values": values or {},
            "error": error,
            "notice": notice,
        },
        status_code=status_code,
    )


def _password_page(
    request: Request,
    templates: TemplatesDep,
    session: Session,
    account: Account,
    password: str,
    *,
    created: bool,
) -> HTMLResponse:
    return render(
        request,
        templates,
        "admin/password.html",
        {
            "section": "accounts",
            "account": account,
            "teams": _team_names(session),
            "password": password,
            "created": created,
        },
    )


@router.get("/users", name="admin.users", response_class=HTMLResponse)
def users(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    done: Annotated[str, Query(max_length=16)] = "",
) -> HTMLResponse:
    return _users_page(request, templates, session, notice=_USER_NOTICES.get(done))


@router.post("/users", name="admin.user_create", response_class=HTMLResponse)
def user_create(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    session_factory: SessionFactoryDep,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: ShortText = "",
    role: Annotated[str, Form(max_length=16)] = "",
    team_id: Annotated[str, Form(max_length=20)] = "",
    patient_id: ShortText = "",
) -> HTMLResponse:
    values = {
        "username": username.strip(),
        "display_name": display_name.strip(),
        "role": role,
        "team_id": team_id,
        "patient_id": patient_id.strip(),
    }
    password = new_password()
    try:
        _printable(values.values())
        if team_id and not re.fullmatch(r"[0-9]{1,18}", team_id):
            raise AccountError("choose a care team from the list")
        account = create_user(
            session_factory,
            username=values["username"],
            password=password,
            role=role,
            display_name=values["display_name"],
            now=request.app.state.clock(),
            patient_id=values["patient_id"] or None,
            team_ids=[int(team_id)] if team_id else [],
        )
    except (AccountError, PasswordRejectedError) as err:
        return _users_page(
            request, templates, session, values=values, error=_sentence(err), status_code=400
        )
    _audit_target(request, account.id, f"created a {account.role} account")
    return _password_page(request, templates, session, account, password, created=True)


def _set_disabled(
    request: Request,
    templates: TemplatesDep,
    session: Session,
    session_factory: SessionFactoryDep,
    signed_in: CurrentUser,
    user_id: int,
    disabled: bool,
) -> Response:
    _audit_target(request, user_id, "disabled" if disabled else "enabled")
    try:
        if disabled and user_id == signed_in.account.id:
            raise AccountError(
                "you cannot disable your own account; ask another admin if it must be disabled"
            )
        set_user_disabled(session_factory, user_id, disabled)
    except AccountError as err:
        return _users_page(request, templates, session, error=_sentence(err), status_code=400)
    done = "disabled" if disabled else "enabled"
    return RedirectResponse(
        str(request.app.url_path_for("admin.users")) + f"?done={done}", status_code=303
    )


@router.post("/users/{user_id}/disable", name="admin.user_disable")
def user_disable(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    session_factory: SessionFactoryDep,
    signed_in: CurrentUser,
    user_id: UserId,
) -> Response:
    return _set_disabled(request, templates, session, session_factory, signed_in, user_id, True)


@router.post("/users/{user_id}/enable", name="admin.user_enable")
def user_enable(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    session_factory: SessionFactoryDep,
    signed_in: CurrentUser,
    user_id: UserId,
) -> Response:
    return _set_disabled(request, templates, session, session_factory, signed_in, user_id, False)


@router.post("/users/{user_id}/password", name="admin.user_reset", response_class=HTMLResponse)
def user_reset(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    session_factory: SessionFactoryDep,
    signed_in: CurrentUser,
    user_id: UserId,
) -> HTMLResponse:
    _audit_target(request, user_id, "password reset")
    password = new_password()
    try:
        # Every session of the account ends; an admin resetting their own keeps this one.
        keep = signed_in.token_hash if user_id == signed_in.account.id else None
        set_password(
            session_factory, user_id, password, now=request.app.state.clock(), keep_session=keep
        )
        account = get_account(session, user_id)
        if account is None:  # removed between the two steps
            raise AccountError(f"no user has id {user_id}")
    except (AccountError, PasswordRejectedError) as err:
        return _users_page(request, templates, session, error=_sentence(err), status_code=400)
    return _password_page(request, templates, session, account, password, created=False)


# --- care teams -------------------------------------------------------------------------------


def _teams_page(
    request: Request,
    templates: TemplatesDep,
    session: Session,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    members: dict[int, list[Account]] = {}
    for account in list_users(session):
        for team in account.team_ids:
            members.setdefault(team, []).append(account)
    return render(
        request,
        templates,
        "admin/teams.html",
        {
            "section": "teams",
            "teams": list_teams(session),
            "members": members,
            "values": values or {},
            "error": error,
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get("/teams", name="admin.teams", response_class=HTMLResponse)
def teams(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    done: Annotated[str, Query(max_length=16)] = "",
    added: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> HTMLResponse:
    notice = _TEAM_NOTICES.get(done)
    if added is not None:
        notice = f"{added} patient{'' if added == 1 else 's'} added to the care team."
    return _teams_page(request, templates, session, notice=notice)


@router.post("/teams", name="admin.team_create", response_class=HTMLResponse)
def team_create(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    session_factory: SessionFactoryDep,
    name: ShortText = "",
    notify_email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    values = {"name": name.strip(), "notify_email": notify_email.strip()}
    try:
        _printable(values.values())
        if values["notify_email"] and "@" not in values["notify_email"]:
            raise AccountError("the notification address must be an e-mail address, or empty")
        team = create_team(session_factory, values["name"], notify_email=values["notify_email"])
    except AccountError as err:
        return _teams_page(
            request, templates, session, values=values, error=_sentence(err), status_code=400
        )
    _audit_target(request, team)
    return RedirectResponse(
        str(request.app.url_path_for("admin.teams")) + "?done=created", status_code=303
    )


@router.post("/teams/{team_id}/patients", name="admin.team_patients", response_class=HTMLResponse)
def team_patients(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    session_factory: SessionFactoryDep,
    team_id: TeamId,
    patient_ids: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    _audit_target(request, team_id)
    wanted = [p for p in _SEPARATORS.split(patient_ids) if p]
    try:
        if not wanted:
            raise AccountError("give at least one patient id, separated by commas or spaces")
        _printable(wanted)
        added = add_patients_to_team(session_factory, team_id, wanted)
    except AccountError as err:
        return _teams_page(request, templates, session, error=_sentence(err), status_code=400)
    _audit_target(request, team_id, f"added {added} patient(s)")
    return RedirectResponse(
        str(request.app.url_path_for("admin.teams")) + f"?added={added}", status_code=303
    )


# --- the audit trail --------------------------------------------------------------------------

OutcomeFilter = Annotated[
    str,
    Query(pattern="^(|" + "|".join(OUTCOMES) + ")$", description="Only rows with this outcome."),
]
UserFilter = Annotated[
    str, Query(pattern=r"^\d{0,18}$", description="Only rows of this account (its id).")
]


@router.get("/audit", name="admin.audit", response_class=HTMLResponse)
def audit(
    request: Request,
    templates: TemplatesDep,
    session: SessionDep,
    user_id: UserFilter = "",
    outcome: OutcomeFilter = "",
    before_id: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    check: Annotated[bool, Query(description="Check the whole hash chain.")] = False,
) -> HTMLResponse:
    rows = audit_rows(
        session,
        limit=AUDIT_PAGE_SIZE + 1,
        before_id=before_id,
        user_id=int(user_id) if user_id else None,
        outcome=outcome or None,
    )
    older = rows[AUDIT_PAGE_SIZE - 1].id if len(rows) > AUDIT_PAGE_SIZE else None
    accounts = list_users(session)
    filters: dict[str, Any] = {"user_id": user_id, "outcome": outcome}
    return render(
        request,
        templates,
        "admin/audit.html",
        {
            "section": "audit",
            "rows": rows[:AUDIT_PAGE_SIZE],
            "names": {a.id: a.username for a in accounts},
            "accounts": accounts,
            "outcomes": OUTCOMES,
            "filters": filters,
            "older": older,
            "newest": before_id is None,
            "report": verify_audit(session) if check else None,
        },
    )


@router.get("/audit/export.csv", name="admin.audit_export")
def audit_export(session_factory: SessionFactoryDep) -> StreamingResponse:
    def chunks() -> Iterator[str]:
        with session_factory() as session:
            yield from audit_csv_chunks(export_records(session))

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'},
    )


def _sentence(err: Exception) -> str:
    """A store error as a sentence for the page: first letter up, a full stop at the end."""
    text = str(err)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
