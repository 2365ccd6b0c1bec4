"""The chat channel against a real HTTP server: what arrives, and how answers map to outcomes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from paperfeed.chat.apprise_sender import chat_channel, parse_retry_after
from paperfeed.outbox.channel import Outcome, Result
from paperfeed.store.deliveries import EditionItem
from tests.chat.chat_samples import PAPERS, TOKEN, chat_settings, paper, parcel
from tests.chat.chat_server import ChatServer
from tests.support.ports import free_port

SECRET = "/hooks/s3cr3t-W3bhook-K3y-0123456789"


def deliver(parcels: list, papers: dict | None = None, **settings: object) -> list[Result]:
    channel = chat_channel(chat_settings(**settings))
    try:
        return asyncio.run(channel.deliver(parcels, papers or PAPERS))
    finally:
        asyncio.run(channel.aclose())


@pytest.fixture
def server():
    with ChatServer() as running:
        yield running


def test_a_digest_arrives_with_links_reasons_votes_and_the_edition_page(server: ChatServer) -> None:
    [result] = deliver([parcel(server.url(SECRET), edition_id=11)])
    assert result.outcome == Outcome.SENT
    [post] = server.posts_to(SECRET)
    body = post.body["message"]
    assert "[Diffusion models for proteins](https://huggingface.co/papers/2512.00001)" in body
    assert 'Why: matches "diffusion models"' in body
    assert "▲ 42 votes" in body
    assert "▲ 1 vote" in body
    assert "**Also trending**" in body
    assert "A trending benchmark" in body
    assert f"(https://papers.example.org/e/{TOKEN}/11)" in body
    # The matched papers come before the trending one, in rank order.
    assert body.index("2512.00001") < body.index("2512.00002") < body.index("2512.00003")
    assert post.body["title"].startswith("paperfeed · Fri 4 Dec: Diffusion models for proteins")


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        (429, {"Retry-After": "30"}, Outcome.RETRY_LATER, 30.0),
        (429, {}, Outcome.RETRY_LATER, 120.0),  # no Retry-After: the configured wait
        (500, {}, Outcome.RETRY_LATER, 120.0),
        (503, {"Retry-After": "5"}, Outcome.RETRY_LATER, 120.0),
        (400, {}, Outcome.UNDELIVERABLE, None),
        (401, {}, Outcome.UNDELIVERABLE, None),
        (403, {}, Outcome.UNDELIVERABLE, None),
        (404, {}, Outcome.UNDELIVERABLE, None),
        (410, {}, Outcome.UNDELIVERABLE, None),
        (413, {}, Outcome.FAILED, None),
    ],
)
def test_http_answers_map_to_outcomes(
    server: ChatServer,
    status: int,
    headers: dict[str, str],
    outcome: Outcome,
    retry_after: float | None,
) -> None:
    server.answer(SECRET, status, headers=headers)
    [result] = deliver([parcel(server.url(SECRET))])
    assert result.outcome == outcome
    assert result.retry_after == retry_after
    assert f"HTTP {status}" in result.detail
    assert "s3cr3t" not in result.detail
    # apprise's own retries are off: one attempt is one POST.
    assert len(server.posts_to(SECRET, accepted_only=False)) == 1


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("999999999") == 86_400.0


def test_a_server_that_is_down_is_retried_later() -> None:
    url = f"json://127.0.0.1:{free_port()}{SECRET}"
    [result] = deliver([parcel(url)])
    assert result.outcome == Outcome.RETRY_LATER
    assert result.retry_after == 120.0
    assert "ConnectionError" in result.detail


def test_a_server_that_does_not_answer_in_time_is_retried_later(server: ChatServer) -> None:
    server.answer(SECRET, 200, delay=2.0)
    started = time.monotonic()
    [result] = deliver([parcel(server.url(SECRET))], chat_timeout_seconds=0.5)
    assert time.monotonic() - started < 1.8
    assert result.outcome == Outcome.RETRY_LATER
    assert "Timeout" in result.detail


def test_an_address_apprise_cannot_use_is_undeliverable() -> None:
    [result] = deliver([parcel("slack://only-one-part")])
    assert result.outcome == Outcome.UNDELIVERABLE
    assert "only-one-part" not in result.detail


def test_results_follow_parcel_order_across_addresses(server: ChatServer) -> None:
    server.answer("/b", 404)
    results = deliver(
        [
            parcel(server.url("/a"), delivery_id=1, address_id=1),
            parcel(server.url("/b"), delivery_id=2, address_id=2),
            parcel(server.url("/c"), delivery_id=3, address_id=3),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.UNDELIVERABLE, Outcome.SENT]


def test_one_post_at_a_time_per_address_and_addresses_in_parallel(server: ChatServer) -> None:
    for path in ("/a", "/b", "/c"):
        server.always(path, 200, delay=0.4)
    parcels = [
        parcel(server.url("/a"), delivery_id=1, address_id=1, edition_id=1),
        parcel(server.url("/a"), delivery_id=2, address_id=1, edition_id=2),
        parcel(server.url("/b"), delivery_id=3, address_id=2),
        parcel(server.url("/c"), delivery_id=4, address_id=3),
    ]
    started = time.monotonic()
    results = deliver(parcels, chat_concurrency=3)
    took = time.monotonic() - started
    assert all(r.outcome == Outcome.SENT for r in results)
    first, second = server.posts_to("/a")
    assert second.started >= first.at - 0.01  # never two posts to one address at once
    assert "/e/tok-abc_123/1)" in first.body["message"]  # in claim order
    assert took < 1.5  # /b and /c went beside /a's two (4 x 0.4 s in a row is 1.6 s)


def test_concurrency_bounds_posts_in_flight(server: ChatServer) -> None:
    paths = [f"/p{i}" for i in range(4)]
    for path in paths:
        server.always(path, 200, delay=0.3)
    parcels = [parcel(server.url(p), delivery_id=i, address_id=i) for i, p in enumerate(paths)]
    deliver(parcels, chat_concurrency=1)
    posts = sorted(server.posts, key=lambda p: p.started)
    assert all(b.started >= a.at - 0.01 for a, b in itertools.pairwise(posts))


def test_a_long_edition_is_cut_at_a_paper_to_the_service_limit(server: ChatServer) -> None:
    many = {
        f"2512.{i:05d}": paper(f"2512.{i:05d}", f"Paper {i} " + "long " * 60) for i in range(200)
    }
    items = tuple(EditionItem(pid, "matched", n, ("matches x",)) for n, pid in enumerate(many))
    [result] = deliver([parcel(server.url("/big"), items=items)], papers=many)
    assert result.outcome == Outcome.SENT
    body = server.posts_to("/big")[0].body["message"]
    assert len(body) <= 32768  # apprise's JSON plugin's body_maxlen
    shown = body.count("](https://huggingface.co/papers/")
    assert 0 < shown < 200
    assert (
        f"… and {200 - shown} more: [read the whole edition](https://papers.example.org/e/{TOKEN}/11)"
        in body
    )


def test_the_secret_is_never_logged(server: ChatServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.answer(SECRET, 500)
    deliver([parcel(server.url(SECRET))])
    deliver([parcel(server.url(SECRET))])
    assert caplog.records  # our own lines are there, with the redacted address
    assert "json://127.0.0.1" in caplog.text
    assert "…6789" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_the_recorder_is_inert_outside_the_channel(server: ChatServer) -> None:
    chat_channel(chat_settings())  # installs the wrapper
    chat_channel(chat_settings())  # once: a second channel does not wrap it again
    assert getattr(requests.Session.send, "_paperfeed_recorder", False)
    assert not getattr(requests.Session.send.__wrapped__, "_paperfeed_recorder", False)
    server.answer("/plain", 429, headers={"Retry-After": "7"})
    response = requests.post(f"http://127.0.0.1:{server.port}/plain", json={}, timeout=5)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_the_channel_tells_the_outbox_its_attempts() -> None:
    assert chat_channel(chat_settings(chat_max_attempts=3)).max_attempts == 3
    assert chat_channel(chat_settings()).max_attempts == 8
