"""Every page and mail in Chromium, phone and desktop, light and dark: order, editions, contrast.

Headless Debian Chromium (driven by Playwright) walks the site as a reader does at 390 px and
1280 px, in light and dark: the front page, signing up (redirect after POST: a reload sends
nothing again), the confirmation mail and its page, the preferences page (the interest
feedback and live preview right under the interests on a phone, then the schedule and Save,
which still posts every field; beside the form on a desktop; "Send at" level with "Time zone";
time zones grouped by region), the no-JS Preview's "not saved" notice, the past editions
(the list, its pages, one edition), a day of the archive (navigation at the top and bottom),
the feed page, the unsubscribe page, a 404, and the digest mail with its "view in your browser"
link. On each, ``contrast_check`` measures every visible text against its background and
fails below WCAG AA (4.5:1; 3:1 for large text), and nothing may scroll sideways.
Screenshots go to tests/artifacts/, and to $PAPERFEED_SCREENSHOTS (docs/screenshots/take.py)
clipped to the first screen. Skipped only when chromium or Playwright is missing; fails on CI.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from paperfeed.config import Settings
from paperfeed.mailer.preview import preview_digest
from paperfeed.store.db import session_scope
from paperfeed.store.models import EditionPaper
from paperfeed.store.ratings import record
from paperfeed.store.subscribers import find_by_email
from paperfeed.web.app import create_app
from tests.support.contrast_check import low_contrast, report
from tests.support.headless_chromium import ARTIFACTS, launch_chromium, serving_in_thread
from tests.support.ports import free_port
from tests.web.web_samples import NOW, SQLITE_ONLY, MemoryTransport, app_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]
READER = "reader@example.com"
SHOTS = os.environ.get("PAPERFEED_SCREENSHOTS")
# What sticks out past the viewport's right edge, for the failure message.
WIDEST = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(-3).map((e) => e.tagName + "." + e.className + " " + e.textContent.slice(0, 60))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def site(
    stored: Engine, tmp_path: Path, database_url: str, feed_token: str
) -> Iterator[tuple[str, Settings, MemoryTransport]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = app_settings(tmp_path, database_url, public_url=base)
    transport = MemoryTransport()
    app = create_app(settings, engine=stored, transport=transport, now=lambda: NOW)
    with serving_in_thread(app, port):
        yield base, settings, transport


class Audit:
    """Checks one page as it is now: contrast, no sideways scrolling; then a screenshot."""

    def __init__(self, page: Any, width: int, scheme: str) -> None:
        self.page, self.width, self.scheme = page, width, scheme
        self.failures: dict[str, str] = {}
        self.measured: dict[str, int] = {}

    def __call__(self, name: str, *, shot: bool = True) -> None:
        page = self.page
        checked, failures = low_contrast(page)
        self.measured[name] = checked
        if failures:
            self.failures[name] = report(failures)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= self.width, (
            f"{name} scrolls sideways at {self.width} px ({wide} px): {page.evaluate(WIDEST)}"
        )
        if shot:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"page-{name}-{self.width}-{self.scheme}.png"))
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(Path(SHOTS) / f"{name}-{self.width}-{self.scheme}.png"))


def mail_part(data: bytes, kind: str) -> str:
    message = message_from_bytes(data, policy=policy.default)
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())


def show_mail(page: Any, html: str) -> None:
    """Open a mail's HTML as a mail client would: a blank document, not under the site's
    CSP (set_content on a site page keeps its policy, which blocks the mail's <style>)."""
    page.goto("about:blank")
    page.set_content(html)
    assert page.evaluate("document.styleSheets.length") > 0


def top(page: Any, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return float(box["y"])


def bottom(page: Any, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return float(box["y"] + box["height"])


def left(page: Any, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return float(box["x"])


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("browser_zone", "chosen"),
    [("Asia/Calcutta", "Asia/Kolkata"), ("America/Los_Angeles", "America/Los_Angeles")],
)
def test_the_sign_up_form_picks_the_browsers_zone_even_by_an_older_name(
    browser: Any,
    site: tuple[str, Settings, MemoryTransport],
    browser_zone: str,
    chosen: str,
) -> None:
    # Chromium's Intl reports India as Asia/Calcutta, a name the list no longer offers.
    context = browser.new_context(timezone_id=browser_zone)
    page = context.new_page()
    page.goto(site[0] + "/")
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == browser_zone
    assert page.input_value("#timezone") == chosen
    context.close()


@SQLITE_ONLY
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_every_page_and_mail_reads_well_on_a_phone_and_a_desktop_in_light_and_dark(
    browser: Any,
    site: tuple[str, Settings, MemoryTransport],
    stored: Engine,
    width: int,
    scheme: str,
) -> None:
    base, settings, transport = site
    height = 844 if width == 390 else 800
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme, locale="en-GB"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
    )
    audit = Audit(page, width, scheme)
    with session_scope(stored) as session:
        reader = find_by_email(session, READER)
        assert reader is not None
        token, reader_id = reader.token, reader.id or 0

    # The front page, and /subscribe typed by hand: the form, not a 405.
    page.goto(base + "/")
    audit("home")
    answer = page.goto(base + "/subscribe")
    assert answer is not None
    assert answer.status == 200
    assert page.locator("form[action='/subscribe'] #email").count() == 1

    # Signing up answers with a GET page: reloading it sends no second mail.
    sent = len(transport.sent)
    page.fill("#email", f"new-{width}-{scheme}@example.com")
    page.fill("#interests", '"speculative decoding"')
    page.click("form[action='/subscribe'] button[type=submit]")
    page.wait_for_url(re.compile(r"/subscribe/sent$"))
    assert f"new-{width}-{scheme}@example.com" in page.inner_text("main")
    assert "48 hours" in page.inner_text("main")  # the link's real lifetime, as settings say
    page.reload()
    assert page.locator("h1").inner_text() == "Check your inbox"
    assert len(transport.sent) == sent + 1
    audit("check-inbox")

    # The confirmation mail, opened in the browser, then its page.
    confirmation = transport.sent[-1].data
    show_mail(page, mail_part(confirmation, "html"))
    audit("mail-confirmation")
    link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", mail_part(confirmation, "plain"))
    assert link is not None
    page.goto(link.group(0))
    audit("confirm")
    page.click("text=Yes, confirm")
    page.wait_for_selector("text=You are subscribed")
    audit("preferences")  # a new reader's page: the welcome, the preview of their picks
    welcome = page.url
    # Opened again, the used link says so and offers no second confirmation.
    page.goto(link.group(0))
    assert page.locator("h1").inner_text() == "Already confirmed"
    assert page.locator("form button").count() == 0
    audit("confirm-used", shot=False)

    # A rating, so the "Your ratings" card has a row (title, which way, Undo) to measure.
    with session_scope(stored) as session:
        rated = session.exec(select(EditionPaper.paper_id)).first()
        assert rated is not None
        record(session, reader_id, rated, 1, now=NOW)

    # The reader's preferences: feedback and preview before "Delete my data".
    page.goto(f"{base}/u/{token}")
    assert page.locator("#ratings .ratings li").count() == 1
    feedback = "#preview .understood"
    delete = "button.danger"
    assert page.locator(feedback).count() == 1
    if width == 390:
        # Right under the interests it explains, before the schedule and Save.
        assert top(page, feedback) < top(page, delete), "the preview comes after Delete"
        assert bottom(page, "#interests") <= top(page, "#preview"), "preview above interests"
        assert bottom(page, "#preview") <= top(page, "#timezone"), "preview after the schedule"
        assert top(page, "#timezone") < top(page, "button:has-text('Save')")
    else:
        # Beside the form, in the right column, level with the top of the interests card.
        assert left(page, "#preview") > left(page, "#interests")
        assert abs(top(page, "#preview") - top(page, ".prefs-interests")) < 40
        assert left(page, "#timezone") < left(page, "#preview")
        assert bottom(page, "#interests") < top(page, "#timezone")
    assert top(page, "#send_hour") == top(page, "#timezone"), "Send at sits off Time zone"
    groups = page.locator("#timezone optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert {"Europe", "America", "Asia"} <= set(groups)
    assert page.locator("#timezone option[value='US/Pacific']").count() == 0
    assert page.locator("#timezone-filter").is_visible()  # tz.js shows the city filter
    page.fill("#timezone-filter", "Buenos")
    assert page.input_value("#timezone") == "America/Argentina/Buenos_Aires"
    page.fill("#timezone-filter", "")
    assert page.input_value("#timezone") == "UTC"  # an empty filter puts the choice back
    editions = page.locator("#past-editions .editions a")
    assert editions.count() == 1
    assert editions.first.inner_text().strip() == "Fri, 25 Sep 2026"
    audit("preferences-reader", shot=False)

    # The no-JS Preview says nothing was saved.
    page.fill("#interests", "protein folding")
    page.click("button:has-text('Preview')")
    page.wait_for_url(re.compile(r"/preview\?"))
    assert "nothing is saved yet" in page.inner_text("#not-saved")
    audit("preferences-preview", shot=False)

    # Past editions: the list, then one edition.
    page.goto(f"{base}/u/{token}/editions")
    assert page.locator(".editions a").count() == 1
    audit("editions")
    page.click(".editions a")
    page.wait_for_url(re.compile(r"/e/[^/]+/\d+$"))
    assert page.locator("h1").inner_text().startswith("Your papers for Friday")
    audit("edition")

    # A day of the archive: its navigation at the top and at the bottom.
    page.goto(base + "/archive/2026-09-22")
    navs = page.locator("nav.days")
    assert navs.count() == 2
    assert top(page, "nav.days >> nth=1") > top(page, ".paper >> nth=-1")
    audit("archive")

    page.goto(base + "/feeds/daily.atom")
    page.wait_for_selector("h1#feed-title")
    assert page.locator("xslt-warning-banner").count() == 0
    audit("feed")
    page.goto(f"{base}/unsubscribe/{token}")
    audit("unsubscribe")
    missing = page.goto(base + "/no/such/page")
    assert missing is not None
    assert missing.status == 404
    assert "deleted" not in page.inner_text("main")
    audit("not-found", shot=False)

    # The digest as mailed, with its "view in your browser" link to the edition's page.
    digest = preview_digest(stored, settings, email=READER, now=NOW)
    html = digest.rendered.html
    view = re.search(r'href="(http://127\.0\.0\.1:\d+/e/[^"]+)"[^>]*>View in your browser', html)
    assert view is not None
    assert f"View in your browser: {view.group(1)}" in digest.rendered.text
    show_mail(page, html)
    audit("mail-digest")
    page.goto(view.group(1))
    assert page.locator("h1").inner_text().startswith("Your papers for")

    # The pages at the end of the road: unsubscribed (the reader), deleted (the new reader).
    page.goto(f"{base}/unsubscribe/{token}")
    page.click("form button[type=submit]")
    page.wait_for_selector("text=You are unsubscribed")
    audit("unsubscribed", shot=False)
    # Save sends the interests, the time zone, the hour and how often in one POST, though
    # the preview sits between the interests and the schedule.
    page.goto(welcome)
    page.fill("#interests", '"protein folding"')
    page.select_option("#timezone", "Europe/Berlin")
    page.select_option("#send_hour", "18")
    page.check("input[name=frequency][value=weekly]")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Saved. Changes apply from the next digest.")
    with session_scope(stored) as session:
        newcomer = find_by_email(session, f"new-{width}-{scheme}@example.com")
        assert newcomer is not None
        saved = (newcomer.interests, newcomer.timezone, newcomer.send_hour, newcomer.frequency)
    assert saved == ('"protein folding"', "Europe/Berlin", 18, "weekly")
    page.goto(welcome)
    page.check("input[name=sure]")
    page.click("button.danger")
    page.wait_for_selector("text=Your data is deleted")
    audit("deleted", shot=False)

    assert audit.failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in audit.failures.items())
    # Every page had text to measure (a blank page would pass any contrast check).
    assert min(audit.measured.values()) > 5, audit.measured
    # The 410 of the used link and the 404 are meant; nothing else may fail or throw (the
    # feed is a server-rendered page: no XSLT, no CSP refusal).
    unexpected = [e for e in errors if not re.search(r"status of (404|410)\b", e)]
    assert unexpected == [], unexpected
    context.close()
