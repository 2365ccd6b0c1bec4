"""Two weeks of paperfeed through real processes and sockets, on SQLite and on PostgreSQL.

The real daemon (``paperfeed run``, one start per simulated send moment, its wall clock
moved by ``e2e_run_at.py``) crawls a fake Hugging Face over HTTP that serves four weeks of
lists built from the captured fixtures and real titles and abstracts: two weeks of history,
then two weeks lived through, with empty weekends, papers that join a list only at a later
crawl and upvotes that move between crawls. 500 people in five time zones sign up through
the daemon's web form; the confirmation mail arrives at a real SMTP server, and 450 of them
follow its link and press the button; 25 of those leave mid-scenario from a digest (half by
RFC 8058 one-click, half on the unsubscribe page). At the end it is proven that:

- every confirmed reader got exactly one digest per due edition: at each send moment in
  their zone, when lists settled since their previous edition (none over the weekends),
  for the right local date, holding only papers of those lists;
- nobody got a paper twice, a late paper reached everyone whose edition covered its day,
  and each digest shows the upvotes of the crawl that settled the list, not the first one;
- readers who never confirmed got only the confirmation; leavers got nothing after leaving;
- personal feeds fetched over HTTP hold exactly the papers of the reader's digests, edition
  by edition.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine

from paperfeed.store import migrate
from paperfeed.store.db import make_engine
from tests.e2e.e2e_daemon import DaemonSetup, RunningDaemon, WaitingDaemon, daemon_env
from tests.e2e.e2e_expect import (
    ExpectedDigest,
    Reader,
    Slot,
    expected_digests,
    send_moments,
    settled_in,
)
from tests.e2e.e2e_mailbox import Mail, Mailbox, running_mailbox
from tests.e2e.e2e_timeline import SCENARIO_DAYS, SCENARIO_START, HFTimeline, listing_day
from tests.e2e.e2e_web import Site
from tests.support.data_paths import PROFILES
from tests.support.fake_hf import FakeHF

PUBLIC_URL = "http://paperfeed.test"
READERS = 500
# Five zones, each with the local hour that is 23:00 UTC in October 2026 (summer time in New
# York and Berlin, Sydney's summer time began on 4 October, none changes before the 25th):
# one simulated send moment a day, which is the local evening for some and the next
# morning, another local date, for others.
SCHEDULES = (
    ("America/New_York", 19),
    ("America/Sao_Paulo", 20),
    ("Europe/Berlin", 1),
    ("Asia/Tokyo", 8),
    ("Australia/Sydney", 10),
)
# Sunday evening, 20:00 UTC: people sign up while the first daemon crawls the history. No
# send moment is due then (the last one was 21 hours earlier, past the 20-hour lateness), so
# when they confirm cannot change what it composes. Their first digests come on Monday.
SIGN_UP_AT = datetime(2026, 10, 4, 20, 0, tzinfo=UTC)
LATE_DAYS = (date(2026, 10, 6), date(2026, 10, 9))  # a Tuesday and a Friday (settles Saturday)
LATE_AFTER = timedelta(hours=24)  # joins its list after the day's own crawl, before it settles
LEAVE_SLOT = 4  # Thursday 8 October, 23:00 UTC: leavers unsubscribe after that digest
FEED_SAMPLE = 25
# The settings' defaults, which the expectations follow.
SETTLE_HOURS = 6
LOOKBACK_DAYS = 7
MAX_LATENESS = timedelta(hours=20)

T = TypeVar("T")


@dataclass
class Scenario:
    """Everything one run lives through and what it saw."""

    timeline: HFTimeline
    readers: list[Reader]
    slots: list[Slot]
    mailbox: Mailbox
    feeds: dict[str, list[tuple[str, str, datetime]]]


@pytest.mark.slow
@pytest.mark.e2e
def test_two_weeks_of_digests_reach_exactly_the_right_readers(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    try:
        scenario = _live_through_two_weeks(tmp_path, database_url, engine)
    finally:
        engine.dispose()
    _assert_confirmation_mails(scenario)
    _assert_leavers(scenario)
    _assert_digests(scenario)
    _assert_feeds(scenario)


# -- the scenario ------------------------------------------------------------------------------


def _readers() -> list[Reader]:
    profiles = [json.loads(line) for line in PROFILES.read_text(encoding="utf-8").splitlines()]
    readers = []
    for n in range(READERS):
        profile = profiles[n % len(profiles)]
        interests = "\n".join(
            [*profile["interests"], *(f"-{word}" for word in profile.get("exclude", []))]
        )
        zone, hour = SCHEDULES[n % len(SCHEDULES)]
        readers.append(
            Reader(
                email=f"reader{n:03d}@example.org",
                zone=zone,
                hour=hour,
                interests=interests,
                confirms=n % 10 != 7,
                leaves_in=LEAVE_SLOT if n % 20 == 3 else None,
            )
        )
    return readers


def _slots(readers: Sequence[Reader]) -> list[Slot]:
    """The sign-up moment, then every reader's send moment of the two weeks, in order."""
    first = SCENARIO_START
    last = SCENARIO_START + timedelta(days=SCENARIO_DAYS)
    start, end = (datetime.combine(d, datetime.min.time(), UTC) for d in (first, last))
    moments = {
        moment
        for zone, hour in {(r.zone, r.hour) for r in readers}
        for moment in send_moments(zone, hour, first, last)
        if start <= moment < end  # the two weeks, in UTC
    }
    return [Slot(index, at) for index, at in enumerate([SIGN_UP_AT, *sorted(moments)])]


