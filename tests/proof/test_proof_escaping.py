"""Property: any text in a paper or a subscriber's values is shown as text, never as markup.

Titles, abstracts and authors come from Hugging Face, names and interests from a form; both
are hostile until escaped. For any text (``<script>``, ``&``, quotes, control characters,
any unicode), the rendered digest HTML and both feed formats hold exactly the elements that
harmless values give, and the text itself reads back unchanged.
"""

from __future__ import annotations

import dataclasses
import html
import xml.etree.ElementTree as ET
from collections import Counter
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from paperfeed.feeds.entries import paper_entry
from paperfeed.feeds.rss_atom import render_feed
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.views import DayView, Pick, SubscriberDigest
from paperfeed.paper_view import one_line, paper_view, xml_text
from paperfeed.store.models import Paper
from tests.feeds.feed_samples import META, T0
from tests.mailer.mail_samples import make_day, make_paper, make_recipient

PROOF = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
GUID = "tag:paperfeed.example,2026:daily/2026-09-22/2609.00001"
HOSTILE = (
    "<script>alert(1)</script>",
    "</p><img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "&amp; &lt;b&gt; &#60;i&#62;",
    "]]><script>x</script><![CDATA[",
    "%%PF_EMAIL%% <!--pf:footer-->",
    "\x00\x01\x0b\x1b\x7f\u2028\ufeff",
    "Ünïcødé 论文 🚀 \U0001f600",
)
# Any text, with the dangerous pieces much more likely than chance would make them.
# Never blank: a blank name or interests rightly leaves its line out, which is not escaping.
texts = (
    st.lists(st.sampled_from(HOSTILE) | st.text(max_size=12), min_size=1, max_size=4)
    .map("".join)
    .filter(lambda t: one_line(t) != "")
)
# Paper values pass through MJML, whose XML parser refuses what XML cannot hold (see the xfail
# below); subscriber values are filled in after MJML and get any text.
paper_texts = texts.map(xml_text).filter(lambda t: one_line(t) != "")
short_paper_texts = paper_texts.filter(lambda t: len(t) < 150)


def visible(html: str) -> str:
    tree = LexborHTMLParser(html)
    return " ".join((tree.body.text(separator=" ") if tree.body else "").split())


# Mail HTML is ASCII, so a C1 control is sent as "&#145;", which HTML reads as windows-1252.
C1_AS_SENT = {n: html.unescape(f"&#{n};") for n in range(0x80, 0xA0)}


def readable(text: str, *, ascii_refs: bool = False) -> str:
    """What a reader sees of ``text``: HTML parsers drop NUL; whitespace runs read as one space."""
    if ascii_refs:
        text = text.translate(C1_AS_SENT)
    return " ".join(text.replace("\x00", "").split())


def elements(html: str) -> Counter[str]:
    return Counter(node.tag for node in LexborHTMLParser(html).root.traverse() if node.tag)


def mail_day(title: str, abstract: str, author: str) -> DayView:
    papers = (
        make_paper(0),
        make_paper(1, title=title, abstract=abstract, authors=(author,), ai_summary=None),
        make_paper(2),
    )
    return dataclasses.replace(make_day(), papers=papers)


def mail_html(title: str, abstract: str, author: str, name: str, interests: str, why: str) -> str:
    who = make_recipient(name=name, interests=interests)
    digest = SubscriberDigest(
        recipient=who, picks=(Pick("2506.00001", (why,)), Pick("2506.00002")), also_trending=()
    )
    return render_digest(compile_day(mail_day(title, abstract, author)), digest).html


@cache
def harmless_mail_elements() -> Counter[str]:
    return elements(mail_html("Title", "Abstract.", "Author", "Name", "llm", "why"))


@PROOF
@given(paper_texts, short_paper_texts, paper_texts, texts, texts, texts)
def test_any_text_in_a_digest_is_escaped_and_reads_back(
    title: str, abstract: str, author: str, name: str, interests: str, why: str
) -> None:
    html = mail_html(title, abstract, author, name, interests, why)
    assert elements(html) == harmless_mail_elements(), "a value added or removed an element"
    shown = visible(html)
    for value in (title, abstract, author, name, interests):
        assert readable(one_line(value), ascii_refs=True) in shown
    assert readable(why, ascii_refs=True) in shown  # reasons are shown as given


@pytest.mark.parametrize("field", ["title", "abstract", "authors"])
def test_a_control_character_in_one_upstream_paper_does_not_stop_the_day(field: str) -> None:
    value: object = ("Ada\x01 Lovelace",) if field == "authors" else "Sparse\x01 experts"
    papers = (make_paper(0), make_paper(1, **{field: value}), make_paper(2))
    compiled = compile_day(dataclasses.replace(make_day(), papers=papers))
    assert compiled is not None


def feed_paper(title: str, abstract: str, author: str) -> Paper:
    return Paper(
        arxiv_id="2609.00001",
        title=title,
        abstract=abstract,
        authors=[author, "Ada Lovelace"],
        github_repo="https://github.com/example/repo",
        first_seen_at=T0,
        updated_at=T0,
    )


def feed_xml(title: str, abstract: str, author: str, why: str, fmt: str) -> bytes:
    paper = feed_paper(title, abstract, author)
    item = paper_entry(paper_view(paper, upvotes=3), guid=GUID, published=T0, reasons=(why,))
    return render_feed(META, [item], fmt)  # type: ignore[arg-type]


@cache
def harmless_body_elements() -> Counter[str]:
    paper = feed_paper("T", "Abstract.", "A")
    item = paper_entry(paper_view(paper, upvotes=3), guid=GUID, published=T0, reasons=("w",))
    return elements(item.html)


def expected(text: str) -> str:
    return xml_text(one_line(text))


@PROOF
@given(texts, texts, texts, texts)
def test_any_text_in_an_rss_item_is_escaped_and_reads_back(
    title: str, abstract: str, author: str, why: str
) -> None:
    root = ET.fromstring(feed_xml(title, abstract, author, why, "rss"))
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1].lower() == "script"]
    item = root.find("channel/item")
    assert item is not None
    # RSS readers take a title as HTML, so it is HTML-escaped once more: as HTML it reads back.
    assert html.unescape(item.findtext("title") or "") == (expected(title) or "2609.00001")
    creators = [e.text or "" for e in item.iter(f"{DC}creator")]
    # One dc:creator with every author (readers keep only the last of several).
    assert creators == [", ".join(n for n in (expected(author), "Ada Lovelace") if n)]
    body = item.findtext("description") or ""
    assert elements(body) == harmless_body_elements()
    assert readable(expected(abstract)) in visible(body)
    assert readable(xml_text(why)) in visible(body)  # reasons keep their line breaks


@PROOF
@given(texts, texts, texts, texts)
def test_any_text_in_an_atom_entry_is_escaped_and_reads_back(
    title: str, abstract: str, author: str, why: str
) -> None:
    root = ET.fromstring(feed_xml(title, abstract, author, why, "atom"))
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1].lower() == "script"]
    entry = root.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}title") == (expected(title) or "2609.00001")
    names = [e.text or "" for e in entry.iter(f"{ATOM}name")]
    if expected(author):
        assert expected(author) in names
    content = entry.find(f"{ATOM}content")
    assert content is not None
    assert content.get("type") == "html"
    body = content.text or ""
    assert elements(body) == harmless_body_elements()
    assert readable(expected(abstract)) in visible(body)
    assert readable(xml_text(why)) in visible(body)  # reasons keep their line breaks
