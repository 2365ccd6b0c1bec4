"""Benchmark: parsing the real Daily Papers page, paperfeed's parser vs BeautifulSoup.

Every parser does the same extraction from data/hf/papers_2026-09-28.html (435 KB):
the ``data-props`` JSON of ``div[data-target="DailyPapers"]`` plus, from each ``<article>``
card, the paper id, title, upvotes, comments and thumbnail. The results are checked equal
before anything is timed. Baselines (BeautifulSoup with html.parser and with lxml) run in the
same process; the table gives medians, the ratio to paperfeed's parser, and the DESIGN target
(>= 10x faster than BeautifulSoup). JSON goes to bench/results/parse.json.

    .venv/bin/python bench/parse_bench.py [--repeat 30] [--page PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Tag

from paperfeed.crawler.page import parse_day_page, read_page

# `python bench/x.py` puts only bench/ on the path; the root makes tests.support importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.data_paths import HF_FIXTURES

ROOT = Path(__file__).resolve().parents[1]
PAGE = HF_FIXTURES / "papers_2026-09-28.html"
RESULTS = ROOT / "bench" / "results" / "parse.json"
TARGET_RATIO = 10.0

Card = tuple[str, str, str, str, str | None]
Extraction = tuple[dict[str, Any], list[Card]]


def with_paperfeed(page: bytes) -> Extraction:
    """paperfeed's parser (selectolax lexbor), through the crawler's own ``read_page``."""
    content = read_page(page)
    assert content.props is not None
    cards = [
        (c.paper.arxiv_id, c.paper.title, str(c.upvotes), str(c.comments), c.paper.thumbnail)
        for c in content.cards
    ]
    return content.props, cards


def with_soup(features: str) -> Callable[[bytes], Extraction]:
    """The same extraction written the usual BeautifulSoup way."""

    def extract(page: bytes) -> Extraction:
        soup = BeautifulSoup(page, features)
        node = soup.select_one('div[data-target="DailyPapers"]')
        assert node is not None
        props = json.loads(str(node["data-props"]))
        return props, [_soup_card(article) for article in soup.select("article")]

    return extract


def _soup_card(article: Tag) -> Card:
    link = article.select_one('h3 a[href^="/papers/"]')
    assert link is not None
    arxiv_id = str(link["href"]).removeprefix("/papers/").split("#")[0]
    votes = article.select_one("div[role=checkbox] .leading-none")
    comments = article.select_one('a[href$="#community"]')
    image = article.select_one(':scope > a[href^="/papers/"] img')
    return (
        arxiv_id,
        " ".join(link.get_text().split()),
        _number(votes.get_text() if votes else ""),
        _number(comments.get_text() if comments else ""),
        str(image["src"]) if image is not None else None,
    )


def _number(text: str) -> str:
    value = text.strip()
    return value if value.isdigit() else "0"


def full_parse(page: bytes) -> Extraction:
    """paperfeed's whole page parse: props, items into records, cards, completeness check."""
    parsed = parse_day_page(page, day=date(2026, 9, 28))
    return {"dailyPapers": [None] * parsed.claimed}, []


def timed(extract: Callable[[bytes], Extraction], page: bytes, repeat: int) -> list[float]:
    """Milliseconds per run, after one warm-up run."""
    extract(page)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        extract(page)
        runs.append((time.perf_counter_ns() - start) / 1e6)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per parser")
    parser.add_argument("--page", type=Path, default=PAGE, help="a captured Daily Papers page")
    args = parser.parse_args()
    page = args.page.read_bytes()

    ours = with_paperfeed(page)
    for name in ("html.parser", "lxml"):
        theirs = with_soup(name)(page)
        if theirs != ours:
            raise SystemExit(f"BeautifulSoup ({name}) extracted something else; fix the bench")
    papers, cards = len(ours[0]["dailyPapers"]), len(ours[1])

    contenders: list[tuple[str, Callable[[bytes], Extraction]]] = [
        ("paperfeed read_page (selectolax lexbor)", with_paperfeed),
        ("paperfeed parse_day_page (+ records)", full_parse),
        ("BeautifulSoup html.parser", with_soup("html.parser")),
        ("BeautifulSoup lxml", with_soup("lxml")),
    ]
    timings = [(name, timed(extract, page, args.repeat)) for name, extract in contenders]
    base = statistics.median(timings[0][1])
    rows = [
        {
            "parser": name,
            "median_ms": statistics.median(runs),
            "min_ms": min(runs),
            "x_slower_than_paperfeed": statistics.median(runs) / base,
        }
        for name, runs in timings
    ]

    print(
        f"page: {args.page.name}, {len(page) / 1024:.0f} KiB, {papers} props papers, "
        f"{cards} cards; {args.repeat} runs each (median)"
    )
    print(f"{'parser':<42}{'median ms':>11}{'min ms':>9}{'ratio':>8}")
    for row in rows:
        print(
            f"{row['parser']:<42}{row['median_ms']:>11.2f}{row['min_ms']:>9.2f}"
            f"{row['x_slower_than_paperfeed']:>7.1f}x"
        )
    worst = min(statistics.median(runs) / base for _, runs in timings[2:])
    verdict = "meets" if worst >= TARGET_RATIO else "MISSES"
    print(
        f"paperfeed is {worst:.1f}x faster than the fastest BeautifulSoup; "
        f"{verdict} the >= {TARGET_RATIO:.0f}x target"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "parse",
                "page": args.page.name,
                "page_bytes": len(page),
                "papers": papers,
                "cards": cards,
                "repeat": args.repeat,
                "rows": rows,
                "speedup_vs_fastest_beautifulsoup": worst,
                "target": TARGET_RATIO,
                "meets_target": worst >= TARGET_RATIO,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
