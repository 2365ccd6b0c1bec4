"""Compose's bulk writer: what it streams in (COPY, executemany) reads back as the models say.

``write_editions`` writes editions with multi-row INSERT ... RETURNING and their papers, ledger
rows and deliveries through the driver; these tests read them back through the ORM, on SQLite
and PostgreSQL, and check that an edition written meanwhile by someone else is left alone.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from paperfeed.store.db import session_scope
from paperfeed.store.editions import PlannedEdition, PlannedPaper, write_editions
from paperfeed.store.models import Delivery, DeliveryStatus, Edition, EditionPaper, SentPaper
from tests.mailer.outbox_samples import EDITION_DAY, T0, paper_id, store_papers
from tests.outbox.channel_samples import add_person

REASONS = ('large "language models" (llm, é)', "by Tri Dao (an author you follow)")


def _edition(subscriber_id: int, papers: range, *, deliver: bool = True) -> PlannedEdition:
    planned = tuple(
        PlannedPaper(paper_id(n), "matched" if n % 2 else "trending", n / 3, REASONS[: n % 3])
        for n in papers
    )
    return PlannedEdition(subscriber_id, EDITION_DAY, planned, deliver)


def test_streamed_rows_read_back_as_written(engine: Engine) -> None:
    store_papers(engine)
    reader = add_person(engine, "reader@example.com", chats=1)
    quiet = add_person(engine, "quiet@example.com", chats=0)
    with session_scope(engine) as session:
        written = write_editions(
            session, [_edition(reader, range(5)), _edition(quiet, range(0), deliver=False)], now=T0
        )
    assert written == 2
    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.subscriber_id == reader)).one()
        assert (edition.local_date, edition.created_at) == (EDITION_DAY, T0)
        papers = session.exec(
            select(EditionPaper)
            .where(EditionPaper.edition_id == edition.id)
            .order_by(col(EditionPaper.rank))
        ).all()
        assert [(p.paper_id, p.section, p.rank, p.score, p.reasons) for p in papers] == [
            (paper_id(n), "matched" if n % 2 else "trending", n + 1, n / 3, list(REASONS[: n % 3]))
            for n in range(5)
        ]
        ledger = session.exec(select(SentPaper).where(SentPaper.subscriber_id == reader)).all()
        assert sorted((s.paper_id, s.edition_id, s.created_at) for s in ledger) == [
            (paper_id(n), edition.id, T0) for n in range(5)
        ]
        deliveries = session.exec(select(Delivery).order_by(col(Delivery.channel))).all()
        assert [(d.subscriber_id, d.kind, d.channel.split(":")[0]) for d in deliveries] == [
            (reader, "chat", "chat"),
            (reader, "email", "email"),
        ]
        for delivery in deliveries:
            assert delivery.edition_id == edition.id
            assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
            assert (delivery.created_at, delivery.updated_at) == (T0, T0)
            assert delivery.claimed_at is None
            assert delivery.sent_at is None
        # The quiet reader's edition holds nothing and goes nowhere.
        assert session.exec(select(Delivery).where(Delivery.subscriber_id == quiet)).all() == []


def test_an_edition_written_meanwhile_stands_and_gets_nothing_more(engine: Engine) -> None:
    store_papers(engine)
    first = add_person(engine, "first@example.com", chats=0)
    second = add_person(engine, "second@example.com", chats=0)
    with session_scope(engine) as session:
        write_editions(session, [_edition(first, range(2))], now=T0)
    later = T0 + timedelta(minutes=5)
    with session_scope(engine) as session:
        written = write_editions(
            session, [_edition(first, range(2, 4)), _edition(second, range(2, 4))], now=later
        )
    assert written == 1
    with session_scope(engine) as session:
        kept = session.exec(select(Edition).where(Edition.subscriber_id == first)).one()
        assert kept.created_at == T0
        sent = session.exec(select(SentPaper.paper_id).where(SentPaper.subscriber_id == first))
        assert sorted(sent.all()) == [paper_id(0), paper_id(1)]
        assert len(session.exec(select(Delivery)).all()) == 2


def test_a_paper_already_in_the_ledger_fails_the_whole_write(engine: Engine) -> None:
    store_papers(engine)
    reader = add_person(engine, "reader@example.com", chats=0)
    with session_scope(engine) as session:
        write_editions(session, [_edition(reader, range(2))], now=T0)
    tomorrow = PlannedEdition(
        reader,
        EDITION_DAY + timedelta(days=1),
        (PlannedPaper(paper_id(1), "matched", 1.0, ()),),
        deliver=True,
    )
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        write_editions(session, [tomorrow], now=T0 + timedelta(days=1))
    with session_scope(engine) as session:
        assert len(session.exec(select(Edition)).all()) == 1  # nothing of it was kept
