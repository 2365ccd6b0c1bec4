"""What the next digest would hold for some interest text: the preferences page's live preview.

Chosen by ``paperfeed.digest.pick_papers``, the rule compose uses: the subscriber's local
date and frequency (a weekly edition looks back a week), papers of days that settled since
their previous edition, minus papers they were already sent, ranked by the configured
ranker, then a few popular papers they did not match; nothing is written. Knows nothing of
HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine

from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, local_today, pick_papers
from paperfeed.store.models import Subscriber
from paperfeed.web.cards import PaperCard, paper_card


@dataclass(frozen=True, slots=True)
class Preview:
    """How the interests were understood, and the papers a digest today would hold."""

    understood: tuple[str, ...]
    matched: tuple[PaperCard, ...]
    trending: tuple[PaperCard, ...]
    considered: int
    since: date
    until: date


def preview_digest(
    engine: Engine,
    corpus: CorpusCache,
    *,
    interests: str,
    now: datetime,
    policy: EditionPolicy,
    subscriber: Subscriber | None = None,
    max_papers: int | None = None,
) -> Preview:
    """The edition ``subscriber`` would get today (their local date) for ``interests``."""
    local_date = local_today(subscriber.timezone if subscriber is not None else "UTC", now)
    picks = pick_papers(
        engine,
        corpus,
        interests=interests,
        local_date=local_date,
        policy=policy,
        subscriber=subscriber,
        max_papers=max_papers,
    )
    selection = picks.selection
    by_id = picks.eligible
    matched = [
        paper_card(
            by_id[p.paper_id].paper,
            upvotes=by_id[p.paper_id].upvotes,
            comments=by_id[p.paper_id].comments,
            reasons=p.reasons,
        )
        for p in selection.matched
    ]
    # With nothing matched and ``when_nothing_matches="skip"`` no digest goes out at all.
    trending = [
        paper_card(
            by_id[p.paper_id].paper,
            upvotes=by_id[p.paper_id].upvotes,
            comments=by_id[p.paper_id].comments,
            section="trending",
        )
        for p in (selection.trending if selection.deliver else ())
    ]
    return Preview(
        understood=picks.interests.describe(),
        matched=tuple(matched),
        trending=tuple(trending),
        considered=len(picks.eligible),
        since=picks.since,
        until=local_date,
    )
