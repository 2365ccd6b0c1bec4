"""Topic feeds under a crowd of anonymous clients: pages and /healthz keep answering.

Issue 14, item 3: every distinct ``?q=`` was built under one lock while its request held a
worker thread and a database connection, so 16 clients asking for different topics made
the home page take 29 s and ``/healthz`` answer 503. This drives a real ``paperfeed
serve`` over a week of stored lists with more simultaneous distinct topics than the
database pool has connections, and checks what every client got: feeds 200 or a 503 that
says when to retry, and the home page and health check answering 200 all along. The
timeouts are generous: a feed may wait its turn in line for a minute, a page for 10 s
(before the fix it waited 30 s for a database connection, then failed).
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from paperfeed.web.app import TOPIC_BUILD_SLOTS
from tests.support.corpus_days import store_corpus_days
from tests.web.web_process import served
from tests.web.web_samples import SQLITE_ONLY

DAYS = 7
PER_DAY = 60
CLIENTS = 48  # over the pool's 15 connections, and over the 40 worker threads
FEED_PATIENCE = httpx.Timeout(120.0)
PAGE_PATIENCE = httpx.Timeout(10.0)
WORDS = [
    "attention",
    "diffusion",
    "retrieval",
    "agents",
    "reasoning",
    "video",
    "speech",
    "robot",
    "graph",
    "vision",
    "alignment",
    "quantization",
    "distillation",
    "benchmark",
    "tokenizer",
    "memory",
    "planning",
    "translation",
]


def topics(n: int) -> list[str]:
    """``n`` distinct topic queries: each one a cache miss that ranks the week."""
    return [f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7 + 3) % len(WORDS)]} {i}" for i in range(n)]


async def crowd(url: str) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """Distinct topic feeds all at once; meanwhile the home page and /healthz, one by one."""
    async with httpx.AsyncClient(
        base_url=url, limits=httpx.Limits(max_connections=CLIENTS + 4)
    ) as http:
        feeds = asyncio.gather(
            *(
                http.get("/feeds/topic.atom", params={"q": q}, timeout=FEED_PATIENCE)
                for q in topics(CLIENTS)
            )
        )
        pages: list[httpx.Response] = []

        async def visit() -> None:
            while not feeds.done():
                pages.append(await http.get("/healthz", timeout=PAGE_PATIENCE))
                pages.append(await http.get("/", timeout=PAGE_PATIENCE))

        await asyncio.gather(feeds, visit())
        return list(feeds.result()), pages


@pytest.mark.slow
@SQLITE_ONLY
def test_a_crowd_of_distinct_topic_feeds_never_starves_pages_or_health(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_corpus_days(engine, date(2026, 9, 14), DAYS, PER_DAY)  # a settled week
    settings = {
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_SECRET_KEY": "feed-load-secret-" + "x" * 32,
    }
    with served(tmp_path, settings) as url:
        feeds, pages = asyncio.run(crowd(url))
        after = httpx.get(
            url + "/feeds/topic.rss", params={"q": "speech translation"}, timeout=FEED_PATIENCE
        )

    assert len(pages) >= 2, "the crowd was served before a page was even asked for"
    assert [p.status_code for p in pages] == [200] * len(pages), [
        (p.request.url.path, p.status_code, p.text[:200]) for p in pages if p.status_code != 200
    ]
    statuses = [f.status_code for f in feeds]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= TOPIC_BUILD_SLOTS
    for refused in (f for f in feeds if f.status_code == 503):
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["cache-control"] == "no-store"
    for built in (f for f in feeds if f.status_code == 200):
        assert built.text.startswith("<?xml")
    # Nothing stays wedged once the crowd has gone.
    assert after.status_code == 200
