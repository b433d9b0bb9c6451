"""Accounts in the database: care teams, users, sessions and the login lockout.

Sessions (RELIABILITY B3, B4)
    A session token is 256 bits from :func:`secrets.token_urlsafe` (CSPRNG), new at every login;
    only its SHA-256 is stored, so a copy of the database cannot be used to sign in. A session
    ends at logout, after :attr:`SessionPolicy.idle` of inactivity (15 minutes for staff and
    admins, 30 for patients), after :attr:`SessionPolicy.absolute` (12 hours) whatever the
    activity, when the user's password changes (other sessions) and when the user is disabled.

Lockout (RELIABILITY B2)
    Failed logins are counted per typed username (as a keyed hash, so unknown names count the
    same and none is stored) and per client address over the last minute. At 10 per account or
    60 per address, every further attempt is refused, even with the right password, until the
    oldest failure leaves the window; the caller answers 429 with ``Retry-After``.

Access (RELIABILITY A3)
    A patient sees only the record their account names; nurses and clinicians see the patients
    of their care teams (:func:`can_see_patient`, :func:`visible_patients`); admins see none.

Times come from the caller (``now``), so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, Update, bindparam, delete, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.accounts.passwords import (
    check_password_rules,
    hash_password,
    needs_rehash,
    verify_nothing,
    verify_password,
)
from relapsewatch.accounts.roles import ROLES, STAFF_ROLES
from relapsewatch.store.db import as_utc, small_write_session, write_session
from relapsewatch.store.errors import AccountError
from relapsewatch.store.models import (
    CareTeam,
    CareTeamMember,
    CareTeamPatient,
    LoginFailure,
    Patient,
    User,
    UserSession,
)

__all__ = [
    "LOCKOUT_PER_ACCOUNT",
    "LOCKOUT_PER_ADDRESS",
    "LOCKOUT_WINDOW",
    "Account",
    "LoginOutcome",
    "SessionPolicy",
    "SignedIn",
    "add_patients_to_team",
    "attempt_login",
    "can_see_patient",
    "change_password",
    "count_users",
    "create_team",
    "create_user",
    "end_session",
    "get_account",
    "list_teams",
    "list_users",
    "new_token",
    "patients_outside_teams",
    "resolve_session",
    "set_password",
    "set_user_disabled",
    "start_session",
    "token_hash",
    "touch_session",
    "visible_patients",
]

LOCKOUT_WINDOW = dt.timedelta(minutes=1)
LOCKOUT_PER_ACCOUNT = 10
LOCKOUT_PER_ADDRESS = 60


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the app sees them (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    patient_id: str | None
    disabled: bool
    demo: bool
    team_ids: tuple[int, ...]

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long sessions last (RELIABILITY B4; HIPAA 164.312(a)(2)(iii) automatic logoff)."""

    idle_staff: dt.timedelta = dt.timedelta(minutes=15)
    idle_patient: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)

    def idle_for(self, role: str) -> dt.timedelta:
        return self.idle_patient if role == "patient" else self.idle_staff


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: who, and the CSRF token its forms must carry."""

    account: Account
    token_hash: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """``ok`` (with the account), ``failed`` (wrong name or password, or disabled; the
    same answer either way) or ``locked`` (``retry_after`` seconds)."""

    status: str
    account: Account | None = None
    retry_after: int = 0


def new_token() -> str:
    """A fresh secret for a session cookie or a CSRF token: 256 bits from the operating
    system's CSPRNG (:func:`secrets.token_urlsafe`), 43 URL-safe characters (RELIABILITY B3)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored of a session token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _fold(username: str) -> str:
    return username.strip().casefold()


def _teams_of(session: Session, user_id: int) -> tuple[int, ...]:
    return tuple(session.scalars(_teams_statement(), {"user_id": user_id}))


# Statements run on every request are built once (building one costs more than running it).


@functools.cache
def _teams_statement() -> Select[int]:
    return (
        select(CareTeamMember.team_id)
        .where(CareTeamMember.user_id == bindparam("user_id"))
        .order_by(CareTeamMember.team_id)
    )


@functools.cache
def _session_statement() -> Select[UserSession, User]:
    return (
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == bindparam("hashed"))
    )


@functools.cache
def _in_teams_statement() -> Select[str]:
    return (
        select(CareTeamPatient.patient_id)
        .where(
            CareTeamPatient.patient_id == bindparam("patient_id"),
            CareTeamPatient.team_id.in_(bindparam("teams", expanding=True)),
        )
        .limit(1)
    )


