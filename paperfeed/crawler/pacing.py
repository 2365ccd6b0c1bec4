"""Politeness towards Hugging Face: a clock, a request budget, and what 429/503 headers ask.

Owns the client-side rate limit (a sliding window per budget, "api" and "page", well under
HF's anonymous 500 API calls and 100 page loads per 5 minutes) and the reading of
``Retry-After`` / ``RateLimit`` headers. Never sends a request itself and never touches the
database. Time comes from an injectable ``Clock`` so tests measure waits without sleeping.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol

import httpx

Budget = Literal["api", "page"]

# Half of HF's anonymous budget (500 API calls / 100 pages per 300 s per IP), so a crawl
# never competes with whoever else shares the address.
DEFAULT_API_CALLS = 250
DEFAULT_PAGE_LOADS = 50
DEFAULT_WINDOW_SECONDS = 300.0
# A steady trickle rather than a burst: even a backfill stays a few requests per second.
DEFAULT_MIN_INTERVAL: dict[Budget, float] = {"api": 0.2, "page": 1.0}

_RATELIMIT_PARAM = re.compile(r"(?:^|[;,\s])(r|t|remaining|reset)\s*=\s*(\d+)", re.IGNORECASE)


class Clock(Protocol):
    """Where the crawler reads time and waits; tests pass a fake one."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for pacing)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.sleep`` and ``datetime.now(UTC)``."""

    def monotonic(self) -> float:
        """Seconds on the process's monotonic clock."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        time.sleep(seconds)

    def now(self) -> datetime:
        """Now, in UTC."""
        return datetime.now(UTC)


class Stopped(Exception):
    """A wait was cut short because the process is stopping; the next crawl resumes."""


class StoppableClock(SystemClock):
    """The real clock whose waits end at once, raising ``Stopped``, when ``stop`` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` unless a stop is requested first."""
        if self._stop.wait(max(0.0, seconds)):
            raise Stopped("the crawl was asked to stop")


class Pacer:
    """Spaces requests so each budget stays under its limit per window, and obeys pauses.

    One pacer is meant to live for a whole crawl run (all days, trending, enrichment), so the
    budget spans the run; it is not thread-safe (the crawler is sequential).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        api_calls: int = DEFAULT_API_CALLS,
        page_loads: int = DEFAULT_PAGE_LOADS,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        min_interval: dict[Budget, float] | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._limits: dict[Budget, int] = {"api": api_calls, "page": page_loads}
        self._window = window_seconds
        self._min_interval: dict[Budget, float] = dict(
            DEFAULT_MIN_INTERVAL if min_interval is None else min_interval
        )
        self._sent: dict[Budget, deque[float]] = {"api": deque(), "page": deque()}
        self._paused_until: dict[Budget, float] = {"api": 0.0, "page": 0.0}
        self.requests: dict[Budget, int] = {"api": 0, "page": 0}
        self.waited_seconds = 0.0

    def acquire(self, budget: Budget) -> None:
        """Wait until one more request on ``budget`` is polite, then count it."""
        sent = self._sent[budget]
        while True:
            now = self.clock.monotonic()
            while sent and sent[0] <= now - self._window:
                sent.popleft()
            ready_at = self._paused_until[budget]
            if sent:
                ready_at = max(ready_at, sent[-1] + self._min_interval.get(budget, 0.0))
            if len(sent) >= self._limits[budget]:
                ready_at = max(ready_at, sent[0] + self._window)
            if ready_at <= now:
                break
            self.waited_seconds += ready_at - now
            self.clock.sleep(ready_at - now)
        sent.append(now)
        self.requests[budget] += 1

    def pause(self, budget: Budget, seconds: float) -> None:
        """Send nothing more on ``budget`` for ``seconds`` (a 429's Retry-After, a spent quota)."""
        until = self.clock.monotonic() + max(0.0, seconds)
        self._paused_until[budget] = max(self._paused_until[budget], until)

    def observe(self, budget: Budget, response: httpx.Response) -> None:
        """Pause ``budget`` when a successful answer says its quota is spent (``r=0;t=N``)."""
        remaining, reset = parse_ratelimit(response.headers.get("RateLimit"))
        if remaining == 0 and reset:
            self.pause(budget, reset)


def parse_ratelimit(value: str | None) -> tuple[int | None, int | None]:
    """``(remaining, seconds until reset)`` from a ``RateLimit`` header, either draft's form.

    HF sends the IETF draft's ``"api";r=0;t=55``; older servers send ``remaining=0, reset=55``.
    """
    remaining: int | None = None
    reset: int | None = None
    for name, number in _RATELIMIT_PARAM.findall(value or ""):
        if name.lower() in ("r", "remaining"):
            remaining = int(number)
        else:
            reset = int(number)
    return remaining, reset


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP-date), None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def requested_wait(response: httpx.Response, *, now: datetime) -> float | None:
    """How long a 429/503 asks us to wait: the longer of Retry-After and RateLimit's t=."""
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
    _, reset = parse_ratelimit(response.headers.get("RateLimit"))
    waits = [w for w in (retry_after, None if reset is None else float(reset)) if w is not None]
    return max(waits) if waits else None
