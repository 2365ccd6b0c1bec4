"""Sending the outbox: claim a batch, render it, send it, then mark each delivery, in that order.

A delivery is marked sent only after the server accepted it, in the transaction after the
send; a crash between the two leaves the batch claimed, and after the lease another pass
sends it again with the same Message-ID. So nothing is lost and at most the in-flight batch
is sent twice (exactly-once over SMTP is impossible). A database that is down when a batch is
to be marked (a restart, a failover) is waited for while the claim lasts, so it causes no
resends. A delivery past ``max_lateness_hours`` is expired, one whose subscriber stopped
receiving since compose (unsubscribed, bounced, paused) is cancelled, a 5xx at RCPT bounces
the subscriber, and a 4xx puts the delivery back until ``smtp_max_attempts`` passes have
tried it. Each batch costs a few statements: one claim, three loads, one transaction of bulk
updates. Knows nothing of templates or SMTP details: ``editions`` renders, the ``Transport``
sends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import stamina
import structlog
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.errors import InputError, MailError
from paperfeed.mailer.editions import (
    DayCache,
    MailSetup,
    delivery_message_id,
    edition_mail,
    mail_setup,
    recipient_for,
)
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.transport import Outcome, SendResult, Transport
from paperfeed.store.db import database_error_reason, database_unavailable, session_scope
from paperfeed.store.deliveries import (
    ClaimedDelivery,
    claim_batch,
    count_due,
    digest_papers,
    due_deliveries,
    edition_contents,
    mark_bounced,
    mark_sent_many,
    release_many,
    sending_subscribers,
    settle_many,
)
from paperfeed.store.models import DeliveryStatus
from paperfeed.store.outbox import expire_stale
from paperfeed.store.subscribers import find_by_email, normalise_email

log = structlog.get_logger("paperfeed.send")

Clock = Callable[[], datetime]


@dataclass
class SendSummary:
    """What a send pass did (or, in a dry run, would do)."""

    sent: int = 0
    retried: int = 0
    bounced: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    paused_reason: str | None = None
    dry_run: bool = False

    @property
    def done(self) -> int:
        """Deliveries this pass finished with, one way or another."""
        return self.sent + self.retried + self.bounced + self.failed + self.expired + self.cancelled

    @property
    def ok(self) -> bool:
        """True unless a delivery failed or bounced for good, or the run paused."""
        return self.failed == 0 and self.bounced == 0 and self.paused_reason is None

    def add(self, other: SendSummary) -> None:
        """Count another pass into this one (a worker's running totals)."""
        for name in ("sent", "retried", "bounced", "failed", "expired", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paused_reason = other.paused_reason or self.paused_reason

    def line(self) -> str:
        """One line for logs and the CLI."""
        verb = "would send" if self.dry_run else "sent"
        text = (
            f"{verb} {self.sent}, retried {self.retried}, bounced {self.bounced}, "
            f"failed {self.failed}; expired {self.expired}, cancelled {self.cancelled}"
        )
        if self.dry_run:
            text += " (dry run: nothing sent or marked)"
        if self.paused_reason:
            text += f"; paused: {self.paused_reason}"
        return text


Progress = Callable[[SendSummary, int], None]


def subscriber_id_for(engine: Engine, email: str) -> int:
    """The id of the subscriber with this address, or an InputError saying so."""
    address = normalise_email(email)
    with session_scope(engine) as session:
        subscriber = find_by_email(session, address)
    if subscriber is None or subscriber.id is None:
        raise InputError(f"{address} is not subscribed; check `paperfeed subscribers list`")
    return subscriber.id


@dataclass
class _Pass:
    """The fixed parts of one send pass."""

    engine: Engine
    settings: Settings
    setup: MailSetup
    days: DayCache
    clock: Clock
    worker: str
    transport: Transport | None
    summary: SendSummary


async def send_due(
    engine: Engine,
    settings: Settings,
    *,
    transport: Transport | None,
    now: Clock | datetime,
    worker: str,
    batch_size: int | None = None,
    only: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SendSummary:
    """Send every delivery due now, batch by batch; stop early when the transport pauses.

    ``now`` is a clock (or a fixed time); ``only`` limits the pass to one address;
    ``dry_run`` renders everything due and counts it without sending or marking anything;
    ``should_stop`` is asked between batches (a worker's signal). The transport stays open.
    """
    if transport is None and not dry_run:
        raise ValueError("send_due needs a transport unless dry_run")
    clock: Clock = now if callable(now) else (lambda: now)
    setup = mail_setup(settings)
    run = _Pass(
        engine,
        settings,
        setup,
        DayCache(setup),
        clock,
        worker,
        transport,
        SendSummary(dry_run=dry_run),
    )
    size = batch_size or settings.send_batch_size
    subscriber_id = subscriber_id_for(engine, only) if only else None
    with session_scope(engine) as session:
        total = count_due(
            session,
            now=clock(),
            subscriber_id=subscriber_id,
            lease=timedelta(seconds=settings.send_lease_seconds),
        )
    if progress is not None:
        progress(run.summary, total)
    after_id = 0
    while should_stop is None or not should_stop():
        batch = _next_batch(run, size=size, after_id=after_id, subscriber_id=subscriber_id)
        if not batch:
            break
        # Forward only: a delivery released in this pass waits for the next one.
        after_id = batch[-1].id
        await _process(run, batch)
        if progress is not None:
            progress(run.summary, max(total, run.summary.done))
        reason = transport.paused_reason if transport is not None else None
        if reason:
            run.summary.paused_reason = reason
            log.error("send.paused", reason=reason, summary=run.summary.line())
            break
    if run.summary.done or run.summary.paused_reason:
        log.info("send.done", summary=run.summary.line(), compiles=run.days.compiles)
    return run.summary


def _next_batch(
    run: _Pass, *, size: int, after_id: int, subscriber_id: int | None
) -> list[ClaimedDelivery]:
    now = run.clock()
    if run.summary.dry_run:
        with session_scope(run.engine) as session:
            return due_deliveries(
                session,
                now=now,
                limit=size,
                after_id=after_id,
                subscriber_id=subscriber_id,
                lease=timedelta(seconds=run.settings.send_lease_seconds),
            )
    max_lateness = timedelta(hours=run.settings.max_lateness_hours)
    with session_scope(run.engine, write_lock=True) as session:
        run.summary.expired += expire_stale(session, now=now, max_lateness=max_lateness)
        return claim_batch(
            session,
            worker=run.worker,
            now=now,
            limit=size,
            after_id=after_id,
            subscriber_id=subscriber_id,
            lease=timedelta(seconds=run.settings.send_lease_seconds),
        )


@dataclass
class _Built:
    """A batch turned into mails, and the deliveries closed without one."""

    mails: list[tuple[ClaimedDelivery, OutgoingMail]]
    closed: dict[DeliveryStatus, dict[int, str]]


async def _process(run: _Pass, batch: Sequence[ClaimedDelivery]) -> None:
    try:
        built = _build(run, batch)
    except BaseException:
        # A bug or a lost database mid-render: nothing was sent, so give the batch back now
        # rather than leave it to the lease.
        if not run.summary.dry_run:
            with session_scope(run.engine) as session:
                release_many(
                    session, {d.id: "render crashed" for d in batch}, now=run.clock(), tried=False
                )
        raise
    if run.summary.dry_run:
        run.summary.sent += len(built.mails)
        _count_closed(run.summary, built.closed)
        return
    assert run.transport is not None
    results = await run.transport.send([mail for _, mail in built.mails]) if built.mails else []
    await _mark_when_reachable(run, built, results)


async def _mark_when_reachable(run: _Pass, built: _Built, results: Sequence[SendResult]) -> None:
    """Record the batch's results, waiting out a database that went away (a restart, a
    failover) for as long as the claim lasts: mail the server took but that was never marked
    would be sent again once the lease ends."""
    async for attempt in stamina.retry_context(
        on=database_unavailable,
        attempts=None,
        timeout=run.settings.send_lease_seconds,
        wait_initial=0.5,
        wait_max=5.0,
        wait_jitter=0.5,
    ):
        with attempt:
            try:
                _mark(run, built, results)
            except Exception as exc:
                if database_unavailable(exc):
                    log.error(
                        "send.database_unavailable",
                        error=database_error_reason(exc),
                        waiting_to_mark=len(results) + sum(map(len, built.closed.values())),
                        retry=attempt.num,
                    )
                raise


def _build(run: _Pass, batch: Sequence[ClaimedDelivery]) -> _Built:
    now = run.clock()
    with session_scope(run.engine) as session:
        contents = edition_contents(session, [d.edition_id for d in batch])
        subscribers = sending_subscribers(session, [d.subscriber_id for d in batch])
        wanted = {i.paper_id for c in contents.values() for i in c.items}
        missing = run.days.missing(wanted)
        if missing:
            run.days.add_papers(digest_papers(session, missing))
    stale_before = now - timedelta(hours=run.settings.max_lateness_hours)
    closed: dict[DeliveryStatus, dict[int, str]] = defaultdict(dict)
    ready: list[ClaimedDelivery] = []
    for delivery in batch:
        subscriber = subscribers.get(delivery.subscriber_id)
        if delivery.created_at < stale_before:
            closed[DeliveryStatus.EXPIRED][delivery.id] = "past max lateness"
        elif subscriber is None or not subscriber.receiving:
            closed[DeliveryStatus.CANCELLED][delivery.id] = "the subscriber no longer receives"
        elif delivery.edition_id not in contents:
            closed[DeliveryStatus.FAILED][delivery.id] = "the edition is gone"
        else:
            ready.append(delivery)
    by_date: dict[date, set[str]] = defaultdict(set)
    for delivery in ready:
        content = contents[delivery.edition_id]
        by_date[content.local_date].update(i.paper_id for i in content.items)
    compiled = {day: run.days.day(day, ids) for day, ids in by_date.items()}
    mails: list[tuple[ClaimedDelivery, OutgoingMail]] = []
    for delivery in ready:
        content = contents[delivery.edition_id]
        try:
            mail = edition_mail(
                run.setup,
                compiled[content.local_date],
                recipient_for(run.setup, subscribers[delivery.subscriber_id]),
                content,
                message_id=delivery_message_id(run.setup, delivery.id),
                date=now,
            )
        except MailError as exc:
            # One subscriber's bad stored value must not stop everyone else's mail.
            log.error("send.unbuildable", delivery=delivery.id, error=str(exc))
            closed[DeliveryStatus.FAILED][delivery.id] = f"cannot build the mail: {exc}"
            continue
        mails.append((delivery, mail))
    return _Built(mails, closed)


def _mark(run: _Pass, built: _Built, results: Sequence[SendResult]) -> None:
    summary = run.summary
    max_attempts = run.settings.smtp_max_attempts
    sent: dict[int, str] = {}
    retry: dict[int, str] = {}
    untried: dict[int, str] = {}
    closed = built.closed
    bounces: dict[int, str] = {}
    bounced: set[int] = set()
    for (delivery, mail), result in zip(built.mails, results, strict=True):
        detail = f"{result.code or ''} {result.detail}".strip()
        if result.outcome is Outcome.ACCEPTED:
            sent[delivery.id] = mail.message_id
        elif result.outcome is Outcome.REJECTED and result.bounced:
            bounced.add(delivery.subscriber_id)
            bounces[delivery.id] = f"bounced: {detail}"
        elif result.outcome is Outcome.REJECTED:
            closed[DeliveryStatus.FAILED][delivery.id] = f"refused: {detail}"
        elif result.attempts == 0:
            untried[delivery.id] = detail or "not tried"
        elif delivery.attempts >= max_attempts:
            closed[DeliveryStatus.FAILED][delivery.id] = (
                f"gave up after {delivery.attempts} passes: {detail}"
            )
        else:
            retry[delivery.id] = detail
    now = run.clock()
    with session_scope(run.engine) as session:
        mark_sent_many(session, sent, now=now)
        release_many(session, retry, now=now)
        release_many(session, untried, now=now, tried=False)
        for status, errors in closed.items():
            settle_many(session, errors, status=status, now=now)
        settle_many(session, bounces, status=DeliveryStatus.FAILED, now=now)
        mark_bounced(session, bounced, now=now)
    if bounced:
        log.warning("send.bounced", subscribers=sorted(bounced))
    summary.sent += len(sent)
    summary.bounced += len(bounces)
    summary.retried += len(retry) + len(untried)
    _count_closed(summary, closed)


def _count_closed(summary: SendSummary, closed: dict[DeliveryStatus, dict[int, str]]) -> None:
    summary.failed += len(closed.get(DeliveryStatus.FAILED, {}))
    summary.expired += len(closed.get(DeliveryStatus.EXPIRED, {}))
    summary.cancelled += len(closed.get(DeliveryStatus.CANCELLED, {}))
