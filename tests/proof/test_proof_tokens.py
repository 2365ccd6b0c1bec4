"""Tokens and sign-up: unguessable, compared in constant time, rotatable, and silent.

Links carry a subscriber's token, so the token is the only key to their preferences and
unsubscribe button; their feed has a read-only key of its own. These tests prove it cannot
be guessed or narrowed down, that rotating it (or the feed's key, from the preferences page)
locks out every old link at once, that signing up never tells whether an address is on the
list, and that the per-IP sign-up limit holds under a burst of simultaneous requests.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import string
from collections.abc import Callable
from email import message_from_bytes, policy

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import select

from paperfeed.store.db import session_scope
from paperfeed.store.models import Subscriber
from paperfeed.store.subscribers import (
    create_subscriber,
    find_by_email,
    find_by_token,
    rotate_token,
    unsubscribe,
)
from paperfeed.web.pages import CSRF_COOKIE
from tests.web.web_samples import SQLITE_ONLY, Clock, MemoryTransport, sign_up_form

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"http://testserver(/confirm/[A-Za-z0-9._%-]+)")
URLSAFE = set(string.ascii_letters + string.digits + "-_")


def form_token(client: TestClient, path: str = "/") -> str:
    match = CSRF.search(client.get(path).text)
    assert match, "the page has no form token"
    return match.group(1)


def add(engine: Engine, clock: Clock, email: str, *, confirmed: bool = True) -> str:
    with session_scope(engine) as session:
        row = create_subscriber(
            session, email=email, interests="llm", now=clock(), confirmed=confirmed
        )
        return row.token


def count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(Subscriber)).one())


def mail_text(transport: MemoryTransport, index: int) -> str:
    message = message_from_bytes(transport.sent[index].data, policy=policy.default)
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@SQLITE_ONLY
def test_link_tokens_are_long_random_and_never_share_a_prefix(engine: Engine, clock: Clock) -> None:
    tokens = [add(engine, clock, f"user{i}@example.com") for i in range(64)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert set(token) <= URLSAFE
        assert len(token) * 6 >= 128, "a token needs at least 128 random bits"
    # 64 random 256-bit tokens share no 8-character prefix (a 48-bit collision) by chance.
    assert len({t[:8] for t in tokens}) == len(tokens)
    # Every position varies: nothing is a counter, a date or a fixed prefix.
    for position in range(len(tokens[0])):
        assert len({t[position] for t in tokens}) > 8


def test_a_token_off_by_its_last_character_finds_nobody(engine: Engine, clock: Clock) -> None:
    token = add(engine, clock, "ada@example.com")
    last = "A" if token[-1] != "A" else "B"
    near_misses = [token[:-1] + last, token[:-1], token + "A", token.swapcase(), " " + token, ""]
    with session_scope(engine) as session:
        assert find_by_token(session, token) is not None
        for guess in near_misses:
            assert find_by_token(session, guess) is None, guess


@SQLITE_ONLY
def test_the_final_token_check_is_constant_time(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = add(engine, clock, "ada@example.com")
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with session_scope(engine) as session:
        assert find_by_token(session, token) is not None
    assert compared == [(token, token)]


@SQLITE_ONLY
def test_a_confirmation_link_is_signed_and_holds_no_token(
    client: TestClient, transport: MemoryTransport, engine: Engine
) -> None:
    client.post("/subscribe", data=sign_up_form("ada@example.com", form_token(client)))
    match = LINK.search(mail_text(transport, 0))
    assert match is not None
    path = match.group(1)
    with session_scope(engine) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        assert row.token not in path
    assert client.get(path).status_code == 200
    # Any single changed character in the signed part is refused, wherever it is.
    signed = path.removeprefix("/confirm/")
    for i in range(0, len(signed), max(1, len(signed) // 12)):
        forged = signed[:i] + ("A" if signed[i] != "A" else "B") + signed[i + 1 :]
        assert client.get(f"/confirm/{forged}").status_code in (400, 410), forged


def feed_token_of(engine: Engine, email: str) -> str:
    with session_scope(engine) as session:
        row = find_by_email(session, email)
        assert row is not None
        return row.feed_token


def test_rotating_a_token_locks_out_every_old_link_and_the_new_ones_work(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    old = add(engine, clock, "ada@example.com")
    feed = feed_token_of(engine, "ada@example.com")
    urls = ("/u/{}", "/unsubscribe/{}")
    feeds = ("/feeds/u/{}.atom", "/feeds/u/{}.rss")
    for url in urls:
        assert client.get(url.format(old)).status_code == 200, url
    with session_scope(engine) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        new = rotate_token(session, row, now=clock()).token
    assert new != old
    for url in urls:
        assert client.get(url.format(old)).status_code == 404, url
        assert client.get(url.format(new)).status_code == 200, url
    one_click = {"List-Unsubscribe": "One-Click"}
    assert client.post(f"/unsubscribe/{old}", data=one_click).status_code == 404
    with session_scope(engine) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        assert row.status == "active"  # the old link unsubscribed nobody
    # The feed has a key of its own: a reader's subscription survives a new account key.
    for url in feeds:
        assert client.get(url.format(feed)).status_code == 200, url


def test_a_feed_url_opens_the_feed_and_nothing_else(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    # Issue 14, item 5: feed URLs end up in cloud readers and OPML files; the key in them
    # used to open the preferences page (interests, unsubscribe, delete) as well.
    account = add(engine, clock, "ada@example.com")
    feed = feed_token_of(engine, "ada@example.com")
    assert feed != account
    served = client.get(f"/feeds/u/{feed}.atom")
    assert served.status_code == 200
    assert account not in served.text
    csrf = form_token(client, f"/u/{account}")
    refused = [
        client.get(f"/u/{feed}"),
        client.get(f"/unsubscribe/{feed}"),
        client.post(f"/unsubscribe/{feed}", data={"List-Unsubscribe": "One-Click"}),
        client.post(f"/u/{feed}", data={"csrf": csrf, "interests": "x", "timezone": "UTC"}),
        client.post(f"/u/{feed}/delete", data={"csrf": csrf, "sure": "yes"}),
        client.post(f"/u/{feed}/reset-link", data={"csrf": csrf}),
        client.get(f"/e/{feed}/1"),
    ]
    assert [r.status_code for r in refused] == [404] * len(refused)
    assert client.get(f"/feeds/u/{account}.atom").status_code == 404
    with session_scope(engine) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        assert (row.status, row.interests, row.token) == ("active", "llm", account)


@SQLITE_ONLY
def test_rotating_a_token_voids_a_pending_confirmation_link(
    client: TestClient, transport: MemoryTransport, engine: Engine, clock: Clock
) -> None:
    client.post("/subscribe", data=sign_up_form("ada@example.com", form_token(client)))
    match = LINK.search(mail_text(transport, 0))
    assert match is not None
    with session_scope(engine) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        rotate_token(session, row, now=clock())
    assert client.get(match.group(1)).status_code == 410


def test_signing_up_answers_alike_for_new_pending_active_and_unsubscribed_addresses(
    client: TestClient, transport: MemoryTransport, engine: Engine, clock: Clock
) -> None:
    add(engine, clock, "pending@example.com", confirmed=False)
    add(engine, clock, "active@example.com")
    add(engine, clock, "gone@example.com")
    with session_scope(engine) as session:
        gone = find_by_email(session, "gone@example.com")
        assert gone is not None
        unsubscribe(session, gone, now=clock())
    addresses = ("new@example.com", "pending@example.com", "active@example.com", "gone@example.com")
    answers = {}
    for email in addresses:
        before = len(transport.sent)
        response = client.post("/subscribe", data=sign_up_form(email, form_token(client)))
        page = CSRF.sub("CSRF", response.text).replace(email, "EMAIL")
        headers = sorted(
            (k, v) for k, v in response.headers.items() if k not in ("content-length", "set-cookie")
        )
        answers[email] = (response.status_code, page, tuple(headers), len(transport.sent) - before)
    assert len(set(answers.values())) == 1, "an answer differs with the address's state"
    assert next(iter(answers.values()))[3] == 1  # one mail each, whatever the state
    mails = {
        e: LINK.sub("LINK", mail_text(transport, i)).replace(e, "EMAIL")
        for i, e in enumerate(addresses)
    }
    # Only the inbox's owner reads the mail, so it may say what its link does for them: an
    # active subscriber's applies the interests typed (issue 14, item 10). Every other state
    # gets the very same mail, and every mail holds one link.
    others = {mails[e] for e in addresses if e != "active@example.com"}
    assert len(others) == 1, "the mail differs with the address's state"
    assert all(m.count("LINK") == 1 for m in mails.values())


def test_a_burst_of_sign_ups_from_one_address_is_held_to_the_limit(
    make_app: Callable[..., FastAPI], transport: MemoryTransport, engine: Engine
) -> None:
    limit = 5
    app = make_app(subscribe_per_ip_per_hour=limit)
    with TestClient(app) as client:
        csrf = form_token(client)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4000)),
            base_url="http://testserver",
            cookies={CSRF_COOKIE: csrf},
        ) as http:
            posts = [
                http.post("/subscribe", data=sign_up_form(f"burst{i}@example.com", csrf))
                for i in range(50)
            ]
            return await asyncio.gather(*posts)

    statuses = sorted(r.status_code for r in asyncio.run(burst()))
    # A taken sign-up answers 303 to "check your inbox" (redirect after POST).
    assert statuses == [303] * limit + [429] * (50 - limit)
    assert count(engine) == limit
    assert len(transport.sent) == limit


@SQLITE_ONLY
def test_simultaneous_one_click_unsubscribes_all_succeed(
    make_app: Callable[..., FastAPI], engine: Engine, clock: Clock
) -> None:
    # Mail providers fire RFC 8058 POSTs in bulk; each must get its 200, never a 5xx.
    tokens = [add(engine, clock, f"leaver{i}@example.com") for i in range(20)]
    app = make_app()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            posts = [
                http.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
                for token in tokens
            ]
            return await asyncio.gather(*posts)

    assert [r.status_code for r in asyncio.run(burst())] == [200] * len(tokens)
    with session_scope(engine) as session:
        statuses = {s.status for s in session.exec(select(Subscriber)).all()}
    assert statuses == {"unsubscribed"}


@SQLITE_ONLY
def test_resetting_the_feed_address_on_the_page_stops_the_old_one_at_once_even_when_cached(
    make_app: Callable[..., FastAPI], engine: Engine, clock: Clock
) -> None:
    # Once a strict xfail (a known gap): rotation lived only in the store, out of reach of
    # the web app's feed cache, so an old feed URL kept working for feed_check_seconds.
    account = add(engine, clock, "ada@example.com")
    old = feed_token_of(engine, "ada@example.com")
    with TestClient(make_app(feed_check_seconds=60)) as client:
        assert client.get(f"/feeds/u/{old}.atom").status_code == 200  # now cached
        csrf = form_token(client, f"/u/{account}")
        reset = client.post(f"/u/{account}/reset-feed", data={"csrf": csrf}, follow_redirects=False)
        assert reset.status_code == 303
        new = feed_token_of(engine, "ada@example.com")
        assert new != old
        assert client.get(f"/feeds/u/{old}.atom").status_code == 404
        assert client.get(f"/feeds/u/{old}.rss").status_code == 404
        assert client.get(f"/feeds/u/{new}.atom").status_code == 200
        page = client.get(reset.headers["location"])
        assert f"/feeds/u/{new}.atom" in page.text
        assert "new address" in page.text
        assert client.get(f"/u/{account}").status_code == 200  # the account key is unchanged


@SQLITE_ONLY
def test_resetting_the_private_link_on_the_page_moves_the_account_to_a_new_key(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    old = add(engine, clock, "ada@example.com")
    feed = feed_token_of(engine, "ada@example.com")
    csrf = form_token(client, f"/u/{old}")
    assert client.post(f"/u/{old}/reset-link", data={}).status_code == 403  # needs the form
    moved = client.post(f"/u/{old}/reset-link", data={"csrf": csrf}, follow_redirects=False)
    assert moved.status_code == 303
    new = moved.headers["location"].removeprefix("http://testserver/u/").split("?")[0]
    assert len(new) == 43
    assert new != old
    assert client.get(f"/u/{old}").status_code == 404
    assert client.get(f"/unsubscribe/{old}").status_code == 404
    page = client.get(f"/u/{new}?reset=link")
    assert page.status_code == 200
    assert "no longer work" in page.text
    assert client.get(f"/feeds/u/{feed}.atom").status_code == 200
