"""Fetching a day source by source, with respx standing in for huggingface.co.

The clock is fake (now: Monday 2026-09-28 12:00 UTC), so waits are measured, never slept.
"""

from __future__ import annotations

import copy
import html
import json
import re
from datetime import date

import httpx
import pytest
import respx

from paperfeed.crawler.fetch import describe, fetch_day, fetch_trending
from paperfeed.crawler.pacing import Pacer
from paperfeed.crawler.polite import HostUnreachable
from tests.crawler.hf_responses import Items, html_page, paginated, without_props
from tests.support.fake_hf import FakeClock
from tests.support.hf_days import render_page, synthetic_days

HF = "https://huggingface.co"
DAY = date(2026, 9, 28)  # the captured page's day, and "today" on the fake clock


def api_calls(router: respx.MockRouter) -> list[str]:
    return [str(c.request.url) for c in router.calls if "/api/daily_papers" in str(c.request.url)]


def test_api_is_read_page_by_page_until_an_empty_page(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_papers: Items
) -> None:
    items = synthetic_days(page_papers, start=DAY, count=1, per_day=130)[DAY]
    hf.get("/api/daily_papers").mock(side_effect=paginated(items))

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, result.claimed, result.error) == ("ok", "api", 130, None)
    assert [p.arxiv_id for p in result.papers] == [i["paper"]["id"] for i in items]
    assert api_calls(hf) == [
        f"{HF}/api/daily_papers?date=2026-09-28&limit=100&p={page}" for page in (0, 1, 2)
    ]
    ranks = sorted(result.listings, key=lambda x: x.rank)
    assert [x.rank for x in ranks] == list(range(1, 131))
    assert [x.upvotes for x in ranks] == sorted((x.upvotes for x in ranks), reverse=True)
    assert {x.listing_date for x in result.listings} == {DAY}


def test_an_api_that_ignores_the_page_number_is_not_read_forever(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_papers: Items
) -> None:
    hf.get("/api/daily_papers").respond(json=page_papers)

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, len(result.papers)) == ("ok", 28)
    assert len(api_calls(hf)) == 2
    assert any("repeats earlier papers" in w for w in result.warnings)


def test_page_props_serve_when_the_api_fails(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(500)
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(page_html))

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, result.claimed, len(result.papers)) == (
        "ok",
        "props",
        28,
        28,
    )
    assert len(api_calls(hf)) == 5  # the default policy's attempts, then the next source
    assert any("api: GET" in w and "HTTP 500 after 5 attempts" in w for w in result.warnings)
    assert result.papers[0].abstract.startswith("Representation autoencoders")


def test_malformed_api_json_falls_back_to_the_page(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(
        200, content=b'[{"paper": {"id": "2609.316', headers={"Content-Type": "application/json"}
    )
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(page_html))

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, len(result.papers)) == ("ok", "props", 28)
    assert len(api_calls(hf)) == 1  # bad JSON is not a transient failure
    assert any("not JSON" in w for w in result.warnings)


def test_cards_serve_enriched_when_the_api_fails_and_the_props_are_gone(
    hf: respx.MockRouter,
    client: httpx.Client,
    pacer: Pacer,
    page_html: bytes,
    page_papers: Items,
) -> None:
    hf.get("/api/daily_papers").respond(503)
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(without_props(page_html)))
    for item in page_papers:
        hf.get(f"/api/papers/{item['paper']['id']}").respond(json=item["paper"])

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, result.claimed, len(result.papers)) == (
        "ok",
        "cards",
        28,
        28,
    )
    by_id = {p.arxiv_id: p for p in result.papers}
    assert by_id["2609.31620"].abstract.startswith("Representation autoencoders")
    assert by_id["2609.31620"].authors
    assert by_id["2609.31620"].thumbnail.endswith("2609.31620.png")  # type: ignore[union-attr]
    top = min(result.listings, key=lambda x: x.rank)
    assert (top.arxiv_id, top.upvotes, top.comments) == ("2609.31620", 110, 2)
    assert any("read the cards" in w for w in result.warnings)


