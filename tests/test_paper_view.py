"""The one paper view mail, chat, feeds and pages show: URLs, author line, blurb, safe links."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from markdown_it import MarkdownIt

from paperfeed.chat.markdown import ChatLimits, render_chat
from paperfeed.paper_view import (
    MAX_BLURB_CHARS,
    PaperView,
    github_url,
    id_path,
    paper_url,
    paper_view,
    safe_url,
)
from paperfeed.ranking.interests import normalise_paper_id
from paperfeed.store.deliveries import EditionItem, PaperRow
from paperfeed.store.models import Paper

OLD_STYLE = "hep-th/9901001"
T0 = datetime(2026, 9, 22, 7, 0, tzinfo=UTC)


def row(**changes: Any) -> PaperRow:
    values: dict[str, Any] = {
        "arxiv_id": "2509.01234",
        "title": "A title",
        "abstract": "An abstract.",
        "authors": ("Ada Lovelace",),
        "github_repo": None,
        "github_stars": None,
        "ai_summary": None,
        "upvotes": 5,
        "comments": 1,
    }
    values.update(changes)
    return PaperRow(**values)


def view(**changes: Any) -> PaperView:
    stored = row(**changes)
    return paper_view(stored, upvotes=stored.upvotes, comments=stored.comments)


def test_an_old_style_id_keeps_its_slash_in_every_link() -> None:
    shown = view(arxiv_id=OLD_STYLE)
    assert shown.url == "https://huggingface.co/papers/hep-th/9901001"
    assert shown.arxiv_url == "https://arxiv.org/abs/hep-th/9901001"
    assert shown.pdf_url == "https://arxiv.org/pdf/hep-th/9901001"
    # A reader who pastes the link into "like:" gets the same paper back.
    assert normalise_paper_id(shown.url) == OLD_STYLE
    assert normalise_paper_id(shown.arxiv_url) == OLD_STYLE


def test_a_new_style_id_is_linked_as_is() -> None:
    shown = view(arxiv_id="2509.01234")
    assert shown.url == "https://huggingface.co/papers/2509.01234"
    assert shown.arxiv_url == "https://arxiv.org/abs/2509.01234"
    assert shown.pdf_url == "https://arxiv.org/pdf/2509.01234"
    assert normalise_paper_id(shown.url) == "2509.01234"


def test_a_chat_message_links_an_old_style_id_like_every_other_channel() -> None:
    shown = view(arxiv_id=OLD_STYLE, title="Strings and branes")
    message = render_chat(
        list_name="paperfeed",
        local_date=date(2026, 12, 4),
        items=[EditionItem(OLD_STYLE, "matched", 1, ("strings",))],
        papers={OLD_STYLE: shown},
        edition_link="https://papers.example.org/e/tok/9",
        limits=ChatLimits(4000, 250),
    )
    html = MarkdownIt("commonmark").render(message.body)
    assert re.findall(r'href="([^"]*)"', html)[0] == "https://huggingface.co/papers/hep-th/9901001"


@pytest.mark.parametrize(
    ("arxiv_id", "path"),
    [
        ("math.GT/0309136", "math.GT/0309136"),
        ("a b?c#d", "a%20b%3Fc%23d"),
        ("x/../../settings", "x/%2E%2E/%2E%2E/settings"),
        ("./x", "%2E/x"),
    ],
)
def test_an_odd_id_never_walks_the_link_off_the_papers_page(arxiv_id: str, path: str) -> None:
    assert id_path(arxiv_id) == path
    assert paper_url(arxiv_id) == "https://huggingface.co/papers/" + path


def test_the_store_paper_and_the_mailer_row_give_the_same_view() -> None:
    paper = Paper(
        arxiv_id=OLD_STYLE,
        title="  Strings\n and  branes ",
        abstract="We  study\nstrings.",
        authors=["A", "B", "C", "D", "E"],
        github_repo="https://github.com/lab/strings",
        github_stars=1234,
        ai_summary=None,
        first_seen_at=T0,
        updated_at=T0,
    )
    mailer_row = row(
        arxiv_id=OLD_STYLE,
        title=paper.title,
        abstract=paper.abstract,
        authors=tuple(paper.authors),
        github_repo=paper.github_repo,
        github_stars=paper.github_stars,
    )
    assert paper_view(paper, upvotes=5, comments=1) == paper_view(mailer_row, upvotes=5, comments=1)


def test_title_authors_and_blurb_are_tidy_and_short() -> None:
    shown = view(
        title="  Line\nbreaks\t and\x01 controls ",
        authors=("Ada  Lovelace", " ", "Alan\nTuring", "Grace Hopper", "Edsger Dijkstra", "X Y"),
        abstract="word " * 200,
    )
    assert shown.title == "Line breaks and controls"
    assert shown.authors == (
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
        "Edsger Dijkstra",
        "X Y",
    )
    assert shown.authors_line == "Ada Lovelace, Alan Turing, Grace Hopper and 2 others"
    assert len(shown.blurb) <= MAX_BLURB_CHARS
    assert shown.blurb.endswith("…")
    assert shown.abstract == ("word " * 200).strip()  # feeds show it whole


def test_four_authors_or_fewer_are_all_named() -> None:
    assert view(authors=("A", "B", "C", "D")).authors_line == "A, B, C, D"
    assert view(authors=()).authors_line == ""


def test_the_blurb_is_the_ai_summary_when_there_is_one() -> None:
    assert view(ai_summary="Short.", abstract="Long abstract.").blurb == "Short."
    assert view(ai_summary="  ", abstract="Long abstract.").blurb == "Long abstract."


def test_a_paper_without_a_title_shows_its_id() -> None:
    assert view(arxiv_id=OLD_STYLE, title=" \n ").title == OLD_STYLE


def test_stars_read_the_way_github_shows_them() -> None:
    assert view(github_stars=987).stars_label == "987"
    assert view(github_stars=1234).stars_label == "1.2k"
    assert view(github_stars=15_300).stars_label == "15k"
    assert view(github_stars=None).stars_label is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "ftp://example.org/x",
        "//example.org/x",
        "/relative",
        "http://[::1",  # an unclosed IPv6 host cannot even be split
        'https://example.org/"onmouseover=x',
        "https://example.org/\x01",
        "https://example.org/a b",
    ],
)
def test_only_absolute_http_links_are_kept(url: str) -> None:
    assert safe_url(url) is None
    assert view(github_repo=url).github_url is None


def test_http_links_are_kept_and_github_only_when_it_leads_to_github() -> None:
    assert safe_url(" https://example.org/p ") == "https://example.org/p"
    assert github_url("https://github.com/lab/repo") == "https://github.com/lab/repo"
    for elsewhere in (
        "https://github.com.evil.example/x",
        "https://github.com@evil.example/x",
        "http://github.com/lab/repo",
        "https://github.com:8443/lab/repo",
        "https://github.com:x/lab/repo",  # not a port number: refused, not an error
    ):
        assert github_url(elsewhere) is None, elsewhere


def test_a_project_page_comes_from_rows_that_have_one() -> None:
    paper = Paper(
        arxiv_id="2509.00001",
        title="T",
        project_page="https://example.org/project",
        first_seen_at=T0,
        updated_at=T0,
    )
    assert paper_view(paper, upvotes=0).project_url == "https://example.org/project"
    hostile = Paper(
        arxiv_id="2509.00002",
        title="T",
        project_page="javascript:alert(1)",
        first_seen_at=T0,
        updated_at=T0,
    )
    assert paper_view(hostile, upvotes=0).project_url is None
    assert view().project_url is None  # the mailer's row carries none
