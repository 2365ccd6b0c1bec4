"""A crawl pacer for the scheduler's tests: no spacing between requests to the local fake.

The real pacer spaces page loads a second apart, which turns a tick's dozen local requests
into a dozen seconds of sleeping; pacing itself is tested in tests/crawler. The clock stays
the real one (or time-machine's), so when a day settles is decided as in production.
"""

from __future__ import annotations

import threading

from paperfeed.config import Settings
from paperfeed.crawler.pacing import Pacer


def unpaced(_settings: Settings, _stop: threading.Event | None) -> Pacer:
    """``Jobs.make_pacer`` for tests: the default budgets, no minimum interval."""
    return Pacer(min_interval={})
