"""All stored papers as ranking sees them: term statistics and a lookup for ``like:`` ids.

IDF comes from every stored paper, not a day's few dozen, so scores are stable from day to
day. The statistics are kept in the store (``TermCounts``) and brought up to date in the
transaction that stores papers (``count_stored_papers``), so a process loads one row instead
of reading every paper: a ranking costs what its day costs, not what the archive holds.
Papers stored without that step (or whose text a re-crawl changed) are counted in memory
until the next crawl counts them for good. Each ranker holds a snapshot, so a refresh never
changes a ranking under way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from paperfeed.config import Settings
from paperfeed.ranking.encoder import Encoder, require_semantic, shared_encoder
from paperfeed.ranking.features import document_features
from paperfeed.ranking.hybrid import HybridRanker, HybridSettings
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker, Ranker
from paperfeed.ranking.stats import DEFAULT_BUCKET_BITS, TermStats
from paperfeed.ranking.text import FEATURES_VERSION
from paperfeed.store.db import session_scope
from paperfeed.store.models import CountedText, Paper, TermCounts
from paperfeed.store.term_counts import (
    CountsHeader,
    all_papers,
    count_papers,
    counted_in,
    counts_header,
    has_uncounted_papers,
    lock_term_counts,
    mark_counted,
    read_term_counts,
    uncounted_papers,
)

log = structlog.get_logger("paperfeed.corpus")

Pending = Sequence[tuple[Paper, CountedText | None]]


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


def _counted_document(paper: Paper, counted: CountedText) -> Document:
    """The paper as it was when counted (before a re-crawl changed its text)."""
    return Document(
        paper_id=paper.arxiv_id,
        title=counted.title,
        abstract=counted.abstract or counted.ai_summary or "",
        ai_keywords=tuple(counted.ai_keywords),
    )


def _usable(header: CountsHeader | None) -> bool:
    # Counts made by another tokeniser or bucket size cannot be added to: rebuild them.
    return (
        header is not None
        and header.features_version == FEATURES_VERSION
        and header.bucket_bits == DEFAULT_BUCKET_BITS
    )


def _stats_of(row: TermCounts, engine: Engine | None = None) -> TermStats:
    # With an engine, ``paper_id in stats`` asks the store (the day index counts papers the
    # statistics miss into a copy, so it must not see a counted paper as missing).
    return TermStats.from_counts(
        row.df,
        n_docs=row.n_docs,
        field_terms=row.field_terms,
        bucket_bits=row.bucket_bits,
        counted=None if engine is None else CountedBy(engine, row.revision),
    )


class CountedBy:
    """Whether a paper is among the stored counts of one revision (asked once per paper)."""

    def __init__(self, engine: Engine, revision: int) -> None:
        self._engine = engine
        self._revision = revision
        self._known: dict[str, bool] = {}

    def __call__(self, paper_id: str) -> bool:
        if paper_id not in self._known:
            with session_scope(self._engine) as session:
                first = counted_in(session, paper_id)
            self._known[paper_id] = first is not None and first <= self._revision
        return self._known[paper_id]


def _field_totals(stats: TermStats) -> dict[str, int]:
    return {name: total for name, total in stats.field_terms.items()}


def stored_term_stats(session: Session) -> TermStats | None:
    """The statistics as stored (None when missing or made by another tokeniser version)."""
    row = read_term_counts(session)
    if row is None or not _usable(
        CountsHeader(row.revision, row.features_version, row.bucket_bits)
    ):
        return None
    return _stats_of(row)


def _count_pending(stats: TermStats, pending: Pending) -> None:
    """Count each paper's current text, taking out the text it was counted with before."""
    for paper, counted in pending:
        if counted is not None:
            stats.remove_features(
                paper.arxiv_id, document_features(_counted_document(paper, counted))
            )
        stats.add_features(paper.arxiv_id, document_features(to_document(paper)))


def count_stored_papers(session: Session, *, now: datetime | None = None) -> int:
    """Bring the stored term statistics up to the stored papers, in the caller's transaction.

    Call it in the transaction that stores papers (on SQLite one holding the write lock,
    ``session_scope(write_lock=True)``); returns how many papers it counted. Counts from
    another tokeniser version are rebuilt from every paper.
    """
    if _usable(counts_header(session)) and not has_uncounted_papers(session):
        return 0
    now = now or datetime.now(UTC)
    row = lock_term_counts(session, now=now)
    if _usable(CountsHeader(row.revision, row.features_version, row.bucket_bits)):
        stats = _stats_of(row)
        pending = uncounted_papers(session)
    else:  # missing, or from another tokeniser: count every paper afresh
        log.info("term_stats.rebuild", features_version=row.features_version)
        stats = TermStats()
        pending = [(paper, None) for paper in all_papers(session)]
    _count_pending(stats, pending)
    mark_counted(session, [paper.arxiv_id for paper, _ in pending], revision=row.revision + 1)
    row.features_version = FEATURES_VERSION
    row.bucket_bits = stats.bucket_bits
    row.n_docs = stats.n_docs
    row.field_terms = _field_totals(stats)
    row.df = stats.packed_df()
    row.revision += 1
    row.updated_at = now
    session.add(row)
    session.flush()
    return len(pending)


