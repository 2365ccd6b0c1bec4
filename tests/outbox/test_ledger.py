"""The outbox ledger: disjoint claims, leases for crashed workers, expiry, claims per channel
kind, deliveries held until ``not_before``, stopped chat addresses."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from paperfeed.outbox.ledger import (
    claim_batch,
    count_due,
    expire_stale,
    mark_sent_many,
    release_many,
    stop_addresses,
)
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import (
    ChannelAddress,
    ChannelAddressStatus,
    Delivery,
    DeliveryStatus,
    Edition,
)
from paperfeed.store.subscribers import create_subscriber

T0 = datetime(2026, 9, 28, 7, 0, tzinfo=UTC)


def _fill_outbox(
    engine: Engine, n: int, *, created: datetime = T0, chat: bool = False
) -> list[int]:
    """``n`` subscribers with an edition each, delivered by email (and, with ``chat``, to a
    chat address too, whose delivery ids follow the email ones)."""
    ids: list[int] = []
    chat_ids: list[int] = []
    with session_scope(engine) as session:
        for i in range(n):
            subscriber = create_subscriber(
                session, email=f"reader{i}@example.com", interests="x", now=created, confirmed=True
            )
            assert subscriber.id is not None
            edition = Edition(
                subscriber_id=subscriber.id, local_date=date(2026, 9, 28), created_at=created
            )
            session.add(edition)
            session.flush()
            assert edition.id is not None
            delivery = Delivery(
                edition_id=edition.id,
                subscriber_id=subscriber.id,
                created_at=created,
                updated_at=created,
            )
            session.add(delivery)
            session.flush()
            assert delivery.id is not None
            ids.append(delivery.id)
            if chat:
                address = ChannelAddress(
                    subscriber_id=subscriber.id,
                    service="json",
                    url=f"json://127.0.0.1:9/{i}",
                    shown="json://127.0.0.1:9/…",
                    created_at=created,
                    updated_at=created,
                )
                session.add(address)
                session.flush()
                assert address.id is not None
                by_chat = Delivery(
                    edition_id=edition.id,
                    subscriber_id=subscriber.id,
                    kind="chat",
                    channel=f"chat:{address.id}",
                    address_id=address.id,
                    created_at=created,
                    updated_at=created,
                )
                session.add(by_chat)
                session.flush()
                assert by_chat.id is not None
                chat_ids.append(by_chat.id)
    return ids + chat_ids


def _claim_all(engine: Engine, worker: str, claimed: list[int], barrier: threading.Barrier) -> None:
    barrier.wait()
    while True:
        with session_scope(engine, write_lock=True) as session:
            batch = claim_batch(session, kind="email", worker=worker, now=T0, limit=7)
            ids = [d.id for d in batch]
        if not ids:
            return
        claimed.extend(ids)


def _race_two_claimers(engine: Engine) -> tuple[list[int], list[int]]:
    """Two threads claiming batches at once until nothing is left: what each one took."""
    first: list[int] = []
    second: list[int] = []
    barrier = threading.Barrier(2)
    workers = [
        threading.Thread(target=_claim_all, args=(engine, "w1", first, barrier)),
        threading.Thread(target=_claim_all, args=(engine, "w2", second, barrier)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    return first, second


@pytest.mark.postgres
def test_two_concurrent_claimers_on_postgres_never_get_the_same_delivery(postgres_url: str) -> None:
    from paperfeed.store import migrate

    engine = make_engine(postgres_url, pool_size=4)
    migrate.upgrade(engine)
    ids = _fill_outbox(engine, 300)
    first, second = _race_two_claimers(engine)

    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(ids)
    assert first, "both workers should have taken some of the work"
    assert second, "both workers should have taken some of the work"
    engine.dispose()


def test_concurrent_claimers_on_sqlite_never_get_the_same_delivery(tmp_path: object) -> None:
    from pathlib import Path

    from paperfeed.store import migrate

    engine = make_engine(f"sqlite:///{Path(str(tmp_path)) / 'outbox.db'}")
    migrate.upgrade(engine)
    ids = _fill_outbox(engine, 120)
    first, second = _race_two_claimers(engine)
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(ids)


def test_a_crashed_workers_deliveries_are_claimable_again_only_after_the_lease(
    engine: Engine,
) -> None:
    _fill_outbox(engine, 3)
    with session_scope(engine, write_lock=True) as session:
        crashed = claim_batch(session, kind="email", worker="dead", now=T0, limit=2)
    with session_scope(engine, write_lock=True) as session:
        soon = claim_batch(
            session, kind="email", worker="w", now=T0 + timedelta(minutes=1), limit=10
        )
    assert len(crashed) == 2
    assert len(soon) == 1
    with session_scope(engine, write_lock=True) as session:
        later = claim_batch(
            session, kind="email", worker="w", now=T0 + timedelta(minutes=11), limit=10
        )
    assert sorted(d.id for d in later) == sorted(d.id for d in crashed)
    assert all(d.attempts == 2 for d in later)


def test_sent_deliveries_are_never_claimed_and_released_ones_are(engine: Engine) -> None:
    first, second = _fill_outbox(engine, 2)
    with session_scope(engine, write_lock=True) as session:
        claim_batch(session, kind="email", worker="w", now=T0, limit=10)
        mark_sent_many(session, {first: "<a@x>"}, now=T0)
        release_many(session, {second: "451 try later"}, now=T0)
    with session_scope(engine, write_lock=True) as session:
        again = claim_batch(
            session, kind="email", worker="w", now=T0 + timedelta(hours=1), limit=10
        )
        assert [d.id for d in again] == [second]
        sent = session.get(Delivery, first)
        assert sent is not None
        assert sent.status == DeliveryStatus.SENT
        assert sent.message_id == "<a@x>"


def test_pending_deliveries_past_max_lateness_expire(engine: Engine) -> None:
    old = _fill_outbox(engine, 1, created=T0 - timedelta(hours=30))
    with session_scope(engine) as session:
        expired = expire_stale(session, now=T0, max_lateness=timedelta(hours=20))
    assert expired == 1
    with Session(engine) as session:
        delivery = session.get(Delivery, old[0])
        assert delivery is not None
        assert delivery.status == DeliveryStatus.EXPIRED


def test_claims_take_only_their_own_kind(engine: Engine) -> None:
    both = _fill_outbox(engine, 3, chat=True)
    emails, chats = both[:3], both[3:]
    with session_scope(engine, write_lock=True) as session:
        assert count_due(session, now=T0) == 6
        assert count_due(session, kind="chat", now=T0) == 3
        by_mail = claim_batch(session, kind="email", worker="m", now=T0, limit=10)
        by_chat = claim_batch(session, kind="chat", worker="c", now=T0, limit=10)
        none_left = claim_batch(session, kind="chat", worker="c", now=T0, limit=10)
    assert [d.id for d in by_mail] == emails
    assert {d.channel for d in by_mail} == {"email"}
    assert {d.address_id for d in by_mail} == {None}
    assert [d.id for d in by_chat] == chats
    assert all(d.channel == f"chat:{d.address_id}" for d in by_chat)
    assert none_left == []


def test_a_held_delivery_is_not_claimable_before_not_before(engine: Engine) -> None:
    first, second = _fill_outbox(engine, 2)
    with session_scope(engine, write_lock=True) as session:
        claim_batch(session, kind="email", worker="w", now=T0, limit=10)
        release_many(
            session,
            {first: "429 slow down", second: "451 later"},
            now=T0,
            not_before={first: T0 + timedelta(seconds=90)},
        )
    with session_scope(engine, write_lock=True) as session:
        soon = claim_batch(
            session, kind="email", worker="w", now=T0 + timedelta(seconds=89), limit=10
        )
        assert [d.id for d in soon] == [second]
        assert count_due(session, now=T0 + timedelta(seconds=89)) == 0
        release_many(session, {second: "451 later"}, now=T0)
    with session_scope(engine, write_lock=True) as session:
        then = claim_batch(
            session, kind="email", worker="w", now=T0 + timedelta(seconds=90), limit=10
        )
        assert [d.id for d in then] == [first, second]
        mark_sent_many(session, {first: None}, now=T0)
        sent = session.get(Delivery, first)
        assert sent is not None
        assert (sent.status, sent.not_before) == (DeliveryStatus.SENT, None)


def test_a_stopped_address_cancels_its_own_pending_deliveries_only(engine: Engine) -> None:
    ids = _fill_outbox(engine, 2, chat=True)
    chat_a, chat_b = ids[2:]
    with session_scope(engine) as session:
        a = session.get(Delivery, chat_a)
        assert a is not None
        assert a.address_id is not None
        cancelled = stop_addresses(session, {a.address_id: "404 webhook gone"}, now=T0)
    assert cancelled == 1
    with Session(engine) as session:
        statuses = {d.id: d.status for d in session.exec(select(Delivery)).all()}
        address = session.get(ChannelAddress, a.address_id)
        assert address is not None
        assert address.status == ChannelAddressStatus.UNDELIVERABLE
        assert address.last_error == "404 webhook gone"
    assert statuses[chat_a] == DeliveryStatus.CANCELLED
    assert statuses[chat_b] == DeliveryStatus.PENDING
    assert statuses[ids[0]] == statuses[ids[1]] == DeliveryStatus.PENDING


def test_expiry_of_one_kind_leaves_the_other(engine: Engine) -> None:
    ids = _fill_outbox(engine, 1, created=T0 - timedelta(hours=30), chat=True)
    with session_scope(engine) as session:
        assert expire_stale(session, now=T0, max_lateness=timedelta(hours=20), kind="chat") == 1
    with Session(engine) as session:
        mail, chat = (session.get(Delivery, i) for i in ids)
        assert mail is not None
        assert chat is not None
        assert (mail.status, chat.status) == (DeliveryStatus.PENDING, DeliveryStatus.EXPIRED)