def _account(session: Session, user: User, team_ids: tuple[int, ...] | None = None) -> Account:
    return Account(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        patient_id=user.patient_id,
        disabled=user.disabled,
        demo=user.demo,
        team_ids=_teams_of(session, user.id) if team_ids is None else team_ids,
    )


# --- care teams and users -------------------------------------------------------------------


def create_team(
    session_factory: sessionmaker[Session], name: str, *, notify_email: str | None = None
) -> int:
    """Create a care team; returns its id. A name already used is an :class:`AccountError`."""
    name = name.strip()
    if not name:
        raise AccountError("a care team needs a name; give one, e.g. 'Myeloma team'")
    with write_session(session_factory) as session:
        if session.scalar(select(CareTeam.id).where(CareTeam.name == name)) is not None:
            raise AccountError(f"a care team named {name!r} already exists; choose another name")
        team = CareTeam(name=name, notify_email=notify_email or None)
        session.add(team)
        session.flush()
        return team.id


def list_teams(session: Session) -> list[CareTeam]:
    return list(session.scalars(select(CareTeam).order_by(CareTeam.name)))


def add_patients_to_team(
    session_factory: sessionmaker[Session], team_id: int, patient_ids: Iterable[str]
) -> int:
    """Put patients in a care team's list (already there: skipped); returns how many were added.

    Every id must name a stored patient, else nothing is added (:class:`AccountError`)."""
    wanted = sorted(set(patient_ids))
    with write_session(session_factory) as session:
        if session.get(CareTeam, team_id) is None:
            raise AccountError(f"no care team has id {team_id}; list the teams and pick one")
        stored = set(
            session.scalars(select(Patient.patient_id).where(Patient.patient_id.in_(wanted)))
        )
        missing = [p for p in wanted if p not in stored]
        if missing:
            raise AccountError(
                f"no stored patient has id {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; import the patients first"
            )
        present = set(
            session.scalars(
                select(CareTeamPatient.patient_id).where(
                    CareTeamPatient.team_id == team_id, CareTeamPatient.patient_id.in_(wanted)
                )
            )
        )
        new = [p for p in wanted if p not in present]
        session.add_all(CareTeamPatient(team_id=team_id, patient_id=p) for p in new)
        return len(new)


def create_user(
    session_factory: sessionmaker[Session],
    *,
    username: str,
    password: str,
    role: str,
    display_name: str,
    now: dt.datetime,
    patient_id: str | None = None,
    team_ids: Sequence[int] = (),
    demo: bool = False,
) -> Account:
    """Create an account after checking the password rules; returns it.

    A patient account names one stored patient that has no account yet; a nurse or clinician
    belongs to at least one care team; an admin has neither.
    """
    folded = _fold(username)
    if not 3 <= len(folded) <= 64 or any(c.isspace() or not c.isprintable() for c in folded):
        raise AccountError(
            "a username is 3 to 64 characters with no spaces, e.g. 'a.nurse' or an e-mail address"
        )
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if role == "patient" and not patient_id:
        raise AccountError("a patient account must name the patient's record (patient id)")
    if role != "patient" and patient_id:
        raise AccountError("only a patient account names a patient record")
    if role in STAFF_ROLES and not team_ids:
        raise AccountError(f"a {role} must belong to a care team; give at least one team")
    if role not in STAFF_ROLES and team_ids:
        raise AccountError("only nurses and clinicians belong to care teams")
    check_password_rules(password, role=role, username=folded)
    hashed = hash_password(password)
    try:
        with write_session(session_factory) as session:
            if session.scalar(select(User.id).where(User.username == folded)) is not None:
                raise AccountError(f"the username {folded!r} is taken; choose another")
            if patient_id is not None:
                if session.get(Patient, patient_id) is None:
                    raise AccountError(
                        f"no stored patient has id {patient_id!r}; import the patient first"
                    )
                if session.scalar(select(User.id).where(User.patient_id == patient_id)):
                    raise AccountError(f"patient {patient_id!r} already has an account")
            for team_id in team_ids:
                if session.get(CareTeam, team_id) is None:
                    raise AccountError(f"no care team has id {team_id}; create it first")
            user = User(
                username=folded,
                display_name=display_name.strip() or folded,
                role=role,
                password_hash=hashed,
                patient_id=patient_id,
                disabled=False,
                demo=demo,
                created_at=now,
                password_changed_at=now,
            )
            session.add(user)
            session.flush()
            session.add_all(
                CareTeamMember(team_id=t, user_id=user.id) for t in sorted(set(team_ids))
            )
            session.flush()
            return _account(session, user)
    except IntegrityError as err:  # a concurrent create won the race for the name
        raise AccountError(f"the username {folded!r} is taken; choose another") from err


