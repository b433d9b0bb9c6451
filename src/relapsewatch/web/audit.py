"""Writes the audit row of each request that touches patient data (RELIABILITY D1).

:func:`relapsewatch.web.auth.authorize` leaves an :class:`~relapsewatch.web.auth.AuditDraft` on
the request when the route's policy names an audit action; the route may add to it (the id of
the message it created, the account that just logged in). When the response starts, this
middleware knows the outcome and appends exactly one row to the chain before the first byte
goes out (in the same transaction it moves the signed-in session's last activity, so a request
costs one write, not two):

* ``denied``: the authorisation refused the request (401, 403, 404 from the policy) or the
  login was locked out (429);
* ``success``: any status below 400;
* ``failure``: any other 4xx (a form with errors, a wrong password);
* ``error``: a 5xx.

If the row cannot be written, the response is replaced by a plain 500: nothing is shown that
was not recorded (fail closed).
"""

from __future__ import annotations

import datetime as dt
import logging

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relapsewatch.store.accounts import SignedIn
from relapsewatch.store.audit import AuditRecord, append_audit
from relapsewatch.web.auth import AuditDraft, Clock

__all__ = ["AuditMiddleware", "outcome_of"]

logger = logging.getLogger("relapsewatch.web.audit")


def outcome_of(draft: AuditDraft, status: int) -> str:
    """The outcome recorded for a finished request.

    >>> outcome_of(AuditDraft("read", "course"), 200), outcome_of(AuditDraft("read", "course"), 500)
    ('success', 'error')
    """
    if draft.denied or status == 429:
        return "denied"
    if status < 400:
        return "success"
    if status < 500:
        return "failure"
    return "error"


class AuditMiddleware:
    """Append the request's audit row when its response starts (see the module's notes)."""

    def __init__(
        self, app: ASGIApp, *, session_factory: sessionmaker[Session], clock: Clock
    ) -> None:
        self.app = app
        self.session_factory = session_factory
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        failed = False

        async def send_after_audit(message: Message) -> None:
            nonlocal failed
            if failed:
                return
            if message["type"] == "http.response.start":
                state = scope.get("state", {})
                draft: AuditDraft | None = state.get("audit")
                signed_in: SignedIn | None = state.get("signed_in")
                if draft is not None or signed_in is not None:
                    try:
                        await self._write(scope, draft, signed_in, int(message["status"]))
                    except Exception as exc:
                        failed = True
                        logger.error(
                            "audit row not written (%s); request %s answered 500",
                            type(exc).__name__,
                            scope.get("state", {}).get("request_id", ""),
                        )
                        await _plain_500(send)
                        return
            await send(message)

        await self.app(scope, receive, send_after_audit)

    async def _write(
        self, scope: Scope, draft: AuditDraft | None, signed_in: SignedIn | None, status: int
    ) -> None:
        """One transaction: the audit row (if the route has one) and the session's last
        activity (if someone is signed in; RELIABILITY B4)."""
        now = self.clock()
        touch = (signed_in.token_hash, now) if signed_in is not None else None
        if draft is None:
            await anyio.to_thread.run_sync(_append, self.session_factory, [], touch)
            return
        state = scope.get("state", {})
        client = scope.get("client")
        record = AuditRecord(
            at=now,
            user_id=draft.user_id,
            role=draft.role,
            action=draft.action,
            resource_type=draft.resource_type,
            outcome=outcome_of(draft, status),
            request_id=str(state.get("request_id", "")),
            resource_id=draft.resource_id,
            patient_id=draft.patient_id,
            client_ip=client[0] if client else None,
            detail=draft.detail,
        )
        await anyio.to_thread.run_sync(_append, self.session_factory, [record], touch)


def _append(
    session_factory: sessionmaker[Session],
    records: list[AuditRecord],
    touch: tuple[str, dt.datetime] | None,
) -> None:
    append_audit(session_factory, records, touch=touch)


async def _plain_500(send: Send) -> None:
    body = b"Something went wrong. Please try again."
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
