"""The outbox ledger at scale: a claim takes the oldest claimable rows (pending and lapsed
together) and reads about a batch of rows, not the whole outbox, also when the planner's
statistics are the day before's (every delivery sent), as right after compose; a pass
expires the stale once, not per batch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, insert, select, text, update

from paperfeed.config import Settings
from paperfeed.outbox.channel import Outcome, Parcel, Result
from paperfeed.outbox.ledger import claim_batch, due_deliveries
from paperfeed.outbox.send_pass import send_due
from paperfeed.store.db import session_scope
from paperfeed.store.deliveries import PaperRow
from paperfeed.store.models import Delivery, DeliveryStatus, Edition, Subscriber

T0 = datetime(2026, 9, 28, 7, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)
BATCH = 50


def _outbox(engine: Engine, first: int, count: int, *, status: DeliveryStatus) -> None:
    """``count`` subscribers (ids from ``first``) with an edition and an email delivery."""
    ids = range(first, first + count)
    subscribers = [
        {
            "id": i,
            "email": f"reader{i}@example.com",
            "status": "active",
            "token": f"tok{i}",
            "feed_token": f"feed{i}",
            "created_at": T0,
            "updated_at": T0,
        }
        for i in ids
    ]
    editions = [
        {"id": i, "subscriber_id": i, "local_date": date(2026, 9, 28), "created_at": T0}
        for i in ids
    ]
    deliveries = [
        {
            "id": i,
            "edition_id": i,
            "subscriber_id": i,
            "status": status,
            "created_at": T0,
            "updated_at": T0,
        }
        for i in ids
    ]
    with session_scope(engine) as session:
        for model, rows in ((Subscriber, subscribers), (Edition, editions), (Delivery, deliveries)):
            session.execute(insert(model.__table__), rows)  # type: ignore[union-attr]


def _set(engine: Engine, ids: list[int], **values: Any) -> None:
    with session_scope(engine) as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(**values))  # type: ignore[union-attr]


def _claim(engine: Engine, *, after_id: int = 0, limit: int = BATCH) -> list[int]:
    with session_scope(engine, write_lock=True) as session:
        batch = claim_batch(
            session, kind="email", worker="w", now=T0, limit=limit, after_id=after_id, lease=LEASE
        )
    return [d.id for d in batch]


def test_a_claim_takes_the_oldest_of_pending_and_lapsed_rows_together(engine: Engine) -> None:
    _outbox(engine, 1, 8, status=DeliveryStatus.PENDING)
    lapsed, fresh = T0 - LEASE - timedelta(seconds=1), T0 - timedelta(seconds=5)
    _set(engine, [2, 6], status=DeliveryStatus.SENDING, claimed_by="dead", claimed_at=lapsed)
    _set(engine, [3], status=DeliveryStatus.SENDING, claimed_by="alive", claimed_at=fresh)
    _set(engine, [4], not_before=T0 + timedelta(minutes=1))
    _set(engine, [7], status=DeliveryStatus.SENT)

    with session_scope(engine) as session:
        dry = due_deliveries(session, kind="email", now=T0, limit=3, lease=LEASE)
    assert [d.id for d in dry] == [1, 2, 5]
    assert _claim(engine, limit=3) == [1, 2, 5]
    assert _claim(engine, after_id=5, limit=3) == [6, 8]
    assert _claim(engine, after_id=8, limit=3) == []


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs run on ``engine`` meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _rows_read(engine: Engine, statement: str, parameters: Any) -> int:
    """How many rows the database reads to answer ``statement`` (its scans' rows, kept and
    filtered out): PostgreSQL's EXPLAIN ANALYZE; SQLite's virtual machine counts steps in
    its bytecode profile, so it reports the rows its loops visit."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            plan = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
            ).scalar_one()
            connection.rollback()
            return _scanned(plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan))
        raw = connection.connection.driver_connection
        assert raw is not None
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        # Called every 100 virtual machine instructions: proportional to the rows visited.
        raw.set_progress_handler(count, 100)
        try:
            connection.exec_driver_sql(statement, parameters).all()
        finally:
            raw.set_progress_handler(None, 0)
        return steps


def _scanned(node: dict[str, Any]) -> int:
    own = 0
    if node["Node Type"].endswith("Scan") and "Bitmap Index" not in node["Node Type"]:
        own = int(node["Actual Rows"]) + int(node.get("Rows Removed by Filter", 0))
    return own + sum(_scanned(child) for child in node.get("Plans", []))


def _claim_reads(engine: Engine, after_id: int) -> int:
    with _statements(engine) as seen, session_scope(engine) as session:
        due_deliveries(session, kind="email", now=T0, limit=BATCH, after_id=after_id, lease=LEASE)
    assert seen
    return sum(_rows_read(engine, s, p) for s, p in seen)


def _analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


def test_a_claim_reads_about_a_batch_however_many_deliveries_wait(engine: Engine) -> None:
    # Yesterday's outbox, sent and known to the planner; then today's, not analysed yet.
    _outbox(engine, 1, 1000, status=DeliveryStatus.SENT)
    _analyze(engine)
    _outbox(engine, 1001, 100, status=DeliveryStatus.PENDING)
    few = _claim_reads(engine, after_id=0)
    _outbox(engine, 1101, 2400, status=DeliveryStatus.PENDING)
    many = _claim_reads(engine, after_id=0)
    later = _claim_reads(engine, after_id=2000)

    # 25 times the pending rows, about the same work: the claim stops after its batch
    # (reading every pending row would be ~25 times more), and yesterday's rows are skipped.
    assert many < 2 * few
    assert later < 2 * few
    if engine.dialect.name == "postgresql":
        assert many <= 2 * BATCH + 10


class _Accepts:
    """An email channel that takes every parcel; the clock jumps once it has sent a batch."""

    kind = "email"
    paused_reason: str | None = None

    def __init__(self, later: datetime) -> None:
        self.now = T0 + timedelta(minutes=1)
        self.later = later

    async def deliver(
        self, parcels: Sequence[Parcel], papers: Mapping[str, PaperRow]
    ) -> list[Result]:
        self.now = self.later
        return [Result(Outcome.SENT, "250", reference=f"<{p.delivery_id}@x>") for p in parcels]

    async def aclose(self) -> None:
        pass


def test_a_pass_expires_the_stale_once_and_what_goes_stale_midway_when_it_comes(
    engine: Engine, settings: Settings
) -> None:
    _outbox(engine, 1, 7, status=DeliveryStatus.PENDING)
    late = timedelta(hours=settings.max_lateness_hours)
    _set(engine, [7], created_at=T0 - late - timedelta(hours=1))
    channel = _Accepts(later=T0 + late + timedelta(hours=1))
    expiries: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "created_at <" in statement:
            expiries.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        summary = asyncio.run(
            send_due(
                engine, settings, channel=channel, now=lambda: channel.now, worker="w", batch_size=2
            )
        )
    finally:
        event.remove(engine, "before_cursor_execute", note)

    # One expiry statement for the whole pass (per batch, it may read every pending row).
    assert len(expiries) == 1
    assert (summary.sent, summary.expired) == (2, 5)
    with session_scope(engine) as session:
        rows = session.execute(select(Delivery.__table__.c.id, Delivery.__table__.c.status))  # type: ignore[attr-defined]
        status = {int(i): str(s) for i, s in rows}
    assert status == {1: "sent", 2: "sent", **{i: "expired" for i in range(3, 8)}}
