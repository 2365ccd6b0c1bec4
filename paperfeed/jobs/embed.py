"""The embed job: vectors for stored papers and subscribers' topics that have none yet.

When it runs (hybrid ranker only; lexical needs no vectors): right after every crawl in the
daemon and in ``paperfeed tick``, so new papers get their vectors before the next compose;
and by hand with ``paperfeed embed``. Papers are embedded in batches, one transaction each,
and the topics of receiving subscribers whose interests are new or changed (a topic is keyed
by its text, so an edited line is a new key). What the ranker reads, and computes on the spot
when the job has not caught up yet, is ``paperfeed.stored_vectors.StoredVectors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine

from paperfeed.ranking.encoder import Encoder, paper_text, to_blob
from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.semantic import topic_text
from paperfeed.services import Services
from paperfeed.store.db import session_scope
from paperfeed.store.editions import receiving_subscribers
from paperfeed.store.embeddings import (
    papers_without_vectors,
    save_paper_vectors,
    save_topic_vectors,
    topic_vectors,
)

log = structlog.get_logger("paperfeed.embed")

# Papers embedded per transaction: a crash loses at most one batch of work, never a vector.
PAPER_BATCH = 128
TOPIC_BATCH = 1024

Progress = Callable[[str, int], None]


@dataclass
class EmbedSummary:
    """What an embedding pass computed."""

    papers: int = 0
    topics: int = 0

    def line(self) -> str:
        """One line for logs and the CLI."""
        return f"embedded {self.papers} papers and {self.topics} interest topics"


def subscriber_topics(engine: Engine) -> list[str]:
    """Every distinct topic and exclusion text of the subscribers who receive editions.

    Exclusions are embedded as topics are: the hybrid ranker drops papers close in meaning
    to one (``ranking.semantic.excluded_by_meaning``).
    """
    with session_scope(engine) as session:
        texts = [s.interests for s in receiving_subscribers(session)]
    topics: set[str] = set()
    for text in set(texts):
        interests = parse_interests(text)
        topics.update(topic_text(t) for t in interests.topics)
        topics.update(e.text for e in interests.exclusions)
    return sorted(topics)


def embed_pending(
    engine: Engine, encoder: Encoder, *, progress: Progress | None = None
) -> EmbedSummary:
    """Embed every stored paper and subscriber topic that has no vector yet, in batches."""
    summary = EmbedSummary()
    while True:
        with session_scope(engine) as session:
            papers = papers_without_vectors(session, encoder.model, limit=PAPER_BATCH)
            docs = [
                (p.arxiv_id, paper_text(p.title, p.abstract or p.ai_summary or "")) for p in papers
            ]
        if not docs:
            break
        vectors = encoder.encode([text for _, text in docs])
        with session_scope(engine) as session:
            save_paper_vectors(
                session,
                encoder.model,
                dict(zip([i for i, _ in docs], to_blob(vectors), strict=True)),
                now=datetime.now(UTC),
            )
        summary.papers += len(docs)
        if progress is not None:
            progress("papers", len(docs))
    texts = subscriber_topics(engine)
    with session_scope(engine) as session:
        stored = topic_vectors(session, encoder.model, texts)
    missing = [t for t in texts if t not in stored]
    for start in range(0, len(missing), TOPIC_BATCH):
        chunk = missing[start : start + TOPIC_BATCH]
        blobs = dict(zip(chunk, to_blob(encoder.encode(chunk)), strict=True))
        with session_scope(engine) as session:
            save_topic_vectors(session, encoder.model, blobs, now=datetime.now(UTC))
        summary.topics += len(chunk)
        if progress is not None:
            progress("topics", len(chunk))
    log.info("embed.done", summary=summary.line())
    return summary


def embed_new(services: Services) -> EmbedSummary | None:
    """With the hybrid ranker, ``embed_pending`` with its encoder; None (nothing to do) with
    the lexical one."""
    if services.corpus.hybrid is None:
        return None
    return embed_pending(services.engine, services.corpus.encoder())
