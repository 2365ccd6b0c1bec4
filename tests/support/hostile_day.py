"""A hostile Hugging Face day, for every crawl, rank, mail, feed and page test to reuse.

Issue 14: one bad upstream value must never stop the service. This module holds the values a
broken or malicious upstream can send — lone UTF-16 surrogates, NUL and control characters,
JSON nested 100,000 deep, ids longer than the store's key, 1 MB words and strings, markup,
bidi and invisible characters — as API items of real shape (copied from data/hf/), and a
fake Hugging Face that serves them over real HTTP next to ordinary days.

* ``hostile_items()``: the hostile day's API items: ``GOOD_IDS`` are ordinary papers, the
  others carry one kind of hostility each (``REPAIRABLE_IDS`` can be stored once repaired,
  ``UNSTORABLE_IDS`` cannot: their id is no arXiv id).
* ``deep_json(depth)``: a JSON text nested ``depth`` deep (Python's parser gives up near 1,000).
* ``HostileHF``: ``FakeHF`` that also serves raw bodies; ``hostile_hf()`` builds one with the
  captured days, ``HOSTILE_DAY`` (hostile items) and ``DEEP_DAY`` (API answer and page props
  nested 100,000 deep: nothing readable, an error day).
* ``hostile_result()``: the hostile day as the crawler returns it (repaired, the unstorable
  items dropped), for tests that store it with ``save_day`` instead of crawling.
* ``HOSTILE_STRINGS``: the hostile strings by name, for tests of rendering and escaping.
"""

from __future__ import annotations

import copy
import html
import json
from datetime import date
from typing import Any

from paperfeed.crawler.api_items import parse_api_items, rank_listings
from paperfeed.crawler.records import DayResult
from tests.support.fake_hf import FakeHF, _Answer
from tests.support.hf_days import (
    FIXTURE_PAGE_DAY,
    FIXTURES_DIR,
    Item,
    fixture_items,
    synthetic_days,
)

HOSTILE_DAY = date(2026, 9, 30)
DEEP_DAY = date(2026, 10, 1)
AFTER_DAY = date(2026, 10, 2)  # an ordinary day crawled after the hostile ones
MEGABYTE = 1_000_000

LONG_ID = "2609.3" + "0" * 60  # 66 characters: more than the store's 32-character key
# What an API emits when it cuts text mid-emoji or mid-𝔼: half of a surrogate pair.
LONE_HIGH = "\ud835"
LONE_LOW = "\udd3c"

