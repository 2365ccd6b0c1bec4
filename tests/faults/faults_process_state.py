"""Reading what paperfeed stored, as plain values, to compare before and after a fault.

Crawl state (each day's list, the crawl runs), compose state (editions, their papers, the
never-twice ledger, the outbox) and the file outbox (whole ``.eml`` files, strays).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from paperfeed.store.db import session_scope
from paperfeed.store.models import (
    CrawlRun,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionPaper,
    Listing,
    ListingDay,
    Paper,
    SentPaper,
    Subscriber,
)


def count_rows(engine: Engine, model: Any) -> int:
    """How many rows ``model``'s table holds."""
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


# --- crawl state ---------------------------------------------------------------------------


def stored_lists(engine: Engine) -> dict[date, dict[str, tuple[int, int]]]:
    """Each stored daily list: paper id to (rank, upvotes)."""
    lists: dict[date, dict[str, tuple[int, int]]] = {}
    with session_scope(engine) as session:
        for listing in session.exec(select(Listing).where(Listing.kind == "daily")).all():
            day = lists.setdefault(listing.listing_date, {})
            assert listing.paper_id not in day, (
                f"{listing.paper_id} twice on {listing.listing_date}"
            )
            day[listing.paper_id] = (listing.rank, listing.upvotes)
    return lists


def served_lists(days: dict[date, list[dict[str, Any]]]) -> dict[date, dict[str, int]]:
    """What the fake serves for each day: paper id to upvotes."""
    return {
        day: {item["paper"]["id"]: int(item["paper"]["upvotes"]) for item in items}
        for day, items in days.items()
    }


def votes(lists: dict[date, dict[str, tuple[int, int]]]) -> dict[date, dict[str, int]]:
    """``stored_lists`` without the ranks."""
    return {day: {pid: up for pid, (_, up) in papers.items()} for day, papers in lists.items()}


@dataclass(frozen=True)
class RunRecord:
    """A CrawlRun row as plain values."""

    day: date
    status: str
    source: str | None
    found: int
    finished: bool
    error: str | None


def crawl_runs(engine: Engine) -> list[RunRecord]:
    """Every daily CrawlRun, in the order written; checks each one's times are sane."""
    records: list[RunRecord] = []
    with session_scope(engine) as session:
        rows = session.exec(
            select(CrawlRun).where(CrawlRun.kind == "daily").order_by(col(CrawlRun.id))
        ).all()
        for run_row in rows:
            finished = run_row.finished_at is not None
            if finished:
                assert run_row.finished_at is not None
                assert run_row.finished_at >= run_row.started_at, run_row
            records.append(
                RunRecord(
                    run_row.listing_date,
                    run_row.status,
                    run_row.source,
                    run_row.papers_found,
                    finished,
                    run_row.error,
                )
            )
    return records


def listing_days(engine: Engine) -> dict[date, tuple[str, int, bool]]:
    """Each daily ListingDay: (status, paper count, settled)."""
    with session_scope(engine) as session:
        rows = session.exec(select(ListingDay).where(ListingDay.kind == "daily")).all()
        return {r.listing_date: (r.status, r.paper_count, r.settled_at is not None) for r in rows}


def paper_ids(engine: Engine) -> list[str]:
    """Every stored paper id (a list: a duplicate would show)."""
    with session_scope(engine) as session:
        return list(session.exec(select(Paper.arxiv_id)).all())


# --- compose state -------------------------------------------------------------------------


@dataclass
class ComposeState:
    """Editions, their papers, the never-twice ledger and the outbox as plain values."""

    editions: dict[int, tuple[str, date]]  # edition id -> (email, local date)
    papers: dict[int, set[str]]  # edition id -> paper ids
    ledger: dict[tuple[str, str], int]  # (email, paper id) -> edition id
    deliveries: Counter[int]  # edition id -> delivery rows

    def problems(self) -> list[str]:
        """Every way the editions, ledger and outbox disagree (none for a whole state)."""
        found: list[str] = []
        per_subscriber = Counter(email for email, _ in self.editions.values())
        found += [f"{email} has {n} editions" for email, n in per_subscriber.items() if n != 1]
        found += [f"edition {e} has no papers" for e in self.editions if not self.papers.get(e)]
        found += [
            f"edition {e} has {self.deliveries[e]} deliveries"
            for e in self.editions
            if self.deliveries[e] != 1
        ]
        found += [
            f"delivery for unknown edition {e}" for e in self.deliveries if e not in self.editions
        ]
        expected = {
            (self.editions[e][0], pid): e for e, pids in self.papers.items() for pid in pids
        }
        if self.ledger != expected:
            missing = expected.keys() - self.ledger.keys()
            extra = self.ledger.keys() - expected.keys()
            found.append(f"ledger differs: {len(missing)} missing, {len(extra)} extra pairs")
        return found


def compose_state(engine: Engine) -> ComposeState:
    """Read the editions, their papers, the ledger and the deliveries."""
    with session_scope(engine) as session:
        emails = dict(session.exec(select(Subscriber.id, Subscriber.email)).all())
        editions = {
            int(e.id or 0): (emails[e.subscriber_id], e.local_date)
            for e in session.exec(select(Edition)).all()
        }
        papers: dict[int, set[str]] = {}
        for edition_id, paper_id in session.exec(
            select(EditionPaper.edition_id, EditionPaper.paper_id)
        ).all():
            papers.setdefault(int(edition_id), set()).add(paper_id)
        ledger = {
            (emails[s], p): int(e)
            for s, p, e in session.exec(
                select(SentPaper.subscriber_id, SentPaper.paper_id, SentPaper.edition_id)
            ).all()
        }
        deliveries = Counter(int(e) for e in session.exec(select(Delivery.edition_id)).all())
    return ComposeState(editions, papers, ledger, deliveries)


# --- outbox state --------------------------------------------------------------------------


def sent_message_ids(engine: Engine) -> list[str]:
    """The Message-IDs of the deliveries marked sent, sorted."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery.message_id).where(Delivery.status == DeliveryStatus.SENT)
        ).all()
    return sorted(str(m) for m in rows)


def whole_messages(outbox: Path) -> list[str]:
    """The Message-IDs of the ``.eml`` files, each checked to be a whole digest."""
    found: list[str] = []
    for path in sorted(outbox.glob("*.eml")):
        data = path.read_bytes()
        message = message_from_bytes(data, policy=policy.default)
        assert message.defects == [], (path, message.defects)
        boundary = message.get_boundary()
        assert boundary, f"{path} is not multipart"
        # A file cut short loses its closing boundary first.
        assert data.endswith(f"--{boundary}--\r\n".encode()), f"{path} is cut short"
        kinds = [part.get_content_type() for part in message.iter_parts()]
        assert kinds == ["text/plain", "text/html"], (path, kinds)
        found.append(str(message["Message-ID"]))
    return found


def stray_files(outbox: Path) -> list[str]:
    """Every file in the outbox that is not a finished ``.eml`` (temporary files, others)."""
    return sorted(p.name for p in outbox.iterdir() if p.suffix != ".eml" or p.name.startswith("."))
