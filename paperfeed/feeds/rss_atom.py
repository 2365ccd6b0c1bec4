"""RSS 2.0 and Atom documents from feed entries, with feedgen, one build at a time.

feedgen formats RSS dates by switching the whole process's locale to C and back
(``feedgen.util.formatRFC2822``), which races with any other thread doing the same; every
build therefore holds one lock. Builds are deterministic: every date comes from the data, so
the same papers give the same bytes (and the same ETag) in any process.

RSS 2.0 never said whether a ``<title>`` is text or HTML, and readers treat it as HTML: an
upstream title ``<img src=x onerror=…>`` would be markup in them. RSS titles are therefore
HTML-escaped before XML escapes them again, so readers show the characters as typed. Atom
says ``type="text"``, which readers honour: its titles stay as they are. RSS names the authors
in one ``dc:creator`` (readers keep only the last of several); Atom has one ``author`` each.
No ``<?xml-stylesheet?>``: a browser opening a feed gets its HTML page (paperfeed/web/
feed_routes.py), and an XSLT instruction would make Chromium announce XSLT's removal.
Knows nothing of the database or HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from feedgen.feed import FeedGenerator
from markupsafe import escape

from paperfeed.feeds.entries import FeedEntry
from paperfeed.paper_view import xml_text

FeedFormat = Literal["rss", "atom"]
FORMATS: tuple[FeedFormat, ...] = ("rss", "atom")
MEDIA_TYPES: dict[FeedFormat, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """A feed's channel: its title, what it is, the site, its own absolute URL, last change."""

    title: str
    description: str
    site_url: str
    self_url: str
    updated: datetime
    author: str


def _plain_text(text: str) -> str:
    return xml_text(text)


def _html_text(text: str) -> str:
    return str(escape(xml_text(text)))


def render_feed(meta: FeedMeta, entries: Sequence[FeedEntry], fmt: FeedFormat) -> bytes:
    """The feed as UTF-8 XML bytes, entries in the given order."""
    if meta.updated.tzinfo is None:
        raise ValueError(f"feed updated {meta.updated.isoformat()} has no time zone")
    with _BUILD_LOCK:
        feed = FeedGenerator()
        if fmt == "rss":
            # dc:creator carries authors in RSS, whose <author> must be an email address.
            feed.load_extension("dc", atom=False, rss=True)
        # In RSS a title is read as HTML (see the module doc): escape it once more there.
        title: Callable[[str], str] = _html_text if fmt == "rss" else _plain_text
        feed.id(meta.self_url)
        feed.title(title(meta.title))
        feed.description(xml_text(meta.description))
        feed.subtitle(xml_text(meta.description))
        feed.author({"name": xml_text(meta.author)})
        # feedgen's RSS <link> is the last link added: the site, with the self link before it.
        feed.link(href=meta.self_url, rel="self")
        feed.link(href=meta.site_url, rel="alternate")
        feed.language("en")
        feed.updated(meta.updated)
        feed.lastBuildDate(meta.updated)
        for entry in entries:
            paper = entry.paper
            added = feed.add_entry(order="append")
            # Not the paper's page: that would be one entry in every feed (see entries.py).
            added.guid(entry.guid, permalink=False)
            added.title(title(paper.title))
            added.link(href=paper.url, rel="alternate")
            added.published(entry.published)
            added.updated(entry.published)
            if fmt == "rss":
                added.description(entry.html)
                if paper.authors:
                    # One dc:creator per author makes readers show only the last: one line.
                    added.dc.dc_creator(", ".join(paper.authors))
            else:
                added.content(entry.html, type="html")
                if paper.authors:
                    added.author([{"name": name} for name in paper.authors])
        body: bytes = feed.rss_str() if fmt == "rss" else feed.atom_str()
    return body
