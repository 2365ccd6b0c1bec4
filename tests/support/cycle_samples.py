"""Test data for scheduler cycles: settled days of real papers, subscribers, what was sent.

Days are stored straight through ``save_day`` (as a crawl would), settled a few hours after
they ended, so compose has something to rank without a crawl; the fake Hugging Face server
is for the tests that crawl. Everything here is deterministic.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func
from sqlmodel import select

from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, Edition, Subscriber
from paperfeed.store.subscribers import create_subscriber
from tests.support.data_paths import CORPUS
from tests.support.ports import free_port

INTERESTS = "large language models\nreasoning\ndiffusion"


def store_settled_days(engine: Engine, first: date, *, days: int, per_day: int = 20) -> None:
    """Store ``days`` daily lists from ``first``, each settled 6 h after its UTC day ended."""
    with CORPUS.open(encoding="utf-8") as handle:
        docs = [json.loads(line) for _, line in zip(range(days * per_day), handle, strict=False)]
    for n in range(days):
        day = first + timedelta(days=n)
        chunk = docs[n * per_day : (n + 1) * per_day]
        papers = tuple(
            PaperRecord(
                arxiv_id=f"{day:%y%m}.{day.day:02d}{i:03d}",
                title=d["title"],
                abstract=d["abstract"],
            )
            for i, d in enumerate(chunk)
        )
        listings = tuple(
            ListingRecord(day, p.arxiv_id, rank=i + 1, upvotes=100 - i, comments=0)
            for i, p in enumerate(papers)
        )
        result = DayResult(
            day=day, kind="daily", status="ok", source="api", papers=papers, listings=listings
        )
        settled_at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=30)
        with session_scope(engine) as session:
            save_day(session, result, started_at=settled_at, finished_at=settled_at, settled=True)


def add_subscriber(
    engine: Engine,
    email: str,
    *,
    timezone: str,
    send_hour: int,
    joined: datetime,
) -> int:
    """A confirmed daily subscriber; returns the id."""
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session,
            email=email,
            interests=INTERESTS,
            now=joined,
            timezone=timezone,
            send_hour=send_hour,
            confirmed=True,
        )
        assert subscriber.id is not None
        return subscriber.id


def seed_subscribers(engine: Engine, count: int, *, joined: datetime, send_hour: int) -> None:
    """``count`` confirmed UTC subscribers, in one transaction (fast)."""
    with session_scope(engine) as session:
        for n in range(count):
            create_subscriber(
                session,
                email=f"reader{n:05d}@example.com",
                interests=INTERESTS,
                now=joined,
                send_hour=send_hour,
                confirmed=True,
            )


def editions(engine: Engine) -> list[tuple[str, date]]:
    """Every edition as (subscriber email, local date), sorted."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(Subscriber.email, Edition.local_date).where(
                Edition.subscriber_id == Subscriber.id
            )
        ).all()
    return sorted((email, day) for email, day in rows)


def delivery_statuses(engine: Engine) -> Counter[str]:
    """How many deliveries are in each status."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery.status, func.count()).group_by(Delivery.status)  # type: ignore[arg-type]
        ).all()
    return Counter({str(status): int(n) for status, n in rows})


def outbox_recipients(folder: Path) -> Counter[str]:
    """How many ``.eml`` files the file transport wrote to each address."""
    seen: Counter[str] = Counter()
    for path in folder.glob("*.eml") if folder.exists() else ():
        message = message_from_bytes(path.read_bytes())
        seen[parseaddr(str(message["To"]))[1]] += 1
    return seen


class MessageIdSink:
    """An aiosmtpd handler that accepts everything and counts each Message-ID it received."""

    def __init__(self) -> None:
        self.message_ids: Counter[str] = Counter()
        self.recipients: Counter[str] = Counter()
        self.url = ""
        # Called with the running count after each message is stored, before the 250 reply.
        self.on_message: Callable[[int], None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.content)
        found = _MESSAGE_ID.search(content.split(b"\r\n\r\n", 1)[0])
        self.message_ids[found.group(1).decode() if found else "<none>"] += 1
        self.recipients.update(envelope.rcpt_tos)
        if self.on_message is not None:
            self.on_message(self.received)
        return "250 2.0.0 queued"

    @property
    def received(self) -> int:
        """Messages accepted so far, duplicates included."""
        return self.message_ids.total()

    def duplicates(self) -> dict[str, int]:
        """Message-IDs received more than once, with their count."""
        return {mid: n for mid, n in self.message_ids.items() if n > 1}


_MESSAGE_ID = re.compile(rb"(?im)^Message-ID:\s*(<[^>\r\n]+>)")


@contextlib.contextmanager
def serving_smtp(handler: Any) -> Iterator[str]:
    """An aiosmtpd server with ``handler`` on a free 127.0.0.1 port; yields its SMTP URL."""
    for _ in range(5):  # another process may take the probed port first
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()
        except (OSError, RuntimeError):
            continue
        break
    else:
        raise RuntimeError("no free port for the SMTP server after 5 tries")
    try:
        yield f"smtp://127.0.0.1:{controller.port}?starttls=off"
    finally:
        controller.stop()


@contextlib.contextmanager
def running_sink() -> Iterator[MessageIdSink]:
    """A ``MessageIdSink`` served on a free 127.0.0.1 port; ``sink.url`` is its SMTP URL."""
    sink = MessageIdSink()
    with serving_smtp(sink) as sink.url:
        yield sink