HOSTILE_STRINGS: dict[str, str] = {
    "surrogates": f"Cut mid-emoji {LONE_HIGH} and mid-letter {LONE_LOW} end",
    "controls": "NUL\x00 bell\x07 escape\x1b[31mred\x1b[0m delete\x7f end",
    "markup": (
        '<script>alert("x")</script><img src=x onerror=alert(1)> & &amp; ]]> '
        "<![CDATA[ x ]]> {{ 7*7 }} {% raw %} [/x] [bold]rich[/bold] \"quoted\" 'single'"
    ),
    "bidi": "safe \u202egnp.exe\u202c \u2066isolate\u2069 zero\u200bwidth \ufeffbom",
    "long_word": "a" * MEGABYTE,
    "long_alnum": "a1" * (MEGABYTE // 2),
    "long_words": "word " * (MEGABYTE // 5),
    "long_definition": "State Space (SS " * (MEGABYTE // 16),
    "megabyte": ("The quick brown fox jumps over the lazy dog. " * (MEGABYTE // 45 + 1))[:MEGABYTE],
}

# The whole hostile day is an 8 MB API answer, under the crawler's 16 MiB cap.
# What the 1 MB texts of a paper are made of: every pattern a tokenizer could choke on.
ADVERSARIAL_TEXT = "".join(
    HOSTILE_STRINGS[name][: MEGABYTE // 4]
    for name in ("long_word", "long_alnum", "long_words", "long_definition")
)

GOOD_IDS = ("2609.30001", "2609.30002", "2609.30003")
REPAIRABLE_IDS = (
    "2609.30010",  # lone surrogates in title and summary
    "2609.30011",  # NUL and control characters
    "2609.30012",  # markup, bidi and invisible characters
    "2609.30013",  # a 1 MB word as summary, a 1 MB title, 1 MB AI summary
    "2609.30014",  # 1 MB strings, thousands of entries, huge counts, a time past 9999
    "2609.30015",  # a field nested 500 deep (parses, but no store should keep it)
    # and a time before year 1 in UTC
)
UNSTORABLE_IDS = (LONG_ID, f"2609.3{LONE_HIGH}", "2609.30016\x00", "../../etc/passwd?x=<b>")


def deep_json(depth: int) -> str:
    """A JSON text of ``depth`` nested lists around one paper-like object."""
    return "[" * depth + '{"id": "x"}' + "]" * depth


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"n": value}
    return value


def _dated_paper(base: Item, arxiv_id: str, title: str, *, day: date, **fields: Any) -> Item:
    item = copy.deepcopy(base)
    paper = item.setdefault("paper", {})
    paper.update(
        id=arxiv_id,
        title=title,
        submittedOnDailyAt=f"{day.isoformat()}T00:00:00.000Z",
        **fields,
    )
    item["title"] = title
    return item


def hostile_items(day: date = HOSTILE_DAY) -> list[Item]:
    """The hostile day's API items (listed on ``day``), in list order: good papers between
    hostile ones."""
    source = fixture_items(FIXTURES_DIR)

    def _paper(base: Item, arxiv_id: str, title: str, **fields: Any) -> Item:
        return _dated_paper(base, arxiv_id, title, day=day, **fields)

    s = HOSTILE_STRINGS
    good = [
        _paper(source[i], arxiv_id, f"Sparse attention for long-context transformers, part {i}")
        for i, arxiv_id in enumerate(GOOD_IDS)
    ]
    mega = s["megabyte"]
    repairable = [
        _paper(source[3], REPAIRABLE_IDS[0], s["surrogates"], summary=s["surrogates"] * 3),
        _paper(source[4], REPAIRABLE_IDS[1], s["controls"], summary=s["controls"]),
        _paper(source[5], REPAIRABLE_IDS[2], s["markup"] + s["bidi"], summary=s["markup"]),
        _paper(
            source[6],
            REPAIRABLE_IDS[3],
            s["long_alnum"],
            summary=s["long_word"],
            ai_summary=ADVERSARIAL_TEXT,
        ),
        _paper(
            source[7],
            REPAIRABLE_IDS[4],
            "Huge fields " + s["bidi"],
            summary=ADVERSARIAL_TEXT,
            authors=[{"name": mega[:300] + LONE_HIGH}] * 2000,
            ai_keywords=[s["long_word"], s["markup"], LONE_LOW] + ["kw"] * 2000,
            githubRepo="https://github.com/" + "x" * MEGABYTE,
            projectPage="javascript:alert(1)//" + mega[:100],
            organization={"fullname": mega, "name": "org"},
            githubStars="9" * 30,
            publishedAt="9999-12-31T23:59:59-23:59",  # past year 9999 in UTC
        ),
        _paper(
            source[8],
            REPAIRABLE_IDS[5],
            "Nested extras in " + "\U0001d53c" * 400,  # 𝔼: 4 bytes of UTF-8 each
            nested=_nested(500),
            publishedAt="0001-01-01T00:00:00+14:00",  # before year 1 in UTC
        ),
    ]
    unstorable = [_paper(source[9 + n], i, f"Bad id {n}") for n, i in enumerate(UNSTORABLE_IDS)]
    items = [good[0], *repairable[:3], good[1], *unstorable, *repairable[3:], good[2]]
    # Upvotes make the order deterministic and put hostile papers at the top of the list.
    for rank, item in enumerate(items):
        item["paper"]["upvotes"] = 1000 - rank
    # Counts no integer column holds (PostgreSQL's integer, SQLite's 64 bits).
    repairable[4]["paper"]["upvotes"] = 10**30
    repairable[4]["numComments"] = 2**63
    return items


def _deep_page(day: date, depth: int) -> bytes:
    props = f'{{"dateString": "{day.isoformat()}", "dailyPapers": {deep_json(depth)}}}'
    return (
        '<!doctype html><html><body><div data-target="DailyPapers" data-props="'
        + html.escape(props, quote=True)
        + '"></div></body></html>'
    ).encode()


class HostileHF(FakeHF):
    """``FakeHF`` that answers ``/api/daily_papers`` for some days with a raw body (first page;
    later pages are empty), as a broken upstream would."""

    raw_api: dict[date, bytes]

    def _daily_api(self, query: dict[str, str]) -> _Answer:
        raw = getattr(self, "raw_api", {})
        try:
            day = date.fromisoformat(query.get("date", ""))
        except ValueError:
            return super()._daily_api(query)
        if day in raw:
            body = raw[day] if query.get("p", "0") == "0" else b"[]"
            return _Answer(200, "application/json; charset=utf-8", body)
        return super()._daily_api(query)


def hostile_hf(
    *, deep_depth: int = 100_000, hostile_day: date = HOSTILE_DAY, deep_day: date = DEEP_DAY
) -> HostileHF:
    """The captured days plus ``hostile_day``, ``deep_day`` and an ordinary ``AFTER_DAY``
    (5 papers), ready to ``with``. Move the hostile days to crawl them as recent days."""
    fake = HostileHF.from_fixtures(FIXTURES_DIR)
    assert isinstance(fake, HostileHF)
    fake.days.update(synthetic_days(fixture_items(), start=AFTER_DAY, count=1, per_day=5))
    fake.days[hostile_day] = hostile_items(hostile_day)
    fake.days[deep_day] = [{"paper": {"id": "2610.00001", "title": "placeholder"}}]
    fake.raw_api = {deep_day: deep_json(deep_depth).encode()}
    fake.pages[deep_day] = _deep_page(deep_day, deep_depth)
    return fake


def ordinary_days() -> tuple[date, ...]:
    """The ordinary days the fake serves beside the hostile ones."""
    return (date(2026, 8, 3), FIXTURE_PAGE_DAY, date(2026, 9, 29), AFTER_DAY)


def hostile_result() -> DayResult:
    """The hostile day parsed from its API answer, as ``fetch_day`` would return it."""
    parsed = parse_api_items(json.loads(as_json(hostile_items())), day=HOSTILE_DAY)
    return DayResult(
        day=HOSTILE_DAY,
        kind="daily",
        status="ok",
        source="api",
        papers=tuple(entry.paper for entry in parsed.entries),
        listings=rank_listings(parsed.entries, day=HOSTILE_DAY, kind="daily"),
        claimed=parsed.received,
        warnings=parsed.warnings,
    )


def as_json(items: list[Item]) -> bytes:
    """Items as an API body, surrogates escaped the way a JSON API writes them."""
    return json.dumps(items).encode()
