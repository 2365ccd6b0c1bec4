"""Subscribers whose digest was sent (a delivery with its Message-ID), for bounce reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, DeliveryStatus, Paper, Subscriber
from tests.mailer.outbox_samples import store_papers
from tests.outbox.channel_samples import add_person, compose

INSTALL = "k3xtest"
DOMAIN = "example.org"


def message_id_of(delivery_id: int) -> str:
    return f"<paperfeed.{INSTALL}.delivery.{delivery_id}@{DOMAIN}>"


def sent_digest(engine: Engine, email: str, *, at: datetime, chats: int = 0) -> tuple[int, str]:
    """A confirmed subscriber whose email digest went out; returns (subscriber id, Message-ID)."""
    with session_scope(engine) as session:
        papers_stored = session.exec(select(Paper.arxiv_id)).first() is not None
    if not papers_stored:
        store_papers(engine)
    subscriber_id = add_person(engine, email, chats=chats)
    compose(engine, [subscriber_id])
    with session_scope(engine) as session:
        delivery = session.exec(
            select(Delivery).where(
                Delivery.subscriber_id == subscriber_id, Delivery.kind == "email"
            )
        ).one()
        assert delivery.id is not None
        delivery.status = DeliveryStatus.SENT
        delivery.message_id = message_id_of(delivery.id)
        delivery.sent_at = at
        session.add(delivery)
        return subscriber_id, delivery.message_id


def status_of(engine: Engine, subscriber_id: int) -> str:
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        return subscriber.status