def _live_through_two_weeks(tmp_path: Path, database_url: str, engine: Engine) -> Scenario:
    timeline = HFTimeline(LATE_DAYS, LATE_AFTER)
    readers = _readers()
    slots = _slots(readers)
    feeds: dict[str, list[tuple[str, str, datetime]]] = {}
    with FakeHF(days={}) as fake, running_mailbox() as mailbox:
        setup = DaemonSetup(
            env=daemon_env(
                var_dir=tmp_path / "var",
                database_url=database_url,
                hf_url=fake.url,
                smtp_url=mailbox.url,
                public_url=PUBLIC_URL,
            ),
            engine=engine,
            logs=tmp_path,
        )
        waiting: WaitingDaemon | None = setup.spawn()
        stopped: list[RunningDaemon] = []
        try:
            for slot in slots:
                mailbox.slot = slot.index
                fake.days = timeline.snapshot(slot.at)  # what HF lists when this crawl runs
                assert waiting is not None
                daemon = waiting.go(slot.at)
                stopped.append(daemon)
                # The next start imports, and the previous one exits, while this one works.
                waiting = setup.spawn() if slot != slots[-1] else None
                if len(stopped) > 1:
                    stopped.pop(0).finish()
                if slot.index == 0:
                    _sign_up_and_confirm(daemon, mailbox, readers)
                daemon.wait_for_pass()
                if slot.index == LEAVE_SLOT:
                    _leave(daemon, mailbox, [r for r in readers if r.leaves_in == slot.index])
                if slot.index == slots[-1].index:
                    feeds = _read_feeds(daemon, mailbox, readers)
                daemon.stop()
            stopped.pop().finish()
        finally:
            if waiting is not None:
                waiting.kill()
            for daemon in stopped:
                daemon.kill()
    return Scenario(timeline, readers, slots, mailbox, feeds)


