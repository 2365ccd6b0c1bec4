"""Parsing Hugging Face items (API and page props) into records, on the real captures."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from paperfeed.crawler.api_items import ListedPaper, parse_api_items, rank_listings
from paperfeed.crawler.records import PaperRecord
from paperfeed.errors import SchemaDrift

DAY = date(2026, 8, 3)


def test_untrimmed_api_items_map_every_field(api_full: list[dict[str, Any]]) -> None:
    parsed = parse_api_items(api_full, day=DAY)

    assert parsed.warnings == ()
    assert [e.paper.arxiv_id for e in parsed.entries] == [i["paper"]["id"] for i in api_full]
    first = parsed.entries[0]
    assert (
        first.paper.title == "Constitutional Midtraining: Content Presence Drives Alignment Gains"
    )
    assert first.paper.abstract.startswith("Post-training alignment is often shallow")
    assert first.paper.authors[:2] == ("Desiree Cho", "Cameron Tice")
    assert first.paper.published_at == datetime(2026, 7, 29, tzinfo=UTC)
    assert first.paper.github_repo == "https://github.com/desBugger/constitutional-mt"
    assert first.paper.github_stars == 2
    assert first.paper.project_page == "https://www.lesswrong.com/posts/n5htoDGvKKJFAjji2"
    assert first.paper.organization == "University of Oxford"
    assert first.paper.thumbnail.endswith("/papers/2607.26654.png")  # type: ignore[union-attr]
    assert (first.upvotes, first.comments, first.listed_on) == (3, 1, DAY)
    assert first.paper.raw == api_full[0]


def test_item_with_missing_optional_fields_is_kept_with_defaults(
    api_trimmed: list[dict[str, Any]],
) -> None:
    parsed = parse_api_items(api_trimmed, day=date(2026, 9, 29))

    assert len(parsed.entries) == 14
    assert parsed.warnings == ()
    paper = parsed.entries[0].paper
    assert paper.arxiv_id == "2609.33485"
    assert paper.abstract.startswith("While Large Language Models")
    assert (paper.authors, paper.github_repo, paper.organization, paper.thumbnail) == (
        (),
        None,
        None,
        None,
    )


def test_item_without_id_or_title_is_skipped_with_a_warning(
    api_full: list[dict[str, Any]],
) -> None:
    items = copy.deepcopy(api_full)
    del items[0]["paper"]["id"]
    items[1]["paper"]["title"] = "   "
    items[1]["title"] = ""

    parsed = parse_api_items(items, day=DAY)

    assert [e.paper.arxiv_id for e in parsed.entries] == [api_full[2]["paper"]["id"]]
    assert parsed.skipped == 2
    assert parsed.received == 3
    assert any("item 0" in w and "has no arXiv id; skipped" in w for w in parsed.warnings)
    assert any("item 1" in w and "has no title; skipped" in w for w in parsed.warnings)
    assert all(w.startswith("2026-08-03: ") for w in parsed.warnings)


def test_optional_field_of_the_wrong_type_is_dropped_with_a_warning(
    api_full: list[dict[str, Any]],
) -> None:
    items = copy.deepcopy(api_full)
    items[0]["paper"]["githubStars"] = "lots"
    items[0]["paper"]["publishedAt"] = "last tuesday"
    items[0]["numComments"] = None

    parsed = parse_api_items(items, day=DAY)

    paper = parsed.entries[0].paper
    assert (paper.github_stars, paper.published_at, parsed.entries[0].comments) == (None, None, 0)
    assert len(parsed.warnings) == 2
    assert any("githubStars is a str, not a count" in w for w in parsed.warnings)
    assert any("publishedAt is a str, not an ISO 8601 time" in w for w in parsed.warnings)


def test_an_answer_that_is_not_a_list_is_schema_drift() -> None:
    with pytest.raises(SchemaDrift, match="expected a JSON list"):
        parse_api_items({"papers": []}, day=DAY)


def test_items_none_of_which_can_be_read_are_schema_drift_not_an_empty_day() -> None:
    with pytest.raises(SchemaDrift, match="none of 2 items"):
        parse_api_items([{"id": "2609.1", "name": "x"}, "junk"], day=DAY)


def test_an_empty_answer_is_an_empty_list() -> None:
    parsed = parse_api_items([], day=DAY)

    assert (parsed.entries, parsed.skipped, parsed.warnings) == ((), 0, ())


def test_text_is_whitespace_normalised_but_never_unescaped(
    api_full: list[dict[str, Any]],
) -> None:
    items = copy.deepcopy(api_full[:1])
    items[0]["paper"]["title"] = "  Q&amp;A  &lt;tags&gt;\n  and\tmore "
    items[0]["paper"]["summary"] = "Line one.\n\nLine  two & <b>three</b>."

    paper = parse_api_items(items, day=DAY).entries[0].paper

    assert paper.title == "Q&amp;A &lt;tags&gt; and more"
    assert paper.abstract == "Line one. Line two & <b>three</b>."


def test_a_paper_listed_twice_is_kept_once(api_full: list[dict[str, Any]]) -> None:
    parsed = parse_api_items(api_full + api_full[:1], day=DAY)

    assert len(parsed.entries) == 3
    assert parsed.skipped == 1
    assert "listed twice" in parsed.warnings[0]


def _entry(arxiv_id: str, upvotes: int) -> ListedPaper:
    return ListedPaper(
        paper=PaperRecord(arxiv_id=arxiv_id, title=arxiv_id), upvotes=upvotes, comments=0
    )


def test_daily_rank_is_by_upvotes_with_ties_in_source_order() -> None:
    entries = [_entry("a", 3), _entry("b", 9), _entry("c", 3), _entry("d", 0)]

    listings = rank_listings(entries, day=DAY, kind="daily")

    assert [(x.arxiv_id, x.rank) for x in listings] == [("b", 1), ("a", 2), ("c", 3), ("d", 4)]
    assert {x.listing_date for x in listings} == {DAY}


def test_trending_rank_keeps_hugging_faces_order() -> None:
    entries = [_entry("a", 3), _entry("b", 9)]

    listings = rank_listings(entries, day=DAY, kind="trending")

    assert [(x.arxiv_id, x.rank, x.kind) for x in listings] == [
        ("a", 1, "trending"),
        ("b", 2, "trending"),
    ]
