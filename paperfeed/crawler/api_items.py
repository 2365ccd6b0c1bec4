"""Pure parsing of Hugging Face paper JSON (API items, page-props items, paper objects).

Owns the mapping from HF's shapes (see fixtures/hf/README.md) to ``PaperRecord`` plus the
listing numbers, item-by-item tolerance, and ranking a list by upvotes. No HTTP, no HTML.

Tolerance rule: a missing optional field is normal (HF trims fields per item) and silent;
an optional field of the wrong type is dropped with a warning; an item without an arXiv id
or a title cannot be stored and is skipped with a warning, and so is one whose id cannot be an
arXiv id (too long for the store, odd characters). Text is whitespace-normalised and never
HTML-unescaped: JSON strings are already plain text. Hostile text (lone surrogates, control
characters, megabytes) is repaired and bounded (``repair``) with a warning naming the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from paperfeed.crawler.records import ListingKind, ListingRecord, PaperRecord
from paperfeed.crawler.repair import (
    MAX_COUNT,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_BYTES,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    id_problem,
    repair_text,
    shown,
    storable_json,
)
from paperfeed.errors import SchemaDrift


@dataclass(frozen=True, slots=True)
class ListedPaper:
    """A paper as one list shows it: the record plus the list's own numbers."""

    paper: PaperRecord
    upvotes: int
    comments: int
    listed_on: date | None = None  # paper.submittedOnDailyAt: the day HF listed it


@dataclass(frozen=True, slots=True)
class ParsedItems:
    """What a list of items yielded: papers in source order, and what was skipped and why."""

    entries: tuple[ListedPaper, ...]
    skipped: int
    warnings: tuple[str, ...]

    @property
    def received(self) -> int:
        """How many items the answer held (parsed + skipped)."""
        return len(self.entries) + self.skipped


def clean_text(value: object) -> str:
    """A string with runs of whitespace collapsed to one space; "" for a non-string."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def parse_api_items(items: object, *, day: date | None) -> ParsedItems:
    """Parse an ``/api/daily_papers`` answer (or page props' ``dailyPapers``) item by item.

    Raises ``SchemaDrift`` when the answer is not a list, or when it holds items but none of
    them could be read (every item skipped means the shape changed, not that the day is empty).
    """
    where = f"{day}: " if day else ""
    if not isinstance(items, list):
        raise SchemaDrift(
            f"{where}expected a JSON list of papers, got {type(items).__name__}; the API's "
            "shape changed (compare with fixtures/hf/), the page is tried next"
        )
    entries: list[ListedPaper] = []
    warnings: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for index, item in enumerate(items):
        label = f"{where}item {index}"
        entry, item_warnings = _parse_item(item, label=label)
        warnings.extend(item_warnings)
        if entry is None:
            skipped += 1
        elif entry.paper.arxiv_id in seen:
            skipped += 1
            warnings.append(f"{label}: {entry.paper.arxiv_id} listed twice; kept the first")
        else:
            seen.add(entry.paper.arxiv_id)
            entries.append(entry)
    if items and not entries:
        raise SchemaDrift(
            f"{where}none of {len(items)} items had an arXiv id and a title ({warnings[0]}); "
            "the shape changed (compare with fixtures/hf/)"
        )
    return ParsedItems(entries=tuple(entries), skipped=skipped, warnings=tuple(warnings))


def parse_paper_object(obj: object, *, label: str) -> tuple[ListedPaper | None, list[str]]:
    """Parse ``/api/papers/{id}``'s answer: the paper object unwrapped, without an item around."""
    return _parse_item({"paper": obj}, label=label)


def rank_listings(
    entries: Sequence[ListedPaper], *, day: date, kind: ListingKind
) -> tuple[ListingRecord, ...]:
    """Listings with rank 1..n: by upvotes, most first (ties keep source order) for a daily
    list; in HF's own order for trending, whose order is its trending score, not upvotes."""
    ordered = list(entries)
    if kind == "daily":
        ordered.sort(key=lambda entry: -entry.upvotes)  # sort is stable: ties keep source order
    return tuple(
        ListingRecord(
            listing_date=day,
            arxiv_id=entry.paper.arxiv_id,
            rank=rank,
            upvotes=entry.upvotes,
            comments=entry.comments,
            kind=kind,
        )
        for rank, entry in enumerate(ordered, start=1)
    )


def merge_card(card: ListedPaper, enriched: ListedPaper | None) -> ListedPaper:
    """A card's listing numbers with the fuller paper record from ``/api/papers/{id}``."""
    if enriched is None:
        return card
    paper = replace(
        enriched.paper,
        title=enriched.paper.title or card.paper.title,
        thumbnail=enriched.paper.thumbnail or card.paper.thumbnail,
    )
    return replace(card, paper=paper, listed_on=enriched.listed_on)


def _parse_item(item: object, *, label: str) -> tuple[ListedPaper | None, list[str]]:
    warnings: list[str] = []
    if not isinstance(item, dict):
        return None, [f"{label}: a {type(item).__name__}, not an object; skipped"]
    paper = item.get("paper")
    if not isinstance(paper, dict):
        paper = {}
    arxiv_id = clean_text(paper.get("id"))
    bad_id = id_problem(arxiv_id) if arxiv_id else None
    if bad_id is not None:
        return None, [f"{label} ({shown(arxiv_id)}): {bad_id}; skipped"]
    get = _FieldReader(f"{label} ({arxiv_id})", warnings)
    title = get.title(paper.get("title")) or get.title(item.get("title"))
    if not arxiv_id or not title:
        missing = "arXiv id" if not arxiv_id else "title"
        return None, [f"{label} ({arxiv_id or 'no id'}): has no {missing}; skipped"]
    label = f"{label} ({arxiv_id})"
    organization = item.get("organization") or paper.get("organization")
    raw, raw_problems = storable_json(item)
    warnings.extend(f"{label}: {problem}" for problem in raw_problems)
    record = PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=get.repaired("summary", paper.get("summary"), MAX_TEXT_CHARS)
        or get.repaired("summary", item.get("summary"), MAX_TEXT_CHARS),
        authors=get.names(paper, "authors"),
        published_at=get.timestamp(paper, "publishedAt"),
        github_repo=get.url(paper, "githubRepo"),
        github_stars=get.count(paper, "githubStars"),
        project_page=get.url(paper, "projectPage"),
        ai_summary=get.text(paper, "ai_summary"),
        ai_keywords=get.words(paper, "ai_keywords"),
        thumbnail=get.url(item, "thumbnail"),
        organization=get.repaired("organization", _organization_name(organization), MAX_NAME_CHARS)
        or None,
        raw=raw,
    )
    listed_at = get.timestamp(paper, "submittedOnDailyAt")
    entry = ListedPaper(
        paper=record,
        upvotes=get.count(paper, "upvotes") or 0,
        comments=get.count(item, "numComments") or 0,
        listed_on=listed_at.date() if listed_at else None,
    )
    return entry, warnings


