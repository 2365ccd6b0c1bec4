"""Built feed bytes kept in memory with their ETag, rebuilt only when their source changed.

Each entry remembers the version key it was built from and when that key was last checked;
within ``check_seconds`` an entry is served without touching the database at all. After
that the caller reads the (cheap) version again, and only a different version builds anew.
One key builds at a time (a second caller for it waits and gets the fresh entry); different
keys build side by side, so one slow topic never holds up the daily feed. How many builds
run at once is the caller's to bound. Memory is bounded by total bytes; the entry checked
longest ago goes first. Knows nothing of HTTP or SQL.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CachedFeed:
    """A built feed: the bytes, a strong ETag over them, and when its source last changed."""

    body: bytes
    etag: str
    last_modified: datetime
    media_type: str
    version: Hashable
    checked_at: float


def strong_etag(body: bytes) -> str:
    """A strong validator: the quoted SHA-256 of the exact bytes (RFC 9110 8.8.3)."""
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


class FeedCache:
    """Feeds by key (e.g. ``("daily", "rss")``), bounded in bytes, safe across threads."""

    def __init__(
        self,
        *,
        check_seconds: float = 5.0,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check_seconds = check_seconds
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[Hashable, CachedFeed] = OrderedDict()
        self._bytes = 0
        # Guards the entries and byte count only, never held while a feed builds.
        self._lock = threading.Lock()
        # One lock per key being built, with how many callers hold or wait for it.
        self._building: dict[Hashable, tuple[threading.Lock, int]] = {}
        self.builds = 0

    def fresh(self, key: Hashable) -> CachedFeed | None:
        """The entry if its version was checked within ``check_seconds``; no I/O, no lock."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry.checked_at >= self.check_seconds:
            return None
        return entry

    def get(
        self,
        key: Hashable,
        *,
        version: Hashable,
        last_modified: datetime,
        media_type: str,
        build: Callable[[], bytes],
    ) -> CachedFeed:
        """The entry for ``version``: the kept one if the version is unchanged, else built now."""
        with self._key_lock(key):
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.version == version:
                    entry = replace(entry, checked_at=self._clock())
                    self._put(key, entry)
                    return entry
            body = build()
            entry = CachedFeed(
                body=body,
                etag=strong_etag(body),
                last_modified=last_modified,
                media_type=media_type,
                version=version,
                checked_at=self._clock(),
            )
            with self._lock:
                self.builds += 1
                self._put(key, entry)
            return entry

    @contextmanager
    def _key_lock(self, key: Hashable) -> Iterator[None]:
        with self._lock:
            lock, users = self._building.get(key, (threading.Lock(), 0))
            self._building[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._building[key]
                if users == 1:
                    del self._building[key]  # nobody waits: keep no lock per past query
                else:
                    self._building[key] = (lock, users - 1)

    def forget(self, key: Hashable) -> None:
        """Drop one entry (its source is gone)."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)

    def _put(self, key: Hashable, entry: CachedFeed) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)