def test_cards_keep_their_own_data_when_paper_lookups_keep_failing(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(500)
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(without_props(page_html)))
    lookups = hf.get(url__regex=r"/api/papers/.+").respond(500)

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, len(result.papers)) == ("ok", "cards", 28)
    assert result.papers[0].title.startswith("FuseReg")
    assert result.papers[0].abstract == ""
    assert lookups.call_count == 3 * 2  # three papers, two attempts each, then no more
    assert any("failed in a row; 25 more papers" in w for w in result.warnings)


def test_a_future_day_clamped_to_the_latest_list_is_not_published(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(json=[])
    hf.get("/papers/date/2026-09-29").mock(return_value=html_page(page_html))

    result = fetch_day(client, date(2026, 9, 29), pacer=pacer)

    assert (result.status, result.source, result.papers, result.listings) == (
        "not_published",
        "props",
        (),
        (),
    )
    assert any("the page shows the list of 2026-09-28" in n for n in result.notes)
    assert result.warnings == ()  # the API said "nothing" and the page agreed: normal


def test_todays_list_not_out_yet_is_not_published(
    hf: respx.MockRouter, client: httpx.Client, clock: FakeClock, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(json=[])
    hf.get("/papers/date/2026-09-29").mock(return_value=html_page(page_html))

    result = fetch_day(client, date(2026, 9, 29), pacer=Pacer(clock=clock), today=date(2026, 9, 29))

    assert result.status == "not_published"


def test_a_weekend_day_without_a_list_is_empty_not_an_error(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(json=[])
    hf.get("/papers/date/2026-09-26").mock(return_value=html_page(page_html))

    result = fetch_day(client, date(2026, 9, 26), pacer=pacer)

    assert (result.status, result.source, result.error, result.papers) == (
        "empty",
        "props",
        None,
        (),
    )
    assert result.warnings == ()  # a weekend is normal: a note, not a warning
    assert result.notes == ("2026-09-26: the page shows the list of 2026-09-28",)
    assert describe(result) == "2026-09-26 daily: empty via props"


def test_a_page_listing_nothing_for_its_own_day_is_empty(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer
) -> None:
    hf.get("/api/daily_papers").respond(json=[])
    hf.get("/papers/date/2026-09-27").mock(
        return_value=html_page(render_page([], day=date(2026, 9, 27)))
    )

    result = fetch_day(client, date(2026, 9, 27), pacer=pacer)

    assert (result.status, result.source) == ("empty", "props")


def test_an_empty_api_answer_is_trusted_when_the_page_cannot_confirm_it(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer
) -> None:
    hf.get("/api/daily_papers").respond(json=[])
    hf.get("/papers/date/2026-09-26").respond(500)

    result = fetch_day(client, date(2026, 9, 26), pacer=pacer)

    assert (result.status, result.source) == ("empty", "api")
    assert any("could not confirm the empty API answer" in w for w in result.warnings)


def test_a_list_the_api_lacks_but_the_page_shows_is_taken_from_the_page(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").respond(json=[])
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(page_html))

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, len(result.papers)) == ("ok", "props", 28)
    assert any("the API listed nothing" in w for w in result.warnings)


def test_page_claiming_28_papers_but_yielding_27_is_an_error_day(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_html: bytes
) -> None:
    node = re.search(rb'data-target="DailyPapers" data-props="([^"]*)"', page_html)
    assert node is not None
    props = json.loads(html.unescape(node.group(1).decode()))
    props["dailyPapers"].pop(5)
    short = page_html.replace(node.group(1), html.escape(json.dumps(props)).encode())
    hf.get("/api/daily_papers").respond(500)
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(short))

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, result.claimed) == ("error", None, 28)
    assert (result.papers, result.listings) == ((), ())
    assert result.error is not None
    assert "shows 28 papers but its data yields 27" in result.error
    assert "HTTP 500" in result.error  # the API's failure is part of the story