def _parallel(work: Callable[[T], None], items: Sequence[T]) -> None:
    """Run ``work`` on every item from a few threads, as many browsers would (errors raise)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in pool.map(work, items):
            pass


def _sign_up_and_confirm(daemon: RunningDaemon, mailbox: Mailbox, readers: list[Reader]) -> None:
    daemon.wait_for_web()
    site = Site(PUBLIC_URL, daemon.url)
    try:
        csrf = site.form_token("/")
        _parallel(
            lambda r: site.sign_up(
                csrf, email=r.email, interests=r.interests, zone=r.zone, hour=r.hour
            ),
            readers,
        )
        # The confirmation goes out after the page has answered: wait for all of them.
        mailbox.wait_for(
            f"{len(readers)} confirmation mails",
            lambda mails: sum(m.is_confirmation for m in mails) >= len(readers),
            timeout=60,
        )

        def confirm(reader: Reader) -> None:
            (mail,) = [m for m in mailbox.to(reader.email) if m.is_confirmation]
            reader.token = site.confirm(mail.link_after("Confirm here:"))
            reader.confirmed_in = 0  # the sign-up start, after its compose

        _parallel(confirm, [r for r in readers if r.confirms])
    finally:
        site.close()


def _leave(daemon: RunningDaemon, mailbox: Mailbox, leavers: list[Reader]) -> None:
    daemon.wait_for_web()
    site = Site(PUBLIC_URL, daemon.url)
    try:
        for n, reader in enumerate(leavers):
            latest = [m for m in mailbox.to(reader.email) if m.is_digest][-1]
            reader.mails_before_leaving = len(mailbox.mails)
            if n % 2:
                site.unsubscribe_one_click(latest.one_click_url())
            else:
                site.unsubscribe_on_page(latest.link_after("Unsubscribe:"))
    finally:
        site.close()


def _read_feeds(
    daemon: RunningDaemon, mailbox: Mailbox, readers: list[Reader]
) -> dict[str, list[tuple[str, str, datetime]]]:
    """The personal feeds of a sample of readers (some leavers too), from their mails' links."""
    daemon.wait_for_web()
    site = Site(PUBLIC_URL, daemon.url)
    sample = [r for r in readers if r.confirmed_in is not None][:FEED_SAMPLE]
    sample += [r for r in readers if r.leaves_in is not None][:3]
    try:
        feeds = {}
        for reader in sample:
            digest = [m for m in mailbox.to(reader.email) if m.is_digest][-1]
            entries = site.feed(digest.link_after("Your personal feed:"))
            feeds[reader.email] = [(e.paper_id, e.edition, e.published) for e in entries]
        return feeds
    finally:
        site.close()


# -- what must be true -------------------------------------------------------------------------


def _assert_confirmation_mails(scenario: Scenario) -> None:
    for reader in scenario.readers:
        mails = scenario.mailbox.to(reader.email)
        confirmations = [m for m in mails if m.is_confirmation]
        assert len(confirmations) == 1, f"{reader.email} got {len(confirmations)} confirmations"
        assert confirmations[0].slot == 0
        if not reader.confirms:
            assert mails == confirmations, f"{reader.email} never confirmed but got more mail"


def _assert_leavers(scenario: Scenario) -> None:
    leavers = [r for r in scenario.readers if r.leaves_in is not None]
    assert leavers
    everything = scenario.mailbox.mails
    for reader in leavers:
        assert reader.mails_before_leaving is not None
        later = [
            m for m in everything[reader.mails_before_leaving :] if m.recipient == reader.email
        ]
        assert later == [], f"{reader.email} left but got {len(later)} more mails"


def _digests_by_reader(mailbox: Mailbox) -> dict[str, list[Mail]]:
    found: dict[str, list[Mail]] = defaultdict(list)
    for mail in mailbox.mails:
        if mail.is_digest:
            found[mail.recipient].append(mail)
    return found


