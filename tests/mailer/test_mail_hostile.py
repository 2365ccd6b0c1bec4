"""Hostile upstream values in a digest as it arrives at a real SMTP server (issue 14, item 11).

A title's bidi overrides and invisible characters never reach the Subject (an inbox would
show it reordered), and a link shown as "GitHub" leads to GitHub and nowhere else.
"""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from selectolax.lexbor import LexborHTMLParser

from paperfeed.mailer.bulk import compile_shell, digest_mail
from paperfeed.mailer.message import Sender, make_message_id
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.smtp import SmtpTransport
from paperfeed.mailer.views import Pick, SubscriberDigest
from paperfeed.paper_view import PaperView, github_url
from tests.mailer.mail_samples import NOW, make_day, make_paper, make_recipient, parse
from tests.mailer.smtp_samples import FAST, Sink, Start, send

# Right-to-left override (shows "exe.gnp" reversed), isolates, zero-width space, BOM, a soft
# hyphen, a private-use character and a line separator.
BIDI_TITLE = (
    "Safe \u202egnp.exe\u202c \u2066isolate\u2069 zero\u200bwidth\ufeff "
    "soft\xadhyphen\ue000\u2028end"
)
NOT_GITHUB = (
    "https://evil.example/github.com/lab/repo",
    "https://github.com.evil.example/lab/repo",
    "https://github.com@evil.example/lab/repo",
    "http://github.com/lab/repo",
    "https://github.com:8443/lab/repo",
    "javascript:alert(1)//github.com",
)
HIDDEN = {"Cc", "Cf", "Co", "Cn", "Zl", "Zp"}


def _received(smtp_server: Start, sender: Sender, papers: tuple[PaperView, ...]) -> bytes:
    day = dataclasses.replace(make_day(), papers=papers)
    who = make_recipient()
    digest = SubscriberDigest(
        recipient=who,
        picks=tuple(Pick(p.arxiv_id) for p in day.papers),
    )
    mail = digest_mail(
        compile_shell(sender),
        render_digest(compile_day(day), digest),
        who,
        message_id=make_message_id("delivery", 1, domain=sender.domain),
        date=NOW,
    )
    server = smtp_server(Sink())
    results = send(SmtpTransport(server.config(), **FAST), [mail])
    assert [r.code for r in results] == [250]
    return server.handler.received[0][1]


def test_the_subject_keeps_no_bidi_or_invisible_character(
    smtp_server: Start, sender: Sender
) -> None:
    data = _received(smtp_server, sender, (make_paper(1, title=BIDI_TITLE),))
    subject = str(parse(data)["Subject"])
    assert "Safe gnp.exe isolate zerowidth softhyphen end" in subject
    hidden = [ch for ch in subject if unicodedata.category(ch) in HIDDEN]
    assert hidden == [], [f"U+{ord(ch):04X}" for ch in hidden]


def test_a_github_link_leads_only_to_github(smtp_server: Start, sender: Sender) -> None:
    papers = tuple(
        make_paper(i, github_repo=url, github_stars=10) for i, url in enumerate(NOT_GITHUB)
    )
    good = make_paper(len(NOT_GITHUB), github_repo="https://github.com/lab/real", github_stars=10)
    message = parse(_received(smtp_server, sender, (*papers, good)))
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None
    assert text_part is not None
    html = str(html_part.get_content())
    text = str(text_part.get_content())
    hrefs = [a.attributes.get("href") or "" for a in LexborHTMLParser(html).css("a")]
    assert "https://github.com/lab/real" in hrefs
    assert "https://github.com/lab/real" in text
    for url in NOT_GITHUB:
        assert url not in hrefs, url
        assert url not in text, url
    assert not any("evil.example" in href for href in hrefs)


@pytest.mark.parametrize("url", NOT_GITHUB)
def test_github_url_refuses_other_hosts(url: str) -> None:
    assert github_url(url) is None


def test_github_url_keeps_github() -> None:
    for url in ("https://github.com/lab/repo", "https://www.github.com/lab/repo"):
        assert github_url(url) == url
