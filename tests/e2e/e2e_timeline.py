"""Four weeks of Hugging Face Daily Papers, as the fake server shows them at any moment.

Two weeks of history and the two weeks the scenario lives through. Every weekday has a list
of real-shaped items (the captured fixtures, via ``synthetic_days``) carrying real titles
and abstracts from the ranking corpus; weekends have none, as on HF. A list is visible from
its own day on, upvotes grow between crawls (unevenly, so the order changes), and each late
addition joins its day's list only some time after the list was first shown.
``HFTimeline.snapshot(at)`` is what ``FakeHF.days`` must hold when a crawl runs at ``at``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tests.support.data_paths import CORPUS
from tests.support.hf_days import Item, fixture_items, synthetic_days

HISTORY_START = date(2026, 9, 21)  # a Monday, two weeks before the scenario
SCENARIO_START = date(2026, 10, 5)  # a Monday; no DST change in the five zones until the 25th
SCENARIO_DAYS = 14
PAPERS_PER_DAY = 12  # the captures hold 3, 14 and 28; fewer keep each start quick
# Words the subscribers' interests exclude: a late addition must not be about them, so that
# everyone whose edition covers its day has to get it (it is the day's most upvoted paper).
EXCLUDED_WORDS = ("video", "diffusion", "vision")


@dataclass(frozen=True)
class LateAddition:
    """A paper that joins ``day``'s list only at ``appears_at``, a later crawl."""

    day: date
    paper_id: str
    appears_at: datetime


def listing_day(paper_id: str) -> date:
    """The listing day encoded in a scenario paper id (``YYMM.DDNNN``, see synthetic_days)."""
    head, tail = paper_id.split(".")
    return date(2000 + int(head[:2]), int(head[2:]), int(tail[:2]))


class HFTimeline:
    """What Hugging Face lists, day by day, as seen at any moment of the scenario."""

    def __init__(self, late_days: tuple[date, ...], late_after: timedelta) -> None:
        docs = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
        span = (SCENARIO_START - HISTORY_START).days + SCENARIO_DAYS
        shapes = synthetic_days(
            fixture_items(), start=HISTORY_START, count=span, per_day=PAPERS_PER_DAY
        )
        self.lists: dict[date, list[Item]] = {}
        used = 0
        for day, items in sorted(shapes.items()):
            for item in items:
                _retitle(item, docs[used])
                used += 1
            self.lists[day] = items
        self.late: list[LateAddition] = []
        self._late_items: dict[date, Item] = {}
        spare = (d for d in docs[used:] if not _mentions_excluded(d))
        for day in late_days:
            item = copy.deepcopy(self.lists[day][0])
            item["paper"]["id"] = f"{day:%y%m}.{day.day:02d}900"
            _retitle(item, next(spare))
            self._late_items[day] = item
            first_shown = datetime.combine(day, time(0), UTC)
            self.late.append(LateAddition(day, item["paper"]["id"], first_shown + late_after))

    @property
    def days_with_lists(self) -> list[date]:
        """Every listing day that has papers, oldest first."""
        return sorted(self.lists)

    def papers_on(self, day: date, at: datetime) -> list[str]:
        """The ids on ``day``'s list as shown at ``at`` (late additions once they appeared)."""
        return [item["paper"]["id"] for item in self._items(day, at)]

    def upvotes(self, paper_id: str, at: datetime) -> int:
        """A paper's upvotes at ``at``: a base, growing by a paper-dependent step per day."""
        day = listing_day(paper_id)
        index = int(paper_id.split(".")[1][2:])
        base = 500 if index == 900 else (index * 7 + day.toordinal()) % 97
        age = max(0, (at.date() - day).days)
        return base + age * (1 + index % 5) * 4

    def snapshot(self, at: datetime) -> dict[date, list[Item]]:
        """The lists HF shows at ``at``: days up to ``at``'s (UTC) date, as of ``at``."""
        shown: dict[date, list[Item]] = {}
        for day in self.lists:
            if day > at.date():
                continue
            items = copy.deepcopy(self._items(day, at))
            for item in items:
                item["paper"]["upvotes"] = self.upvotes(item["paper"]["id"], at)
            shown[day] = items
        return shown

    def _items(self, day: date, at: datetime) -> list[Item]:
        items = list(self.lists[day])
        late = self._late_items.get(day)
        if late is not None and any(a.day == day and at >= a.appears_at for a in self.late):
            items.append(late)
        return items


def _retitle(item: Item, doc: dict[str, str]) -> None:
    """Give a real-shaped item a real paper's title and abstract (and drop what no longer fits)."""
    paper = item["paper"]
    for holder in (item, paper):
        holder["title"] = doc["title"]
        holder["summary"] = doc["abstract"]
    # The captured AI summary and keywords describe the captured paper, not this one.
    for key in ("ai_summary", "ai_keywords"):
        paper.pop(key, None)
        item.pop(key, None)


def _mentions_excluded(doc: dict[str, str]) -> bool:
    text = f"{doc['title']} {doc['abstract']}".lower()
    return any(word in text for word in EXCLUDED_WORDS)
