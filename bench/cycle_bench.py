"""Benchmark: one full daily cycle for 10,000 and 100,000 subscribers: crawl -> compose -> send.

Each size on each database (SQLite, and PostgreSQL when one answers on 127.0.0.1:5432, a
fresh database per run) runs in its own process, so its peak RSS is its own. The process
seeds the subscribers straight into the store
(3-6 topics each, drawn from the words of the ranking corpus' titles, five time zones, the
send hour already passed), then times:

* crawl: ``crawl_days`` over the last week of synthetic days from the fake Hugging Face
  server (tests/support/fake_hf.py, real HTTP on 127.0.0.1), every day saved and settled;
* compose: ``compose_due`` with a fresh ``CorpusCache`` (ranks 1,000 subscribers per batch);
  the write-ahead log is checkpointed (untimed) before it and before send, as pgbench does;
* send: two sender processes side by side (`--send-workers`), each ``send_due`` with the
  SMTP transport (pool 8), into Postfix's ``smtp-sink``, as two `paperfeed worker` run.

Baseline in the same run: compose one subscriber at a time (``compose_due(email=...)``, what
a per-subscriber loop would do) on a sample, whose editions are then deleted; the send phase's
row-by-row baseline is in cycle_send_bench.py. Every phase also reports its rate, and a line
per database says how each phase's cost per item grows from the smallest size to the largest
(1.0x: linear). JSON goes to bench/results/cycle.json.

    .venv/bin/python bench/cycle_bench.py [--subscribers 10000,100000] [--naive 20]
        [--send-workers 2] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam, insert, text

ROOT = Path(__file__).resolve().parents[1]
# `python bench/x.py` puts only bench/ on the path; the root makes tests.support importable.
sys.path.insert(0, str(ROOT))

from bench_results import write_results  # noqa: E402
from cycle_send_bench import drain, drop_database, postgres_database  # noqa: E402
from send_bench import SMTP_SINK, sink  # noqa: E402

from paperfeed.config import Settings  # noqa: E402
from paperfeed.corpus import CorpusCache  # noqa: E402
from paperfeed.crawler.client import make_client  # noqa: E402
from paperfeed.crawler.pacing import Pacer  # noqa: E402
from paperfeed.digest import EditionPolicy, compose_due  # noqa: E402
from paperfeed.jobs.crawl import crawl_days  # noqa: E402
from paperfeed.logs import configure_logging  # noqa: E402
from paperfeed.store import migrate  # noqa: E402
from paperfeed.store.db import make_engine, session_scope  # noqa: E402
from paperfeed.store.models import Subscriber  # noqa: E402
from tests.support.data_paths import CORPUS  # noqa: E402
from tests.support.fake_hf import FakeHF  # noqa: E402
from tests.support.hf_days import fixture_items, synthetic_days  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cycle.json"
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo")
SEED = 20261123
CHUNK = 1000
POOL = 8
DAYS_BACK = 8


def title_words(path: Path) -> list[str]:
    """Distinct lower-case words of 4+ letters from the corpus titles (topic material)."""
    words: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            words.update(re.findall(r"[a-z]{4,}", json.loads(line)["title"].lower()))
    return sorted(words)


def seed_subscribers(engine: Engine, count: int, *, now: datetime) -> list[str]:
    """``count`` active subscribers whose send hour has passed today; returns their emails."""
    rng = random.Random(SEED)
    vocabulary = title_words(CORPUS)
    joined = now - timedelta(days=30)
    rows: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        zone = ZONES[n % len(ZONES)]
        topics = [
            " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 2)))
            for _ in range(rng.randint(3, 6))
        ]
        rows.append(
            {
                "email": f"reader{n:06d}@example.com",
                "status": "active",
                "interests": "\n".join(topics),
                "timezone": zone,
                "send_hour": now.astimezone(ZoneInfo(zone)).hour,
                "frequency": "daily",
                "max_papers": 10,
                "paused": False,
                "token": f"tok{n:08d}",
                "created_at": joined,
                "updated_at": joined,
            }
        )
    table = Subscriber.__table__  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(table), rows[start : start + CHUNK])
    return [r["email"] for r in rows]


def forget_editions(engine: Engine, emails: list[str]) -> None:
    """Delete the sample's editions so the timed compose sees every subscriber due."""
    ids = "(SELECT id FROM subscriber WHERE email IN :emails)"
    editions = f"(SELECT id FROM edition WHERE subscriber_id IN {ids})"
    with session_scope(engine) as session:
        for statement in (
            f"DELETE FROM delivery WHERE subscriber_id IN {ids}",
            f"DELETE FROM editionpaper WHERE edition_id IN {editions}",
            f"DELETE FROM edition WHERE subscriber_id IN {ids}",
        ):
            session.execute(
                text(statement).bindparams(bindparam("emails", expanding=True)),
                {"emails": emails},
            )