def _organization_name(value: object) -> str | None:
    if isinstance(value, dict):
        return clean_text(value.get("fullname")) or clean_text(value.get("name")) or None
    return clean_text(value) or None


class _FieldReader:
    """Reads optional fields: absent or null is silent, a wrong type is a warning."""

    def __init__(self, label: str, warnings: list[str]) -> None:
        self._label = label
        self._warnings = warnings
        self._said: set[str] = set()

    def _wrong(self, name: str, value: object, wanted: str) -> None:
        self._warnings.append(
            f"{self._label}: {name} is a {type(value).__name__}, not {wanted}; ignored"
        )

    def repaired(self, name: str, value: object, limit: int) -> str:
        """``value`` cleaned and bounded, with a warning for each repair; "" for a non-string."""
        if not isinstance(value, str):
            return ""
        repaired = repair_text(value, limit=limit)
        self._warn(name, repaired.problems)
        return repaired.value

    def _warn(self, name: str, problems: tuple[str, ...]) -> None:
        for problem in problems:
            warning = f"{self._label}: {name}: {problem}"
            if warning not in self._said:  # a thousand bad author names: one line
                self._said.add(warning)
                self._warnings.append(warning)

    def title(self, value: object) -> str:
        """A title cleaned and bounded in characters and bytes; "" for a non-string."""
        if not isinstance(value, str):
            return ""
        repaired = repair_text(value, limit=MAX_TITLE_CHARS, max_bytes=MAX_TITLE_BYTES)
        self._warn("title", repaired.problems)
        return repaired.value

    def text(self, source: dict[str, Any], name: str, limit: int = MAX_TEXT_CHARS) -> str | None:
        value = source.get(name)
        if value is None or isinstance(value, str):
            return self.repaired(name, value, limit) or None
        self._wrong(name, value, "a string")
        return None

    def url(self, source: dict[str, Any], name: str) -> str | None:
        """A link, or None: a link too long to store is dropped, since a cut one is broken."""
        value = source.get(name)
        if isinstance(value, str) and len(value) > MAX_URL_CHARS:
            self._warnings.append(
                f"{self._label}: {name} is {len(value):,} characters (at most "
                f"{MAX_URL_CHARS}); ignored"
            )
            return None
        return self.text(source, name, MAX_URL_CHARS)

    def count(self, source: dict[str, Any], name: str) -> int | None:
        value = source.get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
            return value
        # isdecimal, not isdigit: "²" is a digit that int() refuses. The length bound keeps
        # int() off a megabyte of digits.
        if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 10:
            number = int(value)
            if number <= MAX_COUNT:
                return number
        self._wrong(name, value, "a count")
        return None

    def timestamp(self, source: dict[str, Any], name: str) -> datetime | None:
        value = source.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value[:64])
                aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
                # The store keeps UTC: an offset that moves it past year 1 or 9999 is refused
                # here (OverflowError), not when the store converts it.
                aware.astimezone(UTC)
                return aware
            except (ValueError, OverflowError):
                pass
        self._wrong(name, value, "an ISO 8601 time in years 1 to 9999")
        return None

    def names(self, source: dict[str, Any], name: str) -> tuple[str, ...]:
        people = [p.get("name") if isinstance(p, dict) else None for p in self._list(source, name)]
        named = (self.repaired("an author's name", p, MAX_NAME_CHARS) for p in people)
        return tuple(person for person in named if person)

    def words(self, source: dict[str, Any], name: str) -> tuple[str, ...]:
        words = (self.repaired(name, w, MAX_NAME_CHARS) for w in self._list(source, name))
        return tuple(word for word in words if word)

    def _list(self, source: dict[str, Any], name: str) -> list[Any]:
        """The list under ``name`` (cut to its bound); absent or not a list (noted) is empty."""
        value = source.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self._wrong(name, value, "a list")
            return []
        return self._bounded(name, value)

    def _bounded(self, name: str, value: list[Any]) -> list[Any]:
        if len(value) <= MAX_LIST_ITEMS:
            return value
        self._warnings.append(
            f"{self._label}: {name} has {len(value):,} entries; kept the first {MAX_LIST_ITEMS:,}"
        )
        return value[:MAX_LIST_ITEMS]
