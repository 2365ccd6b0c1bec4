"""Sliding-window limits on sign-ups, per IP address and per email address, in memory.

One process holds the counts (the web app runs as one process per machine); a restart
forgets them, which only ever errs towards letting someone sign up. Keys are hashed, so
the memory holds no addresses. Knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

# Above this many keys, windows that have emptied are dropped on the next hit.
PRUNE_AT = 10_000


class SlidingWindow:
    """At most ``limit`` hits per key within any ``window`` seconds."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one hit for ``key``; False (and not counted) when over the limit."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        now = self._clock()
        with self._lock:
            if len(self._hits) > PRUNE_AT:
                self._prune(now)
            hits = self._hits.setdefault(digest, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