def test_every_source_failing_is_an_error_not_an_empty_day(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer
) -> None:
    hf.get("/api/daily_papers").mock(side_effect=httpx.ReadTimeout("no answer"))
    hf.get("/papers/date/2026-09-28").respond(404)

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source) == ("error", None)
    assert result.error is not None
    assert result.error.startswith("2026-09-28 daily: api: GET")
    assert "ReadTimeout after 5 attempts" in result.error
    assert "page: GET https://huggingface.co/papers/date/2026-09-28: HTTP 404" in result.error


def test_a_host_that_cannot_be_reached_ends_the_day_after_the_first_source(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer
) -> None:
    api = hf.get("/api/daily_papers").mock(
        side_effect=httpx.ConnectError("Name or service not known")
    )
    page = hf.get("/papers/date/2026-09-28").respond(404)

    with pytest.raises(HostUnreachable) as raised:
        fetch_day(client, DAY, pacer=pacer)

    assert raised.value.host == "huggingface.co"
    assert "Name or service not known" in str(raised.value)
    assert "PAPERFEED_HF_BASE_URL" in str(raised.value)
    assert api.call_count == 5  # the source's own retries, then no other source
    assert page.call_count == 0


def test_an_api_answer_for_another_day_is_not_taken_for_this_one(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, api_trimmed: Items, page_html: bytes
) -> None:
    hf.get("/api/daily_papers").mock(side_effect=paginated(api_trimmed))  # all 2026-09-29
    hf.get("/papers/date/2026-09-28").mock(return_value=html_page(page_html))

    result = fetch_day(client, DAY, pacer=pacer)

    assert (result.status, result.source, len(result.papers)) == ("ok", "props", 28)
    assert any("may be ignoring ?date=" in w for w in result.warnings)


def test_items_with_missing_optional_fields_make_a_complete_day(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, api_trimmed: Items
) -> None:
    items = copy.deepcopy(api_trimmed)
    del items[3]["numComments"]
    del items[4]["paper"]["upvotes"]
    hf.get("/api/daily_papers").mock(side_effect=paginated(items))

    result = fetch_day(client, date(2026, 9, 29), pacer=pacer)

    assert (result.status, result.source, len(result.papers), result.warnings) == (
        "ok",
        "api",
        14,
        (),
    )
    by_id = {x.arxiv_id: x for x in result.listings}
    assert by_id[items[3]["paper"]["id"]].comments == 0
    assert by_id[items[4]["paper"]["id"]].upvotes == 0


def test_trending_is_read_from_its_page_in_hugging_faces_order(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer, page_papers: Items
) -> None:
    trending = list(reversed(page_papers))
    hf.get("/papers/trending").mock(return_value=html_page(render_page(trending, day=None)))

    result = fetch_trending(client, pacer=pacer)

    assert (result.kind, result.status, result.source, result.day) == (
        "trending",
        "ok",
        "props",
        DAY,
    )
    assert [x.arxiv_id for x in result.listings] == [i["paper"]["id"] for i in trending]
    assert [x.rank for x in result.listings] == list(range(1, 29))
    assert {x.kind for x in result.listings} == {"trending"}


def test_trending_that_cannot_be_read_is_an_error(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer
) -> None:
    hf.get("/papers/trending").respond(200, html="<html><body>Rebuilding</body></html>")

    result = fetch_trending(client, pacer=pacer)

    assert (result.status, result.kind) == ("error", "trending")
    assert "neither readable props" in (result.error or "")


def test_schema_drift_everywhere_is_an_error_day_not_an_empty_one(
    hf: respx.MockRouter, client: httpx.Client, pacer: Pacer
) -> None:
    hf.get("/api/daily_papers").respond(json={"papers": [], "next": None})
    hf.get("/papers/date/2026-09-26").respond(200, html="<html><body>New look!</body></html>")

    result = fetch_day(client, date(2026, 9, 26), pacer=pacer)

    assert (result.status, result.papers) == ("error", ())
    assert "expected a JSON list of papers, got dict" in (result.error or "")
    assert "neither readable props" in (result.error or "")
