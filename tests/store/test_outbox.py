"""Claiming the outbox: disjoint batches, leases for crashed workers, expiry."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import Delivery, DeliveryStatus, Edition
from paperfeed.store.outbox import claim_deliveries, expire_stale, mark_sent, release
from paperfeed.store.subscribers import create_subscriber

T0 = datetime(2026, 9, 28, 7, 0, tzinfo=UTC)


def _fill_outbox(engine: Engine, n: int, *, created: datetime = T0) -> list[int]:
    ids: list[int] = []
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
    return ids


def _claim_all(engine: Engine, worker: str, claimed: list[int], barrier: threading.Barrier) -> None:
    barrier.wait()
    while True:
        with session_scope(engine, write_lock=True) as session:
            batch = claim_deliveries(session, worker=worker, now=T0, limit=7)
            ids = [d.id for d in batch if d.id is not None]
        if not ids:
            return
        claimed.extend(ids)


@pytest.mark.postgres
def test_two_concurrent_claimers_on_postgres_never_get_the_same_delivery(postgres_url: str) -> None:
    from paperfeed.store import migrate

    engine = make_engine(postgres_url, pool_size=4)
    migrate.upgrade(engine)
    ids = _fill_outbox(engine, 300)
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
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(ids)


def test_a_crashed_workers_deliveries_are_claimable_again_only_after_the_lease(
    engine: Engine,
) -> None:
    _fill_outbox(engine, 3)
    with session_scope(engine, write_lock=True) as session:
        crashed = claim_deliveries(session, worker="dead", now=T0, limit=2)
    with session_scope(engine, write_lock=True) as session:
        soon = claim_deliveries(session, worker="w", now=T0 + timedelta(minutes=1), limit=10)
    assert len(crashed) == 2
    assert len(soon) == 1
    with session_scope(engine, write_lock=True) as session:
        later = claim_deliveries(session, worker="w", now=T0 + timedelta(minutes=11), limit=10)
    assert sorted(d.id for d in later) == sorted(d.id for d in crashed)
    assert all(d.attempts == 2 for d in later)


def test_sent_deliveries_are_never_claimed_and_released_ones_are(engine: Engine) -> None:
    first, second = _fill_outbox(engine, 2)
    with session_scope(engine, write_lock=True) as session:
        claim_deliveries(session, worker="w", now=T0)
        mark_sent(session, first, message_id="<a@x>", now=T0)
        release(session, second, error="451 try later", now=T0)
    with session_scope(engine, write_lock=True) as session:
        again = claim_deliveries(session, worker="w", now=T0 + timedelta(hours=1))
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
