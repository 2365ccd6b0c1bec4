"""Bulk upserts of crawled papers and listings, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Table, func, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from paperfeed.crawler.records import ListingRecord, PaperRecord
from paperfeed.store.models import CountedText, Listing, Paper

# Rows per statement: well under SQLite's 32,766 bound parameters for a 15-column table.
CHUNK = 500
# The columns ranking's term statistics are counted from (see ``corpus.to_document``).
COUNTED_COLUMNS = ("title", "abstract", "ai_summary", "ai_keywords")

T = TypeVar("T")

# What a database (or its driver) raises for a value it will not store: a DataError (too
# long, out of range, NUL), a UnicodeEncodeError (lone surrogates), an OverflowError (an
# integer or a time beyond the column).
_REFUSED = (SQLAlchemyError, UnicodeError, ValueError, OverflowError)


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """How many rows an upsert created and how many it updated."""

    new: int = 0
    updated: int = 0


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _paper_values(record: PaperRecord, old: Paper | None, now: datetime) -> dict[str, Any]:
    # A later crawl from a poorer source (cards) must not erase what a richer one stored.
    def keep(new: Any, previous: Any) -> Any:
        return previous if (new is None or new in ("", (), [])) and old is not None else new

    return {
        "arxiv_id": record.arxiv_id,
        "title": record.title,
        "abstract": keep(record.abstract, old and old.abstract) or "",
        "authors": list(keep(record.authors, old and old.authors) or ()),
        "published_at": keep(record.published_at, old and old.published_at),
        "github_repo": keep(record.github_repo, old and old.github_repo),
        "github_stars": keep(record.github_stars, old and old.github_stars),
        "project_page": keep(record.project_page, old and old.project_page),
        "ai_summary": keep(record.ai_summary, old and old.ai_summary),
        "ai_keywords": list(keep(record.ai_keywords, old and old.ai_keywords) or ()),
        "thumbnail": keep(record.thumbnail, old and old.thumbnail),
        "organization": keep(record.organization, old and old.organization),
        "raw": record.raw or (old.raw if old else {}),
        "first_seen_at": old.first_seen_at if old else now,
        "updated_at": now,
    }


def upsert_papers(
    session: Session, records: Sequence[PaperRecord], *, now: datetime
) -> UpsertCounts:
    """Insert new papers and refresh known ones; returns how many were new."""
    unique = list({r.arxiv_id: r for r in records}.values())
    table = Paper.__table__  # type: ignore[attr-defined]
    new = 0
    for chunk in _chunks(unique):
        ids = [r.arxiv_id for r in chunk]
        existing = {
            p.arxiv_id: p for p in session.exec(select(Paper).where(col(Paper.arxiv_id).in_(ids)))
        }
        new += len(ids) - len(existing)
        rows = [_paper_values(r, existing.get(r.arxiv_id), now) for r in chunk]
        recounted = _counted_text_changes(existing, rows)
        stmt = _insert(session, table).values(rows)
        updated_columns = {c: stmt.excluded[c] for c in rows[0] if c not in ("arxiv_id",)}
        session.execute(
            stmt.on_conflict_do_update(index_elements=["arxiv_id"], set_=updated_columns)
        )
        _uncount(session, recounted)
        for paper in existing.values():
            session.expire(paper)
    return UpsertCounts(new=new, updated=len(unique) - new)


def _counted_text_changes(
    existing: dict[str, Paper], rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The counted text of papers whose text this upsert changes (e.g. AI keywords arrived)."""
    out: list[dict[str, Any]] = []
    for row in rows:
        old = existing.get(row["arxiv_id"])
        if old is None or not old.stats_counted:
            continue
        before = {c: getattr(old, c) for c in COUNTED_COLUMNS}
        if any(before[c] != row[c] for c in COUNTED_COLUMNS):
            out.append({"paper_id": old.arxiv_id, **before})
    return out


def _uncount(session: Session, counted: Sequence[dict[str, Any]]) -> None:
    # Kept until the statistics take the old text out and count the new (``corpus``).
    if not counted:
        return
    table = CountedText.__table__  # type: ignore[attr-defined]
    session.execute(_insert(session, table).values(list(counted)).on_conflict_do_nothing())
    ids = [c["paper_id"] for c in counted]
    session.execute(update(Paper).where(col(Paper.arxiv_id).in_(ids)).values(stats_counted=False))


