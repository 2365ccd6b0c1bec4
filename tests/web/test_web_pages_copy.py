"""Pages that said the wrong thing (issue 18): each now says what is true.

A missing archive day says why (still to come, not crawled yet, before the archive, a
weekend); the generic 404 does not talk of deleted data; ``GET /subscribe`` leads to the form;
a sign-up answers 303 to a "check your inbox" page a reload does not post again; every page
gives a confirmation link's lifetime in the same words, from the setting; the no-JS Preview
says nothing was saved; the time-zone list is grouped, canonical, and keeps a stored legacy zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.store.db import session_scope
from paperfeed.store.subscribers import create_subscriber
from paperfeed.web.browse import missing_day
from paperfeed.web.zone_choices import canonical_zones, zone_regions
from tests.web.web_samples import NOW, SQLITE_ONLY, MemoryTransport, sign_up_form

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"http://testserver(/confirm/[A-Za-z0-9._-]+)")


def csrf(client: TestClient, path: str = "/") -> str:
    found = CSRF.search(client.get(path).text)
    assert found
    return found.group(1)


def main_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split("<main>")[1].split("</main>")[0]))


DAYS = [date(2026, 9, 24), date(2026, 9, 23), date(2026, 9, 22), date(2026, 9, 21)]


@pytest.mark.parametrize(
    ("day", "says"),
    [
        (date(2026, 9, 28), "still to come"),  # a Monday after "today"
        (date(2026, 9, 25), "not crawled yet"),  # today, a Friday, before its crawl
        (date(2026, 9, 18), "The archive starts on 2026-09-21"),  # a Friday before the window
        (date(2026, 9, 14), "The archive starts on 2026-09-21"),  # a Monday before it
    ],
)
def test_a_missing_weekday_is_not_blamed_on_weekends(day: date, says: str) -> None:
    message = missing_day(day, DAYS, today=date(2026, 9, 25))
    assert says in message
    assert "weekend" not in message


def test_a_weekend_inside_the_archive_is_one_and_an_empty_store_says_so() -> None:
    days = [date(2026, 9, 28), *DAYS]
    assert "weekends" in missing_day(date(2026, 9, 26), days, today=date(2026, 9, 29))
    gap = missing_day(date(2026, 9, 25), [date(2026, 9, 28), date(2026, 9, 24)], today=NOW.date())
    assert "none was stored" in gap
    assert "no day has been crawled" in missing_day(date(2026, 9, 25), [], today=NOW.date())


@SQLITE_ONLY
def test_the_archive_404s_say_why_the_day_is_missing(client: TestClient) -> None:
    future = client.get("/archive/2026-10-05")
    assert future.status_code == 404
    assert "still to come" in future.text
    before = client.get("/archive/2026-09-17")
    assert before.status_code == 404
    assert "The archive starts on 2026-09-21" in before.text
    assert "weekend" not in before.text + future.text
    # A Saturday before the archive's first day: the archive's start is the reason.
    saturday = client.get("/archive/2026-09-19")
    assert "The archive starts on 2026-09-21" in saturday.text


@SQLITE_ONLY
def test_the_generic_404_talks_of_the_address_not_of_deleted_data(client: TestClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert "deleted" not in page.text
    assert "There is no page at this address" in page.text


@SQLITE_ONLY
def test_get_subscribe_leads_to_the_form_instead_of_405(client: TestClient) -> None:
    answer = client.get("/subscribe", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/#")
    followed = client.get("/subscribe")
    assert followed.status_code == 200
    assert 'action="/subscribe"' in followed.text


@SQLITE_ONLY
def test_a_sign_up_redirects_to_check_your_inbox_and_a_reload_posts_nothing(
    client: TestClient, transport: MemoryTransport
) -> None:
    posted = client.post(
        "/subscribe", data=sign_up_form("ada@example.com", csrf(client)), follow_redirects=False
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == "/subscribe/sent"
    assert "ada@example.com" not in posted.headers["location"]  # never in a URL (logs)
    for _ in range(2):  # the page, then a reload: a GET that sends nothing
        page = client.get("/subscribe/sent")
        assert page.status_code == 200
        assert "Check your inbox" in page.text
        assert "<strong>ada@example.com</strong>" in page.text
    assert len(transport.sent) == 1
    # Opened without the cookie (another browser), it speaks of "the address you typed".
    client.cookies.clear()
    assert "the address you typed" in client.get("/subscribe/sent").text


@SQLITE_ONLY
def test_every_page_gives_the_link_lifetime_from_the_setting_in_one_wording(
    make_client: Callable[..., TestClient], transport: MemoryTransport
) -> None:
    client = make_client(confirm_hours=36)
    client.post("/subscribe", data=sign_up_form("bob@example.com", csrf(client)))
    inbox = main_text(client.get("/subscribe/sent").text)
    assert "The link works for 36 hours" in inbox
    text = transport.sent[-1].data.decode()
    found = LINK.search(text.replace("=\r\n", "").replace("=3D", "="))
    assert found
    confirm = main_text(client.get(found.group(1)).text)
    assert "36 hours" in confirm
    for page in (inbox, confirm):
        assert "few days" not in page
        assert "48 hours" not in page


@SQLITE_ONLY
def test_a_reopened_confirmation_link_says_already_confirmed_and_offers_no_button(
    client: TestClient, transport: MemoryTransport
) -> None:
    client.post("/subscribe", data=sign_up_form("cy@example.com", csrf(client)))
    text = transport.sent[-1].data.decode().replace("=\r\n", "").replace("=3D", "=")
    found = LINK.search(text)
    assert found
    path = found.group(1)
    done = client.post(path, data={"csrf": csrf(client, path)}, follow_redirects=False)
    assert done.status_code == 303
    again = client.get(path)
    assert "Already confirmed" in again.text
    assert "<button" not in main_text(again.text)
    assert "<form" not in again.text.split("<main>")[1]


@pytest.fixture
def legacy_token(stored: Engine) -> str:
    with session_scope(stored) as session:
        return create_subscriber(
            session,
            email="old@example.com",
            interests="state space models",
            now=NOW - timedelta(days=3),
            confirmed=True,
            timezone="US/Pacific",
        ).token


def test_time_zones_are_canonical_grouped_by_region_and_labelled_by_city() -> None:
    zones = canonical_zones()
    assert {"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"} <= zones
    assert not {"US/Pacific", "Etc/GMT+5", "Asia/Calcutta", "GMT", "EST"} & zones
    regions = {r.name: r for r in zone_regions()}
    assert next(iter(regions)) == "UTC"
    assert {"Africa", "America", "Asia", "Europe", "Pacific"} <= set(regions)
    labels = {z.name: z.label for r in regions.values() for z in r.zones}
    assert labels["America/Argentina/Buenos_Aires"] == "Buenos Aires, Argentina"
    assert labels["America/Los_Angeles"] == "Los Angeles"
    assert 300 < len(labels) < 450  # not the ~600 names with aliases
    assert all(z.name.startswith(r.name) for r in regions.values() for z in r.zones)
    # The names a browser may report instead are kept with the zone they stand for.
    aliases = {z.name: z.aliases for r in regions.values() for z in r.zones}
    assert "Asia/Calcutta" in aliases["Asia/Kolkata"]
    assert "US/Pacific" in aliases["America/Los_Angeles"]
    assert "Etc/UTC" in aliases["UTC"]


@SQLITE_ONLY
def test_a_stored_legacy_zone_still_shows_selected_and_survives_a_save(
    client: TestClient, legacy_token: str
) -> None:
    page = client.get(f"/u/{legacy_token}").text
    assert '<optgroup label="Other"><option value="US/Pacific" selected>US/Pacific' in page
    assert page.count(" selected>") == 2  # the zone and the send hour
    assert '<optgroup label="Europe">' in page
    assert 'value="Etc/GMT+5"' not in page
    # The home page lists no legacy alias, and a typo sent back is not offered.
    home = client.get("/").text
    assert 'value="US/Pacific"' not in home
    bad = client.post(
        "/subscribe",
        data={**sign_up_form("x@example.com", csrf(client)), "timezone": "Mars/Olympus"},
    )
    assert bad.status_code == 400
    assert 'value="Mars/Olympus"' not in bad.text


@SQLITE_ONLY
def test_send_at_and_time_zone_share_one_row_of_labels(client: TestClient) -> None:
    page = client.get("/").text
    row = page.split('<div class="row">')[1].split("</div>")[0]
    assert row.count("<label") == 2
    css = client.get("/static/site.css").text
    # Both labels of the row get the same top margin (first-of-type zeroed only one).
    assert "form .row > label { margin: 14px 0 0; }" in css


@SQLITE_ONLY
def test_the_no_js_preview_says_nothing_was_saved(client: TestClient, legacy_token: str) -> None:
    page = client.get(f"/u/{legacy_token}/preview", params={"interests": "protein folding"})
    assert page.status_code == 200
    assert "nothing is saved yet" in page.text
    assert "protein folding" in page.text
    assert "nothing is saved yet" not in client.get(f"/u/{legacy_token}").text


@SQLITE_ONLY
def test_long_archive_pages_have_their_navigation_at_the_bottom_too(client: TestClient) -> None:
    page = client.get("/archive/2026-09-22").text
    assert page.count('<nav class="days"') == 2
    last_paper = page.rindex('<article class="paper">')
    assert page.rindex('<nav class="days"') > last_paper
