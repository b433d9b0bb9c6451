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

The rows of requests that finish at the same moment are written together by one thread
(:class:`AuditWriter`: group commit, one transaction and one disk sync for the batch), and
each request waits until its own row is committed. Under load this turns many small competing
write transactions, which SQLite would run one at a time with back-off sleeps, into a few.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relapsewatch.store.accounts import SignedIn
from relapsewatch.store.audit import AuditRecord, append_audit
from relapsewatch.web.auth import AuditDraft, Clock

__all__ = ["AuditMiddleware", "AuditWriter", "outcome_of"]

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


Touch = tuple[str, dt.datetime]


@dataclass(frozen=True, slots=True)
class _Pending:
    records: list[AuditRecord]
    touch: Touch | None
    done: Future[None]


class AuditWriter:
    """One thread that writes what requests hand it, in batches (group commit).

    :meth:`submit` returns a future that completes when the request's rows are committed (or
    fails with the error). A batch that fails is retried one request at a time, so one bad
    request cannot fail the others.
    """

    def __init__(self, session_factory: sessionmaker[Session], *, max_batch: int = 256) -> None:
        self.session_factory = session_factory
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, records: list[AuditRecord], touch: Touch | None) -> Future[None]:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="relapsewatch-audit-writer", daemon=True
                )
                self._thread.start()
        pending = _Pending(records, touch, Future())
        self._queue.put(pending)
        return pending.done

    def close(self) -> None:
        """Let the thread finish what it holds and stop."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Pending]) -> None:
        try:
            append_audit(
                self.session_factory,
                [record for item in batch for record in item.records],
                touches=[item.touch for item in batch if item.touch is not None],
            )
        except Exception as exc:
            if len(batch) == 1:
                batch[0].done.set_exception(exc)
                return
            for item in batch:
                self._write([item])
            return
        for item in batch:
            item.done.set_result(None)


class AuditMiddleware:
    """Append the request's audit row when its response starts (see the module's notes)."""

    def __init__(self, app: ASGIApp, *, writer: AuditWriter, clock: Clock) -> None:
        self.app = app
        self.writer = writer
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
            await asyncio.wrap_future(self.writer.submit([], touch))
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
        await asyncio.wrap_future(self.writer.submit([record], touch))


async def _plain_500(send: Send) -> None:
    body = b"Something went wrong. Please try again."
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
