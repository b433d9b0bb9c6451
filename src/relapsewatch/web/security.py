"""Security headers on every response (RELIABILITY.md H2; OWASP ASVS 3.4.1-3.4.6).

A small ASGI middleware, so the headers are added to every response the app sends, including
error pages and static files, whatever route produced them:

* ``Content-Security-Policy``: everything from this server only (``'self'``), no inline scripts
  or styles, no plugins, no framing (``frame-ancestors 'none'``), forms post only here. Plotly's
  JavaScript is served by the app itself; chart data travels in ``<script type="application/json">``
  blocks, which are data and are not executed.
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``Cross-Origin-Opener-Policy: same-origin``, ``Cross-Origin-Resource-Policy: same-origin``,
  ``Permissions-Policy`` denying powerful features, ``X-Frame-Options: DENY`` for old browsers.
* ``Cache-Control: no-store`` on everything except the static assets, so no page that shows
  patient data is kept by a browser or a proxy (RELIABILITY.md G5).
* ``Strict-Transport-Security`` for one year when the site is served over TLS.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "BodySizeLimitMiddleware",
    "SecurityHeadersMiddleware",
    "security_headers",
]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Static assets (CSS, the page script) hold no patient data; an hour keeps updates visible.
STATIC_CACHE = "public, max-age=3600"

#: One year, as RELIABILITY.md H2 asks.
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(*, https: bool) -> list[tuple[str, str]]:
    """The headers every response carries (``https`` adds HSTS)."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ]
    if https:
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


class SecurityHeadersMiddleware:
    """Add :func:`security_headers` to every HTTP response; ``no-store`` outside static paths."""

    def __init__(
        self, app: ASGIApp, *, https: bool = False, cacheable_prefixes: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.headers = security_headers(https=https)
        self.cacheable_prefixes = tuple(cacheable_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        cacheable = bool(self.cacheable_prefixes) and path.startswith(self.cacheable_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers[name] = value
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
                elif "cache-control" not in headers:
                    headers["Cache-Control"] = STATIC_CACHE
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413, without reading them in full.

    A declared ``Content-Length`` over the limit is refused before any of the body is read; a
    body without one (chunked) is counted as it arrives and refused once it passes the limit
    (RELIABILITY.md C7).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _too_large(send)
                    return
        received = 0
        max_bytes = self.max_bytes

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send) -> None:
    body = b"The upload is larger than this site accepts."
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
