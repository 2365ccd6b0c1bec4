"""Vectors kept in the database, as the hybrid ranker reads them (a ``VectorSource``).

Stored vectors are read in one query per call; anything still missing (a paper crawled a
minute ago, interests changed since the last embed job) is computed on the spot and stored,
so ranking never waits for the job and never ranks without a vector. The job that fills the
tables in the background is ``paperfeed.jobs.embed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine

from paperfeed.ranking.encoder import Encoder, from_blobs, paper_text, to_blob
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.stats import FloatArray
from paperfeed.store.db import session_scope
from paperfeed.store.embeddings import (
    paper_vectors,
    save_paper_vectors,
    save_topic_vectors,
    topic_vectors,
)


class StoredVectors:
    """``VectorSource`` over the database, computing and storing what is missing."""

    def __init__(self, engine: Engine, encoder: Encoder) -> None:
        self.engine = engine
        self.encoder = encoder

    def paper_vectors(self, papers: Sequence[Document]) -> FloatArray:
        """One row per paper, in order."""
        model = self.encoder.model
        ids = [p.paper_id for p in papers]
        with session_scope(self.engine) as session:
            stored = paper_vectors(session, model, ids)
        missing = {p.paper_id: p for p in papers if p.paper_id not in stored}
        if missing:
            fresh = self.encoder.encode([paper_text(p.title, p.abstract) for p in missing.values()])
            blobs = dict(zip(missing, to_blob(fresh), strict=True))
            with session_scope(self.engine) as session:
                save_paper_vectors(session, model, blobs, now=datetime.now(UTC))
            stored.update(blobs)
        return from_blobs([stored[i] for i in ids], self.encoder.dimensions)

    def topic_vectors(self, texts: Sequence[str]) -> FloatArray:
        """One row per topic text, in order."""
        model = self.encoder.model
        with session_scope(self.engine) as session:
            stored = topic_vectors(session, model, texts)
        missing = list(dict.fromkeys(t for t in texts if t not in stored))
        if missing:
            blobs = dict(zip(missing, to_blob(self.encoder.encode(missing)), strict=True))
            with session_scope(self.engine) as session:
                save_topic_vectors(session, model, blobs, now=datetime.now(UTC))
            stored.update(blobs)
        return from_blobs([stored[t] for t in texts], self.encoder.dimensions)