def upsert_listings(
    session: Session, records: Sequence[ListingRecord], *, now: datetime
) -> UpsertCounts:
    """Insert or refresh listing rows, keeping first_seen and moving last_seen, rank and votes."""
    unique = list({(r.kind, r.listing_date, r.arxiv_id): r for r in records}.values())
    table = Listing.__table__  # type: ignore[attr-defined]
    key = tuple_(col(Listing.kind), col(Listing.listing_date), col(Listing.paper_id))
    new = 0
    for chunk in _chunks(unique):
        keys = [(r.kind, r.listing_date, r.arxiv_id) for r in chunk]
        found = session.execute(select(Listing.id).where(key.in_(keys))).all()
        new += len(keys) - len(found)
        rows = [
            {
                "kind": r.kind,
                "listing_date": r.listing_date,
                "paper_id": r.arxiv_id,
                "rank": r.rank,
                "upvotes": r.upvotes,
                "comments": r.comments,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for r in chunk
        ]
        stmt = _insert(session, table).values(rows)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["kind", "listing_date", "paper_id"],
                set_={
                    "rank": stmt.excluded.rank,
                    "upvotes": stmt.excluded.upvotes,
                    "comments": stmt.excluded.comments,
                    "last_seen_at": stmt.excluded.last_seen_at,
                },
            )
        )
    return UpsertCounts(new=new, updated=len(unique) - new)


@dataclass(frozen=True, slots=True)
class StoredList:
    """What storing one list's papers and listings did, and the papers it had to drop."""

    papers: UpsertCounts
    kept: int  # listings stored
    dropped: tuple[str, ...] = ()  # one warning per dropped paper


def upsert_list(
    session: Session,
    papers: Sequence[PaperRecord],
    listings: Sequence[ListingRecord],
    *,
    now: datetime,
    label: str,
) -> StoredList:
    """Upsert a list's papers and listings at once; when the database refuses that, paper by
    paper, dropping (with a warning naming ``label`` and the paper) each one it refuses."""
    try:
        with session.begin_nested():
            counts = upsert_papers(session, papers, now=now)
            upsert_listings(session, listings, now=now)
        return StoredList(papers=counts, kept=len(listings))
    except _REFUSED:
        pass  # one bad value must not cost the whole list: find it below
    new = updated = 0
    kept: set[str] = set()
    dropped: list[str] = []
    for paper in papers:
        try:
            with session.begin_nested():
                counts = upsert_papers(session, [paper], now=now)
        except _REFUSED as exc:
            shown = ascii(paper.arxiv_id[:40])[1:-1]
            reason = ascii(str(exc).splitlines()[0][:200] if str(exc) else "")[1:-1]
            dropped.append(
                f"{label}: {shown}: the database refused it ({type(exc).__name__}: {reason}); "
                "dropped"
            )
            continue
        new, updated = new + counts.new, updated + counts.updated
        kept.add(paper.arxiv_id)
    stored = [listing for listing in listings if listing.arxiv_id in kept]
    upsert_listings(session, stored, now=now)
    return StoredList(
        papers=UpsertCounts(new=new, updated=updated), kept=len(stored), dropped=tuple(dropped)
    )


def latest_listing_day(session: Session, *, kind: str = "daily") -> date | None:
    """The newest day with a stored list of ``kind``."""
    return session.exec(
        select(func.max(col(Listing.listing_date))).where(col(Listing.kind) == kind)
    ).first()


def papers_on(session: Session, day: date, *, kind: str = "daily") -> list[tuple[Paper, Listing]]:
    """The papers of one day's list with their listing, in list order."""
    rows = session.exec(
        select(Paper, Listing)
        .join(Listing, col(Listing.paper_id) == col(Paper.arxiv_id))
        .where(col(Listing.kind) == kind, col(Listing.listing_date) == day)
        .order_by(col(Listing.rank))
    ).all()
    return [(paper, listing) for paper, listing in rows]
