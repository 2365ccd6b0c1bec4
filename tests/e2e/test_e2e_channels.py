"""Digests by email and chat through the real daemon, on SQLite and on PostgreSQL.

The real ``paperfeed run`` (its wall clock moved by ``e2e_run_at.py``) crawls the fake
Hugging Face, composes and sends: mail to a real SMTP server (aiosmtpd), chat posts through
apprise's ``json://`` plugin to a real HTTP server in this test that records every POST and
answers as told. Shown here:

- a team digest (a chat address, no email) and people with email plus a chat address each
  get exactly one delivery per edition on each channel, the post linking their edition;
- a 429 with ``Retry-After`` is honoured: the post is not tried again before the wait ends,
  and arrives after it;
- a chat server that is down delays only that channel: the same person's mail arrives in
  the first pass, the post once the server is back;
- unsubscribing (one-click, from the mail) stops every channel;
- ``kill -9`` in the middle of a send duplicates at most the batch in flight per channel.

The daemon sends every ``PAPERFEED_SEND_INTERVAL_MINUTES`` (1 here, the least), so a retry
waits for the next pass: this test takes a few minutes of real time.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from paperfeed.store import migrate
from paperfeed.store.channel_addresses import add_address
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.models import Delivery, DeliveryStatus, Edition, Subscriber
from paperfeed.store.subscribers import create_subscriber
from paperfeed.store.teams import create_team
from tests.chat.chat_server import ChatServer, Post
from tests.e2e.e2e_daemon import DaemonSetup, RunningDaemon, daemon_env, outstanding, wait_until
from tests.e2e.e2e_mailbox import Mail, Mailbox, running_mailbox
from tests.e2e.e2e_timeline import HFTimeline
from tests.support.fake_hf import FakeHF
from tests.support.ports import free_port

PUBLIC_URL = "http://paperfeed.test"
SIGNED_UP = datetime(2026, 10, 4, 20, 0, tzinfo=UTC)  # Sunday evening, before the scenario
DAY_ONE = datetime(2026, 10, 5, 23, 0, tzinfo=UTC)  # everyone's send moment (23:00 UTC)
DAY_TWO = DAY_ONE + timedelta(days=1)
RETRY_AFTER = 90  # longer than a send interval: the pass in between must leave the post be
CHAT_RETRY = 20  # PAPERFEED_CHAT_RETRY_SECONDS: a server that is down is tried this much later
INTERESTS = "language models\nreasoning"
SECRET = "s3cr3t-0123456789abcdef"
PASS_TIMEOUT = 300.0


def channel_env(var_dir: Path, database_url: str, hf_url: str, smtp_url: str) -> dict[str, str]:
    env = daemon_env(
        var_dir=var_dir,
        database_url=database_url,
        hf_url=hf_url,
        smtp_url=smtp_url,
        public_url=PUBLIC_URL,
    )
    env.update(
        PAPERFEED_SEND_INTERVAL_MINUTES="1",
        PAPERFEED_CHAT_RETRY_SECONDS=str(CHAT_RETRY),
        PAPERFEED_CHAT_TIMEOUT_SECONDS="5",
    )
    return env


@contextlib.contextmanager
def store(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def person(engine: Engine, email: str, chat_url: str | None) -> str:
    """A confirmed reader at 23:00 UTC with, if given, a chat address; their token."""
    with session_scope(engine) as session:
        reader = create_subscriber(
            session,
            email=email,
            interests=INTERESTS,
            now=SIGNED_UP,
            send_hour=23,
            confirmed=True,
        )
        if chat_url is not None:
            add_address(session, reader.id or 0, chat_url, now=SIGNED_UP)
        return reader.token


def team(engine: Engine, name: str, chat_url: str) -> str:
    with session_scope(engine) as session:
        created, _ = create_team(
            session, name=name, url=chat_url, interests=INTERESTS, now=SIGNED_UP, send_hour=23
        )
        return created.token


def editions_of(engine: Engine, token: str) -> list[int]:
    with session_scope(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.token == token)).one()
        rows = session.exec(
            select(Edition.id)
            .where(Edition.subscriber_id == subscriber.id)
            .order_by(col(Edition.id))
        ).all()
        return [int(r) for r in rows if r is not None]


def digests(mailbox: Mailbox, email: str) -> list[Mail]:
    return [m for m in mailbox.to(email) if m.is_digest]


def start(setup: DaemonSetup, at: datetime) -> RunningDaemon:
    return setup.spawn().go(at)


def run_until_drained(
    setup: DaemonSetup, at: datetime, what: str, arrived: Callable[[], bool]
) -> None:
    """Run the daemon from ``at`` until ``arrived`` and an empty outbox, then stop it cleanly."""
    daemon = start(setup, at)
    try:
        wait_until(what, arrived, PASS_TIMEOUT)
        wait_until("the outbox was drained", lambda: outstanding(setup.engine) == 0, 60)
        daemon.stop()
        daemon.finish()
    finally:
        daemon.kill()


def edition_link(token: str, edition_id: int) -> str:
    return f"{PUBLIC_URL}/e/{token}/{edition_id}"


@pytest.mark.slow
@pytest.mark.e2e
def test_each_channel_gets_one_delivery_per_edition_and_waits_on_its_own(
    tmp_path: Path, database_url: str
) -> None:
    timeline = HFTimeline(late_days=(), late_after=timedelta(0))
    down_port = free_port()
    team_path, ada_path, carol_path = (f"/{who}/{SECRET}" for who in ("team", "ada", "carol"))
    bob_path = f"/bob/{SECRET}"
    with (
        store(database_url) as engine,
        FakeHF(days=timeline.snapshot(DAY_ONE)) as fake,
        running_mailbox() as mailbox,
        ChatServer() as chat,
    ):
        lab = team(engine, "lab", chat.url(team_path))
        ada = person(engine, "ada@example.org", chat.url(ada_path))
        bob = person(engine, "bob@example.org", f"json://127.0.0.1:{down_port}{bob_path}")
        carol = person(engine, "carol@example.org", chat.url(carol_path))
        chat.answer(carol_path, 429, headers={"Retry-After": str(RETRY_AFTER)})
        setup = DaemonSetup(
            env=channel_env(tmp_path / "var", database_url, fake.url, mailbox.url),
            engine=engine,
            logs=tmp_path,
        )

        # -- day one: every channel, a 429, a chat server that is down ---------------------
        daemon = start(setup, DAY_ONE)
        try:
            wait_until(
                "the first pass mailed ada, bob and carol and posted to the team, ada and carol",
                lambda: (
                    all(digests(mailbox, f"{w}@example.org") for w in ("ada", "bob", "carol"))
                    and bool(chat.posts_to(team_path))
                    and bool(chat.posts_to(ada_path))
                    and bool(chat.posts_to(carol_path, accepted_only=False))
                ),
                PASS_TIMEOUT,
            )
            bob_mailed = time.time()
            # Bob's chat service was down: his mail went anyway. It comes back now.
            with ChatServer(port=down_port) as back:
                wait_until(
                    "bob's post arrived once his chat server was back",
                    lambda: bool(back.posts_to(bob_path)),
                    PASS_TIMEOUT,
                )
                wait_until(
                    "carol's post arrived after its Retry-After",
                    lambda: bool(chat.posts_to(carol_path)),
                    PASS_TIMEOUT,
                )
                wait_until("the outbox was drained", lambda: outstanding(engine) == 0, 60)
                bob_posts = back.posts_to(bob_path, accepted_only=False)
            # Ada leaves from her mail (RFC 8058 one-click), while this daemon serves the web.
            daemon.wait_for_web()
            one_click = digests(mailbox, "ada@example.org")[0].one_click_url()
            answer = httpx.post(
                daemon.url + one_click.removeprefix(PUBLIC_URL),
                data={"List-Unsubscribe": "One-Click"},
                timeout=30,
            )
            assert answer.status_code == 200
            daemon.stop()
            daemon.finish()
        finally:
            daemon.kill()

        day_one = {who: editions_of(engine, token) for who, token in
                   (("lab", lab), ("ada", ada), ("bob", bob), ("carol", carol))}  # fmt: skip
        assert all(len(ids) == 1 for ids in day_one.values()), day_one
        # Exactly one delivery per edition on each channel.
        for who in ("ada", "bob", "carol"):
            assert len(digests(mailbox, f"{who}@example.org")) == 1
        for path in (team_path, ada_path, carol_path):
            assert len(chat.posts_to(path)) == 1, path
        assert len(bob_posts) == 1
        # Each post is that reader's edition, linked to its page.
        for path, who, token in ((team_path, "lab", lab), (ada_path, "ada", ada),
                                 (carol_path, "carol", carol)):  # fmt: skip
            body = chat.posts_to(path)[0].body["message"]
            assert edition_link(token, day_one[who][0]) in body
            assert "https://huggingface.co/papers/" in body
        assert edition_link(bob, day_one["bob"][0]) in bob_posts[0].body["message"]
        # The 429: asked again only after Retry-After, and taken then.
        limited, taken = chat.posts_to(carol_path, accepted_only=False)
        assert (limited.status, taken.status) == (429, 200)
        assert taken.started >= limited.at + RETRY_AFTER
        # The server that was down held back only chat: bob's mail came before his post.
        assert bob_mailed <= bob_posts[0].started
        assert digests(mailbox, "bob@example.org")[0].slot == 0

        # -- day two: ada unsubscribed, every channel of hers stops ------------------------
        mailbox.slot = 1
        seen = len(chat.posts)
        with ChatServer(port=down_port) as back:
            fake.days = timeline.snapshot(DAY_TWO)
            run_until_drained(
                setup,
                DAY_TWO,
                "day two reached the team, bob and carol on both channels",
                lambda: (
                    len(chat.posts_to(team_path)) == 2
                    and len(chat.posts_to(carol_path)) == 2
                    and bool(back.posts_to(bob_path))
                    and all(
                        len(digests(mailbox, f"{w}@example.org")) == 2 for w in ("bob", "carol")
                    )
                ),
            )
        assert len(digests(mailbox, "ada@example.org")) == 1
        assert len(chat.posts_to(ada_path)) == 1
        assert [p.path for p in chat.posts[seen:]].count(ada_path) == 0
        assert len(editions_of(engine, lab)) == 2
        with session_scope(engine) as session:
            statuses = Counter(
                (d.channel.split(":")[0], d.status) for d in session.exec(select(Delivery)).all()
            )
        assert statuses[("chat", DeliveryStatus.FAILED)] == 0
        assert statuses[("email", DeliveryStatus.FAILED)] == 0
    assert_no_secret_logged(tmp_path)


@pytest.mark.slow
@pytest.mark.e2e
def test_kill_9_mid_send_duplicates_at_most_the_batch_in_flight_per_channel(
    tmp_path: Path, database_url: str
) -> None:
    teams, readers, batch = 30, 30, 6
    timeline = HFTimeline(late_days=(), late_after=timedelta(0))
    with (
        store(database_url) as engine,
        FakeHF(days=timeline.snapshot(DAY_ONE)) as fake,
        running_mailbox() as mailbox,
        ChatServer() as chat,
    ):
        paths = [f"/team{n:02d}/{SECRET}" for n in range(teams)]
        for n, path in enumerate(paths):
            chat.always(path, 200, delay=0.4)  # a slow service: the kill lands mid-batch
            team(engine, f"team{n:02d}", chat.url(path))
        for n in range(readers):
            person(engine, f"reader{n:02d}@example.org", None)
        env = channel_env(tmp_path / "var", database_url, fake.url, mailbox.url)
        env.update(
            PAPERFEED_SEND_BATCH_SIZE=str(batch),
            PAPERFEED_CHAT_CONCURRENCY="2",
            PAPERFEED_SEND_LEASE_SECONDS="5",
        )
        setup = DaemonSetup(env=env, engine=engine, logs=tmp_path)
        daemon = start(setup, DAY_ONE)
        try:
            wait_until(
                "a third of the posts arrived", lambda: len(chat.posts) >= teams // 3, PASS_TIMEOUT
            )
            daemon.process.kill()  # SIGKILL: no batch is finished, nothing is marked
            daemon.process.wait()
        finally:
            daemon.kill()
        killed_at = len(chat.posts)
        assert killed_at < teams, "the kill came after every post: nothing was in flight"
        time.sleep(1.0)  # the posts in flight land at the server
        # The next start comes after the lease: the claimed batch is sent again.
        run_until_drained(
            setup,
            DAY_ONE + timedelta(minutes=3),
            "every team got its post",
            lambda: all(chat.posts_to(path) for path in paths),
        )
    per_path = Counter(p.path for p in chat.posts)
    chat_duplicates = sum(n - 1 for n in per_path.values())
    print(f"kill -9 after {killed_at} of {teams} posts: {chat_duplicates} chat duplicates")
    assert set(per_path) == set(paths)
    assert chat_duplicates <= batch, per_path
    mails = [m for m in mailbox.mails if m.is_digest]
    per_reader = Counter(m.recipient for m in mails)
    assert set(per_reader) == {f"reader{n:02d}@example.org" for n in range(readers)}
    mail_duplicates = sum(n - 1 for n in per_reader.values())
    print(f"{mail_duplicates} mail duplicates (batch size {batch})")
    assert mail_duplicates <= batch
    assert_no_secret_logged(tmp_path)
    # Every post of one team is the same edition (a resend, not a second edition).
    for path in paths:
        bodies = {post_edition(p) for p in chat.posts if p.path == path}
        assert len(bodies) == 1, path


def assert_no_secret_logged(logs: Path) -> None:
    """No daemon log line holds an address's secret (only its redacted form)."""
    seen = sorted(logs.glob("daemon-*.log"))
    assert seen
    for log in seen:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert SECRET not in text, log
        assert "\\u2026cdef" in text or "…cdef" in text  # the redacted form is there


def post_edition(post: Post) -> str:
    """The edition page a post links to."""
    message = str(post.body["message"])
    start_at = message.rindex(f"{PUBLIC_URL}/e/")
    return message[start_at:].split(")", 1)[0]
