"""The digest in a real browser: Debian's chromium at phone and desktop widths.

Screenshots land in tests/artifacts/ (gitignored) for a person to look at. Skipped only when
chromium or Playwright is missing on a developer's machine; on CI (CI=true) that fails.
Never run `playwright install`: it downloads a browser, and this machine has no internet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from paperfeed.mailer.confirm import render_confirmation
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.views import ConfirmationView, DayView
from tests.mailer.mail_samples import make_digest, make_paper, make_recipient
from tests.support.headless_chromium import ARTIFACTS, launch_chromium

pytestmark = pytest.mark.browser

# Every element's right edge, and the page's scroll width, against the viewport.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      wide.push(`${el.tagName.toLowerCase()}.${el.className}: right ${box.right} > ${width}`);
    }
  }
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


def hostile_day(day: DayView) -> DayView:
    """The fixed day, plus a paper whose title is one long unbreakable word."""
    long_word = make_paper(
        15, title="Supercalifragilistic" * 8, authors=tuple(f"N{i}" for i in range(40))
    )
    return dataclasses.replace(day, papers=(*day.papers[:15], long_word))


def look_at(browser: Any, html: str, *, width: int, name: str, scheme: str = "light") -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_content(html, wait_until="load")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}-{scheme}.png"), full_page=True)
    seen = page.evaluate(OVERFLOW)
    page.close()
    assert seen["scroll"] <= seen["width"], seen
    assert seen["wide"] == [], seen
    assert [u for u in requests if not u.startswith(("data:", "about:"))] == []


@pytest.mark.parametrize("width", [375, 800])
def test_the_digest_fits_phone_and_desktop_widths(browser: Any, day: DayView, width: int) -> None:
    odd = hostile_day(day)
    digest = dataclasses.replace(
        make_digest(make_recipient(name="Ada " + "Lovelace" * 12), picks=8, trending=4),
        also_trending=("2506.00015", "2506.00010", "2506.00011"),
    )
    html = render_digest(compile_day(odd), digest).html
    look_at(browser, html, width=width, name="digest")


def test_the_digest_reads_in_dark_mode(browser: Any, day: DayView) -> None:
    html = render_digest(compile_day(day), make_digest(make_recipient())).html
    look_at(browser, html, width=375, name="digest", scheme="dark")
    page = browser.new_page(viewport={"width": 375, "height": 900}, color_scheme="dark")
    page.set_content(html)
    colours = page.evaluate(
        """() => [getComputedStyle(document.body).backgroundColor,
                  getComputedStyle(document.querySelector('.pf-title a')).color]"""
    )
    page.close()
    assert colours == ["rgb(13, 17, 23)", "rgb(121, 192, 255)"]


@pytest.mark.parametrize("width", [375, 800])
def test_the_confirmation_fits_phone_and_desktop_widths(browser: Any, width: int) -> None:
    view = ConfirmationView(
        list_name="paperfeed",
        list_address="paperfeed@example.org",
        email="someone.with.a.very.long.address." * 3 + "@example.com",
        confirm_url="https://paperfeed.example/confirm/" + "x" * 90,
    )
    look_at(browser, render_confirmation(view).html, width=width, name="confirm")
