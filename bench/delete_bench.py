"""Benchmark: deleting a reader (their data, at their request) beside a large ledger.

Usage:
    python bench/delete_bench.py [--readers 10000] [--editions 30] [--papers-each 4] \
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--databases sqlite,postgresql]

A database at migration 0008 (the ledger's key to its edition on edition_id alone, no index
behind it) is filled with ``--readers`` readers of ``--editions`` editions each and
``--papers-each`` ledger rows per edition; deleting a few readers is timed there (the
baseline), then the database is upgraded to head (migration 0009: the key is (subscriber,
edition), found through the ledger's primary key; the upgrade's own time is reported) and as
many other readers are deleted. Each delete is one transaction, as ``paperfeed subscribers
delete`` and the web page's "delete my data" are. Prints a table, writes
bench/results/delete.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_results import write_results
from cycle_bench import databases
from cycle_send_bench import drop_database, postgres_database

from paperfeed.store import migrate
from paperfeed.store.db import make_engine

RESULTS = Path(__file__).resolve().parent / "results" / "delete.json"
DELETED = 5
PAPERS = 2000


NOW = "2026-12-01 08:00:00+00:00"


def seed(engine: Engine, readers: int, editions: int, papers_each: int) -> int:
    """Readers, their editions and ledger, written in bulk by SQL; the ledger's size."""
    upto = max(readers, editions, papers_each, PAPERS)
    # Each of a reader's editions on its own date (the unique (subscriber, date) key).
    day = (
        "date('2026-01-01', '+' || d.i || ' days')"
        if engine.dialect.name == "sqlite"
        else "DATE '2026-01-01' + d.i"
    )
    statements = [
        (
            "INSERT INTO paper (arxiv_id, title, abstract, authors, ai_keywords, raw,"
            " first_seen_at, updated_at, stats_counted)"
            " SELECT 'p' || i, 't', 'a', '[]', '[]', '{}', :now, :now, false"
            " FROM bench_n WHERE i < :papers"
        ),
        (
            "INSERT INTO subscriber (id, email, email_digest, status, interests, timezone,"
            " send_hour, frequency, max_papers, paused, token, feed_token, created_at,"
            " updated_at) SELECT i + 1, 'r' || i || '@example.org', true, 'active', 'x',"
            " 'UTC', 8, 'daily', 10, false, 't' || i, 'f' || i, :now, :now"
            " FROM bench_n WHERE i < :readers"
        ),
        (
            "INSERT INTO edition (id, subscriber_id, local_date, created_at)"
            f" SELECT r.i * :editions + d.i + 1, r.i + 1, {day}, :now"
            " FROM bench_n r, bench_n d WHERE r.i < :readers AND d.i < :editions"
        ),
        (
            "INSERT INTO sentpaper (subscriber_id, paper_id, edition_id, created_at)"
            " SELECT e.subscriber_id, 'p' || (((e.id - 1) % :editions) * :each + k.i),"
            " e.id, :now FROM edition e, bench_n k WHERE k.i < :each"
        ),
    ]
    values = {
        "now": NOW,
        "papers": PAPERS,
        "readers": readers,
        "editions": editions,
        "each": papers_each,
    }
    with engine.begin() as db:
        db.execute(text("CREATE TABLE bench_n (i INTEGER PRIMARY KEY)"))
        db.execute(text("INSERT INTO bench_n (i) VALUES (:i)"), [{"i": i} for i in range(upto)])
        for statement in statements:
            names = {k: v for k, v in values.items() if f":{k}" in statement}
            db.execute(text(statement), names)
        db.execute(text("DROP TABLE bench_n"))
        count = int(db.execute(text("SELECT count(*) FROM sentpaper")).scalar_one())
    with engine.connect() as db:
        db.execute(text("ANALYZE"))
        db.commit()
    return count


def delete_readers(engine: Engine, ids: range) -> list[float]:
    """Seconds to delete each reader, one transaction each; checks their ledger went."""
    times = []
    for reader in ids:
        started = time.perf_counter()
        with engine.begin() as db:
            db.execute(text("DELETE FROM subscriber WHERE id = :id"), {"id": reader})
        times.append(time.perf_counter() - started)
        with engine.connect() as db:
            left = db.execute(
                text("SELECT count(*) FROM sentpaper WHERE subscriber_id = :id"), {"id": reader}
            ).scalar_one()
        if left:
            raise SystemExit(f"reader {reader}'s ledger rows were not deleted ({left} left)")
    return times


def one_database(label: str, url: str, args: Any) -> dict[str, Any]:
    """The baseline at 0008, the upgrade, the same deletes at head."""
    engine = make_engine(url)
    migrate.upgrade(engine, "0008")
    ledger = seed(engine, args.readers, args.editions, args.papers_each)
    before = delete_readers(engine, range(1, DELETED + 1))
    started = time.perf_counter()
    migrate.upgrade(engine)
    upgrade_s = time.perf_counter() - started
    after = delete_readers(engine, range(DELETED + 1, 2 * DELETED + 1))
    engine.dispose()
    return {
        "database": label,
        "readers": args.readers,
        "editions_each": args.editions,
        "ledger_rows": ledger,
        "delete_before_ms": statistics.median(before) * 1000,
        "delete_after_ms": statistics.median(after) * 1000,
        "upgrade_s": upgrade_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--editions", type=int, default=30, help="editions per reader")
    parser.add_argument("--papers-each", type=int, default=4, help="ledger rows per edition")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--databases", type=databases, default=databases("sqlite,postgresql"))
    args = parser.parse_args()
    rows = []
    for label in args.databases:
        if label == "SQLite":
            with tempfile.TemporaryDirectory() as scratch:
                rows.append(one_database(label, f"sqlite:///{scratch}/delete.db", args))
            continue
        made = postgres_database(args.postgres)
        if made is None:
            continue
        url, admin = made
        try:
            rows.append(one_database(label, url, args))
        finally:
            drop_database(url, admin)
    print(
        f"deleting one reader (median of {DELETED}) beside the ledger; "
        "baseline: the same database at migration 0008"
    )
    print(
        f"{'database':10} {'readers':>8} {'editions':>9} {'ledger rows':>12} "
        f"{'0008 ms':>9} {'head ms':>8} {'x faster':>9} {'upgrade s':>10}"
    )
    for r in rows:
        print(
            f"{r['database']:10} {r['readers']:8,} {r['editions_each']:9} {r['ledger_rows']:12,} "
            f"{r['delete_before_ms']:9.1f} {r['delete_after_ms']:8.1f} "
            f"{r['delete_before_ms'] / r['delete_after_ms']:9.0f} {r['upgrade_s']:10.1f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_results(RESULTS, {"benchmark": "delete a reader", "rows": rows})


if __name__ == "__main__":
    main()
