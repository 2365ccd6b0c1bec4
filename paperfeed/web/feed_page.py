"""A feed's page: what a browser gets when it opens a feed's address.

Browsers show RSS and Atom as raw XML, and Chromium is removing XSLT (it now overlays a
warning on any page that uses it), so a browser asking for a feed gets this page instead:
what the feed is (the daily list, a topic, someone's personal feed), its address to copy
into a reader with how to subscribe, and its items in the feed's own order, each shown with
the paper view every page uses (``PaperCard``). It is rendered from the very meta and
entries the feed document is built from (``FeedService``'s ``page`` renderer), so it shows
nothing the feed does not: a personal feed's page, opened with the read-only feed token,
names no account link (no preferences page, no OPML download). Values are escaped by Jinja.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from jinja2 import Environment

from paperfeed.feeds.entries import FeedEntry
from paperfeed.feeds.rss_atom import FeedFormat, FeedMeta
from paperfeed.feeds.service import PageRender
from paperfeed.web.cards import PaperCard

FeedKind = Literal["daily", "topic", "personal"]
TEMPLATE = "feed.html.j2"
FORMAT_NAMES: dict[FeedFormat, str] = {"atom": "Atom", "rss": "RSS 2.0"}


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of the page: its card (the paper and why it was picked) and its note."""

    card: PaperCard
    note: str | None


def other_format_url(self_url: str, fmt: FeedFormat) -> tuple[FeedFormat, str]:
    """The same feed in the other format: ``/feeds/daily.atom`` ↔ ``/feeds/daily.rss``."""
    other: FeedFormat = "rss" if fmt == "atom" else "atom"
    path, mark, query = self_url.partition("?")
    return other, path.removesuffix("." + fmt) + "." + other + mark + query


def feed_items(entries: Sequence[FeedEntry]) -> list[FeedItem]:
    """The entries as cards, in the feed's order."""
    return [
        FeedItem(
            card=PaperCard(
                paper=entry.paper,
                reasons=entry.reasons,
                section="trending" if entry.note else "matched",
                rate=entry.rate,
            ),
            note=entry.note,
        )
        for entry in entries
    ]


def render_feed_page(
    env: Environment,
    *,
    list_name: str,
    public_url: str,
    kind: FeedKind,
    fmt: FeedFormat,
    query: str,
    meta: FeedMeta,
    entries: Sequence[FeedEntry],
) -> bytes:
    """The page as UTF-8 HTML."""
    other, other_url = other_format_url(meta.self_url, fmt)
    html = env.get_template(TEMPLATE).render(
        list_name=list_name,
        public_url=public_url,
        kind=kind,
        query=query,
        meta=meta,
        format_name=FORMAT_NAMES[fmt],
        other_format_name=FORMAT_NAMES[other],
        other_url=other_url,
        items=feed_items(entries),
    )
    return html.encode("utf-8")


def feed_page(
    env: Environment,
    *,
    list_name: str,
    public_url: str,
    kind: FeedKind,
    fmt: FeedFormat,
    query: str = "",
) -> PageRender:
    """The renderer ``FeedService`` builds this feed's page with."""

    def render(meta: FeedMeta, entries: Sequence[FeedEntry]) -> bytes:
        return render_feed_page(
            env,
            list_name=list_name,
            public_url=public_url,
            kind=kind,
            fmt=fmt,
            query=query,
            meta=meta,
            entries=entries,
        )

    return render
