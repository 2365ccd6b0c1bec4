"""Hugging Face faults, injected over real sockets, checked in the store (SQLite and PostgreSQL).

Each test crawls the fake Hugging Face (tests/support/fake_hf.py, here with lasting faults) through
the real crawl job the daemon runs (``due_days`` + ``crawl_days``, see faults_hf_store.py)
into a migrated database, and then reads the store back. Whatever the fault, afterwards:
every paper of every day is stored exactly once and every listed day's list is complete;
a day that could not be read is recorded as an error (never as empty, never as "not
published"), keeps what an earlier crawl stored, is not settled, and the next crawl after
the fault is gone heals it. Waits are measured on the crawler's fake clock.

Faults → tests:

* a 429/503 storm over a two-week crawl, each Retry-After (seconds or HTTP-date) and
  RateLimit honoured, the crawler's own budget kept:
  ``test_a_429_storm_across_a_two_week_crawl_waits_what_each_answer_asks_and_loses_nothing``
* 5xx, 429/503, timeouts (a hang) and truncated JSON that outlast the retries, then heal:
  ``test_an_outage_records_error_days_that_keep_what_was_stored_and_the_next_crawl_heals``
  (one case each). The same faults passing within the retries are
  tests/crawler/test_crawler_e2e.py::test_server_errors_and_a_hang_are_retried_until_the_api_answers
  and ::test_truncated_api_json_falls_back_to_the_real_page (fetch only, no store).
* a layout change (props gone → the cards, enriched or bare; props missing a paper → an
  error day):
  ``test_a_layout_change_falls_back_to_the_cards_and_a_page_short_of_papers_is_an_error_day``
* a day that grows between crawls (past one API page) while votes move:
  ``test_a_day_that_grows_between_crawls_keeps_every_paper_once_and_its_first_sighting``
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import stamina
from sqlalchemy import Engine

from paperfeed.jobs.crawl import due_days
from tests.faults.faults_hf_server import FaultyHF, Hit, Storm
from tests.faults.faults_hf_store import (
    StoredDay,
    assert_days_complete,
    crawl_at,
    crawl_runs,
    listing_days,
    listings,
    papers,
    upvotes_of,
)
from tests.support.fake_hf import FaultKind
from tests.support.hf_days import Item, fixture_items, synthetic_days

pytestmark = pytest.mark.faults

MON = date(2026, 9, 14)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries happen as configured, but stamina's own backoff sleeps are zero."""
    with stamina.set_testing(True, attempts=20, cap=True):
        yield


def weekdays(first: date, last: date, *, per_day: int) -> dict[date, list[Item]]:
    """Hugging Face's lists from ``first`` to ``last``: weekdays only, ids unique per day."""
    return synthetic_days(
        fixture_items(), start=first, count=(last - first).days + 1, per_day=per_day
    )


def span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def assert_waits_were_honoured(timeline: list[Hit]) -> None:
    """After each throttling answer, nothing more was asked on that budget before the
    moment it named."""
    for index, hit in enumerate(timeline):
        if hit.not_before is None:
            continue
        later = [h for h in timeline[index + 1 :] if h.budget == hit.budget]
        assert later, f"nothing was asked again after {hit}"
        assert later[0].at >= hit.not_before - 1e-6, (hit, later[0])


def assert_budget_kept(timeline: list[Hit], *, budget: str, limit: int, window: float) -> None:
    """No ``window`` seconds of the fake clock hold more than ``limit`` requests."""
    times = [h.at for h in timeline if h.budget == budget]
    for start, first in enumerate(times):
        inside = [t for t in times[start:] if t < first + window]
        assert len(inside) <= limit, f"{len(inside)} {budget} requests within {window} s"


