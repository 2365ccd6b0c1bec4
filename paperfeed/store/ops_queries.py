"""What the health check and the metrics read: counts by status, last crawl and send, latency.

Read-only aggregate queries, cheap enough to run on every scrape. Knows nothing of HTTP or the
Prometheus format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from paperfeed.store.models import (
    CrawlRun,
    CrawlStatus,
    Delivery,
    DeliveryStatus,
    Edition,
    MailEvent,
    MailEventKind,
    Paper,
    Subscriber,
)

# Latency is computed from this many of the newest sent deliveries, so a scrape stays cheap.
LATENCY_SAMPLE = 10_000


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Totals for the metrics page."""

    papers: int
    crawl_runs: dict[str, int] = field(default_factory=dict)
    editions: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    subscribers: dict[str, int] = field(default_factory=dict)
    send_latencies: tuple[float, ...] = ()
    last_crawl_at: datetime | None = None
    last_send_at: datetime | None = None
    last_successful_crawl_at: datetime | None = None
    # Bounce and complaint reports stored, by (kind, source).
    mail_events: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MailRates:
    """Email digests the server accepted within a window, and the reports about that time."""

    days: int
    sent: int
    hard_bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0

    def rate(self, count: int) -> float | None:
        """``count`` as a fraction of the mail sent (None when nothing was sent)."""
        return count / self.sent if self.sent else None


def last_crawl_at(session: Session) -> datetime | None:
    """When the newest crawl run finished (any outcome)."""
    return _aware(session.exec(select(func.max(CrawlRun.finished_at))).one())


@dataclass(frozen=True, slots=True)
class CrawlHealth:
    """How crawling goes: the newest crawl run's outcome and the last one that worked."""

    last_error: str | None = None
    last_failed_at: datetime | None = None
    last_success_at: datetime | None = None

    @property
    def failing(self) -> bool:
        """Whether the newest crawl run failed (nothing has worked since)."""
        return self.last_failed_at is not None and (
            self.last_success_at is None or self.last_failed_at >= self.last_success_at
        )


def crawl_health(session: Session) -> CrawlHealth:
    """The newest failed crawl run (its error) and when a crawl run last succeeded."""
    failed = session.exec(
        select(col(CrawlRun.finished_at), col(CrawlRun.error))
        .where(col(CrawlRun.status) == CrawlStatus.ERROR)
        .order_by(col(CrawlRun.finished_at).desc(), col(CrawlRun.id).desc())
        .limit(1)
    ).first()
    succeeded = session.exec(
        select(func.max(CrawlRun.finished_at)).where(col(CrawlRun.status) != CrawlStatus.ERROR)
    ).one()
    return CrawlHealth(
        last_error=failed[1] if failed else None,
        last_failed_at=_aware(failed[0]) if failed else None,
        last_success_at=_aware(succeeded),
    )


def last_send_at(session: Session) -> datetime | None:
    """When a digest was last accepted by the mail server."""
    return _aware(session.exec(select(func.max(Delivery.sent_at))).one())


def store_counts(session: Session, *, now: datetime, window: timedelta) -> StoreCounts:
    """Everything /metrics shows; latencies are of deliveries sent within ``window``."""
    latency_rows = session.exec(
        select(col(Delivery.created_at), col(Delivery.sent_at))
        .where(col(Delivery.status) == DeliveryStatus.SENT, col(Delivery.sent_at) >= now - window)
        .order_by(col(Delivery.sent_at).desc())
        .limit(LATENCY_SAMPLE)
    ).all()
    return StoreCounts(
        papers=int(session.exec(select(func.count()).select_from(Paper)).one()),
        crawl_runs=_by_status(session, CrawlRun),
        editions=int(session.exec(select(func.count()).select_from(Edition)).one()),
        deliveries=_by_status(session, Delivery),
        subscribers=_by_status(session, Subscriber),
        send_latencies=tuple(
            max(0.0, (sent - created).total_seconds())
            for created, sent in latency_rows
            if sent is not None
        ),
        last_crawl_at=last_crawl_at(session),
        last_send_at=last_send_at(session),
        last_successful_crawl_at=crawl_health(session).last_success_at,
        mail_events=mail_event_counts(session),
    )


def mail_event_counts(session: Session) -> dict[tuple[str, str], int]:
    """Bounce and complaint reports stored, by (kind, source)."""
    rows = session.exec(
        select(col(MailEvent.kind), col(MailEvent.source), func.count()).group_by(
            col(MailEvent.kind), col(MailEvent.source)
        )
    ).all()
    return {(str(kind), str(source)): int(count) for kind, source, count in rows}


def mail_rates(session: Session, *, now: datetime, days: int = 30) -> MailRates:
    """Email digests sent in the last ``days`` days and the reports that occurred then.

    Reports that matched nobody count too: a provider's complaint rate counts every one.
    """
    since = now - timedelta(days=days)
    sent = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(
            col(Delivery.kind) == "email",
            col(Delivery.status) == DeliveryStatus.SENT,
            col(Delivery.sent_at) >= since,
        )
    ).one()
    rows = session.exec(
        select(col(MailEvent.kind), func.count())
        .where(col(MailEvent.occurred_at) >= since)
        .group_by(col(MailEvent.kind))
    ).all()
    kinds = {str(kind): int(count) for kind, count in rows}
    return MailRates(
        days=days,
        sent=int(sent),
        hard_bounces=kinds.get(MailEventKind.HARD_BOUNCE, 0),
        soft_bounces=kinds.get(MailEventKind.SOFT_BOUNCE, 0),
        complaints=kinds.get(MailEventKind.COMPLAINT, 0),
    )


def _by_status(session: Session, table: type[CrawlRun | Delivery | Subscriber]) -> dict[str, int]:
    rows = session.exec(select(col(table.status), func.count()).group_by(col(table.status))).all()
    return {str(status): int(count) for status, count in rows}


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # aggregates bypass the column type on SQLite
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
