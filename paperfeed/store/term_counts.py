"""The stored term statistics row and which papers it counts, for ``corpus`` to keep current.

The store holds the counts as opaque numbers and bytes; what they mean (tokens, buckets, IDF)
is ranking's. A paper's ``stats_counted`` flag changes in the same transaction as the counts,
so the row and the flags always agree: a paper whose flag is false is not in the counts, or
is in them with the text its ``CountedText`` row keeps. ``counted_in`` says which revision of
the counts first held a paper, so a process holding revision R knows which papers it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.functions import coalesce
from sqlmodel import Session, col, select

from paperfeed.store.models import CountedText, Paper, TermCounts
from paperfeed.store.papers import CHUNK

ROW_ID = 1
# The features version of a row that counts nothing yet: no tokeniser has it, so the first
# writer rebuilds the counts from every paper (whatever the papers' flags say).
NOTHING_COUNTED = 0


class CountsHeader(NamedTuple):
    """What the counts row says about itself, without its bytes."""

    revision: int
    features_version: int
    bucket_bits: int


def counts_header(session: Session) -> CountsHeader | None:
    """The counts' revision (it moves on every write) and format, or None with no row yet."""
    row = session.exec(
        select(TermCounts.revision, TermCounts.features_version, TermCounts.bucket_bits).where(
            TermCounts.id == ROW_ID
        )
    ).first()
    return None if row is None else CountsHeader(*row)


def read_term_counts(session: Session) -> TermCounts | None:
    """The stored counts as they are, without locking (readers)."""
    return session.get(TermCounts, ROW_ID)


def lock_term_counts(session: Session, *, now: datetime) -> TermCounts:
    """The counts row, locked until the transaction ends; created counting nothing if missing.

    PostgreSQL: a row lock, so concurrent writers count papers one after the other. SQLite:
    the caller's transaction must hold the write lock already (``session_scope(write_lock=
    True)``), which serialises writers the same way.
    """
    if counts_header(session) is None:
        _create_row(session, now=now)
    row = session.exec(
        select(TermCounts)
        .where(TermCounts.id == ROW_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def _create_row(session: Session, *, now: datetime) -> None:
    values = {
        "id": ROW_ID,
        "features_version": NOTHING_COUNTED,
        "bucket_bits": 0,
        "n_docs": 0,
        "field_terms": {},
        "df": b"",
        # Revisions only grow, even past a lost row: papers keep the one that first held them.
        "revision": select(coalesce(func.max(Paper.counted_in), 0)).scalar_subquery(),
        "updated_at": now,
    }
    table = TermCounts.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # A concurrent writer may create it first: then its row is the one to lock.
    session.execute(insert(table).values(values).on_conflict_do_nothing())


def has_uncounted_papers(session: Session) -> bool:
    """Whether any stored paper's current text is missing from the counts."""
    found = session.exec(
        select(Paper.arxiv_id).where(col(Paper.stats_counted).is_(False)).limit(1)
    ).first()
    return found is not None


def uncounted_papers(session: Session) -> Sequence[tuple[Paper, CountedText | None]]:
    """Papers whose current text is not counted, each with the text it was counted with (if)."""
    rows = session.exec(
        select(Paper, CountedText)
        .outerjoin(CountedText, col(CountedText.paper_id) == col(Paper.arxiv_id))
        .where(col(Paper.stats_counted).is_(False))
        .order_by(col(Paper.arxiv_id))
    ).all()
    return [(paper, counted) for paper, counted in rows]


def all_papers(session: Session) -> Sequence[Paper]:
    """Every stored paper (rebuilding the counts from scratch)."""
    return session.exec(select(Paper).order_by(col(Paper.arxiv_id))).all()


def count_papers(session: Session) -> int:
    """How many papers are stored."""
    return session.exec(select(func.count()).select_from(Paper)).one()


def mark_counted(session: Session, paper_ids: Iterable[str], *, revision: int) -> None:
    """Flag papers as counted with their current text by the counts' ``revision``."""
    ids = list(paper_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        session.execute(
            update(Paper)
            .where(col(Paper.arxiv_id).in_(chunk))
            .values(stats_counted=True, counted_in=coalesce(Paper.counted_in, revision))
        )
        session.execute(delete(CountedText).where(col(CountedText.paper_id).in_(chunk)))


def counted_in(session: Session, paper_id: str) -> int | None:
    """The counts revision that first held ``paper_id`` (None: never counted, or not stored)."""
    return session.exec(select(Paper.counted_in).where(Paper.arxiv_id == paper_id)).first()


def papers_by_id(session: Session, paper_ids: Iterable[str]) -> dict[str, Paper]:
    """The stored papers among ``paper_ids`` (``like:`` lookups), by id."""
    ids = list(dict.fromkeys(paper_ids))
    found: dict[str, Paper] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            (p.arxiv_id, p)
            for p in session.exec(select(Paper).where(col(Paper.arxiv_id).in_(chunk)))
        )
    return found
