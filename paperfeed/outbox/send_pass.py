"""One send pass over one channel kind: claim a batch, hand it to the channel, mark each delivery.

A delivery is marked sent only after the service took it, in the transaction after the
send; a crash between the two leaves the batch claimed, and after the lease another pass
sends it again with the same reference (the email Message-ID). So nothing is lost and at
most the in-flight batch is sent twice (exactly-once to a mail server or a webhook is
impossible). While a pass holds a batch its claim is renewed (``heartbeat``), so the lease
can be short: a batch is never cut off for taking long, and a crashed sender's batch is free
again within the lease, or at once for a restart on the same host. A database that is down
when a batch is to be marked (a restart, a failover) is waited for, up to ``MARK_WAIT``, so
it causes no resends.

The ledger rules every channel shares are here: a delivery past ``max_lateness_hours`` is
expired; one whose subscriber stopped receiving since compose (unsubscribed, bounced, paused,
frequency off) is cancelled, as is an email delivery of a subscriber without an email
address or who turned email digests off, and a chat delivery whose address was removed or
is undeliverable. The channel's results decide the rest: ``SENT`` is marked with its
reference; ``RETRY_LATER`` goes back to the queue (held until ``retry_after`` if the service
said so, and failed once ``max_attempts`` passes tried it; a result never ``attempted``
gives its attempt back); ``UNDELIVERABLE`` fails the delivery and stops the address (email:
the subscriber is bounced; chat: the address is marked undeliverable and its other pending
deliveries cancelled); ``FAILED`` fails that delivery only. Each batch costs a few
statements: one claim, a few loads, one transaction of bulk updates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import stamina
import structlog
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.errors import InputError
from paperfeed.outbox.channel import Channel, NothingSent, Outcome, Parcel, Result
from paperfeed.outbox.heartbeat import Heartbeat, free_dead_claims
from paperfeed.outbox.ledger import (
    ClaimedDelivery,
    claim_batch,
    count_due,
    due_deliveries,
    expire_stale,
    mark_bounced,
    mark_sent_many,
    release_many,
    settle_many,
    stop_addresses,
)
from paperfeed.outbox.summary import SendSummary
from paperfeed.store.db import database_error_reason, database_unavailable, session_scope
from paperfeed.store.deliveries import (
    PaperRow,
    channel_addresses,
    digest_papers,
    edition_contents,
    sending_subscribers,
)
from paperfeed.store.models import DeliveryStatus, Subscriber
from paperfeed.store.subscribers import find_by_email, normalise_email

log = structlog.get_logger("paperfeed.send")

Clock = Callable[[], datetime]
Progress = Callable[[SendSummary, int], None]

# How long a batch the service took waits for a database that went away before it is marked.
# Not the lease: the heartbeat keeps renewing the claim (once the database answers again),
# and giving up early would leave the batch to be sent twice. The old 10-minute lease.
MARK_WAIT = timedelta(minutes=10)


def subscriber_id_for(engine: Engine, who: str) -> int:
    """The id of the subscriber with this email address (or team name), or an InputError."""
    with session_scope(engine) as session:
        if "@" in who:
            who = normalise_email(who)
            subscriber = find_by_email(session, who)
        else:
            subscriber = session.exec(select(Subscriber).where(Subscriber.name == who)).first()
    if subscriber is None or subscriber.id is None:
        raise InputError(f"{who} is not subscribed; check `paperfeed subscribers list`")
    return subscriber.id


@dataclass
class _Pass:
    """The fixed parts of one send pass, and the papers it has loaded so far."""

    engine: Engine
    settings: Settings
    kind: str
    channel: Channel | None
    clock: Clock
    worker: str
    summary: SendSummary
    max_attempts: int
    papers: dict[str, PaperRow] = field(default_factory=dict)
    beat: Heartbeat | None = None  # renews the claims of the batch in flight (not dry runs)

    @contextmanager
    def settling(self, ids: Iterable[int]) -> Iterator[None]:
        """Around a write that marks or releases ``ids``: see ``Heartbeat.settling``."""
        if self.beat is None:
            yield
        else:
            with self.beat.settling(ids):
                yield


async def send_due(
    engine: Engine,
    settings: Settings,
    *,
    channel: Channel | None,
    now: Clock | datetime,
    worker: str,
    kind: str | None = None,
    batch_size: int | None = None,
    only: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SendSummary:
    """Send every delivery of the channel's kind due now, batch by batch; stop if it pauses.

    ``now`` is a clock (or a fixed time); ``only`` limits the pass to one subscriber (an
    email address or a team name); ``dry_run`` counts what is due, applying the ledger's
    rules (expired, cancelled) without calling the channel or changing anything, so it needs
    no channel, only ``kind``; ``should_stop`` is asked between batches (a worker's signal).
    The channel stays open. A channel may carry ``max_attempts`` (else
    ``smtp_max_attempts``): the passes a delivery gets before a retry becomes a failure.
    """
    if channel is None and not dry_run:
        raise ValueError("send_due needs a channel unless dry_run")
    kind = kind or (channel.kind if channel is not None else "email")
    clock: Clock = now if callable(now) else (lambda: now)
    max_attempts = int(getattr(channel, "max_attempts", settings.smtp_max_attempts))
    run = _Pass(
        engine,
        settings,
        kind,
        channel,
        clock,
        worker,
        SendSummary(dry_run=dry_run),
        max_attempts,
    )
    size = batch_size or settings.send_batch_size
    subscriber_id = subscriber_id_for(engine, only) if only else None
    total = 0
    if progress is not None:
        with session_scope(engine) as session:
            total = count_due(
                session,
                kind=kind,
                now=clock(),
                subscriber_id=subscriber_id,
                lease=timedelta(seconds=settings.send_lease_seconds),
            )
        progress(run.summary, total)
    with ExitStack() as stack:
        if not dry_run:
            free_dead_claims(engine, now=clock())
            lease = timedelta(seconds=settings.send_lease_seconds)
            run.beat = stack.enter_context(
                Heartbeat(engine, worker=worker, lease=lease, clock=clock)
            )
        await _send_batches(
            run,
            size=size,
            subscriber_id=subscriber_id,
            should_stop=should_stop,
            progress=progress,
            total=total,
        )
    if run.summary.done or run.summary.paused_reason:
        log.info("send.done", kind=kind, summary=run.summary.line())
    return run.summary


async def _send_batches(
    run: _Pass,
    *,
    size: int,
    subscriber_id: int | None,
    should_stop: Callable[[], bool] | None,
    progress: Progress | None,
    total: int,
) -> None:
    after_id = 0
    while should_stop is None or not should_stop():
        batch = _next_batch(run, size=size, after_id=after_id, subscriber_id=subscriber_id)
        if not batch:
            break
        # Forward only: a delivery released in this pass waits for the next one.
        after_id = batch[-1].id
        ids = [d.id for d in batch]
        if run.beat is not None:
            run.beat.hold(ids)
        try:
            await _process(run, batch)
        finally:
            # Settled, or left claimed by a failure: then its claim lapses after the lease.
            if run.beat is not None:
                run.beat.drop(ids)
        if progress is not None:
            progress(run.summary, max(total, run.summary.done))
        reason = run.channel.paused_reason if run.channel is not None else None
        if reason:
            run.summary.paused_reason = reason
            log.error("send.paused", kind=run.kind, reason=reason, summary=run.summary.line())
            break


def _next_batch(
    run: _Pass, *, size: int, after_id: int, subscriber_id: int | None
) -> list[ClaimedDelivery]:
    now = run.clock()
    lease = timedelta(seconds=run.settings.send_lease_seconds)
    if run.summary.dry_run:
        with session_scope(run.engine) as session:
            return due_deliveries(
                session,
                kind=run.kind,
                now=now,
                limit=size,
                after_id=after_id,
                subscriber_id=subscriber_id,
                lease=lease,
            )
    max_lateness = timedelta(hours=run.settings.max_lateness_hours)
    with session_scope(run.engine, write_lock=True) as session:
        if after_id == 0:
            # Once a pass, not per batch: PostgreSQL whose statistics predate compose may
            # read every pending row for it. A row going stale later is expired by _build.
            run.summary.expired += expire_stale(
                session, now=now, max_lateness=max_lateness, kind=run.kind
            )
        return claim_batch(
            session,
            kind=run.kind,
            worker=run.worker,
            now=now,
            limit=size,
            after_id=after_id,
            subscriber_id=subscriber_id,
            lease=lease,
        )


@dataclass
class _Built:
    """A batch turned into parcels, and the deliveries the ledger closed without one."""

    parcels: list[Parcel]
    closed: dict[DeliveryStatus, dict[int, str]]


async def _process(run: _Pass, batch: Sequence[ClaimedDelivery]) -> None:
    try:
        built = _build(run, batch)
    except BaseException:
        # A lost database mid-load (or a bug): nothing was sent, so give the batch back now
        # rather than leave it to the lease.
        if not run.summary.dry_run:
            ids = [d.id for d in batch]
            with run.settling(ids), session_scope(run.engine) as session:
                release_many(
                    session, dict.fromkeys(ids, "loading crashed"), now=run.clock(), tried=False
                )
        raise
    if run.summary.dry_run:
        run.summary.sent += len(built.parcels)
        _count_closed(run.summary, built.closed)
        return
    assert run.channel is not None
    try:
        results = await run.channel.deliver(built.parcels, run.papers) if built.parcels else []
    except NothingSent:
        # The channel failed before handing anything over (a rendering bug): give the batch
        # back now, its attempt with it, rather than leave it to the lease.
        ids = [d.id for d in batch]
        with run.settling(ids), session_scope(run.engine) as session:
            release_many(
                session, dict.fromkeys(ids, "building crashed"), now=run.clock(), tried=False
            )
        raise
    if len(results) != len(built.parcels):
        raise RuntimeError(
            f"the {run.kind} channel answered {len(results)} results for {len(built.parcels)}"
        )
    await _mark_when_reachable(run, built, results)


def _build(run: _Pass, batch: Sequence[ClaimedDelivery]) -> _Built:
    now = run.clock()
    with session_scope(run.engine) as session:
        contents = edition_contents(session, [d.edition_id for d in batch])
        subscribers = sending_subscribers(session, [d.subscriber_id for d in batch])
        addresses = channel_addresses(
            session, [d.address_id for d in batch if d.address_id is not None]
        )
        wanted = {i.paper_id for c in contents.values() for i in c.items}
        missing = [pid for pid in wanted if pid not in run.papers]
        if missing:
            run.papers.update(digest_papers(session, missing))
    stale_before = now - timedelta(hours=run.settings.max_lateness_hours)
    closed: dict[DeliveryStatus, dict[int, str]] = defaultdict(dict)
    parcels: list[Parcel] = []
    for delivery in batch:
        subscriber = subscribers.get(delivery.subscriber_id)
        address = addresses.get(delivery.address_id) if delivery.address_id is not None else None
        if delivery.created_at < stale_before:
            closed[DeliveryStatus.EXPIRED][delivery.id] = "past max lateness"
        elif subscriber is None or not subscriber.receiving:
            closed[DeliveryStatus.CANCELLED][delivery.id] = "the subscriber no longer receives"
        elif delivery.address_id is None and not subscriber.reads_email:
            closed[DeliveryStatus.CANCELLED][delivery.id] = "the subscriber reads no email digest"
        elif delivery.address_id is not None and (address is None or not address.active):
            closed[DeliveryStatus.CANCELLED][delivery.id] = "the address is gone or undeliverable"
        elif delivery.edition_id not in contents:
            closed[DeliveryStatus.FAILED][delivery.id] = "the edition is gone"
        else:
            parcels.append(
                Parcel(
                    delivery_id=delivery.id,
                    attempts=delivery.attempts,
                    channel=delivery.channel,
                    address_id=delivery.address_id,
                    address=address.url if address is not None else None,
                    subscriber=subscriber,
                    edition_id=delivery.edition_id,
                    content=contents[delivery.edition_id],
                )
            )
    return _Built(parcels, closed)


async def _mark_when_reachable(run: _Pass, built: _Built, results: Sequence[Result]) -> None:
    """Record the batch's results, waiting out a database that went away (a restart, a
    failover) up to ``MARK_WAIT``: what the service took but that was never marked would be
    sent again. The heartbeat goes on renewing the claim meanwhile, so once the database
    answers the claim is this pass's again before another worker can take it over (at worst
    a worker that asks first takes this batch: the in-flight bound)."""
    ids = [p.delivery_id for p in built.parcels] + [i for c in built.closed.values() for i in c]
    async for attempt in stamina.retry_context(
        on=database_unavailable,
        attempts=None,
        timeout=MARK_WAIT.total_seconds(),
        wait_initial=0.5,
        wait_max=5.0,
        wait_jitter=0.5,
    ):
        with attempt:
            try:
                with run.settling(ids):
                    _mark(run, built, results)
            except Exception as exc:
                if database_unavailable(exc):
                    log.error(
                        "send.database_unavailable",
                        kind=run.kind,
                        error=database_error_reason(exc),
                        waiting_to_mark=len(results) + sum(map(len, built.closed.values())),
                        retry=attempt.num,
                    )
                raise


def _mark(run: _Pass, built: _Built, results: Sequence[Result]) -> None:
    now = run.clock()
    sent: dict[int, str | None] = {}
    retry: dict[int, str] = {}
    untried: dict[int, str] = {}
    held: dict[int, datetime] = {}
    closed = {status: dict(errors) for status, errors in built.closed.items()}
    failed = closed.setdefault(DeliveryStatus.FAILED, {})
    dead: dict[int, str] = {}
    bounced: set[int] = set()
    stopped: dict[int, str] = {}
    for parcel, result in zip(built.parcels, results, strict=True):
        detail = result.detail
        if result.outcome is Outcome.SENT:
            sent[parcel.delivery_id] = result.reference
        elif result.outcome is Outcome.UNDELIVERABLE:
            dead[parcel.delivery_id] = detail or "undeliverable"
            if parcel.address_id is None:
                bounced.add(parcel.subscriber.id)
            else:
                stopped[parcel.address_id] = detail or "undeliverable"
        elif result.outcome is Outcome.FAILED:
            failed[parcel.delivery_id] = detail or "failed"
        elif not result.attempted:
            untried[parcel.delivery_id] = detail or "not tried"
            if result.retry_after is not None:
                held[parcel.delivery_id] = now + timedelta(seconds=result.retry_after)
        elif parcel.attempts >= run.max_attempts:
            failed[parcel.delivery_id] = f"gave up after {parcel.attempts} passes: {detail}"
        else:
            retry[parcel.delivery_id] = detail or "retry later"
            if result.retry_after is not None:
                held[parcel.delivery_id] = now + timedelta(seconds=result.retry_after)
    with session_scope(run.engine) as session:
        mark_sent_many(session, sent, now=now)
        release_many(session, retry, now=now, not_before=held)
        release_many(session, untried, now=now, tried=False, not_before=held)
        for status, errors in closed.items():
            settle_many(session, errors, status=status, now=now)
        settle_many(session, dead, status=DeliveryStatus.FAILED, now=now)
        mark_bounced(session, bounced, now=now)
        cancelled = stop_addresses(session, stopped, now=now)
    if bounced:
        log.warning("send.bounced", subscribers=sorted(bounced))
    if stopped:
        # Address ids only: the addresses themselves hold secrets.
        log.warning("send.address_undeliverable", kind=run.kind, addresses=sorted(stopped))
    summary = run.summary
    summary.sent += len(sent)
    summary.bounced += len(dead)
    summary.retried += len(retry) + len(untried)
    summary.cancelled += cancelled
    _count_closed(summary, closed)


def _count_closed(summary: SendSummary, closed: dict[DeliveryStatus, dict[int, str]]) -> None:
    summary.failed += len(closed.get(DeliveryStatus.FAILED, {}))
    summary.expired += len(closed.get(DeliveryStatus.EXPIRED, {}))
    summary.cancelled += len(closed.get(DeliveryStatus.CANCELLED, {}))
