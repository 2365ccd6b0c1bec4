"""What today's digest would hold for some interest text: the preferences page's live preview.

The same pool and ranking as composing an edition (settled days in the look-back window,
minus papers the subscriber was already sent, ranked by ``ranking/``, then a few popular
papers they did not match), without writing anything. Knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from paperfeed.corpus import CorpusCache, to_document
from paperfeed.digest import EditionPolicy
from paperfeed.ranking.interests import parse_interests
from paperfeed.store.db import session_scope
from paperfeed.store.editions import sent_papers, settled_papers
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
    subscriber_id: int | None = None,
    max_papers: int = 10,
) -> Preview:
    """Rank the look-back window's settled papers for ``interests``; nothing is stored."""
    parsed = parse_interests(interests)
    until = now.date()
    since = until - timedelta(days=policy.lookback_days)
    with session_scope(engine) as session:
        listed = settled_papers(session, since=since, until=until)
        sent: set[str] = set()
        if subscriber_id is not None and listed:
            ids = [p.paper.arxiv_id for p in listed]
            sent = sent_papers(session, [subscriber_id], ids).get(subscriber_id, set())
    pool = [p for p in listed if p.paper.arxiv_id not in sent]
    matched: list[PaperCard] = []
    trending: list[PaperCard] = []
    if pool:
        ranker = corpus.ranker(engine)
        index = ranker.index_day([to_document(p.paper, upvotes=p.upvotes) for p in pool])
        by_id = {p.paper.arxiv_id: p for p in pool}
        ranked = ranker.rank(index, [parsed], top_k=len(pool))
        picks = ranked.select(0, limit=max_papers)
        matched = [
            paper_card(
                by_id[s.paper_id].paper,
                upvotes=by_id[s.paper_id].upvotes,
                comments=by_id[s.paper_id].comments,
                reasons=s.reasons,
            )
            for s in picks
        ]
        chosen = {s.paper_id for s in picks}
        excluded = ranked.excluded(0)
        popular = sorted(
            (p for p in pool if p.paper.arxiv_id not in chosen | excluded),
            key=lambda p: (-p.upvotes, p.paper.arxiv_id),
        )[: policy.also_trending]
        trending = [
            paper_card(p.paper, upvotes=p.upvotes, comments=p.comments, section="trending")
            for p in popular
        ]
    return Preview(
        understood=parsed.describe(),
        matched=tuple(matched),
        trending=tuple(trending),
        considered=len(pool),
        since=since,
        until=until,
    )
