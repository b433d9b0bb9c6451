"""A small in-process cache of rendered patient pages, keyed by the record's version.

A patient page is a pure function of the stored records and course (whose ``version`` goes up
with every import or form entry that touches the patient), the region and the chart scale. The
cache keeps the rendered HTML for a short time, so many people looking at the same record do not
each pay for loading it and rendering the charts again; any change to the record changes the
key. Entries also expire after ``ttl_seconds``, so a course recomputed by another process (a new
engine version) shows within that time. ``max_entries=0`` turns the cache off.

Each page is kept plain and gzip-compressed (compressed once, when stored), so a browser that
accepts gzip gets about a tenth of the bytes at no cost per request. The pages hold no secret
that an attacker could make the server reflect next to their own input, which is what would make
compression unsafe (BREACH); a per-session token added to pages later must not be cached here.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["CachedPage", "PageCache", "cached_response_body"]


@dataclass(frozen=True, slots=True)
class CachedPage:
    """A rendered page, plain and gzip-compressed."""

    plain: bytes
    gzipped: bytes

    @classmethod
    def of(cls, body: bytes) -> CachedPage:
        return cls(body, gzip.compress(body, compresslevel=6, mtime=0))


class PageCache:
    """Least-recently-used, time-limited, thread-safe map from a key to a rendered page.

    >>> cache = PageCache(max_entries=2, ttl_seconds=60)
    >>> _ = cache.put(("P1", 3, "england", "linear"), b"<html>")
    >>> cache.get(("P1", 3, "england", "linear")).plain
    b'<html>'
    >>> cache.get(("P1", 4, "england", "linear")) is None
    True
    """

    def __init__(self, *, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._pages: OrderedDict[Hashable, tuple[float, CachedPage]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CachedPage | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            found = self._pages.get(key)
            if found is None:
                return None
            stored_at, page = found
            if time.monotonic() - stored_at > self.ttl_seconds:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, body: bytes) -> CachedPage | None:
        """Store a rendered page (compressing it once); ``None`` when the cache is off."""
        if self.max_entries <= 0:
            return None
        page = CachedPage.of(body)
        with self._lock:
            self._pages[key] = (time.monotonic(), page)
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_entries:
                self._pages.popitem(last=False)
        return page

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


def cached_response_body(page: CachedPage, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """The bytes to send and the headers that go with them, by the browser's Accept-Encoding."""
    headers = {"Vary": "Accept-Encoding"}
    if "gzip" in accept_encoding.lower():
        headers["Content-Encoding"] = "gzip"
        return page.gzipped, headers
    return page.plain, headers
