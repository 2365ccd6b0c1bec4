"""The compose job: create the editions (and their deliveries) that are due now.

When it runs: every ``PAPERFEED_COMPOSE_INTERVAL_MINUTES`` in the daemon (the first pass
waits for the first crawl, then runs right after it); in every ``paperfeed tick``; and by
hand with ``paperfeed compose`` (one subscriber, or a date due or not). Which papers an
edition holds is ``paperfeed.digest``'s choice; this is the entry the scheduler and the CLI
call with the configured policy and ranker.
"""

from __future__ import annotations

from datetime import date

from paperfeed.digest import ComposeSummary, compose_due
from paperfeed.services import Services


def compose(
    services: Services, *, email: str | None = None, local_date: date | None = None
) -> ComposeSummary:
    """The editions due at ``services.now()`` (of ``email`` only, or for ``local_date``)."""
    return compose_due(
        services.engine,
        now=services.now(),
        policy=services.policy,
        corpus=services.corpus,
        email=email,
        local_date=local_date,
    )
