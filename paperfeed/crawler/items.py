"""Pure parsing of Hugging Face paper JSON (API items, page-props items, paper objects).

Owns the mapping from HF's shapes (see fixtures/hf/README.md) to ``PaperRecord`` plus the
listing numbers, item-by-item tolerance, and ranking a list by upvotes. No HTTP, no HTML.

Tolerance rule: a missing optional field is normal (HF trims fields per item) and silent;
an optional field of the wrong type is dropped with a warning; an item without an arXiv id
or a title cannot be stored and is skipped with a warning. Text is whitespace-normalised and
never HTML-unescaped: JSON strings are already plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from paperfeed.crawler.records import ListingKind, ListingRecord, PaperRecord
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
    title = clean_text(paper.get("title")) or clean_text(item.get("title"))
    if not arxiv_id or not title:
        missing = "arXiv id" if not arxiv_id else "title"
        return None, [f"{label} ({arxiv_id or 'no id'}): has no {missing}; skipped"]
    label = f"{label} ({arxiv_id})"
    get = _FieldReader(label, warnings)
    organization = item.get("organization") or paper.get("organization")
    record = PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=clean_text(paper.get("summary")) or clean_text(item.get("summary")),
        authors=get.names(paper, "authors"),
        published_at=get.timestamp(paper, "publishedAt"),
        github_repo=get.text(paper, "githubRepo"),
        github_stars=get.count(paper, "githubStars"),
        project_page=get.text(paper, "projectPage"),
        ai_summary=get.text(paper, "ai_summary"),
        ai_keywords=get.words(paper, "ai_keywords"),
        thumbnail=get.text(item, "thumbnail"),
        organization=_organization_name(organization),
        raw=item,
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

    def _wrong(self, name: str, value: object, wanted: str) -> None:
        self._warnings.append(
            f"{self._label}: {name} is a {type(value).__name__}, not {wanted}; ignored"
        )

    def text(self, source: dict[str, Any], name: str) -> str | None:
        value = source.get(name)
        if value is None or isinstance(value, str):
            return clean_text(value) or None
        self._wrong(name, value, "a string")
        return None

    def count(self, source: dict[str, Any], name: str) -> int | None:
        value = source.get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        self._wrong(name, value, "a count")
        return None

    def timestamp(self, source: dict[str, Any], name: str) -> datetime | None:
        value = source.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        self._wrong(name, value, "an ISO 8601 time")
        return None

    def names(self, source: dict[str, Any], name: str) -> tuple[str, ...]:
        value = source.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            self._wrong(name, value, "a list")
            return ()
        people = (clean_text(p.get("name")) if isinstance(p, dict) else "" for p in value)
        return tuple(person for person in people if person)

    def words(self, source: dict[str, Any], name: str) -> tuple[str, ...]:
        value = source.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            self._wrong(name, value, "a list")
            return ()
        return tuple(word for word in (clean_text(w) for w in value) if word)
