"""Feed items: a paper's id in one feed, links, authors, date and the escaped HTML body.

Pure functions over stored papers; the HTML body is built here with every value escaped, so
a title or abstract from Hugging Face can never add markup to someone's feed reader.

Readers keep one item per id, across all the feeds someone reads (newsboat even across
feeds), so an item's id names what the item is, never just the paper: "this paper on this
listing day" (daily), the same in one topic feed, "this paper in this edition" (personal).
Ids are tag URIs (RFC 4151) made from the data alone, so every rebuild gives the same ones.
Readers sort by date, not by the document's order, so ``dated_in_order`` gives each item a
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

from paperfeed.mailer.display import github_url, one_line, safe_url
from paperfeed.store.editions import ListedPaper
from paperfeed.store.models import Paper
from paperfeed.store.edition_entries import EditionEntry

# The public pages, not PAPERFEED_HF_BASE_URL (which tests point at a fake server): a feed
# reader must link where people can read the paper.
HF_PAPERS = "https://huggingface.co/papers/"
ARXIV_ABS = "https://arxiv.org/abs/"
ARXIV_PDF = "https://arxiv.org/pdf/"
# Characters XML 1.0 cannot hold at all; lxml refuses them, so they are dropped first.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A tag URI's authority is a DNS name (RFC 4151 2.1): the site's host, without its port.
_DNS_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
# The tag URIs' date: when paperfeed started minting them. It must never change.
ID_YEAR = "2026"
# Between two neighbouring items of a feed: RSS dates carry whole seconds only.
STEP = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """A paper as a feed shows it; all text still unescaped except ``html``."""

    paper_id: str
    guid: str
    title: str
    url: str
    authors: tuple[str, ...]
    published: datetime
    html: str


def xml_text(text: str) -> str:
    """``text`` without the characters XML cannot carry."""
    return _NOT_XML.sub("", text)


def paper_url(paper_id: str) -> str:
    """The paper's Hugging Face page: the item's link."""
    return HF_PAPERS + quote(paper_id, safe="./")


def item_id(public_url: str, *parts: str) -> str:
    """A tag URI for one feed item, e.g. ``tag:paperfeed.example,2026:daily/2026-09-22/2609.1``.

    The authority is the site's host, so two sites' ids differ; the port is left out, so a
    server moving to another port keeps them (an IPv6 address, not a DNS name, gives
    ``localhost``).
    """
    host = (urlsplit(public_url).hostname or "").lower()
    if not _DNS_NAME.fullmatch(host):
        host = "localhost"
    return f"tag:{host},{ID_YEAR}:" + "/".join(quote(part, safe="-._~") for part in parts)


def daily_id(public_url: str, listing_date: date, paper_id: str) -> str:
    """The daily feed's item: this paper on this listing day."""
    return item_id(public_url, "daily", listing_date.isoformat(), paper_id)


def topic_key(query: str) -> str:
    """A short fixed name for a topic query (its feed's items carry it)."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()[:16]


def topic_id(public_url: str, query: str, listing_date: date, paper_id: str) -> str:
    """A topic feed's item: this paper on this listing day, in the feed of this query."""
    return item_id(public_url, "topic", topic_key(query), listing_date.isoformat(), paper_id)


def edition_id(public_url: str, edition: int, paper_id: str) -> str:
    """A personal feed's item: this paper in this edition."""
    return item_id(public_url, "edition", str(edition), paper_id)


def dated_in_order(items: Sequence[FeedItem]) -> list[FeedItem]:
    """The items dated so that sorting by date gives their order back, in every reader.

    Each item keeps its own date (when its day settled, when its edition was made) when that
    is earlier than the item above it, else it is dated one second before that item: the
    papers of one day or edition count down from its date in rank order, and a later
    section or day comes after. An item's date depends only on the items above it, so a
    rebuild that adds a newer day or edition on top leaves the older items' dates alone
    (unless the new one is dated within its item count in seconds of them).
    """
    dated: list[FeedItem] = []
    previous: datetime | None = None
    for item in items:
        at = item.published.replace(microsecond=0)
        if previous is not None and at >= previous:
            at = previous - STEP
        dated.append(replace(item, published=at))
        previous = at
    return dated


def paper_item(
    paper: Paper,
    *,
    guid: str,
    published: datetime,
    upvotes: int,
    reasons: Sequence[str] = (),
    note: str | None = None,
) -> FeedItem:
    """The feed item of a stored paper, with why it was chosen when there is a reason."""
    if published.tzinfo is None:
        raise ValueError(f"published {published.isoformat()} has no time zone")
    return FeedItem(
        paper_id=paper.arxiv_id,
        guid=guid,
        title=xml_text(one_line(paper.title)) or paper.arxiv_id,
        url=paper_url(paper.arxiv_id),
        authors=tuple(name for name in (xml_text(one_line(a)) for a in paper.authors) if name),
        published=published,
        html=xml_text(item_html(paper, upvotes=upvotes, reasons=reasons, note=note)),
    )


def listed_item(listed: ListedPaper, *, guid: str, reasons: Sequence[str] = ()) -> FeedItem:
    """A paper of a settled day; its date is when that day's list settled (entered the feed)."""
    return paper_item(
        listed.paper,
        guid=guid,
        published=listed.settled_at,
        upvotes=listed.upvotes,
        reasons=reasons,
    )


def edition_item(entry: EditionEntry, *, public_url: str) -> FeedItem:
    """A paper of a subscriber's edition, dated when the edition was made."""
    note = "Also trending" if entry.section == "trending" else None
    reasons = () if entry.section == "trending" else entry.reasons
    return paper_item(
        entry.paper,
        guid=edition_id(public_url, entry.edition_id, entry.paper.arxiv_id),
        published=entry.created_at,
        upvotes=entry.upvotes,
        reasons=reasons,
        note=note,
    )


def item_html(
    paper: Paper, *, upvotes: int, reasons: Sequence[str] = (), note: str | None = None
) -> str:
    """The item body: why it was picked, the abstract, then links and upvotes, all escaped."""
    parts: list[Markup] = []
    if reasons:
        parts.append(Markup("<p><strong>Why:</strong> {}</p>").format("; ".join(reasons)))
    elif note:
        parts.append(Markup("<p><em>{}</em></p>").format(note))
    abstract = one_line(paper.abstract or paper.ai_summary or "")
    if abstract:
        parts.append(Markup("<p>{}</p>").format(abstract))
    links = [
        (ARXIV_ABS + quote(paper.arxiv_id, safe="./"), "arXiv"),
        (ARXIV_PDF + quote(paper.arxiv_id, safe="./"), "PDF"),
    ]
    github = github_url(paper.github_repo)
    if github:
        links.append((github, "GitHub"))
    project = safe_url(paper.project_page)
    if project:
        links.append((project, "Project page"))
    anchors = Markup(" · ").join(Markup('<a href="{}">{}</a>').format(u, t) for u, t in links)
    votes = f"{upvotes} upvote" + ("" if upvotes == 1 else "s")
    parts.append(Markup("<p>{} · {}</p>").format(anchors, votes))
    return str(escape("\n").join(parts))
