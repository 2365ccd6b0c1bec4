"""For operators: ``/healthz`` (is the database reachable, is crawling failing, how old are the
last crawl, the last successful crawl and the last send) and ``/metrics`` (Prometheus text:
papers, crawl runs and errors, editions, deliveries by status, send latency, last successful
crawl, bounce and complaint reports by kind and source), both read from the store on each
request.

A failing crawl (Hugging Face unreachable) makes ``/healthz`` say ``degraded`` with HTTP 200:
the web app itself is fine, and a container health check must not restart it for that.

The metrics come from the database, not from counters in this process, so every web process
reports the same totals and a restart loses nothing. Knows nothing of pages or feeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from paperfeed.store.db import database_error_reason, session_scope
from paperfeed.store.ops_queries import (
    CrawlHealth,
    StoreCounts,
    crawl_health,
    last_crawl_at,
    last_send_at,
    store_counts,
)
from paperfeed.web.state import AppState, AppStateDep

router = APIRouter()
log = structlog.get_logger("paperfeed.web")
LATENCY_WINDOW = timedelta(hours=24)
LATENCY_BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 3)


@router.get("/healthz")
async def healthz(state: AppStateDep) -> JSONResponse:
    """200 when the database answers (503 when not): ``ok``, or ``degraded`` while crawling
    fails, with the last crawl error and the ages of the last (successful) crawl and send."""

    def check() -> tuple[datetime | None, datetime | None, CrawlHealth]:
        with session_scope(state.engine) as session:
            return last_crawl_at(session), last_send_at(session), crawl_health(session)

    try:
        crawled, sent, crawling = await run_in_threadpool(check)
    except SQLAlchemyError as exc:
        # The driver's words name the host, port, database and user: the log gets them, the
        # public answer does not (a probe must not learn where the store lives).
        log.warning("healthz.database_unreachable", reason=database_error_reason(exc)[:300])
        return JSONResponse(
            {
                "status": "error",
                "database": "unreachable",
                "error": "the database does not answer; the server log says why",
            },
            status_code=503,
            headers={"cache-control": "no-store"},
        )
    now = state.clock()
    succeeded = crawling.last_success_at
    return JSONResponse(
        {
            "status": "degraded" if crawling.failing else "ok",
            "database": "ok",
            "crawl": "failing" if crawling.failing else "ok",
            "last_crawl_error": crawling.last_error if crawling.failing else None,
            "last_crawl_at": crawled.isoformat() if crawled else None,
            "last_crawl_age_seconds": _age(now, crawled),
            "last_successful_crawl_at": succeeded.isoformat() if succeeded else None,
            "last_successful_crawl_age_seconds": _age(now, succeeded),
            "last_send_at": sent.isoformat() if sent else None,
            "last_send_age_seconds": _age(now, sent),
        },
        headers={"cache-control": "no-store"},
    )


class StoreCollector(Collector):
    """Turns one ``StoreCounts`` into Prometheus metric families."""

    def __init__(self, counts: StoreCounts, now: datetime) -> None:
        self.counts = counts
        self.now = now

    def collect(self) -> Iterator[Metric]:
        c = self.counts
        yield GaugeMetricFamily(
            "paperfeed_papers", "Papers stored (crawled so far).", value=c.papers
        )
        runs = CounterMetricFamily(
            "paperfeed_crawl_runs", "Crawl runs kept in the log, by outcome.", labels=["status"]
        )
        for status, count in sorted(c.crawl_runs.items()):
            runs.add_metric([status], count)
        yield runs
        yield CounterMetricFamily(
            "paperfeed_crawl_errors",
            "Crawl runs that failed (kept in the log).",
            value=c.crawl_runs.get("error", 0),
        )
        yield CounterMetricFamily("paperfeed_editions", "Editions composed.", value=c.editions)
        deliveries = GaugeMetricFamily(
            "paperfeed_deliveries", "Deliveries by status.", labels=["status"]
        )
        for status, count in sorted(c.deliveries.items()):
            deliveries.add_metric([status], count)
        yield deliveries
        subscribers = GaugeMetricFamily(
            "paperfeed_subscribers", "Subscribers by status.", labels=["status"]
        )
        for status, count in sorted(c.subscribers.items()):
            subscribers.add_metric([status], count)
        yield subscribers
        events = CounterMetricFamily(
            "paperfeed_mail_events",
            "Bounce and complaint reports stored, by kind (hard_bounce, soft_bounce, "
            "complaint) and source (ses, postmark, sendgrid, mailgun, imap).",
            labels=["kind", "source"],
        )
        for (kind, source), count in sorted(c.mail_events.items()):
            events.add_metric([kind, source], count)
        yield events
        buckets = [
            (str(bound), sum(1 for v in c.send_latencies if v <= bound))
            for bound in LATENCY_BUCKETS
        ]
        buckets.append(("+Inf", len(c.send_latencies)))
        yield HistogramMetricFamily(
            "paperfeed_send_latency_seconds",
            "Seconds from an edition's delivery being queued to the server accepting it "
            "(deliveries sent in the last 24 hours).",
            buckets=buckets,
            sum_value=sum(c.send_latencies),
        )
        if c.last_successful_crawl_at is not None:
            yield GaugeMetricFamily(
                "paperfeed_last_successful_crawl_timestamp_seconds",
                "Unix time the last successful crawl run finished.",
                value=c.last_successful_crawl_at.timestamp(),
            )
        for name, moment in (("crawl", c.last_crawl_at), ("send", c.last_send_at)):
            age = _age(self.now, moment)
            if age is not None:
                yield GaugeMetricFamily(
                    f"paperfeed_last_{name}_age_seconds",
                    f"Seconds since the last {name}.",
                    value=age,
                )


def metrics_text(state: AppState) -> bytes:
    """The Prometheus exposition of the store's counts now."""
    now = state.clock()
    with session_scope(state.engine) as session:
        counts = store_counts(session, now=now, window=LATENCY_WINDOW)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(counts, now))
    return generate_latest(registry)


@router.get("/metrics")
async def metrics(state: AppStateDep) -> Response:
    """Prometheus text format."""
    body = await run_in_threadpool(metrics_text, state)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"})
