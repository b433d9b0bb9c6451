"""``relapsewatch serve``: run the web app (``--demo``: simulated patients in a throwaway database).

It upgrades the database schema to the current migration, builds the app with
:func:`relapsewatch.web.create_app` and serves it with uvicorn. The site's secret key comes from
``RELAPSEWATCH_SECRET_KEY``; without a proper one the command stops (RELIABILITY B7).

With ``--demo`` the packaged demo cohort (virtual patients from :mod:`relapsewatch.simulate`) is
imported into a new embedded SQLite database in a temporary folder, their courses are derived,
clearly labelled demo accounts are made with new random passwords (printed), a one-off secret key
is made, and the app binds to loopback only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import SecretStr
from rich.table import Table
from sqlalchemy import Engine

from relapsewatch.cli.output import console, error_console
from relapsewatch.errors import ConfigError, RelapsewatchError
from relapsewatch.io import read_tables
from relapsewatch.simulate.demo import demo_folder
from relapsewatch.store.accounts import add_patients_to_team, create_team, create_user
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.repository import import_tables, list_patients
from relapsewatch.web import WebSettings, create_app
from relapsewatch.web.app import _check_secret_key as check_secret_key

__all__ = ["DEMO_PATIENT_ACCOUNT", "DemoAccount", "create_demo_accounts", "load_demo", "serve"]


#: The demo patient whose record the demo patient account opens.
DEMO_PATIENT_ACCOUNT = "VP0000001"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    note: str


def load_demo(engine: Engine) -> int:
    """Create the schema and import the demo cohort (courses derived); returns the patient count."""
    upgrade_database(engine)
    tables = read_tables(demo_folder())
    import_tables(make_session_factory(engine), tables, source="relapsewatch demo cohort")
    return tables.patients.height


def create_demo_accounts(engine: Engine) -> list[DemoAccount]:
    """A demo care team holding every demo patient, and one account per role, each with a new
    random password (returned, to print). Only for ``--demo``: a real site has no accounts
    until its first admin is made from the command line."""
    factory = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    team = create_team(factory, "Demo care team")
    with factory() as session:
        ids = [p.patient_id for p in list_patients(session, limit=1000)]
    add_patients_to_team(factory, team, ids)
    made = []
    for username, role, note, extra in (
        ("demo.nurse", "nurse", "sees the demo care team's patients", {"team_ids": [team]}),
        ("demo.clinician", "clinician", "sees the demo care team's patients", {"team_ids": [team]}),
        (
            "demo.patient",
            "patient",
            f"sees only {DEMO_PATIENT_ACCOUNT}",
            {"patient_id": DEMO_PATIENT_ACCOUNT},
        ),
        ("demo.admin", "admin", "accounts and the audit trail", {}),
    ):
        password = secrets.token_urlsafe(12)
        create_user(
            factory,
            username=username,
            password=password,
            role=role,
            display_name=f"Demo {role}",
            now=now,
            demo=True,
            **extra,
        )
        made.append(DemoAccount(username, password, role, note))
    return made


def _print_demo_accounts(accounts: list[DemoAccount]) -> None:
    table = Table(title="Demo accounts (simulated; new passwords every start)", box=None)
    for column in ("username", "password", "role", "what it sees"):
        table.add_column(column)
    for account in accounts:
        table.add_row(account.username, account.password, account.role, account.note)
    console.print(table)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Serve simulated patients from a throwaway SQLite database (loopback only).",
        ),
    ] = False,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless behind a proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL of the database (default: $RELAPSEWATCH_DATABASE_URL, else a "
            "SQLite file relapsewatch.db here). Not used with --demo.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            help="Worker processes (2 on a two-core machine serves many readers faster; each "
            "builds the app from the same settings).",
        ),
    ] = 1,
) -> None:
    """Run the relapse companion web app and print its address."""
    if demo and not _is_loopback(host):
        error_console.print(
            f"--demo serves on loopback only, got --host {host}; use --host 127.0.0.1.",
            markup=False,
        )
        raise typer.Exit(2)
    if demo and database_url:
        error_console.print(
            "--demo makes its own database; leave out --database-url.", markup=False
        )
        raise typer.Exit(2)
    scratch: Path | None = None
    try:
        if demo:
            scratch = Path(tempfile.mkdtemp(prefix="relapsewatch-demo-"))
            settings = WebSettings(
                database_url=f"sqlite:///{scratch / 'demo.sqlite3'}",
                demo=True,
                secret_key=SecretStr(secrets.token_urlsafe(48)),
            )
            engine = create_engine_for(settings.database_url)
            started = time.perf_counter()
            console.print("Loading the demo cohort (simulated patients)...", markup=False)
            count = load_demo(engine)
            demo_accounts = create_demo_accounts(engine)
            console.print(
                f"Loaded {count} simulated patients and derived their courses in "
                f"{time.perf_counter() - started:.1f} s.",
                markup=False,
            )
            _print_demo_accounts(demo_accounts)
        else:
            base = WebSettings()
            settings = base.model_copy(update={"database_url": database_url or base.database_url})
            # Refuse a missing or example key before the database is touched or any worker
            # starts (RELIABILITY B7); create_app checks again for other callers.
            check_secret_key(settings)
            engine = create_engine_for(settings.database_url)
            upgrade_database(engine)
        console.print(
            f"relapsewatch is running at {_address(host, port)} (press Ctrl+C to stop).",
            markup=False,
        )
        if workers > 1:
            # Each worker process builds its own app from the environment (the settings are
            # read there by WebSettings()), so the chosen database and demo label go with them.
            engine.dispose()
            os.environ["RELAPSEWATCH_DATABASE_URL"] = settings.database_url
            os.environ["RELAPSEWATCH_DEMO"] = "true" if settings.demo else "false"
            if settings.secret_key is not None:
                os.environ["RELAPSEWATCH_SECRET_KEY"] = settings.secret_key.get_secret_value()
        uvicorn.run(
            create_app(settings, engine=engine)
            if workers == 1
            else "relapsewatch.web.app:create_app",
            factory=workers > 1,
            workers=workers,
            host=host,
            port=port,
            server_header=False,
            access_log=False,
            log_level="warning",
        )
        engine.dispose()
    except ConfigError as err:
        error_console.print(str(err), markup=False)
        raise typer.Exit(2) from None
    except RelapsewatchError as err:
        error_console.print(str(err), markup=False)
        raise typer.Exit(1) from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