def test_a_429_storm_across_a_two_week_crawl_waits_what_each_answer_asks_and_loses_nothing(
    engine: Engine,
) -> None:
    today = date(2026, 9, 28)  # a Monday: the catch-up range is the two weeks before it
    days = weekdays(MON, date(2026, 9, 25), per_day=20)
    storm = Storm(every=3, left=14)
    with FaultyHF(days=days, storm=storm) as hf:
        # A small budget, so the crawler's own window also holds requests back.
        summary = crawl_at(
            engine, hf, at(today, 7), hf_api_calls_per_window=10, hf_page_loads_per_window=4
        )

    assert storm.fired == 14
    throttled = [h for h in hf.timeline if h.not_before is not None]
    assert len(throttled) == 14
    assert {h.fault for h in throttled} == {"429", "503"}
    assert_waits_were_honoured(hf.timeline)
    assert_budget_kept(hf.timeline, budget="api", limit=10, window=300)
    assert_budget_kept(hf.timeline, budget="page", limit=4, window=300)

    assert summary.errors == 0
    assert_days_complete(engine, days, days)
    recorded = listing_days(engine)
    assert {d: s.status for d, s in recorded.items() if d not in days} == {
        **{d: "empty" for d in span(MON, today) if d.weekday() >= 5},
        today: "not_published",  # Monday's list is not out yet at 07:00
    }
    assert all(recorded[d].settled for d in span(MON, date(2026, 9, 27)))
    assert len(papers(engine)) == 10 * 20
    assert {r.status for r in crawl_runs(engine)} == {"ok", "empty", "not_published"}


OUTAGE_SIGNS: dict[FaultKind, str] = {
    "429": "still rate limited (HTTP 429)",
    "500": "HTTP 500 after 2 attempts",
    "503": "still rate limited (HTTP 503)",
    "hang": "ReadTimeout after 2 attempts",
    "truncated_json": "not JSON",
}


@pytest.mark.parametrize("kind", list(OUTAGE_SIGNS))
def test_an_outage_records_error_days_that_keep_what_was_stored_and_the_next_crawl_heals(
    engine: Engine, kind: FaultKind
) -> None:
    friday, monday = date(2026, 9, 25), date(2026, 9, 28)
    days = weekdays(MON, friday, per_day=12)
    with FaultyHF(days=days, hang_seconds=5.0) as hf:
        crawl_at(engine, hf, at(friday, 12), days=span(MON, friday))  # a backfill
        before = papers(engine)
        kept = listings(engine)
        assert_days_complete(engine, days, days)

        hf.break_path("/", kind)
        # Every request fails now, so a short timeout only shortens the hangs.
        timeout = 0.05 if kind == "hang" else 0.5
        broken = crawl_at(engine, hf, at(monday, 12), timeout=timeout, hf_max_attempts=2)

        # Friday (crawled on the day, so unsettled), the weekend and Monday were due.
        assert broken.days == 5  # four days and trending
        assert broken.errors == 5
        assert broken.ok == broken.empty == broken.not_published == 0
        failed = [r for r in crawl_runs(engine) if r.status == "error"]
        assert [(r.kind, r.day) for r in failed] == [
            *(("daily", d) for d in span(friday, monday)),
            ("trending", monday),
        ]
        daily_errors = [r.error or "" for r in failed if r.kind == "daily"]
        assert all(OUTAGE_SIGNS[kind] in error for error in daily_errors), daily_errors[0]
        recorded = listing_days(engine)
        assert (recorded[friday].status, recorded[friday].paper_count) == ("ok", 12)
        for day in span(date(2026, 9, 26), monday):  # never crawled before: an error, not empty
            assert recorded[day] == StoredDay("error", None, 0, settled=False)
        assert not recorded[friday].settled
        assert papers(engine) == before
        assert listings(engine) == kept

        hf.heal()
        healed = crawl_at(engine, hf, at(monday, 13))

    assert healed.errors == 0
    assert_days_complete(engine, days, days)
    recorded = listing_days(engine)
    assert {d: (s.status, s.settled) for d, s in recorded.items() if d >= friday} == {
        friday: ("ok", True),
        date(2026, 9, 26): ("empty", True),
        date(2026, 9, 27): ("empty", True),
        monday: ("not_published", False),
    }
    assert {pid: p.first_seen_at for pid, p in papers(engine).items()} == {
        pid: p.first_seen_at for pid, p in before.items()
    }
    # Nothing is left for a later crawl to catch up: only the re-crawl window is due.
    assert due_days(engine, today=monday, recrawl_days=3) == span(friday, monday)


