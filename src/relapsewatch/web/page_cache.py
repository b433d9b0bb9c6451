"""A small in-process cache of rendered patient-page bodies, keyed by the record's version.

The body of a patient page (everything inside ``<main>``) is a pure function of the stored
records and course (whose ``version`` goes up with every import or form entry that touches the
patient), the region, the chart scale and the audience (patient or staff). The cache keeps that
rendered body for a short time, so many people looking at the same record do not each pay for
loading it and drawing the charts again; any change to the record changes the key. The frame
around the body (the account's name, menus and the sign-out form with its CSRF token) is
rendered for every request and never cached, so nothing of one session reaches another.
Entries also expire after ``ttl_seconds``, so a course recomputed by another process (a new
engine version) shows within that time. ``max_entries=0`` turns the cache off.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["CachedBody", "PageCache"]


@dataclass(frozen=True, slots=True)
class CachedBody:
    """A rendered page body and whether the page needs the chart scripts."""

    html: str
    has_chart: bool


class PageCache:
    """Least-recently-used, time-limited, thread-safe map from a key to a rendered body.

    >>> cache = PageCache(max_entries=2, ttl_seconds=60)
    >>> _ = cache.put(("P1", 3, "england", "linear", "staff"), CachedBody("<h1>P1</h1>", False))
    >>> cache.get(("P1", 3, "england", "linear", "staff")).html
    '<h1>P1</h1>'
    >>> cache.get(("P1", 4, "england", "linear", "staff")) is None
    True
    """

    def __init__(self, *, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._bodies: OrderedDict[Hashable, tuple[float, CachedBody]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CachedBody | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            found = self._bodies.get(key)
            if found is None:
                return None
            stored_at, body = found
            if time.monotonic() - stored_at > self.ttl_seconds:
                del self._bodies[key]
                return None
            self._bodies.move_to_end(key)
            return body

    def put(self, key: Hashable, body: CachedBody) -> CachedBody:
        """Store a rendered body (nothing is kept when the cache is off)."""
        if self.max_entries <= 0:
            return body
        with self._lock:
            self._bodies[key] = (time.monotonic(), body)
            self._bodies.move_to_end(key)
            while len(self._bodies) > self.max_entries:
                self._bodies.popitem(last=False)
        return body

    def clear(self) -> None:
        with self._lock:
            self._bodies.clear()
