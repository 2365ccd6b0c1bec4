"""The fake Hugging Face with faults that last: outages until healed, storms, a timeline.

``FakeHF`` (tests/support/fake_hf.py) fails the next N requests under a path. The fault suite also
needs faults that hold until the test heals them (an outage of the API, a page layout that
changed), a 429/503 storm spread over a whole multi-day crawl, and a record of *when* each
request arrived on the crawler's fake clock, to prove the crawler waited what each answer
asked. The crawler is sequential, so reading its clock from the server thread while it
waits for the answer is consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal

from tests.support.fake_hf import FakeClock, FakeHF, Fault, FaultKind

Budget = Literal["api", "page"]


def budget_of(path: str) -> Budget:
    """The pacer budget a request counts against (the crawler's own split)."""
    return "api" if path.startswith("/api/") else "page"


@dataclass(frozen=True)
class Hit:
    """One request as the fake saw it: when (fake seconds), what, and what went wrong.

    ``not_before`` is, for a throttling answer, the moment its headers asked the crawler to
    wait for before asking again on the same budget.
    """

    at: float
    path: str
    fault: FaultKind | None
    not_before: float | None = None

    @property
    def budget(self) -> Budget:
        return budget_of(self.path)


@dataclass
class Storm:
    """Every ``every``-th request is throttled (429, every fourth one 503) until ``left`` runs
    out, asking for the ``waits`` in turn, in each form HF uses: ``Retry-After`` seconds,
    ``Retry-After`` as an HTTP-date, and the ``RateLimit`` header's ``t=``."""

    every: int
    left: int
    waits: tuple[int, ...] = (5, 30, 12, 61, 7, 45)
    seen: int = 0
    fired: int = 0


@dataclass
class FaultyHF(FakeHF):
    """A ``FakeHF`` with lasting outages, an optional storm and a clock-stamped timeline."""

    clock: FakeClock | None = None
    timeline: list[Hit] = field(default_factory=list)
    outages: dict[str, FaultKind] = field(default_factory=dict)
    storm: Storm | None = None

    def __enter__(self) -> FaultyHF:
        super().__enter__()
        return self

    def break_path(self, prefix: str, kind: FaultKind) -> None:
        """Every request under ``prefix`` fails as ``kind`` until ``heal``; the longest
        matching prefix wins, so one day's page can fail differently from the others."""
        with self._lock:
            self.outages[prefix] = kind

    def heal(self) -> None:
        """Hugging Face is well again: no outage, no storm, no pending one-off fault."""
        with self._lock:
            self.outages.clear()
            self.storm = None
            self._faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        now = self.clock.monotonic() if self.clock is not None else 0.0
        fault = self._outage(path) or self._storm(path) or super().take_fault(path)
        self.timeline.append(
            Hit(now, path, fault.kind if fault else None, self._not_before(fault, now))
        )
        return fault

    def hits(self, fault: FaultKind | None = None) -> list[Hit]:
        """The requests that failed as ``fault`` (or, with None, that were answered well)."""
        return [hit for hit in self.timeline if hit.fault == fault]

    def _outage(self, path: str) -> Fault | None:
        with self._lock:
            matching = [prefix for prefix in self.outages if path.startswith(prefix)]
            if not matching:
                return None
            return Fault(self.outages[max(matching, key=len)], path=path, retry_after="1")

    def _storm(self, path: str) -> Fault | None:
        with self._lock:
            storm = self.storm
            if storm is None or storm.left <= 0:
                return None
            storm.seen += 1
            if storm.seen % storm.every:
                return None
            n = storm.fired
            storm.fired += 1
            storm.left -= 1
        wait = storm.waits[n % len(storm.waits)]
        kind: FaultKind = "503" if n % 4 == 3 else "429"
        form = n % 3
        if form == 0:
            return Fault(kind, path=path, retry_after=str(wait))
        if form == 1:
            assert self.clock is not None, "an HTTP-date needs the crawler's clock"
            when = format_datetime(self.clock.now() + timedelta(seconds=wait), usegmt=True)
            return Fault(kind, path=path, retry_after=when)
        return Fault(kind, path=path, retry_after=None, ratelimit=f'"api";r=0;t={wait}')

    def _not_before(self, fault: Fault | None, now: float) -> float | None:
        if fault is None or fault.kind not in ("429", "503"):
            return None
        waits: list[float] = []
        if fault.retry_after is not None and fault.retry_after.isdigit():
            waits.append(float(fault.retry_after))
        elif fault.retry_after is not None and self.clock is not None:
            asked = parsedate_to_datetime(fault.retry_after) - self.clock.now()
            waits.append(max(0.0, asked.total_seconds()))
        if fault.ratelimit is not None:
            waits.append(float(fault.ratelimit.rsplit("t=", 1)[1]))
        return now + max(waits) if waits else None
