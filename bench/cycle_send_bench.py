"""Benchmark: the send cycle at 10,000 and 100,000 deliveries: claim, render, SMTP, mark sent.

For each size a fresh database (SQLite, and PostgreSQL when one answers) holds one settled
day of 100 papers and that many subscribers, each with an edition of 10 matched + 5 trending
papers and a pending delivery, seeded straight into the tables. Before every run the outbox
is as right after compose: every delivery pending while the planner's statistics are the day
before's (all sent, analysed: housekeeping's ANALYZE / PRAGMA optimize ran then), which is
when a claim that reads the whole outbox shows. ``send_due`` drains it into a local SMTP
sink (Postfix's ``smtp-sink``, in C, so it is not the bottleneck; see send_bench.py), and
every delivery must end marked sent. Rows, all measured in this run:

* naive (the baseline), on a sample of the smallest size on SQLite: per delivery claim one
  row (ORM), load its edition, papers and subscriber row by row, Jinja + mjml2html,
  EmailMessage, smtplib on a new connection, mark sent in its own transaction;
* paperfeed, ``--workers`` worker processes per database and size (``paperfeed worker``
  processes share the outbox: FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on
  SQLite), the real setting; with ``--single`` also 1 process, with ``--no-smtp`` also
  render + ledger only (a transport that accepts at once).

Columns: the rate over the whole run, over the first and the last tenth of each worker's
deliveries (a ledger whose cost grows with the outbox shows as a last tenth slower than the
first), and the workers' CPU per message (the database server's and the sink's not
counted). Worker processes start their clocks together after their imports; each row is
the fastest of ``--repeat`` runs (all wall times kept in the JSON), since the 2-core machine
is shared and the workers, the sink and PostgreSQL all run on it. DESIGN's target: >= 1,000
messages per second end to end; issue 19's: >= 1,500 with 2 workers at 100,000. JSON goes
to bench/results/cycle_send.json.

    .venv/bin/python bench/cycle_send_bench.py [--messages 10000 100000] [--workers 2]
        [--pool 8] [--repeat 2] [--naive 100] [--single] [--no-smtp] [--out FILE]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import smtplib
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench_results import write_results
from mail_sample import DAY, sample_day, sample_digests, sample_rows
from render_bench import naive_mime, naive_render
from send_bench import SMTP_SINK, best_of, sink
from sqlalchemy import Engine, create_engine, func, insert, text, update
from sqlmodel import Session, col, select

from paperfeed.config import Settings
from paperfeed.crawler.records import DayResult, ListingRecord, PaperRecord
from paperfeed.logs import configure_logging
from paperfeed.mailer.email_channel import EmailChannel
from paperfeed.mailer.message import OutgoingMail, make_sender
from paperfeed.mailer.smtp import SmtpConfig, SmtpTransport
from paperfeed.mailer.transport import Outcome, SendResult, Transport
from paperfeed.mailer.views import DayView, Pick, Recipient, SubscriberDigest
from paperfeed.outbox.send_pass import send_due
from paperfeed.outbox.summary import SendSummary
from paperfeed.paper_view import paper_view
from paperfeed.store import migrate
from paperfeed.store.crawls import save_day
from paperfeed.store.db import make_engine, normalise_url, session_scope
from paperfeed.store.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionPaper,
    Listing,
    Paper,
    Subscriber,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "cycle_send.json"
TARGET = 1500.0  # issue 19: 100,000 subscribers, 2 workers
CREATED = datetime(2026, 9, 29, 7, 0, tzinfo=UTC)
NOW = CREATED + timedelta(minutes=1)
CHUNK = 1000


def fill(engine: Engine, messages: int) -> None:
    """One settled day of 100 papers; per subscriber an edition and a pending delivery.

    Inserted a thousand subscribers at a time (edition papers by COPY on PostgreSQL), so
    100,000 take seconds and little memory."""
    day = sample_day()
    rows = sample_rows()
    papers = tuple(
        PaperRecord(
            arxiv_id=p.arxiv_id,
            title=p.title,
            abstract=p.abstract,
            authors=p.authors,
            github_repo=p.github_repo,
            github_stars=p.github_stars,
            ai_summary=p.ai_summary,
        )
        for p in rows
    )
    listings = tuple(
        ListingRecord(DAY, p.arxiv_id, rank=n + 1, upvotes=p.upvotes, comments=p.comments)
        for n, p in enumerate(rows)
    )
    result = DayResult(DAY, "daily", "ok", "api", papers=papers, listings=listings)
    with session_scope(engine) as session:
        save_day(session, result, started_at=CREATED, finished_at=CREATED, settled=True)
    postgres = engine.dialect.name == "postgresql"
    digests = sample_digests(day, messages)
    for start in range(0, messages, CHUNK):
        chunk = list(enumerate(digests[start : start + CHUNK], start=start + 1))
        items = [item for n, digest in chunk for item in edition_items(n, digest)]
        with session_scope(engine) as session:
            for model, table_rows in (
                (Subscriber, [subscriber_row(n, digest) for n, digest in chunk]),
                (Edition, [edition_row(n) for n, _ in chunk]),
                (Delivery, [delivery_row(n) for n, _ in chunk]),
            ):
                session.execute(insert(model.__table__), table_rows)  # type: ignore[union-attr]
            if not postgres:
                session.execute(insert(EditionPaper.__table__), items)  # type: ignore[attr-defined]
        if postgres:
            copy_items(engine, items)
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SELECT setval('subscriber_id_seq', :n)"), {"n": messages})
            connection.execute(text("SELECT setval('edition_id_seq', :n)"), {"n": messages})


def subscriber_row(n: int, digest: SubscriberDigest) -> dict[str, Any]:
    return {
        "id": n,
        "email": digest.recipient.email,
        "status": "active",
        "interests": digest.recipient.interests,
        "timezone": "UTC",
        "send_hour": 7,
        "frequency": "daily",
        "max_papers": 10,
        "paused": False,
        "token": f"tok{n:08d}",
        "created_at": CREATED,
        "updated_at": CREATED,
    }


def edition_row(n: int) -> dict[str, Any]:
    return {"id": n, "subscriber_id": n, "local_date": DAY, "created_at": CREATED}


def delivery_row(n: int) -> dict[str, Any]:
    return {"edition_id": n, "subscriber_id": n, "created_at": CREATED, "updated_at": CREATED}


def edition_items(n: int, digest: SubscriberDigest) -> list[dict[str, Any]]:
    ranked = [(p.paper_id, "matched", list(p.reasons)) for p in digest.picks]
    ranked += [(pid, "trending", ["many upvotes"]) for pid in digest.also_trending]
    return [
        {
            "edition_id": n,
            "paper_id": pid,
            "section": section,
            "rank": rank,
            "score": 1.0,
            "reasons": reasons,
        }
        for rank, (pid, section, reasons) in enumerate(ranked, start=1)
    ]


def copy_items(engine: Engine, items: list[dict[str, Any]]) -> None:
    """COPY edition papers: inserting 1,500,000 of them row by row takes minutes."""
    columns = ("edition_id", "paper_id", "section", "rank", "score", "reasons")
    raw = engine.raw_connection()
    try:
        statement = f"COPY editionpaper ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
            for item in items:
                copy.write_row([*(item[c] for c in columns[:-1]), json.dumps(item["reasons"])])
        raw.commit()
    finally:
        raw.close()


def reset(engine: Engine) -> None:
    """Every delivery pending again, as just after compose: the planner's statistics are
    the day before's, when every delivery was sent (housekeeping analysed them then)."""
    every = {"attempts": 0, "claimed_by": None, "claimed_at": None, "last_error": None}
    with session_scope(engine) as session:
        session.execute(
            update(Delivery).values(
                status=DeliveryStatus.SENT, sent_at=CREATED, message_id="<sent@x>", **every
            )
        )
    statistics = "ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(statistics))
    with session_scope(engine) as session:
        session.execute(
            update(Delivery).values(
                status=DeliveryStatus.PENDING, sent_at=None, message_id=None, **every
            )
        )


