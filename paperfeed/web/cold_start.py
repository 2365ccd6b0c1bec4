"""Cold start: a few recent papers a new reader can rate right after confirming.

Up to six papers of their next digest's window that tell their interests apart: the best
match of each interest topic on its own (so every topic gets a say), then a borderline one
(the weakest paper that still matches everything they wrote), whichever are not chosen yet.
Picked through ``digest.pick_papers``, the rule the digest uses, so papers already rated
drop out as they are rated. Nothing is written here. Knows nothing of HTTP.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, local_today, pick_papers
from paperfeed.store.editions import ListedPaper, PlannedPaper
from paperfeed.store.models import Subscriber
from paperfeed.web.cards import PaperCard, paper_card

MAX_PAPERS = 6


def cold_start_papers(
    engine: Engine,
    corpus: CorpusCache,
    *,
    subscriber: Subscriber,
    now: datetime,
    policy: EditionPolicy,
    limit: int = MAX_PAPERS,
) -> list[PaperCard]:
    """The papers to offer for rating, best match per topic first, then a borderline one."""
    local_date = local_today(subscriber.timezone, now)
    full = pick_papers(
        engine,
        corpus,
        interests=subscriber.interests,
        local_date=local_date,
        policy=policy,
        subscriber=subscriber,
    )
    chosen: dict[str, tuple[PlannedPaper, ListedPaper]] = {}
    for topic in full.interests.topics:
        if len(chosen) >= limit - 1:
            break
        alone = pick_papers(
            engine,
            corpus,
            interests=topic.text,
            local_date=local_date,
            policy=policy,
            subscriber=subscriber,
            listed=full.listed,
        )
        best = next((p for p in alone.selection.matched if p.paper_id not in chosen), None)
        if best is not None:
            chosen[best.paper_id] = (best, alone.eligible[best.paper_id])
    borderline = next(
        (p for p in reversed(full.selection.matched) if p.paper_id not in chosen), None
    )
    if borderline is not None and len(chosen) < limit:
        chosen[borderline.paper_id] = (borderline, full.eligible[borderline.paper_id])
    return [
        paper_card(
            listed.paper, upvotes=listed.upvotes, comments=listed.comments, reasons=p.reasons
        )
        for p, listed in chosen.values()
    ]
