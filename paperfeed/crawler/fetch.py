"""Fetching one day's list (or trending) from Hugging Face, source by source.

Owns the source order (API → page props → page cards enriched from ``/api/papers/{id}``), the
day-level decisions (ok / empty / not published / error) and turning them into a
``DayResult``. Talks HTTP only through ``polite_get``; parses only through ``items``/``page``;
never touches the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from paperfeed.crawler.api_items import (
    ListedPaper,
    ParsedItems,
    merge_card,
    parse_api_items,
    parse_paper_object,
    rank_listings,
)
from paperfeed.crawler.pacing import Budget, Pacer
from paperfeed.crawler.page import DayPage, ShortListing, parse_day_page
from paperfeed.crawler.polite import RetryPolicy, polite_get
from paperfeed.crawler.records import DayResult, DayStatus, ListingKind, Source
from paperfeed.errors import CrawlError, SchemaDrift

API_PAGE_SIZE = 100
# A day has had at most a few hundred papers; more pages than this means the API ignores p=.
MAX_API_PAGES = 20
# Cards are the last resort, usually because the API is failing: try each paper briefly, and
# stop asking once several in a row fail rather than hammer a struggling server.
ENRICH_POLICY = RetryPolicy(attempts=2, wait_initial=0.5, wait_max=5.0)
ENRICH_GIVE_UP_AFTER = 3


@dataclass
class _Run:
    """What one fetch has learned so far; shared by the steps of one day."""

    day: date
    kind: ListingKind
    client: httpx.Client
    pacer: Pacer
    policy: RetryPolicy | None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get_json(self, url: str, *, params: dict[str, str | int] | None = None) -> Any:
        response = polite_get(
            self.client, url, params=params, budget="api", pacer=self.pacer, policy=self.policy
        )
        return _decode_json(response, day=self.day)

    def failed(self, source: str, exc: Exception) -> None:
        """Note that ``source`` failed; the day is already named once in the final message."""
        self.problems.append(f"{source}: {str(exc).removeprefix(f'{self.day}: ')}")

    def result(
        self,
        status: DayStatus,
        source: Source | None,
        *,
        entries: tuple[ListedPaper, ...] = (),
        claimed: int | None = None,
    ) -> DayResult:
        error = None
        if status == "error":
            error = f"{self.day} {self.kind}: " + "; ".join(self.problems or ["no source answered"])
        elif self.problems:  # a source failed but a later one served: keep the trail
            self.warnings.extend(f"{self.day}: {problem}" for problem in self.problems)
        return DayResult(
            day=self.day,
            kind=self.kind,
            status=status,
            source=source,
            papers=tuple(entry.paper for entry in entries),
            listings=rank_listings(entries, day=self.day, kind=self.kind),
            claimed=claimed,
            error=error,
            warnings=tuple(self.warnings),
            notes=tuple(self.notes),
        )


def fetch_day(
    client: httpx.Client,
    day: date,
    *,
    pacer: Pacer | None = None,
    policy: RetryPolicy | None = None,
    today: date | None = None,
) -> DayResult:
    """Fetch the daily list of ``day``: API first, then the page's props, then its cards.

    ``today`` (UTC) defaults to the pacer's clock; it decides "not published" vs "empty".
    Share one ``pacer`` across a whole run so the rate limit spans every day it fetches.
    Raises ``HostUnreachable`` when the host cannot be reached at all: no source would work.
    """
    pacer = pacer or Pacer()
    run = _Run(day=day, kind="daily", client=client, pacer=pacer, policy=policy)
    today = today or pacer.clock.now().date()

    api_said_empty = False
    try:
        items = _fetch_api_list(run)
    except CrawlError as exc:
        run.failed("api", exc)
    else:
        run.warnings.extend(items.warnings)
        if items.entries:
            return run.result("ok", "api", entries=items.entries, claimed=items.received)
        api_said_empty = True

    try:
        page = _fetch_page(run, f"/papers/date/{day.isoformat()}")
    except ShortListing as exc:
        run.failed("page", exc)
        return run.result("error", None, claimed=exc.claimed)
    except CrawlError as exc:
        if not api_said_empty:
            run.failed("page", exc)
            return run.result("error", None)
        # The API answered (an empty list); the page was only the cross-check. Trust the API,
        # note the failed check, and let the re-crawl window look again.
        run.warnings.append(f"{day}: could not confirm the empty API answer with the page: {exc}")
        return run.result(_no_list_status(day, today), "api", claimed=0)
    if api_said_empty and page.items.entries and _page_shows(page, day):
        run.warnings.append(
            f"{day}: the API listed nothing but the page lists {len(page.items.entries)} papers; "
            "used the page"
        )
    return _day_from_page(run, page, today=today, api_said_empty=api_said_empty)


def fetch_trending(
    client: httpx.Client,
    *,
    pacer: Pacer | None = None,
    policy: RetryPolicy | None = None,
    today: date | None = None,
) -> DayResult:
    """Fetch ``/papers/trending`` as listings of kind "trending" dated ``today`` (UTC)."""
    pacer = pacer or Pacer()
    day = today or pacer.clock.now().date()
    run = _Run(day=day, kind="trending", client=client, pacer=pacer, policy=policy)
    try:
        page = _fetch_page(run, "/papers/trending")
    except ShortListing as exc:
        run.failed("page", exc)
        return run.result("error", None, claimed=exc.claimed)
    except CrawlError as exc:
        run.failed("page", exc)
        return run.result("error", None)
    entries = page.items.entries
    run.warnings.extend(page.items.warnings)
    if page.source == "cards":
        run.warnings.append(f"{day}: trending props unusable ({page.props_problem}); read cards")
        entries = _enrich(run, entries)
    status: DayStatus = "ok" if entries else "empty"
    return run.result(status, page.source, entries=entries, claimed=page.claimed)


def describe(result: DayResult) -> str:
    """One line for logs and ``--dry-run``: day, status, source, counts."""
    text = f"{result.day} {result.kind}: {result.status}"
    if result.source:
        text += f" via {result.source}"
    if result.status == "ok":
        text += f", {len(result.papers)} papers"
    if result.warnings:
        text += f", {len(result.warnings)} warnings"
    if result.error:
        text += f" ({result.error})"
    return text


def _fetch_api_list(run: _Run) -> ParsedItems:
    entries: list[ListedPaper] = []
    warnings: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for number in range(MAX_API_PAGES):
        params: dict[str, str | int] = {
            "date": run.day.isoformat(),
            "limit": API_PAGE_SIZE,
            "p": number,
        }
        parsed = parse_api_items(run.get_json("/api/daily_papers", params=params), day=run.day)
        if parsed.received == 0:
            break
        warnings.extend(parsed.warnings)
        skipped += parsed.skipped
        fresh = [entry for entry in parsed.entries if entry.paper.arxiv_id not in seen]
        if parsed.entries and not fresh:
            warnings.append(f"{run.day}: API page p={number} repeats earlier papers; stopped there")
            break
        # Upvotes move while we page, so an item can slide onto the next page: count it once.
        skipped += len(parsed.entries) - len(fresh)
        seen.update(entry.paper.arxiv_id for entry in fresh)
        entries.extend(fresh)
    else:
        warnings.append(f"{run.day}: API still answering after {MAX_API_PAGES} pages; stopped")
    _check_api_dates(entries, day=run.day, warnings=warnings)
    return ParsedItems(entries=tuple(entries), skipped=skipped, warnings=tuple(warnings))


def _check_api_dates(entries: list[ListedPaper], *, day: date, warnings: list[str]) -> None:
    dated = [entry for entry in entries if entry.listed_on is not None]
    if dated and all(entry.listed_on != day for entry in dated):
        days = sorted({str(entry.listed_on) for entry in dated})
        raise SchemaDrift(
            f"{day}: the API answered papers listed on {', '.join(days[:3])}, not {day}; it may "
            "be ignoring ?date=, so the page is tried instead"
        )
    warnings.extend(
        f"{day}: {entry.paper.arxiv_id} is listed on {entry.listed_on}, kept on {day}'s list"
        for entry in dated
        if entry.listed_on != day
    )


def _fetch_page(run: _Run, url: str) -> DayPage:
    budget: Budget = "page"
    response = polite_get(run.client, url, budget=budget, pacer=run.pacer, policy=run.policy)
    return parse_day_page(response.content, day=run.day if run.kind == "daily" else None)


def _page_shows(page: DayPage, day: date) -> bool:
    return page.shown_day == day and page.period in (None, "day")


def _day_from_page(run: _Run, page: DayPage, *, today: date, api_said_empty: bool) -> DayResult:
    day = run.day
    run.warnings.extend(page.items.warnings)
    if page.source == "props":
        if page.shown_day is None:
            run.problems.append(
                "props: no dateString, so the page's day is unknown; the page format changed "
                "(compare with fixtures/hf/)"
            )
            return run.result("error", None, claimed=page.claimed)
        if not _page_shows(page, day):
            period = "" if page.period in (None, "day") else f" ({page.period})"
            shows = f"{day}: the page shows the list of {page.shown_day}{period}"
            # The API's empty answer confirmed by the page is how a day without a list (a
            # weekend) looks: normal, a note. Without the API's word it is worth a warning.
            (run.notes if api_said_empty else run.warnings).append(shows)
            return run.result(_no_list_status(day, today), "props", claimed=0)
        status: DayStatus = "ok" if page.items.entries else "empty"
        return run.result(status, "props", entries=page.items.entries, claimed=page.claimed)

    run.warnings.append(f"{day}: page props unusable ({page.props_problem}); read the cards")
    entries = _enrich(run, page.items.entries)
    listed = {entry.listed_on for entry in entries if entry.listed_on is not None}
    if listed and day not in listed:
        # Cards carry no date; the enriched papers say which day the page really shows.
        shown = ", ".join(sorted(str(d) for d in listed)[:3])
        run.warnings.append(f"{day}: the cards are papers listed on {shown}")
        return run.result(_no_list_status(day, today), "cards", claimed=0)
    if not listed:
        run.warnings.append(f"{day}: no card could be dated; assumed the page shows {day}")
    return run.result("ok", "cards", entries=entries, claimed=page.claimed)


def _no_list_status(day: date, today: date) -> DayStatus:
    # HF answers [] both for a day that has no list (weekends, holidays) and for one whose
    # list does not exist yet, and its page then silently shows the latest list instead.
    # Nothing in the answers tells the two apart, so the calendar does: a day that has not
    # ended in UTC (today, or a future day) may still get its list → "not_published", never
    # recorded as an empty day; a past day without a list had its chance → "empty" (normal,
    # e.g. a weekend). Late additions to a past day are caught by the re-crawl window.
    return "not_published" if day >= today else "empty"


def _enrich(run: _Run, cards: tuple[ListedPaper, ...]) -> tuple[ListedPaper, ...]:
    merged: list[ListedPaper] = []
    failures_in_a_row = 0
    for index, card in enumerate(cards):
        arxiv_id = card.paper.arxiv_id
        if failures_in_a_row >= ENRICH_GIVE_UP_AFTER:
            left = len(cards) - index
            run.warnings.append(
                f"{run.day}: {failures_in_a_row} paper lookups failed in a row; {left} more "
                "papers keep only their card's title and numbers"
            )
            merged.extend(cards[index:])
            break
        url = f"/api/papers/{quote(arxiv_id, safe='')}"
        enriched: ListedPaper | None = None
        try:
            enriched, warnings = parse_paper_object(_get_paper(run, url), label=f"{run.day}: {url}")
            run.warnings.extend(warnings)
        except CrawlError as exc:
            run.warnings.append(f"{run.day}: {arxiv_id} keeps only its card: {exc}")
        if enriched is not None and enriched.paper.arxiv_id != arxiv_id:
            run.warnings.append(f"{run.day}: {url} answered {enriched.paper.arxiv_id}; ignored")
            enriched = None
        failures_in_a_row = 0 if enriched is not None else failures_in_a_row + 1
        merged.append(merge_card(card, enriched))
    return tuple(merged)


def _get_paper(run: _Run, url: str) -> Any:
    response = polite_get(run.client, url, budget="api", pacer=run.pacer, policy=ENRICH_POLICY)
    return _decode_json(response, day=run.day)


def _decode_json(response: httpx.Response, *, day: date) -> Any:
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaDrift(
            f"{day}: GET {response.request.url} answered {len(response.content)} bytes that are "
            f"not JSON ({exc}); the next source is tried"
        ) from exc
    except RecursionError as exc:
        raise SchemaDrift(
            f"{day}: GET {response.request.url} answered JSON nested deeper than can be parsed "
            f"({len(response.content)} bytes); the next source is tried"
        ) from exc