def count_sent(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(col(Delivery.status) == DeliveryStatus.SENT)
            ).one()
        )


class InstantTransport:
    """Accepts every message at once: measures everything but the wire."""

    paused_reason: str | None = None

    async def send(self, messages: Sequence[OutgoingMail]) -> list[SendResult]:
        return [SendResult(m.message_id, Outcome.ACCEPTED, 250, attempts=1) for m in messages]

    def resume(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def settings_for(url: str, var_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        var_dir=var_dir,
        public_url="https://paperfeed.example",
        mail_from="paperfeed <digest@example.org>",
    )


def drain(
    url: str,
    port: int | None,
    pool: int,
    worker: str,
    var_dir: str,
    ready: Any = None,
    now: datetime = NOW,
) -> dict[str, Any]:
    """One sender process: send_due until the outbox is empty; its span, count, CPU time,
    peak RSS and how long its first and last tenth of deliveries took."""
    configure_logging("WARNING")
    engine = make_engine(url)
    settings = settings_for(url, Path(var_dir))
    transport: Transport = (
        SmtpTransport(SmtpConfig("127.0.0.1", port, start_tls=False), pool_size=pool)
        if port is not None
        else InstantTransport()
    )

    channel = EmailChannel(settings, transport, clock=lambda: now)
    marks: list[tuple[float, int]] = []

    def progress(summary: SendSummary, _total: int) -> None:
        marks.append((time.perf_counter(), summary.done))

    async def run() -> SendSummary:
        try:
            return await send_due(
                engine, settings, channel=channel, now=lambda: now, worker=worker, progress=progress
            )
        finally:
            await channel.aclose()

    with session_scope(engine) as session:  # connect before the clock starts
        session.exec(select(func.count()).select_from(Paper)).one()
    if ready is not None:
        ready.wait()
    started, cpu = time.perf_counter(), time.process_time()
    summary = asyncio.run(run())
    ended, cpu = time.perf_counter(), time.process_time() - cpu
    engine.dispose()
    return {
        "started": started,
        "ended": ended,
        "sent": summary.sent,
        "cpu_s": cpu,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "first": tenth(marks, first=True),
        "last": tenth(marks, first=False),
    }


def tenth(marks: list[tuple[float, int]], *, first: bool) -> tuple[int, float]:
    """(deliveries, seconds) of the first or last tenth of a worker's batches."""
    done = marks[-1][1] if marks else 0
    if done == 0:
        return 0, 0.0
    if first:
        stop = next(m for m in marks if m[1] >= done / 10)
        return stop[1] - marks[0][1], stop[0] - marks[0][0]
    begin = next(m for m in reversed(marks) if m[1] <= done * 9 / 10)
    return done - begin[1], marks[-1][0] - begin[0]


def paperfeed_way(
    engine: Engine, url: str, port: int | None, pool: int, workers: int, var_dir: str
) -> dict[str, Any]:
    reset(engine)
    if workers == 1:
        spans = [drain(url, port, pool, "w0", var_dir)]
    else:
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            ready = manager.Barrier(workers)
            jobs = [(url, port, pool, f"w{w}", var_dir, ready) for w in range(workers)]
            with context.Pool(workers) as processes:
                spans = processes.starmap(drain, jobs)
    marked = count_sent(engine)

    def rate(part: str) -> float:
        # The workers run side by side: their rates add up.
        return float(sum(s[part][0] / s[part][1] for s in spans if s[part][1] > 0))

    return {
        "count": marked,
        "accepted": sum(s["sent"] for s in spans),
        "wall_s": max(s["ended"] for s in spans) - min(s["started"] for s in spans),
        "cpu_s": sum(s["cpu_s"] for s in spans),
        "first_tenth_per_s": rate("first"),
        "last_tenth_per_s": rate("last"),
    }


def naive_way(engine: Engine, port: int, sample: int) -> dict[str, Any]:
    """Row by row: claim one, load by ORM, mjml per subscriber, new SMTP connection, mark."""
    reset(engine)
    sender = make_sender("paperfeed <digest@example.org>")
    base = sample_day()
    started = time.perf_counter()
    for _ in range(sample):
        with session_scope(engine, write_lock=True) as session:
            delivery_id, edition_id = claim_one(session)
        with Session(engine) as session:
            edition = session.get(Edition, edition_id)
            assert edition is not None
            subscriber = session.get(Subscriber, edition.subscriber_id)
            assert subscriber is not None
            items = session.exec(
                select(EditionPaper)
                .where(col(EditionPaper.edition_id) == edition_id)
                .order_by(col(EditionPaper.rank))
            ).all()
            papers = []
            for item in items:
                paper = session.get(Paper, item.paper_id)
                assert paper is not None
                votes = session.exec(
                    select(func.max(Listing.upvotes)).where(col(Listing.paper_id) == item.paper_id)
                ).one()
                papers.append(paper_view(paper, upvotes=int(votes or 0)))
        recipient = Recipient(
            email=subscriber.email or "",
            preferences_url=f"https://paperfeed.example/u/{subscriber.token}",
            feed_url=f"https://paperfeed.example/feeds/u/{subscriber.token}.rss",
            unsubscribe_url=f"https://paperfeed.example/unsubscribe/{subscriber.token}",
            interests=subscriber.interests,
        )
        digest = SubscriberDigest(
            recipient,
            picks=tuple(
                Pick(i.paper_id, tuple(i.reasons)) for i in items if i.section == "matched"
            ),
            also_trending=tuple(i.paper_id for i in items if i.section != "matched"),
        )
        day = DayView(
            base.list_name, edition.local_date, tuple(papers), base.archive_url, base.list_address
        )
        message_id = f"<paperfeed.delivery.{delivery_id}@example.org>"
        data = naive_mime(
            naive_render(day, digest), recipient, sender=sender, message_id=message_id, date=NOW
        )
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail(sender.envelope_from, [recipient.email], data)
        with session_scope(engine) as session:
            sent = session.get(Delivery, delivery_id)
            assert sent is not None
            sent.status, sent.message_id, sent.sent_at = DeliveryStatus.SENT, message_id, NOW
            session.add(sent)
    wall = time.perf_counter() - started
    return {"count": count_sent(engine), "accepted": sample, "wall_s": wall}


def claim_one(session: Session) -> tuple[int, int]:
    """The naive claim: the oldest pending delivery through the ORM, one row at a time."""
    delivery = session.exec(
        select(Delivery)
        .where(col(Delivery.status) == DeliveryStatus.PENDING)
        .order_by(col(Delivery.id))
        .limit(1)
    ).one()
    delivery.status, delivery.claimed_by, delivery.claimed_at = DeliveryStatus.SENDING, "naive", NOW
    delivery.attempts += 1
    session.add(delivery)
    assert delivery.id is not None
    return delivery.id, delivery.edition_id


def postgres_database(admin_url: str) -> tuple[str, Engine] | None:
    """A fresh database on the server, or None when none answers."""
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"paperfeed_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure means: no PostgreSQL rows, say why
        print(f"PostgreSQL not used ({str(exc).splitlines()[0]})")
        return None
    return normalise_url(admin_url).rsplit("/", 1)[0] + f"/{name}", admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8, help="SMTP connections per process")
    parser.add_argument("--naive", type=int, default=100, help="sample for the naive way")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each paperfeed row")
    parser.add_argument("--single", action="store_true", help="also 1 worker process")
    parser.add_argument("--no-smtp", action="store_true", help="also render + ledger only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PAPERFEED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL of a PostgreSQL server ('' to skip)",
    )
    args = parser.parse_args()
    if not Path(SMTP_SINK).exists():
        sys.exit("smtp-sink missing: apt-get install -y postfix (it ships smtp-sink)")
    rows: list[dict[str, Any]] = []
    fill_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="paperfeed-bench-") as tmp, sink("smtp-sink") as port:
        for messages in sorted(args.messages):
            for label, url, made in databases(args.postgres, Path(tmp), messages):
                engine = make_engine(url)
                try:
                    migrate.upgrade(engine)
                    started = time.perf_counter()
                    fill(engine, messages)
                    fill_s[f"{label} {messages}"] = time.perf_counter() - started
                    if label == "SQLite" and messages == min(args.messages):
                        naive = naive_way(engine, port, args.naive)
                        rows.append(row("naive: row by row, mjml, new connection", label, naive))
                    ways: list[tuple[str, int | None, int]] = [
                        (f"paperfeed, {args.workers} workers", port, args.workers)
                    ]
                    if args.single:
                        ways.append(("paperfeed, 1 worker", port, 1))
                    if args.no_smtp:
                        ways.append(("render + ledger, no SMTP, 1 worker", None, 1))
                    for name, sink_port, workers in ways:
                        way = partial(
                            paperfeed_way, engine, url, sink_port, args.pool, workers, tmp
                        )
                        rows.append(row(name, label, best_of(args.repeat, way), messages))
                finally:
                    engine.dispose()
                    if made is not None:
                        drop_database(url, made)
    report(args, rows, fill_s)


