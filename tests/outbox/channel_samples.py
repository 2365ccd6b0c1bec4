"""Editions waiting on two channels (email and chat), and a chat channel the test drives.

Email goes through the real ``EmailChannel`` over the file transport (``.eml`` files);
chat through ``ScriptedChat``, a stand-in for a chat service whose answers the test
chooses, so the outbox's side of each answer can be checked: the real chat channel has its
own tests against a real HTTP server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from paperfeed.config import Settings
from paperfeed.mailer.email_channel import EmailChannel
from paperfeed.mailer.files import FileTransport
from paperfeed.outbox.channel import Outcome, Parcel, Result
from paperfeed.store.db import session_scope
from paperfeed.store.deliveries import PaperRow
from paperfeed.store.editions import PlannedEdition, PlannedPaper, write_editions
from paperfeed.store.models import ChannelAddress, Delivery
from paperfeed.store.subscribers import create_subscriber
from tests.mailer.outbox_samples import EDITION_DAY, T0, active_row, paper_id

Answer = Callable[[Parcel], Result]


def sent(_: Parcel) -> Result:
    return Result(Outcome.SENT, "200", reference=None)


class ScriptedChat:
    """A chat channel whose answer per parcel is ``answer``; records what it was given.

    ``delay`` makes each batch take that long (a slow service); ``pause`` makes the channel
    pause after its first batch, as a service that keeps failing would.
    """

    kind = "chat"

    def __init__(self, answer: Answer = sent, *, delay: float = 0.0, pause: str | None = None):
        self.answer = answer
        self.delay = delay
        self.pause = pause
        self.posted: list[Parcel] = []
        self.batches = 0
        self.closed = False
        self._paused: str | None = None

    @property
    def paused_reason(self) -> str | None:
        return self._paused

    async def deliver(
        self, parcels: Sequence[Parcel], papers: Mapping[str, PaperRow]
    ) -> list[Result]:
        self.batches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        for parcel in parcels:
            # The outbox hands over every paper the parcels' editions list.
            assert {i.paper_id for i in parcel.content.items} <= papers.keys()
        if self.pause is not None:
            self._paused = self.pause
            return [Result(Outcome.RETRY_LATER, self.pause, attempted=False) for _ in parcels]
        results = [self.answer(p) for p in parcels]
        self.posted.extend(p for p, r in zip(parcels, results, strict=True) if r.outcome == "sent")
        return results

    async def aclose(self) -> None:
        self.closed = True


def email_channel(settings: Settings, *, now: datetime = T0) -> EmailChannel:
    """The real email channel writing ``.eml`` files to the settings' outbox folder."""
    return EmailChannel(
        settings, FileTransport(settings.outbox_dir, fsync=False), clock=lambda: now
    )


def mails(settings: Settings) -> list[Path]:
    return sorted(settings.outbox_dir.glob("*.eml"))


def add_person(engine: Engine, email: str, *, chats: int = 1, email_digest: bool = True) -> int:
    """A confirmed subscriber with ``chats`` chat addresses."""
    with session_scope(engine) as session:
        subscriber = create_subscriber(
            session, email=email, interests="video diffusion", now=T0, confirmed=True
        )
        subscriber.email_digest = email_digest
        session.add(subscriber)
        session.flush()
        assert subscriber.id is not None
        for n in range(chats):
            add_chat(session, subscriber.id, f"{email.split('@')[0]}-{n}")
        return subscriber.id


def add_team(engine: Engine, name: str) -> int:
    """A team digest: a name, no email, one chat address."""
    with session_scope(engine) as session:
        team = active_row(name=name, email=None)
        session.add(team)
        session.flush()
        assert team.id is not None
        add_chat(session, team.id, name)
        return team.id


def add_chat(session: Session, subscriber_id: int, room: str) -> None:
    session.add(
        ChannelAddress(
            subscriber_id=subscriber_id,
            service="json",
            url=f"json://127.0.0.1:9/{room}?secret=s3cret",
            shown="json://127.0.0.1:9/…",
            created_at=T0,
            updated_at=T0,
        )
    )


def compose(engine: Engine, subscriber_ids: Sequence[int], *, day: date = EDITION_DAY) -> None:
    """An edition of two papers for each subscriber on ``day``, written as compose does."""
    shift = (day - EDITION_DAY).days * 2
    with session_scope(engine) as session:
        write_editions(
            session,
            [
                PlannedEdition(
                    sid,
                    day,
                    tuple(
                        PlannedPaper(paper_id(k + shift), "matched", 1.0, ("video",))
                        for k in range(2)
                    ),
                    deliver=True,
                )
                for sid in subscriber_ids
            ],
            now=T0,
        )


def by_channel(engine: Engine) -> dict[tuple[int, str], Delivery]:
    """Every delivery by (subscriber id, channel); one edition each."""
    with session_scope(engine) as session:
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()
        return {(r.subscriber_id, r.channel): r for r in rows}
