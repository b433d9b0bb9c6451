"""Plotly's JavaScript, served from the installed ``plotly`` package (never from a CDN).

The app's Content-Security-Policy allows scripts from this server only, and DESIGN.md says
nothing is fetched from the internet at run time, so the bundle that ships inside the Python
package is served here. The address carries the Plotly.js version, so browsers may keep it for a
year; it is sent gzip-compressed when the browser accepts that (1.5 MB instead of 4.8 MB).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Annotated

import plotly.offline
from fastapi import APIRouter, Header, HTTPException
from starlette.responses import Response

__all__ = ["PlotlyBundle", "plotly_bundle", "plotly_version", "router"]

router = APIRouter(prefix="/assets", tags=["assets"])


@dataclass(frozen=True, slots=True)
class PlotlyBundle:
    """The Plotly.js bundle of the installed package, plain and gzip-compressed."""

    version: str
    plain: bytes
    compressed: bytes
    etag: str

    @property
    def filename(self) -> str:
        return f"plotly-{self.version}.min.js"


@cache
def plotly_version() -> str:
    """The Plotly.js version of the installed package (part of the bundle's address)."""
    version: str = plotly.offline.get_plotlyjs_version()
    return version


@cache
def plotly_bundle() -> PlotlyBundle:
    """Read and compress the bundle once per process."""
    text = plotly.offline.get_plotlyjs()
    version = plotly_version()
    plain = text.encode("utf-8")
    digest = hashlib.sha256(plain).hexdigest()[:16]
    return PlotlyBundle(version, plain, gzip.compress(plain, 6, mtime=0), f'"{digest}"')


_MAX_AGE = "public, max-age=31536000, immutable"


@router.get("/plotly-{version}.min.js", name="assets.plotly", include_in_schema=False)
def plotly_js(
    version: str,
    accept_encoding: Annotated[str, Header()] = "",
    if_none_match: Annotated[str, Header()] = "",
) -> Response:
    bundle = plotly_bundle()
    if version != bundle.version:
        raise HTTPException(status_code=404)
    headers = {"ETag": bundle.etag, "Cache-Control": _MAX_AGE, "Vary": "Accept-Encoding"}
    if if_none_match == bundle.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in accept_encoding.lower():
        headers["Content-Encoding"] = "gzip"
        body = bundle.compressed
    else:
        body = bundle.plain
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