def _assert_digests(scenario: Scenario) -> None:
    timeline, slots = scenario.timeline, scenario.slots
    settled = settled_in(timeline.days_with_lists, slots, SETTLE_HOURS)
    late = {a.day: a.paper_id for a in timeline.late}
    for day, paper in late.items():  # the day's own crawl did not see it, the settling one did
        own_crawl = next(s.at for s in slots if s.at.date() == day)
        assert paper not in timeline.papers_on(day, own_crawl)
        assert paper in timeline.papers_on(day, slots[settled[day]].at)
    got = _digests_by_reader(scenario.mailbox)
    assert set(got) <= {r.email for r in scenario.readers}
    sent_in: Counter[int] = Counter()
    for reader in scenario.readers:
        expected = expected_digests(
            reader, slots, settled, lookback_days=LOOKBACK_DAYS, max_lateness=MAX_LATENESS
        )
        digests = got.get(reader.email, [])
        assert [(m.slot, m.edition_date()) for m in digests] == [
            (e.slot, e.local_date) for e in expected
        ], f"{reader.email} ({reader.zone} {reader.hour}:00) got the wrong digests"
        seen: set[str] = set()
        for mail, edition in zip(digests, expected, strict=True):
            _assert_digest(mail, edition, seen, settled, slots, scenario.timeline, late)
            sent_in[mail.slot] += 1
    # The calendar itself, as a reader sees it: the history on Monday, then a digest the
    # evening after each weekday's list (Saturday's brings Friday's), none on Sunday and
    # Monday (nothing was listed at the weekend), and fewer from Friday on (the leavers).
    confirmed = sum(r.confirmed_in is not None for r in scenario.readers)
    stayed = sum(r.confirmed_in is not None and r.leaves_in is None for r in scenario.readers)
    by_day = {slots[i].at.date(): n for i, n in sorted(sent_in.items())}
    october = {date(2026, 10, d): confirmed for d in (5, 6, 7, 8)}
    october |= {date(2026, 10, d): stayed for d in (9, 10, 13, 14, 15, 16, 17)}
    assert by_day == october


def _assert_digest(
    mail: Mail,
    edition: ExpectedDigest,
    seen: set[str],
    settled: dict[date, int],
    slots: list[Slot],
    timeline: HFTimeline,
    late: dict[date, str],
) -> None:
    papers = mail.paper_ids()
    assert papers, f"an empty digest went to {mail.recipient}"
    twice = seen.intersection(papers) | {p for p, n in Counter(papers).items() if n > 1}
    assert not twice, f"{mail.recipient} got {sorted(twice)} again on {edition.local_date}"
    seen.update(papers)
    days = {listing_day(p) for p in papers}
    assert days <= edition.days, f"{mail.recipient}'s {edition.local_date} digest has old lists"
    for day in edition.days & set(late):
        assert late[day] in papers, f"{mail.recipient} missed the late paper of {day}"
    shown = mail.upvotes()
    assert set(shown) == set(papers), f"upvotes missing in the digest to {mail.recipient}"
    for paper, votes in shown.items():
        settling_crawl = slots[settled[listing_day(paper)]].at
        assert votes == timeline.upvotes(paper, settling_crawl), (
            f"{paper} shows {votes} upvotes to {mail.recipient}, not those of the crawl "
            f"that settled its list"
        )


def _assert_feeds(scenario: Scenario) -> None:
    got = _digests_by_reader(scenario.mailbox)
    starts = [s.at for s in scenario.slots]
    assert len(scenario.feeds) >= FEED_SAMPLE
    for email, entries in scenario.feeds.items():
        editions: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for paper, edition, published in entries:
            editions[edition].append((published, paper))
        in_feed: dict[int, set[str]] = {}
        for items in editions.values():
            # An edition's first item is dated when it was composed (during that slot's
            # start), the others a second apart below it, in the feed's (ranked) order.
            dates = [published for published, _ in items]
            assert dates == sorted(dates, reverse=True), f"{email}'s feed is out of order"
            assert len(set(dates)) == len(dates), f"{email}'s feed repeats a date"
            slot = sum(start <= dates[0] for start in starts) - 1
            assert slot not in in_feed, f"{email}'s feed has two editions in slot {slot}"
            in_feed[slot] = {paper for _, paper in items}
        in_mail = {m.slot: set(m.paper_ids()) for m in got[email]}
        assert dict(in_feed) == in_mail, f"{email}'s feed does not match their digests"
        assert len(entries) == sum(len(papers) for papers in in_mail.values())
