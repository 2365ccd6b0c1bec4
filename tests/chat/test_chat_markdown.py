"""The chat message: what it says, inert hostile text, and the service's size limit."""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from paperfeed.chat.markdown import ChatLimits, chat_text, render_chat
from paperfeed.paper_view import PaperView, paper_view
from paperfeed.store.deliveries import EditionItem
from tests.chat.chat_samples import paper

DAY = date(2026, 12, 4)
EDITION = "https://papers.example.org/e/tok/9"
HOSTILE = (
    "@everyone @here <!channel> <!here> <@U024BE7LH> <#C123|general> "
    "[click me](javascript:alert(1)) ![img](https://evil.example/x.png) "
    "<https://evil.example|Download> `code` **bold** ||spoiler|| https://evil.example/phish"
)


def views(titles: dict[str, str]) -> dict[str, PaperView]:
    return {pid: paper_view(paper(pid, t), upvotes=3) for pid, t in titles.items()}


def links_in(markdown: str) -> list[str]:
    """Every link target a CommonMark renderer makes of ``markdown`` (links and images)."""
    html = MarkdownIt("commonmark").render(markdown)
    return re.findall(r'(?:href|src)="([^"]*)"', html)


def render(titles: dict[str, str], items: list[EditionItem], limit: int = 4000, title: int = 250):
    return render_chat(
        list_name="paperfeed",
        local_date=DAY,
        items=items,
        papers=views(titles),
        edition_link=EDITION,
        limits=ChatLimits(limit, title),
    )


def test_a_hostile_title_is_inert_in_the_message_title_too() -> None:
    """Discord puts the title in front of the markdown body: it must be escaped as well."""
    message = render({"2512.00001": HOSTILE}, [EditionItem("2512.00001", "matched", 1, ())])
    assert message.title.startswith("paperfeed · Fri 4 Dec: ")
    assert len(message.title) <= 250
    for mention in ("@everyone", "@here", "<!channel>", "<@U", "https://evil"):
        assert mention not in message.title
    assert links_in(message.title + "\r\n" + message.body) == [
        "https://huggingface.co/papers/2512.00001",
        EDITION,
    ]
    short = render(
        {"2512.00001": "*" * 300}, [EditionItem("2512.00001", "matched", 1, ())], title=40
    )
    assert len(short.title) <= 40
    assert not short.title.endswith("\\")  # never a dangling escape


def test_the_body_leaves_room_for_the_title() -> None:
    titles = {f"2512.{i:05d}": f"Paper {i} " + "word " * 20 for i in range(40)}
    items = [EditionItem(pid, "matched", n, ()) for n, pid in enumerate(titles)]
    message = render(titles, items, limit=2000, title=250)
    assert len(message.title) + 2 + len(message.body) <= 2000
    assert message.papers_cut > 0


def test_hostile_titles_and_reasons_cannot_ping_or_link() -> None:
    titles = {"2512.00001": HOSTILE, "2512.00002": HOSTILE}
    items = [
        EditionItem("2512.00001", "matched", 1, (f"matches {HOSTILE}",)),
        EditionItem("2512.00002", "trending", 2, ()),
    ]
    message = render(titles, items, title=0)
    for text in (message.body, message.title):
        for mention in ("@everyone", "@here", "<!channel>", "<!here>", "<@U", "<#C", "<https"):
            assert mention not in text
        assert "https://evil.example" not in text  # no bare URL for a chat app to link
    assert links_in(message.body) == [
        "https://huggingface.co/papers/2512.00001",
        "https://huggingface.co/papers/2512.00002",
        EDITION,
    ]
    # The words are all still there for people to read.
    html = MarkdownIt("commonmark").render(message.body)
    assert "click me" in html
    assert "javascript" in html
    assert "spoiler" in html


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=200), st.text(max_size=100))
def test_no_text_makes_a_link_or_a_mention(title: str, reason: str) -> None:
    items = [EditionItem("2512.00001", "matched", 1, (reason,))]
    message = render({"2512.00001": title}, items, title=0)
    assert links_in(message.body) == ["https://huggingface.co/papers/2512.00001", EDITION]
    assert "<" not in message.body
    assert ">" not in message.body
    assert not re.search(r"@(everyone|here|channel)", message.body)