def checkpoint(engine: Engine) -> None:
    """Flush the write-ahead log before a timed phase (untimed), as pgbench does before a
    run: otherwise a checkpoint the seeding or an earlier size started lands in this phase,
    and with it the full-page writes that follow a checkpoint."""
    statement = (
        "PRAGMA wal_checkpoint(TRUNCATE)" if engine.dialect.name == "sqlite" else "CHECKPOINT"
    )
    with engine.connect() as connection:
        connection.execute(text(statement))
        connection.commit()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_database(label: str, url: str, subscribers: int, naive: int, port: int) -> dict[str, Any]:
    """The whole cycle on one database, in its own process; returns phases and counts."""
    configure_logging("WARNING")
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    engine = make_engine(url)
    migrate.upgrade(engine)
    started = time.perf_counter()
    emails = seed_subscribers(engine, subscribers, now=now)
    seed_s = time.perf_counter() - started
    phases: dict[str, dict[str, Any]] = {}
    listed = synthetic_days(fixture_items(), start=today - timedelta(days=DAYS_BACK), count=7)
    with tempfile.TemporaryDirectory() as var, FakeHF(days=listed) as fake:
        settings = Settings(
            database_url=url,
            var_dir=Path(var),
            hf_base_url=fake.url,
            public_url="https://paperfeed.example",
            mail_from="paperfeed <digest@example.org>",
        )
        days = sorted(listed)
        started = time.perf_counter()
        with make_client(settings) as client:
            crawl = crawl_days(
                engine,
                client,
                days,
                settle_hours=settings.settle_hours,
                pacer=Pacer(api_calls=500, page_loads=100),
                today=today,
            )
        phases["crawl"] = {
            "wall_s": time.perf_counter() - started,
            "count": crawl.papers,
            "unit": "papers",
            "note": f"{crawl.days} days, {crawl.settled} settled, {len(fake.seen)} requests",
            "rss_mib": peak_rss_mib(),
        }
        policy = EditionPolicy.from_settings(settings)
        sample = emails[:naive]
        shared = CorpusCache()  # a loop would share the term statistics too
        shared.refresh(engine)
        started = time.perf_counter()
        for email in sample:
            compose_due(engine, now=now, policy=policy, corpus=shared, email=email)
        naive_s = time.perf_counter() - started
        forget_editions(engine, sample)
        checkpoint(engine)
        started = time.perf_counter()
        composed = compose_due(engine, now=now, policy=policy, corpus=CorpusCache())
        phases["compose"] = {
            "wall_s": time.perf_counter() - started,
            "count": composed.editions,
            "unit": "editions",
            "note": f"{composed.deliveries} to mail, {composed.papers} papers",
            "rss_mib": peak_rss_mib(),
        }
        checkpoint(engine)  # before the send phase, which the caller times
        phases["naive compose"] = {
            "wall_s": naive_s,
            "count": len(sample),
            "unit": "editions",
            "note": "compose_due(email=...) one subscriber at a time, sample",
            "rss_mib": None,
        }

    engine.dispose()
    return {"database": label, "seed_s": seed_s, "phases": phases, "now": now}


