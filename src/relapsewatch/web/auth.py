"""Signing in, the session cookie, CSRF, and the one dependency every route depends on.

:func:`authorize` is attached to every router by the app factory (RELIABILITY A1). For each
request it finds the route's rule in :data:`relapsewatch.web.policy.POLICY` and

1. prepares the audit row when the rule says the route touches patient data (written by
   :class:`relapsewatch.web.audit.AuditMiddleware` once the outcome is known);
2. lets public routes through;
3. finds the session from the cookie, or answers "sign in" (a redirect to the login page for a
   browser asking for a page, 401 otherwise);
4. for POST, PUT, PATCH and DELETE, checks the Origin (when sent) and the session's CSRF token
   (form field ``csrf_token`` or header ``X-CSRF-Token``): 403 without both (B5);
5. checks the role against the rule: 403;
6. for routes that name a patient, checks that this account may see that patient: 404 for a
   patient they may not see, one that does not exist and a malformed id alike, so nobody can
   learn which ids exist (A3).

The cookie is ``__Host-relapsewatch``: ``Secure``, ``HttpOnly``, ``SameSite=Lax``, ``Path=/``,
no ``Domain`` (B5). It holds the session token and nothing else; the session lives in the
database (:mod:`relapsewatch.store.accounts`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.responses import Response

from relapsewatch.store.accounts import SessionPolicy, SignedIn, can_see_patient, resolve_session
from relapsewatch.store.repository import get_patient
from relapsewatch.web.policy import rule_for

__all__ = [
    "SESSION_COOKIE",
    "AuditDraft",
    "Clock",
    "CurrentUser",
    "NotSignedInError",
    "OptionalUser",
    "authorize",
    "clear_session_cookie",
    "client_address",
    "login_redirect_target",
    "safe_next",
    "set_session_cookie",
]

SESSION_COOKIE = "__Host-relapsewatch"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Clock = Callable[[], dt.datetime]

_PATIENT_ID = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,128}$")


@dataclass(slots=True)
class AuditDraft:
    """The audit row of this request, filled in as the request goes (outcome at the end)."""

    action: str
    resource_type: str
    user_id: int | None = None
    role: str = "anonymous"
    patient_id: str | None = None
    resource_id: str | None = None
    denied: bool = False
    detail: str | None = None


class NotSignedInError(HTTPException):
    """No valid session: the exception handler redirects browsers to the login page."""

    def __init__(self) -> None:
        super().__init__(status_code=401, detail="Please sign in.")


def client_address(request: Request) -> str:
    """The client's address as the server sees it (uvicorn applies ``--forwarded-allow-ips``,
    so behind a trusted proxy this is the real client)."""
    return request.client.host if request.client is not None else ""


def safe_next(target: str | None) -> str | None:
    """A local path to go to after login, or ``None`` (no open redirects).

    >>> safe_next("/patients/P1?scale=log"), safe_next("//evil.example/"), safe_next("https://x/")
    ('/patients/P1?scale=log', None, None)
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 0x20 or c == "\\" for c in target):
        return None
    return target


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, path="/", secure=True, httponly=True, samesite="lax")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def _session_policy(request: Request) -> SessionPolicy:
    policy: SessionPolicy = request.app.state.session_policy
    return policy


def _now(request: Request) -> dt.datetime:
    clock: Clock = request.app.state.clock
    return clock()


def _same_origin(request: Request) -> bool:
    """Whether an unsafe request comes from this site's own pages (B5, with the CSRF token).

    Browsers send ``Origin: null`` on form posts from pages whose Referrer-Policy is
    ``no-referrer`` (ours); then the browser-set ``Sec-Fetch-Site`` header, which a page cannot
    forge, must say ``same-origin``.
    """
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site == "cross-site":
        return False
    if origin == "null":
        return fetch_site == "same-origin"
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"https://{host}", f"http://{host}")


async def _csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            try:
                form = await request.form()
            except Exception:  # an unreadable body has no token; the route would refuse it too
                return False
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


