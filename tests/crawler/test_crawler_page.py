"""Parsing the Daily Papers page (props and cards), on the real capture of 2026-09-28."""

from __future__ import annotations

import html
import json
from datetime import date
from typing import Any

import pytest

from paperfeed.crawler.page import ShortListing, parse_day_page, read_page
from paperfeed.errors import SchemaDrift
from tests.crawler.hf_responses import PROPS, without_props
from tests.support.hf_days import render_page

DAY = date(2026, 9, 28)


def _with_props(page: bytes, props: dict[str, Any]) -> bytes:
    escaped = html.escape(json.dumps(props), quote=True).encode()
    replacement = b' data-props="' + escaped + b'"'
    return PROPS.sub(lambda m: m.group(1) + replacement, page, count=1)


def _props(page: bytes) -> dict[str, Any]:
    props = read_page(page).props
    assert props is not None
    return props


def test_real_page_yields_its_28_papers_from_the_props(page_html: bytes) -> None:
    page = parse_day_page(page_html, day=DAY)

    assert (page.source, page.claimed, page.shown_day, page.period) == ("props", 28, DAY, "day")
    assert len(page.items.entries) == 28
    assert page.items.warnings == ()
    first = page.items.entries[0]
    assert first.paper.arxiv_id == "2609.31620"
    assert first.paper.title.startswith("FuseReg: Regularizing Layer Fusion")
    assert first.paper.abstract.startswith("Representation autoencoders (RAEs)")
    assert (first.upvotes, first.comments, first.listed_on) == (110, 2, DAY)


def test_cards_of_the_real_page_agree_with_its_props(page_html: bytes) -> None:
    content = read_page(page_html)
    props = parse_day_page(page_html, day=DAY).items.entries

    assert content.card_count == 28
    assert [c.paper.arxiv_id for c in content.cards] == [p.paper.arxiv_id for p in props]
    assert [c.paper.title for c in content.cards] == [p.paper.title for p in props]
    assert [c.upvotes for c in content.cards] == [p.upvotes for p in props]
    assert [c.comments for c in content.cards] == [p.comments for p in props]


def test_page_without_props_falls_back_to_the_cards(page_html: bytes) -> None:
    page = parse_day_page(without_props(page_html), day=DAY)

    assert (page.source, page.claimed, page.shown_day) == ("cards", 28, None)
    assert "no div" in (page.props_problem or "")
    by_id = {e.paper.arxiv_id: e for e in page.items.entries}
    assert by_id["2609.31620"].upvotes == 110
    assert by_id["2609.31291"].upvotes == 0  # the card shows "-"
    assert by_id["2609.31394"].comments == 0  # no #community link at all
    assert by_id["2609.31394"].paper.thumbnail is None  # a video, not an image
    assert by_id["2609.31620"].paper.thumbnail == (
        "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2609.31620.png"
    )


def test_props_that_are_not_json_fall_back_to_the_cards(page_html: bytes) -> None:
    broken = page_html.replace(b'data-props="{&quot;canSubmit', b'data-props="{canSubmit', 1)

    page = parse_day_page(broken, day=DAY)

    assert page.source == "cards"
    assert "not JSON" in (page.props_problem or "")


def test_page_claiming_28_papers_but_yielding_27_is_an_error(page_html: bytes) -> None:
    props = _props(page_html)
    props["dailyPapers"] = props["dailyPapers"][:27]

    with pytest.raises(ShortListing, match="shows 28 papers but its data yields 27") as caught:
        parse_day_page(_with_props(page_html, props), day=DAY)

    assert (caught.value.claimed, caught.value.found) == (28, 27)
    assert "2604.02103" in str(caught.value)


def test_fewer_cards_than_props_is_fine(page_html: bytes) -> None:
    items = _props(page_html)["dailyPapers"]
    lazy = render_page(items, day=DAY).replace(b"<article", b"<div", 5)

    page = parse_day_page(lazy, day=DAY)

    assert (page.source, len(page.items.entries), page.claimed) == ("props", 28, 28)


def test_page_with_neither_props_nor_cards_is_schema_drift() -> None:
    with pytest.raises(SchemaDrift, match="neither readable props"):
        parse_day_page(b"<html><body><p>We are down for maintenance</p></body></html>", day=DAY)


def test_props_text_is_decoded_once_not_twice(page_html: bytes) -> None:
    props = _props(page_html)
    props["dailyPapers"] = props["dailyPapers"][:1]
    props["dailyPapers"][0]["paper"]["title"] = 'Less &lt; More: "Q&A" & <tags>'

    page = parse_day_page(render_page(props["dailyPapers"], day=DAY), day=DAY)

    assert page.items.entries[0].paper.title == 'Less &lt; More: "Q&A" & <tags>'
    cards = read_page(render_page(props["dailyPapers"], day=DAY)).cards
    assert cards[0].paper.title == 'Less &lt; More: "Q&A" & <tags>'


def test_page_showing_another_day_reports_the_day_it_shows(page_html: bytes) -> None:
    page = parse_day_page(page_html, day=date(2026, 10, 1))

    assert page.shown_day == DAY
