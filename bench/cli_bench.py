"""The CLI's wall time as a user meets it: real ``paperfeed`` processes against bare Python.

Runs, each a fresh subprocess timed from spawn to exit, in one run: ``python -c pass`` (the
baseline: an interpreter that starts and stops), ``paperfeed --help``, ``paperfeed
subscribers list`` and ``paperfeed rank --interests ...`` on SQLite stores holding 1,000 and
20,000 papers. The stores are seeded directly: real titles and abstracts (data/ranking's
corpus, cycled) under synthetic ids, 50 papers a day, so the 20,000-paper store is 400 days
of archive while ``rank`` still ranks one normal day; term statistics are counted the way a
crawl counts them. Each repeat of a corpus abstract ends in a sentence of its own (40 words
drawn from the corpus), so the archive keeps adding new terms and phrases as a real one does
and the stored statistics grow denser with it. A last row ranks the 20,000-paper store with
its stored statistics taken away, which is what every call cost before they were kept in the
store.

Targets (DESIGN.md): ``--help`` at most 0.5 s over bare Python; ``rank`` at 20,000 papers at
most 1.3x its time at 1,000 (the cost follows the day ranked, not the archive).
Prints a table and writes bench/results/cli.json.

    python bench/cli_bench.py [--runs 5] [--sizes 1000 20000] [--no-rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# `python bench/x.py` puts only bench/ on the path; the root makes tests.support importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.data_paths import CORPUS

RESULTS = Path(__file__).resolve().parent / "results" / "cli.json"
PER_DAY = 50
SUBSCRIBERS = 100
FIRST_DAY = date(2025, 1, 1)
INTERESTS = "large language model reasoning\ndiffusion models for video\nmixture of experts"
HELP_OVER_BARE_S = 0.5
RANK_GROWTH = 1.3


def seed_store(database_url: str, n_papers: int) -> int:
    """``n_papers`` stored papers over ``n_papers / 50`` days, counted; returns the stored
    statistics' size in bytes (what every ``rank`` reads)."""
    from paperfeed.corpus import count_stored_papers
    from paperfeed.crawler.records import ListingRecord, PaperRecord
    from paperfeed.store import migrate
    from paperfeed.store.db import make_engine, session_scope
    from paperfeed.store.models import TermCounts
    from paperfeed.store.papers import upsert_listings, upsert_papers
    from paperfeed.store.subscribers import create_subscriber

    docs = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    vocabulary = sorted({w for d in docs for w in d["abstract"].split() if w.isalpha()})
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    papers: list[PaperRecord] = []
    listings: list[ListingRecord] = []
    day = FIRST_DAY
    for n in range(n_papers):
        day = FIRST_DAY + timedelta(days=n // PER_DAY)
        doc = docs[n % len(docs)]
        arxiv_id = f"{day:%y%m}.{n:05d}"
        abstract = doc["abstract"]
        if n >= len(docs):  # a repeat: new words in new pairs, as new papers bring
            abstract += " " + " ".join(random.Random(n).choices(vocabulary, k=40)) + "."
        papers.append(PaperRecord(arxiv_id=arxiv_id, title=doc["title"], abstract=abstract))
        listings.append(
            ListingRecord(day, arxiv_id, rank=n % PER_DAY + 1, upvotes=(n * 7) % 97, comments=0)
        )
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)
    with session_scope(engine, write_lock=True) as session:
        upsert_papers(session, papers, now=now)
        upsert_listings(session, listings, now=now)
        count_stored_papers(session, now=now)
        stored_bytes = len(session.get_one(TermCounts, 1).df)
        for i in range(SUBSCRIBERS):
            create_subscriber(
                session,
                email=f"reader{i}@example.org",
                interests=INTERESTS,
                now=now,
                confirmed=True,
            )
    engine.dispose()
    return stored_bytes


def drop_stored_statistics(database_url: str) -> None:
    """Take the stored statistics away: ranking then counts every paper itself, as before."""
    from sqlalchemy import delete

    from paperfeed.store.db import make_engine, session_scope
    from paperfeed.store.models import TermCounts

    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.execute(delete(TermCounts))
    engine.dispose()


Command = tuple[str, list[str], int | None]  # name, argv, papers in the store (None: any)


