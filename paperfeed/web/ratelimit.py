"""Sign-up limits in memory: per email address, and per network counting distinct addresses.

One process holds the counts (the web app runs as one process per machine); a restart
forgets them, which only ever errs towards letting someone sign up. Keys are hashed, so
the memory holds no addresses. Knows nothing of HTTP.

Fair to a lab behind one NAT: a network's limit counts the different addresses it signed
up within the hour, so one person sending the form again (a typo, a lost mail) costs the
rest of the lab nothing; that repeat is held by the per-address limit instead. IPv6 clients
are counted per /64, the block one household or host usually gets, so that rotating
addresses inside it gains nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

# Above this many keys, windows that have emptied are dropped on the next hit.
PRUNE_AT = 10_000
IPV6_PREFIX = 64


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def network_key(client: str) -> str:
    """The bucket of a client address: the IPv4 address itself, or its IPv6 /64."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client  # not an address (a test client, a unix socket): its own bucket
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


class _Window:
    """A limit per key within a sliding time window, kept under one lock."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()


class SlidingWindow(_Window):
    """At most ``limit`` hits per key within any ``window`` seconds."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limit, window, clock=clock)
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> bool:
        """Count one hit for ``key``; False (and not counted) when over the limit."""
        digest = _digest(key)
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


class DistinctWindow(_Window):
    """At most ``limit`` different values per key within any ``window`` seconds.

    A value already counted for the key within the window passes without counting again.
    """

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limit, window, clock=clock)
        # key digest -> value digest -> when it was first counted, oldest first
        self._seen: dict[str, OrderedDict[str, float]] = {}

    def hit(self, key: str, value: str) -> bool:
        """Count ``value`` for ``key``; False (and not counted) when it would pass the limit."""
        key_digest, value_digest = _digest(key), _digest(key + "\0" + value)
        now = self._clock()
        with self._lock:
            if len(self._seen) > PRUNE_AT:
                self._prune(now)
            seen = self._seen.setdefault(key_digest, OrderedDict())
            while seen and next(iter(seen.values())) <= now - self.window:
                seen.popitem(last=False)
            if value_digest in seen:
                return True
            if len(seen) >= self.limit:
                return False
            seen[value_digest] = now
            return True

    def _prune(self, now: float) -> None:
        stale = [
            k
            for k, v in self._seen.items()
            if not v or next(reversed(v.values())) <= now - self.window
        ]
        for key in stale:
            del self._seen[key]