def databases(admin_url: str, tmp: Path, messages: int) -> list[tuple[str, str, Engine | None]]:
    """(label, URL, the admin engine that made it) for SQLite and, if one answers, PostgreSQL."""
    found: list[tuple[str, str, Engine | None]] = [
        ("SQLite", f"sqlite:///{tmp}/bench{messages}.db", None)
    ]
    made = postgres_database(admin_url) if admin_url else None
    if made is not None:
        found.append(("PostgreSQL", made[0], made[1]))
    return found


def drop_database(url: str, admin: Engine) -> None:
    name = url.rsplit("/", 1)[1]
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def row(
    what: str, database: str, run: dict[str, Any], messages: int | None = None
) -> dict[str, Any]:
    return {"what": what, "database": database, "messages": messages or run["count"], **run}


def report(args: Any, rows: list[dict[str, Any]], fill_s: dict[str, float]) -> None:
    base = rows[0]["count"] / rows[0]["wall_s"]
    print(
        f"sink: smtp-sink; pool {args.pool} per process; best of {args.repeat}; fill took "
        + ", ".join(f"{k}: {v:.0f} s" for k, v in fill_s.items())
    )
    header = f"{'what':40} {'database':10} {'outbox':>7} {'sent':>7} {'msg/s':>6}"
    print(f"{header} {'1st 10%':>7} {'last 10%':>8} {'CPU ms':>6} {'x naive':>7}")
    for r in rows:
        r["per_s"] = r["count"] / r["wall_s"]
        r["x_naive"] = r["per_s"] / base
        cpu = r.get("cpu_s")
        r["cpu_ms_per_msg"] = 1000 * cpu / r["count"] if cpu else None
        tenths = (
            f"{r['first_tenth_per_s']:>7,.0f} {r['last_tenth_per_s']:>8,.0f}"
            if "first_tenth_per_s" in r
            else f"{'':>7} {'':>8}"
        )
        cpu_ms = f"{r['cpu_ms_per_msg']:>6.2f}" if cpu else f"{'':>6}"
        print(
            f"{r['what']:40} {r['database']:10} {r['messages']:>7,} {r['count']:>7,} "
            f"{r['per_s']:>6,.0f} {tenths} {cpu_ms} {r['x_naive']:>6.1f}x"
        )
        assert r["count"] == r["accepted"], f"{r['what']}: accepted and marked differ"
    full = [r for r in rows if r["what"].startswith("paperfeed")]
    worst = min(full, key=lambda r: r["per_s"])
    met = worst["per_s"] >= TARGET
    print(
        f"\nslowest paperfeed row {worst['per_s']:,.0f} msg/s ({worst['what']}, "
        f"{worst['database']}, {worst['messages']:,}); target >= {TARGET:,.0f}: "
        f"{'met' if met else 'NOT met'}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_results(
        args.out,
        {
            "benchmark": "cycle_send",
            "sink": "smtp-sink",
            "messages": sorted(args.messages),
            "pool_per_process": args.pool,
            "workers": args.workers,
            "repeat": args.repeat,
            "fill_s": fill_s,
            "rows": rows,
            "covers": "claim + load + render + MIME + SMTP + mark sent",
            "statistics": "the day before's (every delivery sent, analysed), as after compose",
            "target_per_s": TARGET,
            "target_met": met,
        },
    )


if __name__ == "__main__":
    main()
