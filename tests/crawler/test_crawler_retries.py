"""Retries and waits when Hugging Face pushes back, measured on the fake clock (respx)."""

from __future__ import annotations

from datetime import date

import httpx
import respx

from paperfeed.crawler.fetch import fetch_day
from paperfeed.crawler.pacing import Pacer
from tests.crawler.hf_responses import Items, html_page, paginated
from tests.support.fake_hf import FakeClock

DAY = date(2026, 9, 28)


def api_calls(router: respx.MockRouter) -> list[str]:
    return [str(c.request.url) for c in router.calls if "/api/daily_papers" in str(c.request.url)]


def test_429_with_retry_after_is_waited_out_before_asking_again(
    hf: respx.MockRouter, client: httpx.Client, clock: FakeClock, api_full: Items
) -> None:
    ok = paginated(api_full)
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"})])
    hf.get("/api/daily_papers").mock(side_effect=lambda r: next(answers, None) or ok(r))

    result = fetch_day(client, date(2026, 8, 3), pacer=Pacer(clock=clock, min_interval={}))

    assert (result.status, len(result.papers)) == ("ok", 3)
    assert clock.sleeps == [7.0]
    assert len(api_calls(hf)) == 3  # p=0 throttled, p=0 again, p=1 empty


def test_429_ratelimit_reset_is_honoured_without_retry_after(
    hf: respx.MockRouter, client: httpx.Client, clock: FakeClock, api_full: Items
) -> None:
    ok = paginated(api_full)
    answers = iter([httpx.Response(429, headers={"RateLimit": '"api";r=0;t=42'})])
    hf.get("/api/daily_papers").mock(side_effect=lambda r: next(answers, None) or ok(r))

    result = fetch_day(client, date(2026, 8, 3), pacer=Pacer(clock=clock, min_interval={}))

    assert result.status == "ok"
    assert clock.sleeps == [42.0]


def test_a_retry_after_longer_than_a_window_is_not_waited_for(
    hf: respx.MockRouter, client: httpx.Client, clock: FakeClock, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(429, headers={"Retry-After": "3600"})
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(page_html))

    result = fetch_day(client, DAY, pacer=Pacer(clock=clock, min_interval={}))

    assert (result.status, result.source) == ("ok", "props")
    assert clock.sleeps == []
    assert any("asks to wait 3600 s" in w for w in result.warnings)


def test_server_errors_then_success_are_retried(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, api_full: Items
) -> None:
    ok = paginated(api_full)
    answers = iter([httpx.Response(500), httpx.Response(502), httpx.ReadTimeout("slow")])

    def answer(request: httpx.Request) -> httpx.Response:
        failure = next(answers, None)
        if isinstance(failure, Exception):
            raise failure
        return failure or ok(request)

    hf.get("/api/daily_papers").mock(side_effect=answer)

    result = fetch_day(client, date(2026, 8, 3), pacer=pacer)

    assert (result.status, result.source, len(result.papers)) == ("ok", "api", 3)
    assert len(api_calls(hf)) == 5
    assert result.warnings == ()


def test_client_errors_other_than_429_are_not_retried(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(400, json={"error": "Invalid date"})
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(page_html))

    result = fetch_day(client, DAY, pacer=pacer)

    assert len(api_calls(hf)) == 1
    assert result.source == "props"
    assert any("HTTP 400 Bad Request; not retried" in w for w in result.warnings)
