"""Stored embeddings: one vector per (paper, model) and per (topic text, model).

Vectors are opaque bytes here (``ranking.encoder`` packs and unpacks them). Inserts skip rows
that exist, so two processes embedding the same paper at once both succeed and one vector
stands: they are the same vector anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from paperfeed.store.models import Paper, PaperEmbedding, TopicEmbedding

# Rows per statement and per IN (...) list: well under SQLite's bound-parameter limit.
CHUNK = 500


def topic_key(text: str) -> str:
    """The key of a topic text (its SHA-256): fixed length, whatever the subscriber typed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _insert_ignoring_existing(
    session: Session, table: Table, rows: list[dict[str, object]]
) -> None:
    dialect = session.get_bind().dialect.name
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), CHUNK):
        session.execute(make_insert(table).on_conflict_do_nothing(), rows[start : start + CHUNK])


def _stored(
    session: Session, key: Any, model: Any, wanted: str, keys: Sequence[str]
) -> dict[str, bytes]:
    """Stored vectors by key, for the keys that have one; ``IN`` lists stay under CHUNK."""
    table = key.class_
    out: dict[str, bytes] = {}
    for chunk in _chunks(list(dict.fromkeys(keys))):
        rows = session.exec(
            select(key, table.vector).where(model == wanted, col(key).in_(chunk))
        ).all()
        out.update((found, bytes(vector)) for found, vector in rows)
    return out


def paper_vectors(session: Session, model: str, paper_ids: Sequence[str]) -> dict[str, bytes]:
    """The stored vectors of those papers that have one."""
    return _stored(session, PaperEmbedding.paper_id, PaperEmbedding.model, model, paper_ids)


def save_paper_vectors(
    session: Session, model: str, vectors: Mapping[str, bytes], *, now: datetime
) -> None:
    """Store vectors for papers (a paper that has one already keeps it)."""
    table: Table = PaperEmbedding.__table__  # type: ignore[attr-defined]
    rows: list[dict[str, object]] = [
        {"paper_id": paper_id, "model": model, "vector": vector, "created_at": now}
        for paper_id, vector in vectors.items()
    ]
    _insert_ignoring_existing(session, table, rows)


def papers_without_vectors(session: Session, model: str, *, limit: int) -> Sequence[Paper]:
    """Up to ``limit`` stored papers that have no vector for ``model`` yet, newest first."""
    embedded = select(PaperEmbedding.paper_id).where(PaperEmbedding.model == model)
    return session.exec(
        select(Paper)
        .where(col(Paper.arxiv_id).not_in(embedded))
        .order_by(col(Paper.first_seen_at).desc(), col(Paper.arxiv_id))
        .limit(limit)
    ).all()


def topic_vectors(session: Session, model: str, texts: Sequence[str]) -> dict[str, bytes]:
    """The stored vectors of those topic texts that have one, by text."""
    by_key = {topic_key(text): text for text in texts}
    found = _stored(session, TopicEmbedding.text_key, TopicEmbedding.model, model, list(by_key))
    return {by_key[key]: vector for key, vector in found.items()}


def save_topic_vectors(
    session: Session, model: str, vectors: Mapping[str, bytes], *, now: datetime
) -> None:
    """Store vectors for topic texts (a text that has one already keeps it)."""
    table: Table = TopicEmbedding.__table__  # type: ignore[attr-defined]
    rows: list[dict[str, object]] = [
        {
            "model": model,
            "text_key": topic_key(text),
            "text": text,
            "vector": vector,
            "created_at": now,
        }
        for text, vector in vectors.items()
    ]
    _insert_ignoring_existing(session, table, rows)


def prune_topic_vectors(session: Session, keep: Iterable[str]) -> int:
    """Delete the vectors of topic texts no subscriber has any more; returns how many."""
    wanted = {topic_key(text) for text in keep}
    stored = session.exec(select(TopicEmbedding.model, TopicEmbedding.text_key)).all()
    stale = [(model, key) for model, key in stored if key not in wanted]
    for start in range(0, len(stale), CHUNK):
        session.execute(
            delete(TopicEmbedding).where(
                tuple_(col(TopicEmbedding.model), col(TopicEmbedding.text_key)).in_(
                    stale[start : start + CHUNK]
                )
            )
        )
    return len(stale)