def wall_time(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit of one fresh process, which must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def wall_times(
    commands: list[Command], envs: dict[int | None, dict[str, str]], runs: int
) -> list[list[float]]:
    """Each command's times over ``runs`` rounds after an untimed warm-up round.

    A round runs every command once, so load from elsewhere on a shared machine falls on all
    of them alike instead of on whichever command happened to run during it.
    """
    times: list[list[float]] = [[] for _ in commands]
    for round_ in range(runs + 1):
        for i, (_, argv, size) in enumerate(commands):
            elapsed = wall_time(argv, envs[size])
            if round_:
                times[i].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 20_000])
    parser.add_argument("--no-rebuild", action="store_true", help="skip the 'as before' row")
    args = parser.parse_args()

    paperfeed = str(Path(sys.executable).with_name("paperfeed"))
    if not Path(paperfeed).exists():
        raise SystemExit(f"{paperfeed} not found: install paperfeed in this venv first")
    small, large = args.sizes
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="paperfeed-cli-bench-") as tmp:
        stores: dict[int, tuple[str, dict[str, str]]] = {}
        stored_bytes: dict[int, int] = {}
        for size in (small, large):
            folder = Path(tmp) / str(size)
            url = f"sqlite:///{folder / 'paperfeed.db'}"
            started = time.perf_counter()
            stored_bytes[size] = seed_store(url, size)
            print(
                f"seeded {size:,} papers in {time.perf_counter() - started:.1f} s; stored "
                f"statistics {stored_bytes[size] / 2**20:.2f} MiB",
                flush=True,
            )
            env = {
                **os.environ,
                "PAPERFEED_VAR_DIR": str(folder),
                "PAPERFEED_DATABASE_URL": url,
                "NO_COLOR": "1",
            }
            stores[size] = (url, env)

        envs: dict[int | None, dict[str, str]] = {size: env for size, (_, env) in stores.items()}
        envs[None] = stores[small][1]
        rank = [paperfeed, "rank", "--interests", INTERESTS]
        commands: list[Command] = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("paperfeed --help", [paperfeed, "--help"], None),
        ]
        for size in (small, large):
            commands.append(
                ("paperfeed subscribers list", [paperfeed, "subscribers", "list"], size)
            )
            commands.append(("paperfeed rank", rank, size))
        print(f"timing {len(commands)} commands, {args.runs} rounds", flush=True)
        timed = wall_times(commands, envs, args.runs)
        if not args.no_rebuild:
            drop_stored_statistics(stores[large][0])
            commands.append(("rank, no stored statistics", rank, large))
            timed.append([wall_time(rank, envs[large])])
        for (name, _, size), times in zip(commands, timed, strict=True):
            row = {
                "command": name,
                "papers": size,
                "runs": len(times),
                "median_s": statistics.median(times),
                "min_s": min(times),
            }
            rows.append(row)
        shutil.rmtree(tmp, ignore_errors=True)

    bare = rows[0]["median_s"]
    by_name = {(r["command"], r["papers"]): r["median_s"] for r in rows}
    help_over = by_name[("paperfeed --help", None)] - bare
    growth = by_name[("paperfeed rank", large)] / by_name[("paperfeed rank", small)]
    print()
    print(f"CLI wall time, median of {args.runs} fresh processes each, run in rounds (SQLite)")
    print(
        f"{'command':<28} {'papers':>7} {'median s':>9} {'min s':>7} {'- bare s':>9} {'x bare':>7}"
    )
    for r in rows:
        papers = f"{r['papers']:,}" if r["papers"] else ""
        print(
            f"{r['command']:<28} {papers:>7} {r['median_s']:9.3f} {r['min_s']:7.3f} "
            f"{r['median_s'] - bare:9.3f} {r['median_s'] / bare:7.1f}"
        )
    help_met = help_over <= HELP_OVER_BARE_S
    growth_met = growth <= RANK_GROWTH
    print()
    print(
        f"target --help <= {HELP_OVER_BARE_S} s over bare Python: {help_over:.3f} s "
        f"({'met' if help_met else 'NOT met'})"
    )
    print(
        f"target rank at {large:,} <= {RANK_GROWTH}x rank at {small:,}: {growth:.2f}x "
        f"({'met' if growth_met else 'NOT met'})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": sys.version.split()[0],
                "runs": args.runs,
                "papers_per_day": PER_DAY,
                "rows": rows,
                "stored_statistics_bytes": stored_bytes,
                "help_over_bare_s": help_over,
                "rank_growth": growth,
                "targets": {
                    "help_over_bare_s": HELP_OVER_BARE_S,
                    "rank_growth": RANK_GROWTH,
                    "help_met": help_met,
                    "rank_growth_met": growth_met,
                },
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
