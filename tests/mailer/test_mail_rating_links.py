"""A digest's rating links as rendered: under each positioned pick in both parts, escaped
in the HTML, none without a rating base or for trending papers, and cut with their card."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import UTC, datetime

from paperfeed.mailer.edition_mail import mail_setup, rating_base
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.views import Pick
from paperfeed.rating_links import EditionRatingSigner
from paperfeed.store.deliveries import SubscriberRow
from tests.mailer.mail_samples import make_day, make_digest, make_recipient
from tests.mailer.outbox_samples import make_settings

BASE = "https://paperfeed.example/r/e/17.t0.sig"
HTML_LINK = re.compile(r'<a href="([^"]+)"[^>]*>(More|Less) like this</a>')
TEXT_LINK = re.compile(r"^   (More|Less) like this: (\S+)$", re.M)


def _positioned(picks: int = 5, trending: int = 3, base: str | None = BASE):
    digest = make_digest(make_recipient(), picks=picks, trending=trending)
    # Positions as an edition stores them: picks first (ranks 0..), then trending.
    return dataclasses.replace(
        digest,
        picks=tuple(Pick(p.paper_id, p.reasons, n) for n, p in enumerate(digest.picks)),
        rating_base=base,
    )


def test_each_pick_has_its_two_links_in_both_parts_and_trending_papers_none() -> None:
    mail = render_digest(compile_day(make_day()), _positioned())
    found = [(html.unescape(url), way) for url, way in HTML_LINK.findall(mail.html)]
    expected = [(f"{BASE}/{n}/{w.lower()}", w) for n in range(5) for w in ("More", "Less")]
    assert found == expected
    assert [(url, way) for way, url in TEXT_LINK.findall(mail.text)] == expected
    # Each link pair follows its own paper's title, before the next paper's.
    for n in range(4):
        assert (
            mail.html.index(f"2506.{n:05d}")
            < mail.html.index(f"{BASE}/{n}/more")
            < mail.html.index(f"2506.{n + 1:05d}")
        )
    trending = mail.html[mail.html.index("Also trending today") :]
    assert "like this" not in trending


def test_no_rating_base_no_links_and_the_base_is_escaped() -> None:
    compiled = compile_day(make_day())
    plain = render_digest(compiled, _positioned(base=None))
    assert "like this" not in plain.html
    assert "like this" not in plain.text
    hostile = 'https://x.example/r/e/1.a.b"><script>'
    mail = render_digest(compiled, _positioned(base=hostile))
    assert "<script>" not in mail.html
    assert 'href="https://x.example/r/e/1.a.b&#34;&gt;&lt;script&gt;/0/more"' in mail.html


def test_links_go_with_their_card_when_the_mail_is_cut() -> None:
    compiled = compile_day(make_day())
    full = render_digest(compiled, _positioned(picks=10, trending=0))
    cut = render_digest(
        compiled, _positioned(picks=10, trending=0), max_html_bytes=len(full.html) // 2
    )
    assert 0 < cut.papers_shown < 10
    assert len(HTML_LINK.findall(cut.html)) == 2 * cut.papers_shown
    assert len(TEXT_LINK.findall(cut.text)) == 2 * cut.papers_shown


def test_the_base_signs_the_edition_and_a_team_gets_none(tmp_path) -> None:
    settings = make_settings(tmp_path, "sqlite://", secret_key="s" * 40)
    setup = mail_setup(settings)
    signer = EditionRatingSigner("s" * 40, clock=lambda: datetime(2026, 9, 25, tzinfo=UTC))
    person = SubscriberRow(5, "ada@example.com", "tok", "x", True, "feed")
    base = rating_base(setup, signer, person, 42)
    assert base is not None
    assert base.startswith("https://paperfeed.example/r/e/")
    assert signer.read(base.rsplit("/", 1)[1]) == 42
    team = dataclasses.replace(person, email=None, name="Lab")
    assert rating_base(setup, signer, team, 42) is None
