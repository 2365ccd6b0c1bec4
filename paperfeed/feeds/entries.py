"""Feed entries (RSS items, Atom entries): a paper's view placed in one feed, with the
entry's id, its date and its escaped HTML body.

The paper's title, link, authors and links are its ``PaperView``, as in mails, chat and
pages; the HTML body is built here with every value escaped, so a title or abstract from
Hugging Face can never add markup to someone's feed reader.

Readers keep one item per id, across all the feeds someone reads (newsboat even across
feeds), so an item's id names what the item is, never just the paper: "this paper on this
listing day" (daily), the same in one topic feed, "this paper in this edition" (personal).
Ids are tag URIs (RFC 4151) made from the data alone, so every rebuild gives the same ones.
Readers sort by date, not by the document's order, so ``dated_in_order`` gives each entry a
whole second of its own, descending down the feed.
Knows nothing of feed formats or HTTP.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import quote, urlsplit

from markupsafe import Markup, escape

from paperfeed.paper_view import PaperView, paper_view, xml_text
from paperfeed.store.edition_entries import EditionEntry
from paperfeed.store.editions import ListedPaper

# A tag URI's authority is a DNS name (RFC 4151 2.1): the site's host, without its port.
_DNS_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
# The tag URIs' date: when paperfeed started minting them. It must never change.
ID_YEAR = "2026"
# Between two neighbouring entries of a feed: RSS dates carry whole seconds only.
STEP = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A paper in one feed: its view (title, link, authors), the entry's id and date, and the
    escaped HTML body; ``reasons`` and ``note`` are what the body says of it, kept apart for
    the feed's page (paperfeed/web/feed_page.py)."""

    paper: PaperView
    guid: str
    published: datetime
    html: str
    reasons: tuple[str, ...] = ()
    note: str | None = None
    # A personal feed's entry: the reader's (more like this, less like this) links.
    rate: tuple[str, str] | None = None


def entry_id(public_url: str, *parts: str) -> str:
    """A tag URI for one feed entry, e.g. ``tag:paperfeed.example,2026:daily/2026-09-22/2609.1``.

    The authority is the site's host, so two sites' ids differ; the port is left out, so a
    server moving to another port keeps them (an IPv6 address, not a DNS name, gives
    ``localhost``).
    """
    host = (urlsplit(public_url).hostname or "").lower()
    if not _DNS_NAME.fullmatch(host):
        host = "localhost"
    return f"tag:{host},{ID_YEAR}:" + "/".join(quote(part, safe="-._~") for part in parts)


def daily_id(public_url: str, listing_date: date, paper_id: str) -> str:
    """The daily feed's entry: this paper on this listing day."""
    return entry_id(public_url, "daily", listing_date.isoformat(), paper_id)


def topic_key(query: str) -> str:
    """A short fixed name for a topic query (its feed's entries carry it)."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()[:16]


def topic_id(public_url: str, query: str, listing_date: date, paper_id: str) -> str:
    """A topic feed's entry: this paper on this listing day, in the feed of this query."""
    return entry_id(public_url, "topic", topic_key(query), listing_date.isoformat(), paper_id)


def edition_id(public_url: str, edition: int, paper_id: str) -> str:
    """A personal feed's entry: this paper in this edition."""
    return entry_id(public_url, "edition", str(edition), paper_id)


def dated_in_order(entries: Sequence[FeedEntry]) -> list[FeedEntry]:
    """The entries dated so that sorting by date gives their order back, in every reader.

    Each entry keeps its own date (when its day settled, when its edition was made) when that
    is earlier than the entry above it, else it is dated one second before that entry: the
    papers of one day or edition count down from its date in rank order, and a later
    section or day comes after. An entry's date depends only on the entries above it, so a
    rebuild that adds a newer day or edition on top leaves the older entries' dates alone
    (unless the new one is dated within its entry count in seconds of them).
    """
    dated: list[FeedEntry] = []
    previous: datetime | None = None
    for entry in entries:
        at = entry.published.replace(microsecond=0)
        if previous is not None and at >= previous:
            at = previous - STEP
        dated.append(replace(entry, published=at))
        previous = at
    return dated


def paper_entry(
    paper: PaperView,
    *,
    guid: str,
    published: datetime,
    reasons: Sequence[str] = (),
    note: str | None = None,
    rate: tuple[str, str] | None = None,
) -> FeedEntry:
    """The feed entry of a paper, with why it was chosen when there is a reason (and, in a
    personal feed, its rating links)."""
    if published.tzinfo is None:
        raise ValueError(f"published {published.isoformat()} has no time zone")
    return FeedEntry(
        paper=paper,
        guid=guid,
        published=published,
        html=xml_text(entry_html(paper, reasons=reasons, note=note, rate=rate)),
        reasons=tuple(reasons),
        note=note,
        rate=rate,
    )


def listed_entry(listed: ListedPaper, *, guid: str, reasons: Sequence[str] = ()) -> FeedEntry:
    """A paper of a settled day; its date is when that day's list settled (entered the feed)."""
    return paper_entry(
        paper_view(listed.paper, upvotes=listed.upvotes, comments=listed.comments),
        guid=guid,
        published=listed.settled_at,
        reasons=reasons,
    )


def edition_entry(
    entry: EditionEntry, *, public_url: str, rate: tuple[str, str] | None = None
) -> FeedEntry:
    """A paper of a subscriber's edition, dated when the edition was made; ``rate`` its
    (more, less) rating links."""
    note = "Also trending" if entry.section == "trending" else None
    reasons = () if entry.section == "trending" else entry.reasons
    return paper_entry(
        paper_view(entry.paper, upvotes=entry.upvotes),
        guid=edition_id(public_url, entry.edition_id, entry.paper.arxiv_id),
        published=entry.created_at,
        reasons=reasons,
        note=note,
        rate=rate,
    )


def entry_html(
    paper: PaperView,
    *,
    reasons: Sequence[str] = (),
    note: str | None = None,
    rate: tuple[str, str] | None = None,
) -> str:
    """The entry's body: why it was picked, the abstract, then links and upvotes, then the
    rating links when given, all escaped."""
    parts: list[Markup] = []
    if reasons:
        parts.append(Markup("<p><strong>Why:</strong> {}</p>").format("; ".join(reasons)))
    elif note:
        parts.append(Markup("<p><em>{}</em></p>").format(note))
    if paper.abstract:
        parts.append(Markup("<p>{}</p>").format(paper.abstract))
    links = [(paper.arxiv_url, "arXiv"), (paper.pdf_url, "PDF")]
    if paper.github_url:
        links.append((paper.github_url, "GitHub"))
    if paper.project_url:
        links.append((paper.project_url, "Project page"))
    anchors = Markup(" · ").join(Markup('<a href="{}">{}</a>').format(u, t) for u, t in links)
    votes = f"{paper.upvotes} upvote" + ("" if paper.upvotes == 1 else "s")
    parts.append(Markup("<p>{} · {}</p>").format(anchors, votes))
    if rate is not None:
        parts.append(
            Markup(
                '<p><a href="{}">More like this</a> · <a href="{}">Less like this</a></p>'
            ).format(*rate)
        )
    return str(escape("\n").join(parts))
