"""Sending the outbox through send_due: a real database (SQLite and PostgreSQL), real SMTP."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.mailer.edition_mail import mail_setup
from paperfeed.mailer.smtp import SmtpTransport
from paperfeed.outbox.send_pass import send_due
from paperfeed.outbox.summary import SendSummary
from paperfeed.outbox.worker import run_worker
from paperfeed.store.db import session_scope
from paperfeed.store.models import DeliveryStatus, Subscriber, SubscriberStatus
from paperfeed.store.subscribers import find_by_email, unsubscribe
from tests.mailer.mail_samples import Server, body, parse
from tests.mailer.outbox_samples import (
    T0,
    AlwaysBusy,
    BusyOnce,
    CrashAfterSending,
    DropsOnce,
    RefusesGone,
    Sink,
    active_row,
    add_readers,
    deliveries,
    later,
    make_settings,
    paper_id,
    readers,
    send,
    store_papers,
)

Start = Callable[..., Server]
FAST: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05}


def smtp(server: Server, **options: Any) -> SmtpTransport:
    return SmtpTransport(server.config(), **{**FAST, **options})


def test_a_due_digest_arrives_with_both_parts_and_every_header_and_is_marked_sent(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(3))
    server = smtp_server(Sink())
    settings = make_settings(tmp_path, database_url)

    summary = send(engine, settings, smtp(server))

    assert summary.line() == ("sent 3, retried 0, bounced 0, failed 0; expired 0, cancelled 0")
    rows = deliveries(engine)
    assert [r.status for r in rows] == [DeliveryStatus.SENT] * 3
    # Deterministic per delivery, with this install's part (issue 14, item 8).
    install = mail_setup(settings).sender.install
    assert len(install) == 16
    assert [r.message_id for r in rows] == [
        f"<paperfeed.{install}.delivery.{r.id}@example.org>" for r in rows
    ]
    assert all(r.sent_at == T0 for r in rows)
    first = {tuple(rcpts): parse(data) for rcpts, data in server.handler.received}[
        ("reader0@example.com",)
    ]
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]
    assert first["Message-ID"] == rows[0].message_id
    assert first["Date"].datetime == T0
    for header in ("From", "To", "Subject", "List-Id", "Auto-Submitted"):
        assert first[header], header
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with session_scope(engine) as session:
        reader = find_by_email(session, "reader0@example.com")
        assert reader is not None
        token = reader.token
    assert first["List-Unsubscribe"] == (
        f"<https://paperfeed.example/unsubscribe/{token}>, "
        f"<mailto:unsubscribe@example.org?subject=unsubscribe%20{token}>"
    )
    html, text = body(first, "html"), body(first, "plain")
    assert f"https://huggingface.co/papers/{paper_id(1)}" in html
    assert "&lt;b&gt;Attention&lt;/b&gt; &amp; Retention" in html
    assert reader.feed_token != token
    assert f"https://paperfeed.example/feeds/u/{reader.feed_token}.rss" in html
    assert f"/feeds/u/{token}" not in html
    # The picks in rank order, then the paper shown as also trending.
    order = [text.index(f"Sparse Video Diffusion, {i}") for i in (1, 2, 5)]
    assert order == sorted(order)
    assert "video" in text


def test_a_second_pass_sends_nothing_again(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(4))
    server = smtp_server(Sink())
    settings = make_settings(tmp_path, database_url)
    send(engine, settings, smtp(server), batch_size=3)
    again = send(engine, settings, smtp(server), now=later(30))
    assert again.done == 0
    assert len(server.handler.received) == 4


def test_a_server_answering_451_then_250_gets_each_message_once(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(3))
    server = smtp_server(BusyOnce())
    summary = send(engine, make_settings(tmp_path, database_url), smtp(server, pool_size=2))
    assert summary.sent == 3
    ids = server.handler.message_ids()
    assert sorted(ids) == sorted(r.message_id for r in deliveries(engine))
    assert len(ids) == len(set(ids)) == 3


def test_a_550_marks_the_subscriber_bounced_and_stops_their_mail(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, ["gone@example.com", "stays@example.com"])
    server = smtp_server(RefusesGone())
    settings = make_settings(tmp_path, database_url)

    first = send(engine, settings, smtp(server))

    assert (first.sent, first.bounced, first.ok) == (1, 1, False)
    gone, stays = deliveries(engine)
    assert gone.status == DeliveryStatus.FAILED
    assert gone.last_error is not None
    assert gone.last_error.startswith("bounced: 550 5.1.1")
    assert stays.status == DeliveryStatus.SENT
    with session_scope(engine) as session:
        status = session.exec(
            select(Subscriber.status).where(Subscriber.email == "gone@example.com")
        ).one()
    assert status == SubscriberStatus.BOUNCED

    # The next edition of the bounced address is not even offered to the server.
    add_readers(
        engine,
        ["gone@example.com", "stays@example.com"],
        day=T0.date() + timedelta(1),
        shift=6,
        created=later(60 * 24),
    )
    second = send(engine, settings, smtp(server), now=later(60 * 24))
    assert (second.sent, second.cancelled, second.bounced) == (1, 1, 0)
    assert [rcpts for rcpts, _ in server.handler.received] == [("stays@example.com",)] * 2
    assert deliveries(engine)[2].status == DeliveryStatus.CANCELLED


def test_a_connection_dropped_mid_batch_loses_nothing_and_duplicates_only_in_flight(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(20))
    server = smtp_server(DropsOnce(7))
    pool = 2
    summary = send(
        engine, make_settings(tmp_path, database_url), smtp(server, pool_size=pool), batch_size=8
    )
    assert summary.sent == 20
    assert all(r.status == DeliveryStatus.SENT for r in deliveries(engine))
    ids = server.handler.message_ids()
    assert set(ids) == {r.message_id for r in deliveries(engine)}
    assert 1 <= len(ids) - len(set(ids)) <= pool


def test_a_crash_between_send_and_mark_resends_at_most_the_batch_with_the_same_ids(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(12))
    server = smtp_server(Sink())
    settings = make_settings(tmp_path, database_url)
    batch = 5

    crashed = CrashAfterSending(smtp(server))
    with pytest.raises(RuntimeError, match="power cut"):
        send(engine, settings, crashed, batch_size=batch)
    in_flight = [r for r in deliveries(engine) if r.status == DeliveryStatus.SENDING]
    assert len(in_flight) == batch  # accepted by the server, never marked sent
    assert len(server.handler.received) == batch

    # Within the lease (30 s) another worker leaves the in-flight batch alone...
    soon = send(engine, settings, smtp(server), batch_size=batch, now=later(0.25))
    assert soon.sent == 12 - batch
    # ...and after it, sends it again.
    after = send(engine, settings, smtp(server), batch_size=batch, now=later(11))
    assert after.sent == batch

    rows = deliveries(engine)
    assert all(r.status == DeliveryStatus.SENT for r in rows)
    assert [r.attempts for r in rows[:batch]] == [2] * batch
    counts = Counter(server.handler.message_ids())
    assert set(counts) == {r.message_id for r in rows}
    duplicated = [mid for mid, n in counts.items() if n > 1]
    assert len(duplicated) <= batch
    install = mail_setup(settings).sender.install
    assert sorted(duplicated) == sorted(
        f"<paperfeed.{install}.delivery.{r.id}@example.org>" for r in in_flight
    )
    assert max(counts.values()) == 2


def test_a_busy_server_puts_deliveries_back_until_the_attempts_run_out(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(2))
    server = smtp_server(AlwaysBusy())
    settings = make_settings(tmp_path, database_url, smtp_max_attempts=2)

    first = send(engine, settings, smtp(server, max_attempts=1, error_threshold=100))
    assert (first.retried, first.failed) == (2, 0)
    assert {(r.status, r.attempts) for r in deliveries(engine)} == {(DeliveryStatus.PENDING, 1)}
    assert deliveries(engine)[0].last_error == "451 gave up after 1 tries: 4.3.0 try again later"

    second = send(engine, settings, smtp(server, max_attempts=1, error_threshold=100), now=later(5))
    assert (second.retried, second.failed) == (0, 2)
    assert {r.status for r in deliveries(engine)} == {DeliveryStatus.FAILED}


def test_too_many_errors_in_a_row_pause_the_run_with_a_clear_line(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(6))
    server = smtp_server(AlwaysBusy())
    transport = smtp(server, pool_size=1, max_attempts=1, error_threshold=3)
    with structlog.testing.capture_logs() as logs:
        summary = send(engine, make_settings(tmp_path, database_url), transport, batch_size=4)
    assert summary.paused_reason is not None
    assert summary.paused_reason.startswith("3 messages in a row failed, the last with 451")
    assert "; paused: 3 messages in a row failed" in summary.line()
    assert not summary.ok
    paused = [e for e in logs if e["event"] == "send.paused"]
    assert len(paused) == 1
    assert paused[0]["log_level"] == "error"
    rows = deliveries(engine)
    # The run stopped after the first batch: the untried rows kept their attempt.
    assert [r.status for r in rows] == [DeliveryStatus.PENDING] * 6
    assert [r.attempts for r in rows] == [1, 1, 1, 0, 0, 0]


def test_stale_deliveries_expire_and_unsubscribed_readers_are_cancelled(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, ["late@example.com"], created=T0 - timedelta(hours=21))
    add_readers(engine, ["left@example.com", "here@example.com"])
    with session_scope(engine) as session:
        left = find_by_email(session, "left@example.com")
        assert left is not None
        unsubscribe(session, left, now=T0)
    server = smtp_server(Sink())

    summary = send(engine, make_settings(tmp_path, database_url), smtp(server))

    assert (summary.sent, summary.expired, summary.cancelled) == (1, 1, 1)
    assert summary.ok
    assert [r.status for r in deliveries(engine)] == [
        DeliveryStatus.EXPIRED,
        DeliveryStatus.CANCELLED,
        DeliveryStatus.SENT,
    ]
    assert [rcpts for rcpts, _ in server.handler.received] == [("here@example.com",)]


def test_only_sends_the_deliveries_of_one_subscriber(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(3))
    server = smtp_server(Sink())
    summary = send(
        engine, make_settings(tmp_path, database_url), smtp(server), only="Reader1@Example.com"
    )
    assert summary.sent == 1
    assert [rcpts for rcpts, _ in server.handler.received] == [("reader1@example.com",)]
    assert [r.status for r in deliveries(engine)] == [
        DeliveryStatus.PENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.PENDING,
    ]


def test_a_dry_run_renders_everything_due_and_changes_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    add_readers(engine, readers(7))
    summary = send_dry(engine, make_settings(tmp_path, database_url))
    assert summary.line() == (
        "would send 7, retried 0, bounced 0, failed 0; expired 0, cancelled 0 "
        "(dry run: nothing sent or marked)"
    )
    assert {(r.status, r.attempts) for r in deliveries(engine)} == {(DeliveryStatus.PENDING, 0)}


def send_dry(engine: Engine, settings: Any) -> Any:
    return asyncio.run(
        send_due(engine, settings, channel=None, now=T0, worker="w", dry_run=True, batch_size=3)
    )


def test_an_address_no_header_can_carry_fails_that_delivery_only(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    # Sign-ups refuse a non-ASCII local part now; a row stored before that must still fail
    # only its own delivery.
    with session_scope(engine) as session:
        session.add(active_row(email="zoë@example.com"))
    add_readers(engine, ["zoë@example.com", "ada@example.com"])
    server = smtp_server(Sink())
    with structlog.testing.capture_logs() as logs:
        summary = send(engine, make_settings(tmp_path, database_url), smtp(server))
    assert (summary.sent, summary.failed) == (1, 1)
    bad, good = deliveries(engine)
    assert bad.status == DeliveryStatus.FAILED
    assert bad.last_error is not None
    assert "not a plain ASCII address" in bad.last_error
    assert good.status == DeliveryStatus.SENT
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["send.unbuildable"]


def test_two_senders_at_once_send_every_delivery_exactly_once(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(40))
    server = smtp_server(Sink())
    settings = make_settings(tmp_path, database_url)
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def worker(name: str) -> None:
        barrier.wait()
        summary = send(engine, settings, smtp(server), batch_size=4, worker=name)
        sent.append(summary.sent)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(sent) == 40
    ids = server.handler.message_ids()
    assert len(ids) == len(set(ids)) == 40
    assert {r.claimed_by for r in deliveries(engine)} <= {"w0", "w1"}


def test_a_paused_worker_reopens_its_transport_and_stops_when_asked(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(4))
    servers = iter([smtp_server(AlwaysBusy()), smtp_server(Sink())])
    settings = make_settings(tmp_path, database_url)

    def open_next() -> SmtpTransport:
        return smtp(next(servers), pool_size=1, max_attempts=1, error_threshold=2)

    async def work() -> SendSummary:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                engine,
                settings,
                transport_factory=open_next,
                now=lambda: T0,
                worker="w",
                stop=stop,
                idle_seconds=0.05,
                pause_seconds=0.05,
            )
        )
        for _ in range(400):
            if {r.status for r in deliveries(engine)} == {DeliveryStatus.SENT}:
                break
            await asyncio.sleep(0.05)
        stop.set()
        return await asyncio.wait_for(worker, timeout=30)

    totals = asyncio.run(work())
    assert totals.sent == 4
    assert totals.paused_reason is not None
    assert {r.status for r in deliveries(engine)} == {DeliveryStatus.SENT}
