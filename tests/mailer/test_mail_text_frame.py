"""The text part filled into digest.txt.j2's frame equals rendering the template per mail."""

from __future__ import annotations

import pytest

from paperfeed.mailer.render import _render_text, compile_day
from paperfeed.mailer.templates import text_env
from paperfeed.mailer.views import SubscriberDigest
from paperfeed.paper_view import one_line
from tests.mailer.mail_samples import make_day, make_digest, make_recipient

RATES = {"2506.00001": ("https://x.example/r/1/more", "https://x.example/r/1/less")}


def _jinja_text(digest: SubscriberDigest, *, total: int, view_url: str | None) -> str:
    """The text part the way render.py made it before frames: the template, every mail."""
    compiled = compile_day(make_day())
    r = digest.recipient
    name = one_line(r.name or "")
    picks = []
    for p in digest.picks:
        block = compiled.text_blocks[p.paper_id]
        if p.reasons:
            block += "\n   Why: " + "; ".join(p.reasons)
        if p.paper_id in RATES:
            more, less = RATES[p.paper_id]
            block += f"\n   More like this: {more}\n   Less like this: {less}"
        picks.append(block)
    return (
        text_env()
        .get_template("digest.txt.j2")
        .render(
            list_name="paperfeed",
            list_address="paperfeed@example.org",
            date_label=compiled.date_label,
            view_url=view_url,
            greeting_name=f" {name}" if name else "",
            picks=picks,
            trending=[compiled.text_rows[pid] for pid in digest.also_trending],
            cut=len(digest.picks) + len(digest.also_trending) < total,
            total=total,
            archive_url=compiled.day.archive_url,
            email=r.email,
            interests=[line for line in map(one_line, r.interests.splitlines()) if line],
            preferences_url=r.preferences_url,
            feed_url=r.feed_url,
            unsubscribe_url=r.unsubscribe_url,
        )
    )


@pytest.mark.parametrize(
    ("picks", "trending", "extra", "view_url", "name", "interests"),
    [
        (5, 3, 0, "https://paperfeed.example/e/ada/7", "Ada Lovelace", "video diffusion"),
        (0, 4, 0, None, None, ""),
        (3, 0, 6, "https://paperfeed.example/e/ada/7", "", "one\n\n  two  \nthree & <four>"),
        (1, 1, 0, None, "Zoë %%PF_EMAIL%% \x00{0}", "%%PF_X%% {0} \x001\x00"),
    ],
)
def test_text_frame_fills_like_the_template(
    picks: int, trending: int, extra: int, view_url: str | None, name: str | None, interests: str
) -> None:
    compiled = compile_day(make_day())
    digest = make_digest(
        make_recipient(name=name, interests=interests), picks=picks, trending=trending
    )
    total = picks + trending + extra
    got = _render_text(
        compiled,
        digest,
        digest.picks,
        list(digest.also_trending),
        total=total,
        view_url=view_url,
        rates=RATES,
    )
    assert got == _jinja_text(digest, total=total, view_url=view_url)
    assert "\x00" not in got
