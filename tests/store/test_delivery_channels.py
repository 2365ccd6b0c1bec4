"""Compose writes one delivery per channel a subscriber reads on, and teams are composed for."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.store.db import session_scope
from paperfeed.store.editions import (
    PlannedEdition,
    PlannedPaper,
    receiving_subscribers,
    write_editions,
)
from paperfeed.store.models import ChannelAddress, ChannelAddressStatus, Delivery, Subscriber
from tests.mailer.outbox_samples import EDITION_DAY, T0, paper_id, store_papers
from tests.outbox.channel_samples import add_person, add_team


def _plan(subscriber_id: int, n: int, *, deliver: bool = True) -> PlannedEdition:
    return PlannedEdition(
        subscriber_id,
        EDITION_DAY,
        (PlannedPaper(paper_id(n), "matched", 1.0, ("video",)),),
        deliver=deliver,
    )


def test_each_edition_gets_a_delivery_per_channel_its_subscriber_reads_on(
    engine: Engine,
) -> None:
    store_papers(engine)
    both = add_person(engine, "both@example.com", chats=2)
    mail_only = add_person(engine, "mail@example.com", chats=0)
    chat_only = add_person(engine, "chat@example.com", chats=1, email_digest=False)
    team = add_team(engine, "vision-lab")
    quiet = add_person(engine, "quiet@example.com", chats=1)
    with session_scope(engine) as session:
        gone = session.exec(
            select(ChannelAddress).where(ChannelAddress.subscriber_id == both)
        ).first()
        assert gone is not None
        gone.status = ChannelAddressStatus.UNDELIVERABLE
        session.add(gone)
        addresses = {
            a.subscriber_id: a.id
            for a in session.exec(
                select(ChannelAddress).where(ChannelAddress.status == ChannelAddressStatus.ACTIVE)
            ).all()
        }

    with session_scope(engine) as session:
        written = write_editions(
            session,
            [
                _plan(both, 0),
                _plan(mail_only, 1),
                _plan(chat_only, 2),
                _plan(team, 3),
                _plan(quiet, 4, deliver=False),  # nothing new: an edition, no delivery
            ],
            now=T0,
        )
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()
        got = sorted((r.subscriber_id, r.kind, r.channel, r.address_id) for r in rows)

    assert written == 5
    assert got == sorted(
        [
            (both, "email", "email", None),
            (both, "chat", f"chat:{addresses[both]}", addresses[both]),
            (mail_only, "email", "email", None),
            (chat_only, "chat", f"chat:{addresses[chat_only]}", addresses[chat_only]),
            (team, "chat", f"chat:{addresses[team]}", addresses[team]),
        ]
    )


def test_team_digests_are_among_the_receiving_subscribers(engine: Engine) -> None:
    team = add_team(engine, "vision-lab")
    person = add_person(engine, "ada@example.com")
    with session_scope(engine) as session:
        receiving = [s.id for s in receiving_subscribers(session)]
        named = session.get(Subscriber, team)
        assert named is not None
        assert (named.email, named.name) == (None, "vision-lab")
    assert receiving == sorted([team, person])