def test_a_layout_change_falls_back_to_the_cards_and_a_page_short_of_papers_is_an_error_day(
    engine: Engine,
) -> None:
    first, friday = date(2026, 9, 21), date(2026, 9, 25)
    days = weekdays(first, friday, per_day=20)
    thin, short = date(2026, 9, 23), date(2026, 9, 24)
    with FaultyHF(days=days) as hf:
        hf.break_path("/api/daily_papers", "500")  # the API is down...
        hf.break_path("/papers/date/", "no_props")  # ...and the page lost its data
        hf.break_path(f"/papers/date/{short}", "short_props")  # this one lost a paper
        hf.break_path(f"/api/papers/{thin:%y%m}.{thin.day:02d}", "500")  # no details for these
        changed = crawl_at(engine, hf, at(friday, 12), days=span(first, friday), hf_max_attempts=2)

        assert (changed.ok, changed.errors) == (5, 1)  # four days and trending; the short day
        recorded = listing_days(engine)
        assert {d: (s.status, s.source) for d, s in recorded.items()} == {
            **{d: ("ok", "cards") for d in span(first, friday) if d != short},
            short: ("error", None),
        }
        [failed] = [r for r in crawl_runs(engine) if r.status == "error"]
        assert "shows 20 papers but its data yields 19" in (failed.error or "")
        assert short not in listings(engine)
        complete = {d: items for d, items in days.items() if d != short}
        assert_days_complete(engine, complete, complete)
        stored = papers(engine)
        thin_ids = set(upvotes_of(days[thin]))
        # The cards were enriched paper by paper, except where the details were down too.
        assert all(p.abstract for pid, p in stored.items() if pid not in thin_ids)
        assert not any(stored[pid].abstract for pid in thin_ids)

        hf.heal()
        healed = crawl_at(engine, hf, at(friday, 18))

    assert healed.errors == 0
    assert_days_complete(engine, days, days)
    after = papers(engine)
    assert all(p.abstract for p in after.values()), "a card-only paper never got its details"
    assert {pid: after[pid].first_seen_at for pid in stored} == {
        pid: p.first_seen_at for pid, p in stored.items()
    }
    assert listing_days(engine)[short] == StoredDay("ok", "api", 20, settled=True)


def test_a_day_that_grows_between_crawls_keeps_every_paper_once_and_its_first_sighting(
    engine: Engine,
) -> None:
    day = date(2026, 9, 24)
    full = synthetic_days(fixture_items(), start=day, count=1, per_day=130)[day]
    with FaultyHF(days={day: full[:60]}) as hf:
        morning = crawl_at(engine, hf, at(day, 9), days=[day])
        seen_first = papers(engine)
        listed_first = listings(engine)[day]

        # By the evening 70 more papers are listed (two API pages now) and votes moved.
        for n, item in enumerate(full):
            item["paper"]["upvotes"] += n % 11
        hf.days[day] = full
        evening = crawl_at(engine, hf, at(day, 20), days=[day])
        # Next morning, after the day has settled, votes still move.
        for item in full[:10]:
            item["paper"]["upvotes"] += 50
        settled = crawl_at(engine, hf, at(day + timedelta(days=1), 7), days=[day])

    assert (morning.new, evening.new, settled.new) == (60, 70, 0)
    assert_days_complete(engine, {day: full}, [day])
    stored, listed = papers(engine), listings(engine)[day]
    assert len(stored) == 130
    for pid, first in seen_first.items():
        assert stored[pid].first_seen_at == first.first_seen_at
        assert listed[pid].first_seen_at == listed_first[pid].first_seen_at
        assert listed[pid].last_seen_at >= at(day + timedelta(days=1), 7)
    evening_ids = set(upvotes_of(full)) - set(seen_first)
    assert len(evening_ids) == 70
    assert all(at(day, 20) <= stored[pid].first_seen_at < at(day, 21) for pid in evening_ids)
    runs = [r for r in crawl_runs(engine) if r.kind == "daily"]
    assert [(r.status, r.papers_new) for r in runs] == [("ok", 60), ("ok", 70), ("ok", 0)]
    recorded = listing_days(engine)[day]
    assert (recorded.paper_count, recorded.settled) == (130, True)