class StoredDocuments(Mapping[str, Document]):
    """Stored papers by id, each read from the database when first asked for (``like:`` ids)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._read: dict[str, Document | None] = {}

    def __getitem__(self, paper_id: str) -> Document:
        if paper_id not in self._read:
            with session_scope(self._engine) as session:
                paper = session.get(Paper, paper_id)
                self._read[paper_id] = None if paper is None else to_document(paper)
        document = self._read[paper_id]
        if document is None:
            raise KeyError(paper_id)
        return document

    def __iter__(self) -> Iterator[str]:
        with session_scope(self._engine) as session:
            ids = session.exec(select(Paper.arxiv_id).order_by(col(Paper.arxiv_id))).all()
        return iter(ids)

    def __len__(self) -> int:
        with session_scope(self._engine) as session:
            return count_papers(session)

    def __bool__(self) -> bool:
        # Truth-testing a Mapping counts it; this one stands for the store, never "empty".
        return True


class CorpusCache:
    """Term statistics over every stored paper, loaded from the store and kept current."""

    def __init__(
        self, hybrid: HybridSettings | None = None, *, encoder: Encoder | None = None
    ) -> None:
        # With ``hybrid`` set, rankers fuse in sentence embeddings (the semantic extra); the
        # model loads on first use unless an ``encoder`` is given (tests give a small one).
        self.hybrid = hybrid
        self._encoder = encoder
        self._stored = TermStats()
        self._stored_revision: int | None = None
        self._snapshot = self._stored.copy()
        self._snapshot_key: tuple[Any, ...] | None = None
        self._warned = False
        self._lock = threading.Lock()

    def refresh(self, engine: Engine) -> int:
        """Load the stored statistics if they moved, plus papers not counted in them yet;
        returns how many papers were counted in memory."""
        with self._lock, session_scope(engine) as session:
            # A Connection already in a transaction (preview composes inside one it rolls
            # back) keeps that transaction's isolation; SQLAlchemy refuses to change it.
            if engine.dialect.name == "postgresql" and isinstance(engine, Engine):
                # One snapshot for the counts and the flags, which a crawl commits together.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            header = counts_header(session)
            pending: Pending
            if _usable(header):
                assert header is not None
                if header.revision != self._stored_revision:
                    row = read_term_counts(session)
                    assert row is not None
                    self._stored, self._stored_revision = _stats_of(row, engine), row.revision
                pending = uncounted_papers(session)
            else:
                if not self._warned:
                    log.warning(
                        "term_stats.not_stored",
                        reason="missing" if header is None else "from another tokeniser",
                        fix="counting every paper in memory until the next crawl stores them",
                    )
                    self._warned = True
                self._stored, self._stored_revision = TermStats(), None
                pending = [(paper, None) for paper in all_papers(session)]
            key = (self._stored_revision, tuple((p.arxiv_id, p.updated_at) for p, _ in pending))
            if key != self._snapshot_key:
                # Loaded statistics are never changed in place (rankers copy before adding),
                # so with nothing to count in memory they are the snapshot as they are.
                snapshot = self._stored.copy() if pending else self._stored
                _count_pending(snapshot, pending)
                self._snapshot, self._snapshot_key = snapshot, key
            return len(pending)

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
        return LexicalRanker(self._snapshot, known=StoredDocuments(engine))

    def ranker(self, engine: Engine) -> Ranker[Any]:
        """The configured ranker: lexical, or hybrid over vectors kept in the database."""
        lexical = self.lexical_ranker(engine)
        if self.hybrid is None:
            return lexical
        # Imported here: the stored-vector source pulls in the store's embedding tables.
        from paperfeed.stored_vectors import StoredVectors

        return HybridRanker(lexical, StoredVectors(engine, self.encoder()), self.hybrid)

    def encoder(self) -> Encoder:
        """The sentence encoder (the shared model unless one was given)."""
        return self._encoder or shared_encoder()
