"""Real-shaped days for the fake Hugging Face: the captures, synthetic days, rendered pages.

The captures in data/hf/ are the only source of item shapes; synthetic days copy
them with fresh ids and dates so a month-long backfill has realistic data. No server here.
"""

from __future__ import annotations

import copy
import html
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.data_paths import HF_FIXTURES

FIXTURES_DIR = HF_FIXTURES
FIXTURE_PAGE_DAY = date(2026, 9, 28)

Item = dict[str, Any]


def render_page(
    items: Sequence[Item],
    *,
    day: date | None,
    trending: bool = False,
    with_props: bool = True,
    props_short_by: int = 0,
) -> bytes:
    """A Daily Papers page shaped like the real one: props JSON and one card per item.

    ``with_props=False`` leaves the props out (cards only); ``props_short_by`` drops that many
    items from the props while every card stays, as a page that lost papers would.
    """
    props_items = list(items)[: len(items) - props_short_by]
    props = {
        "canSubmit": False,
        "dateString": day.isoformat() if day else datetime.now(UTC).date().isoformat(),
        "dailyPapers": props_items,
        "periodType": "day",
        "query": {},
        "isTrending": trending,
    }
    escaped = html.escape(json.dumps(props), quote=True)
    props_attr = f' data-props="{escaped}"' if with_props else ""
    cards = "\n".join(_card(item) for item in items)
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Daily Papers - Hugging Face'
        f'</title></head><body><main><div data-target="DailyPapers"{props_attr}>'
        f'<section class="grid">{cards}</section></div></main></body></html>'
    ).encode()


def _card(item: Item) -> str:
    paper = item.get("paper") or {}
    arxiv_id = html.escape(str(paper.get("id", "")))
    title = html.escape(str(paper.get("title") or item.get("title") or ""))
    upvotes = paper.get("upvotes") or 0
    comments = item.get("numComments") or 0
    thumbnail = html.escape(str(item.get("thumbnail") or ""))
    community = (
        f'<a href="/papers/{arxiv_id}#community"><svg></svg> {comments}</a>' if comments else ""
    )
    return (
        f'<article class="relative flex flex-col"><a href="/papers/{arxiv_id}">'
        f'<img src="{thumbnail}" alt=""></a><div class="flex"><a href="/login">'
        f'<div role="checkbox"><div class="leading-none">{upvotes or "-"}</div></div></a>'
        f'<div><h3><a href="/papers/{arxiv_id}">{title}</a></h3>{community}</div></div></article>'
    )


def page_items(page: bytes) -> list[Item]:
    """The ``dailyPapers`` items embedded in a captured page."""
    from selectolax.lexbor import LexborHTMLParser

    node = LexborHTMLParser(page).css_first('div[data-target="DailyPapers"]')
    props = json.loads(node.attributes["data-props"] or "{}") if node is not None else {}
    return list(props.get("dailyPapers", []))


def fixture_items(fixtures: Path = FIXTURES_DIR) -> list[Item]:
    """Every captured item (45): 28 full page items, 3 untrimmed and 14 trimmed API items."""
    return (
        page_items((fixtures / "papers_2026-09-28.html").read_bytes())
        + load_items(fixtures / "api_daily_papers_2026-08-03.json")
        + load_items(fixtures / "api_daily_papers_2026-09-29_trimmed.json")
    )


def synthetic_days(
    base: Sequence[Item],
    *,
    start: date,
    count: int,
    per_day: int | None = None,
    weekends: bool = False,
    carry_over: int = 0,
) -> dict[date, list[Item]]:
    """``count`` calendar days from ``start`` of real-shaped items with fresh ids and dates.

    Weekdays only unless ``weekends`` (HF publishes no weekend lists). Day D's papers get ids
    ``YYMM.DDNNN`` (unique per day) and ``submittedOnDailyAt`` D; ``carry_over`` papers of the
    previous list reappear at the end of the next one, as older papers do on HF. Deterministic.
    """
    days: dict[date, list[Item]] = {}
    previous: list[Item] = []
    for offset in range(count):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5 and not weekends:
            continue
        size = per_day if per_day is not None else len(base)
        items = [_vary(base[i % len(base)], day=day, index=i) for i in range(size)]
        for old in previous[:carry_over]:
            again = copy.deepcopy(old)
            again["paper"]["submittedOnDailyAt"] = f"{day.isoformat()}T00:00:00.000Z"
            items.append(again)
        days[day] = items
        previous = items
    return days


def _vary(item: Item, *, day: date, index: int) -> Item:
    fresh = copy.deepcopy(item)
    paper = fresh.setdefault("paper", {})
    arxiv_id = f"{day:%y%m}.{day.day:02d}{index:03d}"
    title = f"{paper.get('title') or item.get('title') or 'Untitled'} [{day} #{index}]"
    paper.update(
        id=arxiv_id,
        title=title,
        submittedOnDailyAt=f"{day.isoformat()}T00:00:00.000Z",
        upvotes=(index * 7 + day.toordinal()) % 97,
    )
    fresh["title"] = title
    if "thumbnail" in fresh:
        fresh["thumbnail"] = (
            f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png"
        )
    return fresh


def write_days(days: dict[date, list[Item]], folder: Path) -> None:
    """Write days as ``YYYY-MM-DD.json`` files, the format ``--days`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for day, items in days.items():
        (folder / f"{day.isoformat()}.json").write_text(json.dumps(items), encoding="utf-8")


def read_days(folder: Path) -> tuple[dict[date, list[Item]], dict[date, bytes]]:
    """Days (and captured pages) from ``YYYY-MM-DD.json`` / ``.html`` files."""
    days = {date.fromisoformat(p.stem): load_items(p) for p in sorted(folder.glob("*.json"))}
    pages = {date.fromisoformat(p.stem): p.read_bytes() for p in sorted(folder.glob("*.html"))}
    return days, pages


def load_items(path: Path) -> list[Item]:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, list):
        raise ValueError(f"{path} holds a {type(value).__name__}, not a list of API items")
    return value
