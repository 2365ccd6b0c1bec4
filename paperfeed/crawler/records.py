"""Plain typed records the crawler returns and the store turns into rows.

They are the contract between ``crawler/`` and ``store/``: no ORM, no HTTP, just values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

ListingKind = Literal["daily", "trending"]
Source = Literal["api", "props", "cards"]
DayStatus = Literal["ok", "empty", "not_published", "error"]


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """One paper as Hugging Face describes it (arXiv id is the natural key)."""

    arxiv_id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] = ()
    thumbnail: str | None = None
    organization: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ListingRecord:
    """A paper's place on one day's list: rank by upvotes (1 = most), upvotes, comments."""

    listing_date: date
    arxiv_id: str
    rank: int
    upvotes: int
    comments: int
    kind: ListingKind = "daily"


@dataclass(frozen=True, slots=True)
class DayResult:
    """What one crawl of one list (a day, or trending) found, and how it went.

    ``status`` keeps failure apart from absence: "error" (a source answered something unusable
    or a parse came up short; ``error`` says why) is never reported as an "empty" day (no list,
    e.g. a weekend) or "not_published" (asked too early: Hugging Face showed another day).
    """

    day: date
    kind: ListingKind
    status: DayStatus
    source: Source | None = None
    papers: tuple[PaperRecord, ...] = ()
    listings: tuple[ListingRecord, ...] = ()
    claimed: int | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    # What is worth saying but is normal (a weekend without a list): logged at info.
    notes: tuple[str, ...] = ()
