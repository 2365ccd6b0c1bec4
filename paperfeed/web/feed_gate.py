"""At most a few feed builds at once and a short line for the rest, so feeds cannot starve pages.

A feed served from memory costs nothing; a cache miss reads the store and may rank papers
and run feedgen. Unbounded, anonymous clients asking for many distinct topics tied up every
worker thread and database connection, and the home page and ``/healthz`` (which need one
of each) waited behind them for half a minute. A gate runs its work on a few threads of its
own; callers beyond them wait on the event loop, holding no thread and no connection, and
callers beyond the line are refused at once (``FeedsBusy``: the route answers 503 with
Retry-After). Knows nothing of feeds or HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread

Result = TypeVar("Result")


class FeedsBusy(Exception):
    """Every build slot is taken and the line is full: try again in a few seconds."""


@dataclass
class _LoopGate:
    """A gate's threads and count in one event loop."""

    threads: anyio.CapacityLimiter
    admitted: int = 0  # running or waiting for a thread


class BuildGate:
    """Runs blocking work in at most ``slots`` threads with at most ``line`` callers waiting."""

    def __init__(self, slots: int, line: int) -> None:
        self.slots = slots
        self.line = line
        # anyio's limiter belongs to the event loop it was made in (a TestClient may run the
        # app in several loops over its life), so there is one per loop, made on first use.
        self._gates: dict[asyncio.AbstractEventLoop, _LoopGate] = {}

    async def run(self, work: Callable[[], Result]) -> Result:
        """``work()`` in a gate thread; FeedsBusy when no slot is free and the line is full."""
        gate = self._gate()
        # Counted here, before any await: the limiter's own statistics see a waiter only once
        # it has yielded, and a burst arriving together would all pass such a check.
        if gate.admitted >= self.slots + self.line:
            raise FeedsBusy(f"{self.slots} feeds are being built and {self.line} wait")
        gate.admitted += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=gate.threads)
        finally:
            gate.admitted -= 1

    def _gate(self) -> _LoopGate:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            self._gates = {known: g for known, g in self._gates.items() if not known.is_closed()}
            gate = self._gates[loop] = _LoopGate(anyio.CapacityLimiter(self.slots))
        return gate
