"""``relapsewatch secret-key``, ``relapsewatch users ...`` and ``relapsewatch teams ...``.

A fresh install has no accounts (RELIABILITY B7). The first admin is made here, from the
command line of the machine that holds the database, with a password the command makes from
the operating system's CSPRNG and prints once; the admin then makes every other account on the
web pages. ``secret-key`` prints a new key for ``RELAPSEWATCH_SECRET_KEY``, without which the
web app refuses to start.

Every change made here is written to the audit trail like a change made on the admin pages
(role ``cli``, no user id), so privilege changes are recorded whichever way they are made (D1).

Registered in :mod:`relapsewatch.cli` as ``secret-key`` (:func:`secret_key`) and the ``users``
(:data:`users_app`) and ``teams`` (:data:`teams_app`) groups.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.accounts.passwords import PasswordRejectedError
from relapsewatch.cli.importer import DatabaseUrlOption, open_database
from relapsewatch.cli.output import console, error_console
from relapsewatch.store.accounts import add_patients_to_team, create_team, create_user, list_users
from relapsewatch.store.audit import AuditRecord, append_audit
from relapsewatch.store.db import make_session_factory
from relapsewatch.store.errors import AccountError

__all__ = [
    "SECRET_KEY_BYTES",
    "record_cli_change",
    "secret_key",
    "teams_app",
    "users_app",
]

#: Random bytes in a new secret key (64 URL-safe characters; the app asks for at least 32).
SECRET_KEY_BYTES = 48

users_app = typer.Typer(
    help="Accounts: the first admin, and a list of every account.", no_args_is_help=True
)
teams_app = typer.Typer(
    help="Care teams: create one, and add patients to it.", no_args_is_help=True
)

_SEPARATORS = re.compile(r"[\s,;]+")


def record_cli_change(
    factory: sessionmaker[Session],
    *,
    action: str,
    resource_type: str,
    resource_id: int,
    detail: str,
) -> None:
    """Append the audit row of a change made from the command line (role ``cli``)."""
    append_audit(
        factory,
        [
            AuditRecord(
                at=dt.datetime.now(dt.UTC),
                user_id=None,
                role="cli",
                action=action,
                resource_type=resource_type,
                outcome="success",
                request_id="cli-" + secrets.token_hex(8),
                resource_id=str(resource_id),
                detail=detail,
            )
        ],
    )


def secret_key() -> None:
    """Print a new random secret key for RELAPSEWATCH_SECRET_KEY (keep it secret)."""
    console.print(secrets.token_urlsafe(SECRET_KEY_BYTES), markup=False)


@users_app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Argument(help="The admin's username, e.g. 'it.admin'.")],
    display_name: Annotated[
        str, typer.Option("--display-name", help="Name shown on the pages (default: username).")
    ] = "",
    another: Annotated[
        bool,
        typer.Option("--another", help="Make an admin even though one already exists."),
    ] = False,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create an admin account with a new random password, printed once.

    Refuses when an admin exists already (use the admin pages, or --another). Exits 0 when
    created, 1 when refused.
    """
    password = secrets.token_urlsafe(18)
    with open_database(database_url) as engine:
        factory = make_session_factory(engine)
        with factory() as session:
            admins = [a.username for a in list_users(session) if a.role == "admin"]
        if admins and not another:
            error_console.print(
                f"An admin already exists ({', '.join(admins)}); make further accounts on the "
                "admin pages, or add --another to make a second admin here.",
                markup=False,
            )
            raise typer.Exit(1)
        try:
            account = create_user(
                factory,
                username=username,
                password=password,
                role="admin",
                display_name=display_name or username,
                now=dt.datetime.now(dt.UTC),
            )
        except (AccountError, PasswordRejectedError) as err:
            error_console.print(f"Cannot create the admin: {err}", markup=False)
            raise typer.Exit(1) from None
        record_cli_change(
            factory,
            action="create",
            resource_type="account",
            resource_id=account.id,
            detail="created an admin account",
        )
    console.print(f"Created admin {account.username!r} (account {account.id}).", markup=False)
    console.print(f"Password (shown once; keep it safe): {password}", markup=False)
    console.print(
        "Sign in with it and change it under 'Change password'. It is not stored anywhere it "
        "can be read again.",
        markup=False,
    )


@users_app.command("list")
def list_accounts(database_url: DatabaseUrlOption = None) -> None:
    """List every account: id, username, role, care teams, patient record, status."""
    with open_database(database_url) as engine, make_session_factory(engine)() as session:
        accounts = list_users(session)
    if not accounts:
        console.print(
            "No accounts yet. Make the first admin with `relapsewatch users create-admin NAME`.",
            markup=False,
        )
        return
    table = Table(box=None)
    for column in ("id", "username", "role", "teams", "patient", "status"):
        table.add_column(column)
    for account in accounts:
        status = "disabled" if account.disabled else "active"
        table.add_row(
            str(account.id),
            account.username,
            account.role,
            ",".join(str(t) for t in account.team_ids),
            account.patient_id or "",
            status + (" (demo)" if account.demo else ""),
        )
    console.print(table)


@teams_app.command("create")
def create_care_team(
    name: Annotated[str, typer.Argument(help="The team's name, e.g. 'Myeloma team'.")],
    notify_email: Annotated[
        str | None,
        typer.Option("--notify-email", help="Where new-question e-mails go (none: no e-mail)."),
    ] = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create a care team and print its id (exit 1 if the name is taken)."""
    with open_database(database_url) as engine:
        factory = make_session_factory(engine)
        try:
            team = create_team(factory, name, notify_email=notify_email)
        except AccountError as err:
            error_console.print(f"Cannot create the care team: {err}", markup=False)
            raise typer.Exit(1) from None
        record_cli_change(
            factory,
            action="create",
            resource_type="care_team",
            resource_id=team,
            detail="created a care team",
        )
    console.print(f"Created care team {name.strip()!r} (team {team}).", markup=False)


@teams_app.command("add-patients")
def add_team_patients(
    team_id: Annotated[int, typer.Argument(min=1, help="The care team's id.")],
    patient_ids: Annotated[
        list[str], typer.Argument(help="Patient ids (separate arguments, or commas).")
    ],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Add stored patients to a care team: all of them, or none if any id is unknown (exit 1)."""
    wanted = [p for given in patient_ids for p in _SEPARATORS.split(given) if p]
    with open_database(database_url) as engine:
        factory = make_session_factory(engine)
        try:
            added = add_patients_to_team(factory, team_id, wanted)
        except AccountError as err:
            error_console.print(f"Nothing was added: {err}", markup=False)
            raise typer.Exit(1) from None
        record_cli_change(
            factory,
            action="update",
            resource_type="care_team",
            resource_id=team_id,
            detail=f"added {added} patient(s)",
        )
    console.print(
        f"Added {added} patient(s) to team {team_id}; "
        f"{len(set(wanted)) - added} were in it already.",
        markup=False,
    )
