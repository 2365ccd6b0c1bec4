"""An outbox filled the way the daemon fills it, send passes as the daemon runs them, and the
invariants every SMTP fault must leave true.

The store gets the real captured list of 2026-09-28 (28 papers), settled the next morning as
a crawl would leave it; subscribers are confirmed and due at 07:00 UTC; ``compose_due``
writes their editions and deliveries. ``send_pass`` is ``Jobs.deliver``: ``send_once`` with
the transport the settings name (``PAPERFEED_SMTP_URL`` pointing at the faulty server).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.crawler.api_items import parse_api_items, rank_listings
from paperfeed.crawler.records import DayResult
from paperfeed.digest import ComposeSummary, EditionPolicy, compose_due
from paperfeed.outbox.summary import SendSummary
from paperfeed.outbox.worker import send_once
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, DeliveryStatus, Subscriber
from paperfeed.store.subscribers import create_subscriber
from tests.faults.faults_smtp_server import FaultySink
from tests.support.hf_days import FIXTURE_PAGE_DAY, FIXTURES_DIR, load_items, page_items

LISTED = FIXTURE_PAGE_DAY
T0 = datetime(2026, 9, 29, 7, 5, tzinfo=UTC)  # five minutes after everyone's send hour
INTERESTS = "large language models\nreasoning\n-robotics"


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def settings_for(tmp_path: Path, database_url: str, sink: FaultySink, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "public_url": "https://paperfeed.example",
        "mail_from": "paperfeed <digest@example.org>",
        "smtp_url": sink.url,
        "send_batch_size": 5,
    }
    values.update(changes)
    return Settings(**values)


def store_listed_day(engine: Engine, day: date = LISTED) -> None:
    """A captured list (28 papers on 2026-09-28, 14 on 2026-09-29), stored as the crawl of
    the next morning leaves it: settled."""
    if day == LISTED:
        items = page_items((FIXTURES_DIR / f"papers_{LISTED}.html").read_bytes())
    else:
        items = load_items(FIXTURES_DIR / f"api_daily_papers_{day}_trimmed.json")
    entries = parse_api_items(items, day=day).entries
    result = DayResult(
        day=day,
        kind="daily",
        status="ok",
        source="props",
        papers=tuple(entry.paper for entry in entries),
        listings=rank_listings(entries, day=day, kind="daily"),
    )
    crawled = datetime.combine(day + timedelta(days=1), time(6, 30), UTC)
    with session_scope(engine) as session:
        save_day(session, result, started_at=crawled, finished_at=crawled, settled=True)


def subscribe(engine: Engine, emails: Sequence[str]) -> None:
    with session_scope(engine) as session:
        for email in emails:
            create_subscriber(
                session,
                email=email,
                interests=INTERESTS,
                now=T0 - timedelta(days=3),
                send_hour=7,
                confirmed=True,
            )


def compose(engine: Engine, settings: Settings, *, now: datetime = T0) -> ComposeSummary:
    """``Jobs.compose``: every edition due at ``now``, with its delivery."""
    policy = EditionPolicy.from_settings(settings)
    return compose_due(engine, now=now, policy=policy, corpus=CorpusCache())


def outbox_for(engine: Engine, settings: Settings, emails: Sequence[str]) -> None:
    """A settled day, these subscribers, and one composed edition waiting for each."""
    store_listed_day(engine)
    subscribe(engine, emails)
    composed = compose(engine, settings)
    assert composed.deliveries == len(emails), composed.line()


def send_pass(engine: Engine, settings: Settings, *, now: datetime) -> SendSummary:
    """``Jobs.deliver``: one pass over the outbox with a fresh transport from the settings."""
    return send_once(engine, settings, now=lambda: now, worker="faults")


@dataclass(frozen=True)
class Row:
    id: int
    email: str
    status: str
    attempts: int
    message_id: str | None
    last_error: str | None


def deliveries(engine: Engine) -> list[Row]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery, Subscriber.email)
            .where(Delivery.subscriber_id == Subscriber.id)
            .order_by(Delivery.id)  # type: ignore[arg-type]
        ).all()
        return [
            Row(d.id or 0, email, d.status, d.attempts, d.message_id, d.last_error)
            for d, email in rows
        ]


def subscriber_statuses(engine: Engine) -> dict[str, str]:
    with session_scope(engine) as session:
        return {s.email: s.status for s in session.exec(select(Subscriber))}


def assert_nothing_lost_yet(engine: Engine, sink: FaultySink) -> list[Row]:
    """Between passes: no delivery is stuck in flight or given up on, and whatever is marked
    sent did reach the server. Returns the rows."""
    rows = deliveries(engine)
    assert {r.status for r in rows} <= {DeliveryStatus.PENDING, DeliveryStatus.SENT}, rows
    for row in rows:
        if row.status == DeliveryStatus.SENT:
            assert row.message_id is not None
            assert sink.stored[row.message_id] >= 1, f"{row} marked sent, never received"
    return rows


def assert_delivered_once(
    engine: Engine,
    sink: FaultySink,
    *,
    in_flight: int,
    bounced: Collection[str] = (),
) -> list[Row]:
    """After healing: every delivery is sent (or bounced, for an address that is gone), the
    server holds exactly the sent Message-IDs, each for its own subscriber, and a message
    arrived more than once only as often as the server took it without the client hearing
    so; those duplicates are at most ``in_flight`` (the messages in flight at once)."""
    rows = deliveries(engine)
    for row in rows:
        if row.email in bounced:
            assert row.status == DeliveryStatus.FAILED, row
            assert (row.last_error or "").startswith("bounced: 550 5.1.1"), row
        else:
            assert row.status == DeliveryStatus.SENT, row
    sent = {r.message_id or "": r.email for r in rows if r.status == DeliveryStatus.SENT}
    assert set(sink.stored) == set(sent), "the server holds other messages than those sent"
    assert {mid: sink.recipients[mid] for mid in sent} == {
        mid: {email} for mid, email in sent.items()
    }
    for mid, copies in sink.stored.items():
        assert copies - 1 <= sink.unheard[mid], f"{mid} arrived {copies} times"
    assert sink.duplicates() <= in_flight
    statuses = subscriber_statuses(engine)
    assert {email for email, status in statuses.items() if status == "bounced"} == set(bounced)
    return rows
