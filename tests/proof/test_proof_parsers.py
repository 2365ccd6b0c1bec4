"""Property: the parsers take anything upstream can send and answer a result or a CrawlError.

Hugging Face's JSON and HTML are outside our control; whatever arrives, ``parse_api_items``
and ``parse_day_page`` either return what they could read or raise a ``CrawlError`` subclass
(SchemaDrift, IncompleteListing) that the crawler knows how to handle. Any other exception
(KeyError, TypeError, AttributeError, ...) would crash a crawl, so it fails these tests.
"""

from __future__ import annotations

import json
from datetime import date
from html import escape
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperfeed.crawler.api_items import ParsedItems, parse_api_items
from paperfeed.crawler.page import DayPage, parse_day_page
from paperfeed.errors import CrawlError

DAY = date(2026, 9, 22)
PROOF = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_ish = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = (
    "id", "title", "summary", "authors", "upvotes", "publishedAt", "submittedOnDailyAt",
    "githubRepo", "githubStars", "projectPage", "ai_summary", "ai_keywords", "organization",
)  # fmt: skip
# Items shaped like HF's, with every field any JSON value: reaches the per-field readers,
# which plain random dictionaries almost never do.
paper_like = st.fixed_dictionaries({}, optional={name: json_ish for name in FIELDS})
item_like = st.fixed_dictionaries(
    {"paper": paper_like},
    optional={"numComments": json_ish, "thumbnail": json_ish, "title": json_ish,
              "organization": json_ish, "summary": json_ish},
)  # fmt: skip
answers = json_ish | st.lists(item_like | json_ish, max_size=6)


def check_items(value: Any) -> ParsedItems | CrawlError:
    try:
        return parse_api_items(value, day=DAY)
    except CrawlError as exc:
        return exc


def check_page(html: str | bytes) -> DayPage | CrawlError:
    try:
        return parse_day_page(html, day=DAY)
    except CrawlError as exc:
        return exc


@PROOF
@given(answers)
def test_any_json_answer_parses_or_raises_a_crawl_error(value: Any) -> None:
    outcome = check_items(value)
    if isinstance(outcome, ParsedItems):
        assert outcome.received == (len(value) if isinstance(value, list) else 0)
        for entry in outcome.entries:
            assert entry.paper.arxiv_id
            assert entry.paper.title
            assert entry.upvotes >= 0
            assert entry.comments >= 0


@PROOF
@given(st.binary(max_size=2_000))
def test_any_bytes_as_a_page_parse_or_raise_a_crawl_error(data: bytes) -> None:
    check_page(data)


@PROOF
@given(st.text(max_size=2_000))
def test_any_text_as_a_page_parses_or_raises_a_crawl_error(text: str) -> None:
    check_page(text)


def page_html(props: str, cards: list[tuple[str, str, str]]) -> str:
    articles = "".join(
        f'<article><h3><a href="/papers/{escape(pid)}">{escape(title)}</a></h3>'
        f'<div role="checkbox"><div class="leading-none">{escape(votes)}</div></div></article>'
        for pid, title, votes in cards
    )
    return (
        f'<html><body><div data-target="DailyPapers" data-props="{escape(props)}"></div>'
        f"{articles}</body></html>"
    )


props_values = st.one_of(
    json_ish.map(json.dumps),
    st.fixed_dictionaries(
        {"dailyPapers": answers},
        optional={"dateString": json_ish, "periodType": json_ish},
    ).map(json.dumps),
    st.text(max_size=200),
)
cards = st.lists(
    st.tuples(st.text(max_size=15), st.text(max_size=30), st.text(max_size=6)), max_size=4
)


@PROOF
@given(props_values, cards)
def test_a_page_with_any_props_and_cards_parses_or_raises_a_crawl_error(
    props: str, page_cards: list[tuple[str, str, str]]
) -> None:
    outcome = check_page(page_html(props, page_cards))
    if isinstance(outcome, DayPage):
        assert outcome.claimed >= len(outcome.items.entries)
        assert outcome.source in ("props", "cards")
