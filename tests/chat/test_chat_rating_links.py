"""Rating links in a chat post: each matched paper says "more like this" / "less like this"
as markdown links naming its edition (signed) and its place in it; trending papers and team
posts carry none, and no link holds the account token or the feed key."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime

import pytest

from paperfeed.chat.apprise_sender import chat_channel
from paperfeed.config import secret_key
from paperfeed.outbox.channel import Outcome
from paperfeed.rating_links import EditionRatingSigner, RatingLinkInvalid
from tests.chat.chat_samples import PAPERS, TOKEN, chat_settings, parcel
from tests.chat.chat_server import ChatServer

RATE = re.compile(
    r"\[(More|Less) like this\]\(https://papers\.example\.org/r/e/([^/)]+)/(\d+)/(more|less)\)"
)


@pytest.fixture
def server():
    with ChatServer() as running:
        yield running


def _post(server: ChatServer, sent) -> str:
    settings = chat_settings()
    channel = chat_channel(settings)
    try:
        [result] = asyncio.run(channel.deliver([sent], PAPERS))
    finally:
        asyncio.run(channel.aclose())
    assert result.outcome == Outcome.SENT
    [post] = server.posts_to("/hook")
    return str(post.body["message"])


def test_each_matched_paper_carries_its_rating_links(server: ChatServer) -> None:
    body = _post(server, parcel(server.url("/hook"), edition_id=11))
    found = RATE.findall(body)
    # ITEMS: two matched papers at positions 0 and 1, the trending one (2) has none.
    assert sorted((n, way) for _, _, n, way in found) == [
        ("0", "less"),
        ("0", "more"),
        ("1", "less"),
        ("1", "more"),
    ]
    assert all(label.lower() == way for label, _, _, way in found)
    # Each link sits under its paper: the first paper's block holds position 0's links.
    first = body.index("2512.00001")
    second = body.index("2512.00002")
    assert first < body.index("/0/more)") < second < body.index("/1/more)")
    signer = EditionRatingSigner(secret_key(chat_settings()), clock=lambda: datetime.now(UTC))
    assert {signer.read(signed) for _, signed, _, _ in found} == {11}
    assert TOKEN not in "".join(s for _, s, _, _ in found)
    assert "feed-tok" not in body
    with pytest.raises(RatingLinkInvalid):
        EditionRatingSigner("another-secret", clock=lambda: datetime.now(UTC)).read(found[0][1])


def test_a_team_post_has_no_rating_links(server: ChatServer) -> None:
    team = parcel(server.url("/hook"), edition_id=11)
    team = dataclasses.replace(
        team, subscriber=dataclasses.replace(team.subscriber, email=None, name="Lab")
    )
    body = _post(server, team)
    assert "like this" not in body
    assert "/r/e/" not in body
