"""Politeness: the request budget, Retry-After and RateLimit, measured on a fake clock."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from paperfeed.crawler.pacing import Pacer, parse_ratelimit, parse_retry_after, requested_wait
from tests.support.fake_hf import FakeClock


def test_budget_allows_its_limit_per_window_then_waits_for_the_oldest_to_expire(
    clock: FakeClock,
) -> None:
    pacer = Pacer(clock=clock, api_calls=3, window_seconds=60, min_interval={})

    for _ in range(4):
        pacer.acquire("api")

    assert clock.sleeps == [60.0]
    assert pacer.requests == {"api": 4, "page": 0}


def test_requests_are_spaced_by_the_minimum_interval(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, min_interval={"page": 1.0})

    pacer.acquire("page")
    pacer.acquire("page")
    pacer.acquire("api")  # budgets are separate

    assert clock.sleeps == [1.0]


def test_default_budget_is_half_of_hugging_faces_anonymous_limit(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, min_interval={})

    for _ in range(51):
        pacer.acquire("page")

    assert clock.sleeps == [300.0]  # 50 pages per 5 minutes; HF allows 100


def test_a_pause_holds_the_next_request_on_that_budget_only(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, min_interval={})

    pacer.pause("api", 7)
    pacer.acquire("page")
    pacer.acquire("api")

    assert clock.sleeps == [7.0]
    assert pacer.waited_seconds == 7.0


def test_a_spent_quota_on_a_good_answer_pauses_the_budget(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock, min_interval={})
    spent = httpx.Response(200, headers={"RateLimit": '"api";r=0;t=42'})

    pacer.observe("api", spent)
    pacer.acquire("api")

    assert clock.sleeps == [42.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"api";r=0;t=55', (0, 55)),
        ('"pages";r=12;t=3', (12, 3)),
        ("limit=500, remaining=0, reset=30", (0, 30)),
        ("nonsense", (None, None)),
        (None, (None, None)),
    ],
)
def test_ratelimit_header_is_read_in_either_draft_form(
    header: str | None, expected: tuple[int | None, int | None]
) -> None:
    assert parse_ratelimit(header) == expected


def test_retry_after_in_seconds_and_as_an_http_date(clock: FakeClock) -> None:
    later = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after("7", now=clock.now()) == 7.0
    assert parse_retry_after(later, now=clock.now()) == 30.0
    assert parse_retry_after("whenever", now=clock.now()) is None
    assert parse_retry_after(None, now=clock.now()) is None


def test_a_429_asks_for_the_longer_of_retry_after_and_ratelimit(clock: FakeClock) -> None:
    both = httpx.Response(429, headers={"Retry-After": "5", "RateLimit": '"api";r=0;t=20'})
    neither = httpx.Response(429)

    assert requested_wait(both, now=clock.now()) == 20.0
    assert requested_wait(neither, now=clock.now()) is None