def _declared_fields(route: object) -> frozenset[str] | None:
    """The form fields a route declares (its body parameters, in all its dependencies)."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    names: set[str] = {CSRF_FIELD}
    stack = [dependant]
    while stack:
        current = stack.pop()
        names.update(param.alias for param in current.body_params)
        stack.extend(current.dependencies)
    return frozenset(names)


async def _refuse_unknown_fields(request: Request) -> None:
    """RELIABILITY A5 (a): a form may hold only the fields its route declares. Anything else,
    server-owned fields included (an id, a patient, an author, a role, a time), is refused
    with 422 rather than silently ignored."""
    if request.method not in UNSAFE_METHODS:
        return
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return
    declared = _declared_fields(request.scope.get("route"))
    if declared is None:
        return
    try:
        form = await request.form()
    except Exception:  # an unreadable body: the route's own validation answers it
        return
    unknown = sorted(set(form.keys()) - declared)
    if unknown:
        shown = ", ".join("".join(c for c in name[:40] if c.isprintable()) for name in unknown[:3])
        raise HTTPException(
            status_code=422,
            detail=f"This form does not take the field(s) {shown}. Send only the form's fields.",
        )


def _deny(draft: AuditDraft | None, status_code: int) -> HTTPException:
    if draft is not None:
        draft.denied = True
    return HTTPException(status_code=status_code)


async def authorize(request: Request) -> SignedIn | None:
    """The authorisation of every request (see the module's notes); the signed-in session, or
    ``None`` on a public route when nobody is signed in."""
    route = request.scope.get("route")
    name = getattr(route, "name", "")
    rule = rule_for(name, request.method)
    if rule is None:  # deny by default: a route missing from the policy table
        raise HTTPException(status_code=403)
    draft = AuditDraft(rule.action, rule.resource) if rule.action else None
    request.state.audit = draft
    if any("\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()):
        # No parameter of this site may hold a NUL; PostgreSQL text cannot (C1: 400, not 500).
        raise HTTPException(status_code=400, detail="The address holds a character not allowed.")
    factory: sessionmaker[Session] = request.app.state.session_factory
    token = request.cookies.get(SESSION_COOKIE)
    asked = str(request.path_params.get("patient_id", "")) if rule.patient_scoped else None
    # One trip to the database for the session and, for a route naming a patient, whether
    # this account may see that patient (one thread hop and one connection per request).
    signed_in, may_see = (
        await run_in_threadpool(
            _session_and_access,
            factory,
            token,
            now=_now(request),
            policy=_session_policy(request),
            patient_id=asked,
            rule_roles=rule.roles,
        )
        if token
        else (None, False)
    )
    request.state.signed_in = signed_in
    if rule.public:
        if signed_in is not None and draft is not None:
            draft.user_id, draft.role = signed_in.account.id, signed_in.account.role
        # No session to hold a CSRF token yet, but another site must not post the login form
        # (login CSRF: signing the victim in to the attacker's account).
        if request.method in UNSAFE_METHODS and not _same_origin(request):
            raise _deny(draft, 403)
        await _refuse_unknown_fields(request)
        return signed_in
    if draft is not None and rule.patient_scoped:
        # Only a well-formed id goes into the audit row: a NUL or control character from the
        # address cannot be stored (PostgreSQL refuses NUL in text; the row must be written).
        asked = str(request.path_params.get("patient_id", ""))
        draft.patient_id = asked if _PATIENT_ID.match(asked) else None
    if signed_in is None:
        if draft is not None:
            draft.denied = True
        raise NotSignedInError
    account = signed_in.account
    if draft is not None:
        draft.user_id, draft.role = account.id, account.role
    if request.method in UNSAFE_METHODS and not (
        _same_origin(request) and await _csrf_ok(request, signed_in.csrf_token)
    ):
        raise _deny(draft, 403)
    if not rule.allows(account.role):
        raise _deny(draft, 403)
    if rule.patient_scoped and not may_see:
        raise _deny(draft, 404)
    await _refuse_unknown_fields(request)
    return signed_in


def _session_and_access(
    factory: sessionmaker[Session],
    token: str,
    *,
    now: dt.datetime,
    policy: SessionPolicy,
    patient_id: str | None,
    rule_roles: frozenset[str],
) -> tuple[SignedIn | None, bool]:
    """The live session of ``token`` (its activity is written later, with the audit row), and
    whether its account may see ``patient_id`` (``False`` when no patient is named, the id is
    malformed, or the role is not allowed on the route anyway)."""
    signed_in = resolve_session(factory, token, now=now, policy=policy, touch=False)
    if signed_in is None or patient_id is None or not _PATIENT_ID.match(patient_id):
        return signed_in, False
    account = signed_in.account
    if account.role not in rule_roles:
        return signed_in, False
    if account.role == "patient":
        return signed_in, account.patient_id == patient_id
    with factory() as session:
        if account.role == "admin":  # any stored patient (erasure, the access report)
            return signed_in, get_patient(session, patient_id) is not None
        return signed_in, can_see_patient(session, account, patient_id)


def _required(request: Request) -> SignedIn:
    signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
    if signed_in is None:  # only on a public route; authorize already refused the others
        raise NotSignedInError
    return signed_in


def _optional(request: Request) -> SignedIn | None:
    signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
    return signed_in


#: The signed-in session of a route that requires one (set by :func:`authorize`).
CurrentUser = Annotated[SignedIn, Depends(_required)]
#: The session on a public route, if any.
OptionalUser = Annotated[SignedIn | None, Depends(_optional)]


def login_redirect_target(request: Request) -> str:
    """Where the login page sends the browser back to: this page."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(path, safe="")