def send_phase(url: str, port: int, workers: int, now: datetime) -> dict[str, Any]:
    """Render + send with ``workers`` sender processes side by side, as `paperfeed worker`
    runs them, each with its own SMTP pool; RSS is the largest worker's."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as var, context.Manager() as manager:
        ready = manager.Barrier(workers)
        jobs = [(url, port, POOL, f"w{w}", var, ready, now) for w in range(workers)]
        with context.Pool(workers) as processes:
            spans = processes.starmap(drain, jobs)
    return {
        "wall_s": max(s["ended"] for s in spans) - min(s["started"] for s in spans),
        "count": sum(s["sent"] for s in spans),
        "unit": "messages",
        "note": f"{workers} worker processes, SMTP pool {POOL} each, to smtp-sink",
        "rss_mib": max(s["rss_mib"] for s in spans),
    }


DATABASES = ("SQLite", "PostgreSQL")


def databases(text: str) -> list[str]:
    """``postgresql`` -> ["PostgreSQL"]; in the order of ``DATABASES``."""
    asked = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = asked - {d.lower() for d in DATABASES}
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown database(s): {', '.join(sorted(unknown))}")
    return [d for d in DATABASES if d.lower() in asked]


def sizes(text: str) -> list[int]:
    """``10000,100000`` -> [10000, 100000]."""
    return sorted({int(part) for part in text.replace("_", "").split(",") if part.strip()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--subscribers", type=sizes, default=[10_000, 100_000], help="sizes, comma-separated"
    )
    parser.add_argument("--naive", type=int, default=20, help="sample for one-by-one compose")
    parser.add_argument("--send-workers", type=int, default=2, help="sender processes")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--databases",
        type=databases,
        default=list(DATABASES),
        help="which of SQLite,PostgreSQL to run (comma-separated, any case)",
    )
    args = parser.parse_args()
    if not Path(SMTP_SINK).exists():
        sys.exit("smtp-sink missing: apt-get install -y postfix (or run make bench as root)")
    runs: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, sink("smtp-sink") as port:
        for count in args.subscribers:
            for label in args.databases:
                made = None
                if label == "SQLite":
                    url = f"sqlite:///{tmp}/cycle-{count}.db"
                else:
                    made = postgres_database(args.postgres) if args.postgres else None
                    if made is None:
                        continue
                    url = made[0]
                try:
                    with context.Pool(1) as process:
                        run = process.apply(one_database, (label, url, count, args.naive, port))
                    # Senders are processes of their own (a pool's process cannot start any).
                    run["phases"]["render + send"] = send_phase(
                        url, port, args.send_workers, run.pop("now")
                    )
                    runs.append({**run, "subscribers": count})
                finally:
                    if made is not None:
                        drop_database(*made)
                    Path(f"{tmp}/cycle-{count}.db").unlink(missing_ok=True)
    report(args, runs)


def report(args: Any, runs: list[dict[str, Any]]) -> None:
    counts = ", ".join(f"{n:,}" for n in args.subscribers)
    print(f"one daily cycle, {counts} subscribers; peak RSS is per database process")
    header = (
        f"{'database':10} {'subscribers':>11} {'phase':14} {'count':>8} {'unit':9} "
        f"{'wall s':>7} {'per s':>8}"
    )
    print(f"{header} {'x naive':>8} {'peak RSS':>9}  note")
    table = []
    totals: dict[tuple[str, int], float] = {}
    for run in sorted(runs, key=lambda r: (r["database"] != "SQLite", r["subscribers"])):
        phases = run["phases"]
        naive = phases["naive compose"]
        naive_rate = naive["count"] / naive["wall_s"]
        total = sum(p["wall_s"] for k, p in phases.items() if k != "naive compose")
        totals[(run["database"], run["subscribers"])] = total
        for name, phase in phases.items():
            rate = phase["count"] / phase["wall_s"] if phase["wall_s"] else 0.0
            ratio = rate / naive_rate if name == "compose" else None
            rss = f"{phase['rss_mib']:.0f} MiB" if phase["rss_mib"] is not None else ""
            print(
                f"{run['database']:10} {run['subscribers']:>11,} {name:14} {phase['count']:>8,} "
                f"{phase['unit']:9} {phase['wall_s']:>7.2f} {rate:>8,.0f} "
                f"{f'{ratio:.1f}x' if ratio else '':>8} {rss:>9}  {phase['note']}"
            )
            table.append(
                {
                    "database": run["database"],
                    "subscribers": run["subscribers"],
                    "phase": name,
                    **phase,
                    "per_s": rate,
                }
            )
        print(
            f"{run['database']:10} {run['subscribers']:>11,} {'cycle total':14} {'':>8} {'':9} "
            f"{total:>7.2f} (seeding took {run['seed_s']:.1f} s, not counted)"
        )
    growth = growth_lines(table)
    for line in growth:
        print(line)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_results(
        RESULTS,
        {
            "benchmark": "cycle",
            "subscribers": args.subscribers,
            "naive_sample": args.naive,
            "smtp_pool": POOL,
            "rows": table,
            "cycle_total_s": [
                {"database": db, "subscribers": n, "wall_s": s} for (db, n), s in totals.items()
            ],
            "growth": growth,
            "seed_s": [
                {"database": r["database"], "subscribers": r["subscribers"], "wall_s": r["seed_s"]}
                for r in runs
            ],
            "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def growth_lines(table: list[dict[str, Any]]) -> list[str]:
    """Per database: each phase's cost per item at the largest size over the smallest's."""
    lines = []
    for database in dict.fromkeys(row["database"] for row in table):
        rows = [r for r in table if r["database"] == database and r["phase"] != "naive compose"]
        sizes_seen = sorted({r["subscribers"] for r in rows})
        if len(sizes_seen) < 2:
            continue
        small, large = sizes_seen[0], sizes_seen[-1]
        parts = []
        for phase in dict.fromkeys(r["phase"] for r in rows):
            a = next(r for r in rows if r["phase"] == phase and r["subscribers"] == small)
            b = next(r for r in rows if r["phase"] == phase and r["subscribers"] == large)
            if a["count"] and b["count"] and a["wall_s"] and b["wall_s"]:
                per_item = (b["wall_s"] / b["count"]) / (a["wall_s"] / a["count"])
                parts.append(f"{phase} {per_item:.2f}x")
        lines.append(
            f"{database}: cost per item at {large:,} over {small:,} subscribers "
            f"(1.00x = linear): {', '.join(parts)}"
        )
    return lines


if __name__ == "__main__":
    main()
