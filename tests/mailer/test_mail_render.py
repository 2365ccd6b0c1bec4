"""Digest rendering: escaping, compile once, order, the size cap and the plain-text part."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import mjml
import pytest
from selectolax.lexbor import LexborHTMLParser

from paperfeed.errors import UnknownPaper
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.views import DayView, Pick, Recipient, SubscriberDigest
from tests.mailer.mail_samples import make_digest, make_paper, make_recipient


def visible_text(html: str) -> str:
    tree = LexborHTMLParser(html)
    body = tree.body
    assert body is not None
    return " ".join(body.text(separator=" ").split())


def test_a_hostile_title_renders_as_text_not_markup(day: DayView, digest: SubscriberDigest) -> None:
    mail = render_digest(compile_day(day), digest)
    tree = LexborHTMLParser(mail.html)
    assert tree.css("script") == []
    assert "<script>alert('x')</script> Attention & Retention" in visible_text(mail.html)
    assert "&lt;script&gt;" in mail.html


def test_names_interests_and_reasons_are_escaped(day: DayView) -> None:
    who = make_recipient(name='Eve <img src=x onerror=alert(1)> "&"', interests="<b>bold</b> & co")
    hostile = SubscriberDigest(
        recipient=who, picks=(Pick("2506.00001", ("<i>why</i> & because",)),)
    )
    mail = render_digest(compile_day(day), hostile)
    tree = LexborHTMLParser(mail.html)
    assert tree.css("img") == []
    assert tree.css("b") == []
    assert tree.css("i") == []
    text = visible_text(mail.html)
    assert 'Hello Eve <img src=x onerror=alert(1)> "&",' in text
    assert "Your interests: <b>bold</b> & co" in text
    assert "%%PF_" not in mail.html
    assert "Why: <i>why</i> & because" in text


def test_a_title_that_looks_like_a_slot_is_printed_not_filled(day: DayView) -> None:
    papers = (make_paper(1, title="%%PF_EMAIL%% and %%PF_UNSUBSCRIBE_URL%%"),)
    odd = dataclasses.replace(day, papers=papers)
    mail = render_digest(compile_day(odd), make_digest(make_recipient(), picks=0, trending=0))
    single = SubscriberDigest(recipient=make_recipient(), picks=(Pick("2506.00001"),))
    mail = render_digest(compile_day(odd), single)
    assert "%%PF_EMAIL%% and %%PF_UNSUBSCRIBE_URL%%" in visible_text(mail.html)


def test_mjml_compiles_once_per_day_not_per_subscriber(
    day: DayView, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = mjml.mjml2html

    def counting(source: str, **kwargs: Any) -> str:
        calls.append(len(source))
        return str(real(source, **kwargs))

    monkeypatch.setattr(mjml, "mjml2html", counting)
    compiled = compile_day(day)
    for i in range(25):
        render_digest(compiled, make_digest(make_recipient(f"u{i}@example.com")))
    assert len(calls) == 1


def test_each_subscriber_gets_their_papers_in_their_order(day: DayView) -> None:
    compiled = compile_day(day)
    order = ("2506.00007", "2506.00003", "2506.00005")
    mine = SubscriberDigest(recipient=make_recipient(), picks=tuple(Pick(p) for p in order))
    html = render_digest(compiled, mine).html
    hrefs = [a.attributes.get("href") for a in LexborHTMLParser(html).css("a")]
    paper_links = [h for h in hrefs if h and "huggingface.co/papers/" in h]
    assert paper_links == [f"https://huggingface.co/papers/{p}" for p in order]


def test_a_digest_shows_every_part_the_issue_lists(day: DayView, digest: SubscriberDigest) -> None:
    mail = render_digest(compile_day(day), digest)
    text = visible_text(mail.html)
    assert "Scaling Sparse Mixture-of-Experts for Video Diffusion, part 1" in text
    assert "Author A. Müller-0, Author B. Müller-1" in text
    assert "Author A. Müller-0, Author B. Müller-1, Author C. Müller-2 and 2 others" in text
    assert "▲ 119 upvotes · 1 comment" in text
    assert "GitHub ★ 1.5k" in text
    assert "Sparse experts make video diffusion cheaper." in text  # the AI summary wins
    assert "We study how sparse experts scale" in text  # else the abstract, shortened
    assert 'Why: interest "video" in the title (1)' in text
    assert "Also trending today" in text
    hrefs = {a.attributes.get("href") for a in LexborHTMLParser(mail.html).css("a")}
    assert {
        "https://github.com/lab/repo-1",
        "https://huggingface.co/papers/2506.00010",
        "https://paperfeed.example/preferences/ada",
        "https://paperfeed.example/feeds/ada.atom",
        "https://paperfeed.example/unsubscribe/ada",
    } <= hrefs
    assert "paperfeed · paperfeed@example.org" in text
    assert "subscribed to paperfeed. Your interests: video diffusion, mixture of experts" in text
    assert mail.subject == (
        "paperfeed · Tue 3 Jun: <script>alert('x')</script> Attention & Retention (+4 more)"
    )


def test_the_html_has_no_remote_fonts_no_images_and_a_dark_scheme(
    day: DayView, digest: SubscriberDigest
) -> None:
    html = render_digest(compile_day(day), digest).html
    tree = LexborHTMLParser(html)
    assert tree.css("link") == []
    assert tree.css("img") == []
    assert "@import" not in html
    assert "fonts.googleapis" not in html
    assert tree.css_first('meta[name="color-scheme"]') is not None
    assert "prefers-color-scheme: dark" in html


def test_the_html_is_ascii_with_short_lines_so_it_travels_as_7bit(
    day: DayView, digest: SubscriberDigest
) -> None:
    html = render_digest(compile_day(day), digest).html
    assert html.isascii()
    assert max(len(line) for line in html.splitlines()) <= 998


def test_links_from_upstream_that_are_not_http_are_dropped(day: DayView) -> None:
    bad = make_paper(1, github_repo="javascript:alert(2)")
    odd = dataclasses.replace(day, papers=(bad,))
    mail = render_digest(
        compile_day(odd), SubscriberDigest(recipient=make_recipient(), picks=(Pick(bad.arxiv_id),))
    )
    assert "javascript:" not in mail.html
    assert "javascript:" not in mail.text
    assert "GitHub" not in visible_text(mail.html)


def test_an_old_style_arxiv_id_links_with_its_slash_in_both_parts(day: DayView) -> None:
    old = make_paper(1, arxiv_id="hep-th/9901001", title="Strings and branes")
    trending = make_paper(2, arxiv_id="math.GT/0309136", title="Knots")
    odd = dataclasses.replace(day, papers=(old, trending))
    digest = SubscriberDigest(
        recipient=make_recipient(), picks=(Pick(old.arxiv_id),), also_trending=(trending.arxiv_id,)
    )
    mail = render_digest(compile_day(odd), digest)
    hrefs = [a.attributes.get("href") for a in LexborHTMLParser(mail.html).css("a")]
    assert "https://huggingface.co/papers/hep-th/9901001" in hrefs
    assert "https://huggingface.co/papers/math.GT/0309136" in hrefs
    assert "   https://huggingface.co/papers/hep-th/9901001\n" in mail.text
    assert "  https://huggingface.co/papers/math.GT/0309136" in mail.text
    assert "%2F" not in mail.html + mail.text


def test_a_digest_over_the_size_cap_is_cut_with_a_link_to_all_papers(day: DayView) -> None:
    compiled = compile_day(day)
    everything = make_digest(make_recipient(), picks=10, trending=6)
    full = render_digest(compiled, everything)
    cap = len(full.html) - 3000
    cut = render_digest(compiled, everything, max_html_bytes=cap)
    assert len(cut.html.encode()) <= cap
    assert cut.papers_cut > 0
    assert cut.papers_shown + cut.papers_cut == 16
    assert "See all 16 papers" in visible_text(cut.html)
    link = LexborHTMLParser(cut.html).css_first(
        'a[href="https://paperfeed.example/archive/2025-06-03"]'
    )
    assert link is not None
    assert "See all 16 papers: https://paperfeed.example/archive/2025-06-03" in cut.text
    assert full.papers_cut == 0
    assert "See all" not in full.html


def test_the_default_cap_keeps_a_huge_digest_under_100_kb(day: DayView) -> None:
    many = tuple(make_paper(i, abstract="word " * 400) for i in range(100))
    big_day = dataclasses.replace(day, papers=many)
    huge = SubscriberDigest(
        recipient=make_recipient(), picks=tuple(Pick(p.arxiv_id, ("r",)) for p in many)
    )
    mail = render_digest(compile_day(big_day), huge)
    assert len(mail.html.encode()) < 100_000
    assert mail.papers_cut > 0
    assert f"See all {len(many)} papers" in mail.html


def test_the_plain_text_part_comes_from_its_own_template(
    day: DayView, digest: SubscriberDigest
) -> None:
    text = render_digest(compile_day(day), digest).text
    assert "<" not in text.replace("<script>alert('x')</script>", "")
    assert "&amp;" not in text
    assert "&lt;" not in text
    assert text.startswith("paperfeed · Tuesday, 3 June 2025\n\nHello Ada Lovelace,\n")
    assert "1. <script>alert('x')</script> Attention & Retention\n" in text
    assert "   https://huggingface.co/papers/2506.00001\n" in text
    assert '   Why: interest "video" in the title (1)\n' in text
    assert "Also trending today\n- Scaling Sparse Mixture-of-Experts" in text
    assert "Unsubscribe: https://paperfeed.example/unsubscribe/ada\n" in text
    assert max(len(line) for line in text.splitlines()) <= 998


def test_a_subscriber_with_no_match_gets_the_trending_papers(day: DayView) -> None:
    only_trending = make_digest(make_recipient(name=None), picks=0, trending=3)
    mail = render_digest(compile_day(day), only_trending)
    assert "Nothing matched your interests today" in visible_text(mail.html)
    assert "Hello," in mail.text
    assert mail.subject.startswith("paperfeed · Tue 3 Jun: Trending: Scaling Sparse")


def test_a_paper_missing_from_the_day_is_a_clear_error(day: DayView, recipient: Recipient) -> None:
    stray = SubscriberDigest(recipient=recipient, picks=(Pick("9999.99999"),))
    with pytest.raises(UnknownPaper, match=r"'9999.99999' is not in the day 2025-06-03"):
        render_digest(compile_day(day), stray)


def test_also_trending_never_repeats_a_picked_paper(day: DayView, recipient: Recipient) -> None:
    overlap = SubscriberDigest(
        recipient=recipient,
        picks=(Pick("2506.00001"),),
        also_trending=("2506.00001", "2506.00002", "2506.00002"),
    )
    mail = render_digest(compile_day(day), overlap)
    assert mail.html.count("https://huggingface.co/papers/2506.00001") == 1
    assert mail.html.count("https://huggingface.co/papers/2506.00002") == 1
    assert mail.papers_shown == 2


def test_the_templates_ship_with_the_package() -> None:
    from importlib.resources import files

    names = {p.name for p in files("paperfeed.mailer").joinpath("templates").iterdir()}
    assert {"digest.mjml.j2", "digest.txt.j2", "confirm.mjml.j2", "confirm.txt.j2"} <= names
    assert re.search(r"\*\*/templates/\*", open_pyproject()) is not None


def open_pyproject() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