def test_chat_text_escapes_markdown_but_keeps_the_words() -> None:
    assert chat_text("A *new* [model] (v2)") == r"A \*new\* \[model\] (v2)"
    assert chat_text("Diffusion-based models v2.0 #1") == "Diffusion-based models v2.0 #1"
    assert chat_text("line\nbreak\u202eevil") == "line breakevil"  # one line, no bidi control


def test_reasons_are_the_editions_own_and_votes_are_shown() -> None:
    titles = {"2512.00001": "Diffusion for proteins", "2512.00002": "Trending thing"}
    items = [
        EditionItem("2512.00001", "matched", 1, ('matches "protein design"', "by Ada Lovelace")),
        EditionItem("2512.00002", "trending", 2, ("never shown for trending",)),
    ]
    body = render(titles, items).body
    assert 'Why: matches "protein design"; by Ada Lovelace' in body
    assert "never shown" not in body
    assert body.count("▲ 3 votes") == 2
    assert body.index("**Your papers**") < body.index("**Also trending**")
    assert body.endswith(f"[Read this edition on the web]({EDITION})")


def test_a_service_without_titles_gets_the_headline_in_the_body() -> None:
    items = [EditionItem("2512.00001", "matched", 1, ())]
    with_title = render({"2512.00001": "Paper one"}, items, title=250)
    without = render({"2512.00001": "Paper one"}, items, title=0)
    assert with_title.title == "paperfeed · Fri 4 Dec: Paper one"
    assert "Fri 4 Dec" not in with_title.body
    assert without.title == ""
    assert without.body.startswith("**paperfeed · Fri 4 Dec: Paper one**")


def test_only_trending_says_so() -> None:
    items = [EditionItem("2512.00002", "trending", 1, ())]
    message = render({"2512.00002": "Trending thing"}, items)
    assert message.title == "paperfeed · Fri 4 Dec: Trending: Trending thing"
    assert "**Your papers**" not in message.body


def test_cut_at_paper_boundaries_within_each_limit() -> None:
    titles = {f"2512.{i:05d}": f"Paper number {i} " + "word " * 30 for i in range(40)}
    items = [
        EditionItem(pid, "matched" if n < 25 else "trending", n, (f"matches topic {n}",))
        for n, pid in enumerate(titles)
    ]
    for limit in (2000, 4000, 1000, 500):  # Discord, Mattermost, smaller
        message = render(titles, items, limit=limit)
        assert len(message.body) <= limit
        shown = links_in(message.body)[:-1]
        assert message.papers_shown == len(shown)
        assert message.papers_cut == 40 - len(shown)
        # The first papers in rank order, each whole (its votes line and its reason).
        assert shown == [
            f"https://huggingface.co/papers/{pid}" for pid in list(titles)[: len(shown)]
        ]
        for n in range(min(len(shown), 25)):
            assert f"matches topic {n}" in message.body
        assert message.body.endswith(
            f"… and {40 - len(shown)} more: [read the whole edition]({EDITION})"
        )


def test_a_limit_too_small_for_anything_still_names_the_edition() -> None:
    message = render({"2512.00001": "x"}, [EditionItem("2512.00001", "matched", 1, ())], limit=20)
    assert message.body == f"1 papers: {EDITION}"
    assert message.papers_cut == 1


def test_measure_counts_what_the_service_gets() -> None:
    titles = {f"2512.{i:05d}": f"Paper {i}" for i in range(30)}
    items = [EditionItem(pid, "matched", n, ()) for n, pid in enumerate(titles)]
    plain = render_chat(
        list_name="paperfeed", local_date=DAY, items=items, papers=views(titles),
        edition_link=EDITION, limits=ChatLimits(1500, 250),
    )  # fmt: skip
    doubled = render_chat(
        list_name="paperfeed", local_date=DAY, items=items, papers=views(titles),
        edition_link=EDITION, limits=ChatLimits(1500, 250, measure=lambda b: 2 * len(b)),
    )  # fmt: skip
    assert 2 * len(doubled.body) <= 1500 < 2 * len(plain.body)
    assert doubled.papers_shown < plain.papers_shown
