"""Pure parsing of a Daily Papers HTML page: the embedded ``data-props`` JSON and the cards.

Owns reading ``/papers/date/D`` and ``/papers/trending`` (selectolax lexbor) and the page's
completeness check. No HTTP, and no decision about which day a page belongs to (the caller
compares ``shown_day`` with the day it asked for).

The attribute's JSON is entity-encoded once by HF and decoded once by lexbor; nothing here
unescapes again, so a title that really contains "&lt;" keeps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from selectolax.lexbor import LexborHTMLParser, LexborNode

from paperfeed.crawler.api_items import ListedPaper, ParsedItems, parse_api_items
from paperfeed.crawler.records import PaperRecord
from paperfeed.crawler.repair import MAX_TITLE_BYTES, MAX_TITLE_CHARS, id_problem, repair_text
from paperfeed.errors import IncompleteListing, SchemaDrift

PROPS_SELECTOR = 'div[data-target="DailyPapers"]'


class ShortListing(IncompleteListing):
    """The page shows papers that its parsed data does not hold."""

    def __init__(self, message: str, *, claimed: int, found: int) -> None:
        super().__init__(message)
        self.claimed = claimed
        self.found = found


@dataclass(frozen=True, slots=True)
class PageContent:
    """The raw pieces of one page, read in a single parse."""

    props: dict[str, Any] | None
    props_problem: str | None  # why ``props`` is None: missing, not JSON, not an object
    cards: tuple[ListedPaper, ...]
    card_count: int  # <article> elements, readable or not
    card_warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DayPage:
    """A page's list, from its props (full items) or, failing those, its cards (id, title,
    upvotes, comments only)."""

    source: Literal["props", "cards"]
    items: ParsedItems
    claimed: int  # how many papers the page holds: props items, or <article> cards
    shown_day: date | None  # the props' dateString: the day the page really shows
    period: str | None  # the props' periodType ("day" for a daily list)
    props_problem: str | None  # why the cards had to serve


def read_page(html: str | bytes) -> PageContent:
    """Parse the HTML once and pull out the props JSON and every card."""
    tree = LexborHTMLParser(html)
    props, problem = _read_props(tree)
    articles = tree.css("article")
    cards: list[ListedPaper] = []
    warnings: list[str] = []
    for index, article in enumerate(articles):
        card = _read_card(article)
        if card is None:
            warnings.append(f"card {index}: no /papers/ link with a title; skipped")
        else:
            cards.append(card)
    return PageContent(
        props=props,
        props_problem=problem,
        cards=tuple(cards),
        card_count=len(articles),
        card_warnings=tuple(warnings),
    )


def parse_day_page(html: str | bytes, *, day: date | None) -> DayPage:
    """The page's list, from props if they parse, else from the cards.

    Raises ``ShortListing`` when the page shows cards for papers its props do not hold (a
    parse that finds fewer papers than the page claims is an error, not a smaller day), and
    ``SchemaDrift`` when neither props nor cards can be read.
    """
    where = f"{day}: " if day else ""
    content = read_page(html)
    problem: str | None
    if content.props is not None:
        try:
            return _from_props(content, where=where, day=day)
        except SchemaDrift as exc:
            if not content.cards:
                raise
            problem = str(exc)
    else:
        problem = content.props_problem
    if not content.cards:
        raise SchemaDrift(
            f"{where}the page has neither readable props ({problem}) nor paper cards "
            f"({content.card_count} <article> elements); the page layout changed (compare with "
            "fixtures/hf/papers_2026-09-28.html)"
        )
    entries = content.cards
    skipped = content.card_count - len(entries)
    warnings = tuple(where + w for w in content.card_warnings)
    return DayPage(
        source="cards",
        items=ParsedItems(entries=entries, skipped=skipped, warnings=warnings),
        claimed=content.card_count,
        shown_day=None,
        period=None,
        props_problem=problem,
    )


def _from_props(content: PageContent, *, where: str, day: date | None) -> DayPage:
    props = content.props or {}
    raw_items = props.get("dailyPapers")
    items = parse_api_items(raw_items, day=day)
    # Cards the props do not hold are papers we would lose. The reverse (more props than
    # cards) is fine: a page may render only the first cards and load the rest later.
    held = {entry.paper.arxiv_id for entry in items.entries}
    missing = [card.paper.arxiv_id for card in content.cards if card.paper.arxiv_id not in held]
    claimed = max(items.received, content.card_count)
    if missing:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        raise ShortListing(
            f"{where}the page shows {content.card_count} papers but its data yields "
            f"{len(items.entries)}; missing {shown}. Not stored as a smaller day: the next "
            "crawl tries again; if it persists, the page format changed",
            claimed=claimed,
            found=len(items.entries),
        )
    return DayPage(
        source="props",
        items=items,
        claimed=claimed,
        shown_day=_iso_day(props.get("dateString")),
        period=props.get("periodType") if isinstance(props.get("periodType"), str) else None,
        props_problem=None,
    )


def _read_props(tree: LexborHTMLParser) -> tuple[dict[str, Any] | None, str | None]:
    node = tree.css_first(PROPS_SELECTOR)
    text = node.attributes.get("data-props") if node is not None else None
    if text is None:
        # Another component (e.g. on /papers/trending) may carry the same list.
        for other in tree.css("[data-props]"):
            candidate = other.attributes.get("data-props") or ""
            if '"dailyPapers"' in candidate:
                text = candidate
                break
    if text is None:
        return None, f"no {PROPS_SELECTOR} with data-props"
    try:
        props = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"data-props is not JSON ({exc.msg} at character {exc.pos})"
    except RecursionError:
        return None, "data-props nests JSON deeper than can be parsed"
    if not isinstance(props, dict):
        return None, f"data-props is a JSON {type(props).__name__}, not an object"
    return props, None


def _read_card(article: LexborNode) -> ListedPaper | None:
    link = article.css_first('h3 a[href^="/papers/"]')
    if link is None:
        return None
    href = link.attributes.get("href") or ""
    arxiv_id = href.removeprefix("/papers/").split("#", 1)[0].split("?", 1)[0].strip("/")
    title = repair_text(link.text(), limit=MAX_TITLE_CHARS, max_bytes=MAX_TITLE_BYTES).value
    if not arxiv_id or not title or id_problem(arxiv_id) is not None:
        return None
    thumbnail = article.css_first('article > a[href^="/papers/"] img')
    votes = article.css_first("div[role=checkbox] .leading-none")
    comments = article.css_first('a[href$="#community"]')
    paper = PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        thumbnail=(thumbnail.attributes.get("src") or None) if thumbnail is not None else None,
    )
    return ListedPaper(
        paper=paper,
        upvotes=_card_number(votes.text() if votes is not None else ""),
        comments=_card_number(comments.text() if comments is not None else ""),
    )


def _card_number(text: str) -> int:
    # Cards show "-" for no votes and abbreviate thousands ("1.2k").
    value = text.strip().lower().replace(",", "")
    try:
        if value.endswith("k"):
            return round(float(value[:-1]) * 1000)
        return int(value)
    except ValueError:
        return 0


def _iso_day(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
