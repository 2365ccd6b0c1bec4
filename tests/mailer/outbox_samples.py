"""A store with editions waiting in the outbox, SMTP handlers, and a way to run send_due."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.mailer.email_channel import EmailChannel
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.transport import SendResult, Transport
from paperfeed.outbox.send_pass import send_due
from paperfeed.outbox.summary import SendSummary
from paperfeed.store.crawls import save_day
from paperfeed.store.db import session_scope
from paperfeed.store.editions import PlannedEdition, PlannedPaper, write_editions
from paperfeed.store.models import Delivery, Subscriber, SubscriberStatus
from paperfeed.store.subscribers import create_subscriber, new_token
from tests.mailer.smtp_samples import Sink

LISTED = date(2026, 9, 28)
EDITION_DAY = date(2026, 9, 29)
T0 = datetime(2026, 9, 29, 7, 0, tzinfo=UTC)
PAPERS = 12


def paper_id(i: int) -> str:
    return f"2609.{i:05d}"


def active_row(*, email: str | None, name: str | None = None) -> Subscriber:
    """An active subscriber interested in video diffusion, made as a row (no sign-up checks):
    a team, or an address sign-ups refuse now but an older row may hold."""
    return Subscriber(
        name=name,
        email=email,
        interests="video diffusion",
        token=new_token(),
        status=SubscriberStatus.ACTIVE,
        created_at=T0,
        confirmed_at=T0,
        updated_at=T0,
    )


def store_papers(engine: Engine, listed: date = LISTED) -> None:
    """One settled day of 12 papers, the first with a hostile title."""
    papers = tuple(
        PaperRecord(
            arxiv_id=paper_id(i),
            title="<b>Attention</b> & Retention" if i == 0 else f"Sparse Video Diffusion, {i}",
            abstract="We study how sparse experts scale for video generation. " * 4,
            authors=tuple(f"Author {j}" for j in range(1 + i % 5)),
            github_repo=f"https://github.com/lab/repo-{i}" if i % 2 else None,
            github_stars=100 * i if i % 2 else None,
        )
        for i in range(PAPERS)
    )
    listings = tuple(
        ListingRecord(listed, p.arxiv_id, rank=n + 1, upvotes=90 - n, comments=n % 3)
        for n, p in enumerate(papers)
    )
    result = DayResult(
        day=listed, kind="daily", status="ok", source="api", papers=papers, listings=listings
    )
    settled = datetime.combine(listed + timedelta(days=1), time(6), UTC)
    with session_scope(engine) as session:
        save_day(session, result, started_at=settled, finished_at=settled, settled=True)


def add_readers(
    engine: Engine,
    emails: Sequence[str],
    *,
    day: date = EDITION_DAY,
    created: datetime = T0,
    shift: int = 0,
) -> list[int]:
    """Subscribe each address (confirmed) and write an edition with a delivery for each.

    Each edition has three matched papers and one trending; ``shift`` picks other papers for a
    later edition (the never-twice ledger refuses the same ones).
    """
    ids: list[int] = []
    with session_scope(engine) as session:
        for email in emails:
            existing = session.exec(select(Subscriber).where(Subscriber.email == email)).first()
            subscriber = existing or create_subscriber(
                session, email=email, interests="video diffusion", now=created, confirmed=True
            )
            assert subscriber.id is not None
            ids.append(subscriber.id)
        plans = [
            PlannedEdition(
                subscriber_id=sid,
                local_date=day,
                papers=(
                    *(
                        PlannedPaper(
                            paper_id((n + k + shift) % PAPERS), "matched", 1 - k / 10, ("video",)
                        )
                        for k in range(3)
                    ),
                    PlannedPaper(
                        paper_id((n + 5 + shift) % PAPERS), "trending", 0.0, ("90 upvotes",)
                    ),
                ),
                deliver=True,
            )
            for n, sid in enumerate(ids)
        ]
        write_editions(session, plans, now=created)
    return ids


def readers(n: int, *, domain: str = "example.com") -> list[str]:
    return [f"reader{i}@{domain}" for i in range(n)]


def make_settings(tmp_path: Path, database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "public_url": "https://paperfeed.example",
        "mail_from": "paperfeed <digest@example.org>",
    }
    values.update(changes)
    return Settings(**values)


def deliveries(engine: Engine) -> list[Delivery]:
    with session_scope(engine) as session:
        return list(session.exec(select(Delivery).order_by(Delivery.id)).all())


def send(engine: Engine, settings: Settings, transport: Transport, **options: Any) -> SendSummary:
    """One send_due pass at T0 (unless ``now`` is given) through an email channel over
    ``transport``, closing it afterwards."""
    options.setdefault("now", T0)
    options.setdefault("worker", "test-worker")
    now = options["now"]
    channel = EmailChannel(settings, transport, clock=now if callable(now) else lambda: now)

    async def run() -> SendSummary:
        try:
            return await send_due(engine, settings, channel=channel, **options)
        finally:
            await channel.aclose()

    return asyncio.run(run())


class BusyOnce(Sink):
    """Answers 451 to the first try of every message, then takes it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[bytes] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if bytes(envelope.content) not in self.seen:
            self.seen.add(bytes(envelope.content))
            return "451 4.3.0 try again later"
        return self.accept(envelope)


class AlwaysBusy(Sink):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "451 4.3.0 try again later"


class RefusesGone(Sink):
    """550s every address that starts with ``gone`` at RCPT."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("gone"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class DropsOnce(Sink):
    """Takes the ``nth`` message, then drops the line before the client hears the 250."""

    def __init__(self, nth: int) -> None:
        super().__init__()
        self.nth = nth
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        if self.count == self.nth:
            self.accept(envelope)
            server.transport.abort()
            return "250 2.0.0 too late"
        return self.accept(envelope)


class CrashAfterSending:
    """Passes messages to a real transport, then dies as the process would before marking."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    @property
    def paused_reason(self) -> str | None:
        return self.inner.paused_reason

    def resume(self) -> None:
        self.inner.resume()

    async def send(self, messages: Sequence[OutgoingMail]) -> list[SendResult]:
        await self.inner.send(messages)
        raise RuntimeError("power cut after the server accepted the batch")

    async def aclose(self) -> None:
        await self.inner.aclose()


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