def get_account(session: Session, user_id: int) -> Account | None:
    user = session.get(User, user_id)
    return None if user is None else _account(session, user)


def list_users(session: Session) -> list[Account]:
    teams: dict[int, list[int]] = {}
    for user_id, team_id in session.execute(
        select(CareTeamMember.user_id, CareTeamMember.team_id).order_by(CareTeamMember.team_id)
    ):
        teams.setdefault(user_id, []).append(team_id)
    users = session.scalars(select(User).order_by(User.role, User.username))
    return [_account(session, u, tuple(teams.get(u.id, ()))) for u in users]


def count_users(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def set_user_disabled(session_factory: sessionmaker[Session], user_id: int, disabled: bool) -> None:
    """Disable (every session ends at once) or enable an account."""
    with write_session(session_factory) as session:
        user = session.get(User, user_id)
        if user is None:
            raise AccountError(f"no user has id {user_id}")
        user.disabled = disabled
        if disabled:
            session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def set_password(
    session_factory: sessionmaker[Session],
    user_id: int,
    new_password: str,
    *,
    now: dt.datetime,
    keep_session: str | None = None,
) -> None:
    """Set a new password (rules checked) and end every session of the user but ``keep_session``
    (a token hash: the session that made the change stays signed in)."""
    with write_session(session_factory) as session:
        user = session.get(User, user_id)
        if user is None:
            raise AccountError(f"no user has id {user_id}")
        check_password_rules(new_password, role=user.role, username=user.username)
        user.password_hash = hash_password(new_password)
        user.password_changed_at = now
        ending = delete(UserSession).where(UserSession.user_id == user_id)
        if keep_session is not None:
            ending = ending.where(UserSession.token_hash != keep_session)
        session.execute(ending)


def change_password(
    session_factory: sessionmaker[Session],
    user_id: int,
    current_password: str,
    new_password: str,
    *,
    now: dt.datetime,
    keep_session: str | None = None,
) -> bool:
    """The user's own change: ``False`` (nothing changed) when ``current_password`` is wrong."""
    with session_factory() as session:
        user = session.get(User, user_id)
        if user is None or not verify_password(user.password_hash, current_password):
            return False
    set_password(session_factory, user_id, new_password, now=now, keep_session=keep_session)
    return True


# --- login and sessions ---------------------------------------------------------------------


def _account_key(username: str, key: bytes) -> str:
    return hmac.new(key, _fold(username).encode(), hashlib.sha256).hexdigest()


def _lockout_retry(session: Session, account_key: str, client_ip: str, now: dt.datetime) -> int:
    """Seconds until an attempt is allowed again; 0 when it is allowed now."""
    since = now - LOCKOUT_WINDOW
    waits = []
    for column, value, limit in (
        (LoginFailure.account_key, account_key, LOCKOUT_PER_ACCOUNT),
        (LoginFailure.client_ip, client_ip, LOCKOUT_PER_ADDRESS),
    ):
        times = list(
            session.scalars(
                select(LoginFailure.at)
                .where(column == value, LoginFailure.at > since)
                .order_by(LoginFailure.at.desc())
                .limit(limit)
            )
        )
        if len(times) >= limit:
            oldest = as_utc(times[-1])
            waits.append(max(1, int((oldest + LOCKOUT_WINDOW - now).total_seconds()) + 1))
    return max(waits, default=0)


def attempt_login(
    session_factory: sessionmaker[Session],
    username: str,
    password: str,
    *,
    client_ip: str,
    key: bytes,
    now: dt.datetime,
) -> LoginOutcome:
    """Check a login: ``ok``, ``failed`` or ``locked`` (see the module's notes on lockout).

    An unknown username costs one password verification too, so it cannot be told from a
    wrong password by its answer or its timing.
    """
    account_key = _account_key(username, key)
    client_ip = client_ip[:64]
    with session_factory() as session:
        retry = _lockout_retry(session, account_key, client_ip, now)
        if retry:
            return LoginOutcome("locked", retry_after=retry)
        # No username holds a NUL (PostgreSQL cannot even compare one): unknown, not an error.
        folded = _fold(username)
        user = (
            None
            if "\x00" in folded
            else session.scalar(select(User).where(User.username == folded))
        )
        matched = (
            verify_password(user.password_hash, password)
            if user is not None
            else verify_nothing(password)
        )
        account = _account(session, user) if user is not None else None
    if not matched or account is None or account.disabled:
        with write_session(session_factory) as session:
            session.add(LoginFailure(account_key=account_key, client_ip=client_ip, at=now))
            # Failures older than an hour are of no further use.
            session.execute(
                delete(LoginFailure).where(LoginFailure.at < now - dt.timedelta(hours=1))
            )
        return LoginOutcome("failed")
    if user is not None and needs_rehash(user.password_hash):
        with write_session(session_factory) as session:
            session.execute(
                update(User)
                .where(User.id == account.id)
                .values(password_hash=hash_password(password))
            )
    return LoginOutcome("ok", account=account)


def start_session(
    session_factory: sessionmaker[Session], user_id: int, *, now: dt.datetime
) -> tuple[str, SignedIn]:
    """A new session for a user who has just logged in: ``(token, signed_in)``.

    The token goes in the cookie and is never stored; the CSRF token goes in the forms."""
    token = new_token()
    csrf = new_token()
    with write_session(session_factory) as session:
        user = session.get(User, user_id)
        if user is None or user.disabled:
            raise AccountError(f"user {user_id} cannot sign in")
        session.add(
            UserSession(
                token_hash=token_hash(token),
                user_id=user_id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
            )
        )
        account = _account(session, user)
    return token, SignedIn(account, token_hash(token), csrf)


def resolve_session(
    session_factory: sessionmaker[Session],
    token: str,
    *,
    now: dt.datetime,
    policy: SessionPolicy,
    touch: bool = True,
) -> SignedIn | None:
    """The live session a cookie's token names, its last activity moved to ``now`` (unless
    ``touch`` is false: the web app moves it in the same transaction as the request's audit
    row, :func:`relapsewatch.store.audit.append_audit`); ``None`` when there is none, it has
    expired (it is then deleted) or its user is disabled."""
    hashed = token_hash(token)
    with session_factory() as session:
        found = session.execute(_session_statement(), {"hashed": hashed}).first()
        if found is None:
            return None
        stored, user = found
        idle_limit = policy.idle_for(user.role)
        expired = (
            user.disabled
            or now - as_utc(stored.last_seen_at) > idle_limit
            or now - as_utc(stored.created_at) > policy.absolute
        )
        signed_in = (
            None if expired else SignedIn(_account(session, user), hashed, stored.csrf_token)
        )
    if signed_in is None:
        with small_write_session(session_factory) as session:
            session.execute(delete(UserSession).where(UserSession.token_hash == hashed))
    elif touch:
        with small_write_session(session_factory) as session:
            touch_session(session, hashed, now)
    return signed_in


def touch_session(session: Session, hashed_token: str, now: dt.datetime) -> None:
    """Move a session's last activity to ``now`` (inside the caller's transaction)."""
    session.execute(_touch_statement(), {"hashed": hashed_token, "now": now})


@functools.cache
def _touch_statement() -> Update:
    return (
        update(UserSession)
        .where(UserSession.token_hash == bindparam("hashed"))
        .values(last_seen_at=bindparam("now"))
    )


def end_session(session_factory: sessionmaker[Session], hashed_token: str) -> None:
    """Log out: the session row is deleted, so the token is refused from now on."""
    with write_session(session_factory) as session:
        session.execute(delete(UserSession).where(UserSession.token_hash == hashed_token))


# --- who may see which patient --------------------------------------------------------------


def visible_patients(account: Account) -> ColumnElement[bool]:
    """A WHERE clause on ``patients`` for the records this account may see."""
    if account.role == "patient":
        return Patient.patient_id == account.patient_id
    if account.role in STAFF_ROLES and account.team_ids:
        return Patient.patient_id.in_(
            select(CareTeamPatient.patient_id).where(CareTeamPatient.team_id.in_(account.team_ids))
        )
    return ~true()


def can_see_patient(session: Session, account: Account, patient_id: str) -> bool:
    """Whether the account may see this patient's record (``False`` for unknown ids too)."""
    if account.role in STAFF_ROLES:
        if not account.team_ids:
            return False
        found_in_team = session.scalar(
            _in_teams_statement(), {"patient_id": patient_id, "teams": list(account.team_ids)}
        )
        return found_in_team is not None
    found = session.scalar(
        select(Patient.patient_id).where(
            Patient.patient_id == patient_id, visible_patients(account)
        )
    )
    return found is not None


def patients_outside_teams(
    session: Session, account: Account, patient_ids: Iterable[str]
) -> list[str]:
    """Of these ids, the stored patients that this account's care teams do not look after."""
    wanted = sorted(set(patient_ids))
    stored = set(session.scalars(select(Patient.patient_id).where(Patient.patient_id.in_(wanted))))
    mine = set(
        session.scalars(
            select(Patient.patient_id).where(
                Patient.patient_id.in_(wanted), visible_patients(account)
            )
        )
    )
    return sorted(stored - mine)
