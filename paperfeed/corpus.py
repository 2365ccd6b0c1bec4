"""All stored papers as ranking sees them: term statistics and a lookup for ``like:`` ids.

IDF comes from every stored paper, not a day's few dozen, so scores are stable from day to
day. The cache lives for the process and only reads papers it has not seen yet; each ranker
it hands out holds a snapshot, so a refresh never changes a ranking under way.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from paperfeed.config import Settings
from paperfeed.ranking.documents import Document
from paperfeed.ranking.encoder import Encoder, require_semantic, shared_encoder
from paperfeed.ranking.hybrid import HybridRanker, HybridSettings
from paperfeed.ranking.ranker import LexicalRanker, Ranker
from paperfeed.ranking.stats import TermStats
from paperfeed.store.db import session_scope
from paperfeed.store.models import Paper


def to_document(paper: Paper, *, upvotes: int = 0) -> Document:
    """The ranking record of a stored paper (AI summary counts as abstract when it is empty)."""
    return Document(
        paper_id=paper.arxiv_id,
        title=paper.title,
        abstract=paper.abstract or paper.ai_summary or "",
        authors=tuple(paper.authors),
        ai_keywords=tuple(paper.ai_keywords),
        upvotes=upvotes,
        github_stars=paper.github_stars,
    )


class CorpusCache:
    """Term statistics over every stored paper, refreshed incrementally."""

    def __init__(
        self, hybrid: HybridSettings | None = None, *, encoder: Encoder | None = None
    ) -> None:
        # With ``hybrid`` set, rankers fuse in sentence embeddings (the semantic extra); the
        # model loads on first use unless an ``encoder`` is given (tests give a small one).
        self.hybrid = hybrid
        self._encoder = encoder
        self._stats = TermStats()
        self._snapshot = self._stats.copy()
        self._known: dict[str, Document] = {}
        self._seen_until: datetime | None = None
        self._lock = threading.Lock()

    def refresh(self, engine: Engine) -> int:
        """Read papers stored since the last refresh; returns how many were added."""
        with self._lock, session_scope(engine) as session:
            query = select(Paper)
            if self._seen_until is not None:
                query = query.where(col(Paper.first_seen_at) >= self._seen_until)
            papers = session.exec(query).all()
            fresh = [to_document(p) for p in papers if p.arxiv_id not in self._stats]
            for paper in papers:
                if self._seen_until is None or paper.first_seen_at > self._seen_until:
                    self._seen_until = paper.first_seen_at
            if fresh:
                self._stats.add(fresh)
                self._known.update((d.paper_id, d) for d in fresh)
                self._snapshot = self._stats.copy()
            return len(fresh)

    @classmethod
    def for_settings(cls, settings: Settings) -> CorpusCache:
        """The cache for the configured ranker; hybrid fails here, at once, without its extra."""
        if settings.ranker == "lexical":
            return cls()
        require_semantic()
        return cls(
            HybridSettings(
                lexical_weight=settings.hybrid_lexical_weight,
                semantic_weight=settings.hybrid_semantic_weight,
                semantic_threshold=settings.semantic_threshold,
            )
        )

    def lexical_ranker(self, engine: Engine) -> LexicalRanker:
        """A lexical ranker over a snapshot of the statistics, refreshed first."""
        self.refresh(engine)
        return LexicalRanker(self._snapshot, known=dict(self._known))

    def ranker(self, engine: Engine) -> Ranker[Any]:
        """The configured ranker: lexical, or hybrid over vectors kept in the database."""
        lexical = self.lexical_ranker(engine)
        if self.hybrid is None:
            return lexical
        # Imported here: the stored-vector source pulls in the store's embedding tables.
        from paperfeed.embeddings import StoredVectors

        return HybridRanker(lexical, StoredVectors(engine, self.encoder()), self.hybrid)

    def encoder(self) -> Encoder:
        """The sentence encoder (the shared model unless one was given)."""
        return self._encoder or shared_encoder()
