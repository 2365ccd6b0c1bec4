"""The three feeds over the store: daily trending, a subscriber's own, and a topic query.

Each feed is read from the store (and, for topics, ranked with the interest language), built
once per change of its source and kept in a ``FeedCache``. Methods block (SQL, ranking,
feedgen): the web app calls them from a worker thread, ``export_feeds`` directly. A method
holds a database connection only while it reads: the version check and the build each use
a short session of their own, so callers waiting for a feed being built hold none.
Knows nothing of HTTP; a topic query that matches nothing raises ``InputError``.

Each feed has a second representation, its page for browsers: given a ``page`` renderer (the
web app's, paperfeed/web/feed_page.py; feeds know nothing of HTML), a method renders the same
meta and entries with it instead of feedgen, cached beside the document under its own key
(``feed_key``) with the same version, so it has its own ETag and the same Last-Modified.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import Engine

from paperfeed import links
from paperfeed.config import Settings, secret_key
from paperfeed.corpus import CorpusCache, to_document
from paperfeed.errors import InputError
from paperfeed.feeds.cache import CachedFeed, FeedCache
from paperfeed.feeds.entries import (
    FeedEntry,
    daily_id,
    dated_in_order,
    edition_entry,
    listed_entry,
    topic_id,
)
from paperfeed.feeds.rss_atom import MEDIA_TYPES, FeedFormat, FeedMeta, render_feed
from paperfeed.paper_view import one_line
from paperfeed.ranking.interests import parse_interests
from paperfeed.rating_links import RatingSigner, rating_url
from paperfeed.store.db import session_scope
from paperfeed.store.edition_entries import EditionEntry, edition_entries, edition_version
from paperfeed.store.feed_pools import feed_pool_version, newest_settled_papers
from paperfeed.store.models import SubscriberStatus
from paperfeed.store.preferences import find_by_feed_token

# A feed's page: the feed's meta and its dated entries in order, rendered to HTML bytes.
PageRender = Callable[[FeedMeta, Sequence[FeedEntry]], bytes]
PAGE_MEDIA_TYPE = "text/html; charset=utf-8"
MAX_TOPIC_CHARS = 1_000
# Papers a topic query is ranked over: every paper of the feed's days, at most this many.
TOPIC_POOL = 5_000


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """What the feeds are built with, from settings."""

    public_url: str
    list_name: str
    days: int
    max_items: int
    # Signs a personal feed's rating links; None: its entries carry none.
    secret: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedOptions:
        """The options the settings describe."""
        return cls(
            public_url=settings.public_url,
            list_name=settings.list_name,
            days=settings.feed_days,
            max_items=settings.feed_max_items,
            secret=secret_key(settings),
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def shortened(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def feed_path(name: str, fmt: FeedFormat) -> str:
    """The path a public feed is served at, e.g. ``/feeds/daily.rss``."""
    return f"/feeds/{name}.{fmt}"


def feed_key(*parts: str, page: bool = False) -> tuple[str, ...]:
    """The cache key of a feed's document, e.g. ``("daily", "rss")``, or of its page."""
    return (*parts, "page") if page else parts


class FeedService:
    """Builds and caches feeds for one store; one per process."""

    def __init__(
        self,
        engine: Engine,
        options: FeedOptions,
        *,
        cache: FeedCache | None = None,
        corpus: CorpusCache | None = None,
    ) -> None:
        self.engine = engine
        self.options = options
        self.cache = cache or FeedCache()
        self.corpus = corpus or CorpusCache()

    def daily(self, fmt: FeedFormat, *, page: PageRender | None = None) -> CachedFeed:
        """The settled days' papers, newest day first, most upvoted first within a day."""
        public_url = self.options.public_url

        def build(changed: datetime) -> bytes:
            with session_scope(self.engine) as session:
                papers = newest_settled_papers(
                    session, days=self.options.days, limit=self.options.max_items
                )
            items = [
                listed_entry(p, guid=daily_id(public_url, p.listing_date, p.paper.arxiv_id))
                for p in papers
            ]
            return self._render(
                title=f"{self.options.list_name}: trending papers",
                description="The day's trending papers on Hugging Face Daily Papers, "
                "newest day first, most upvoted first.",
                self_url=public_url + feed_path("daily", fmt),
                items=items,
                changed=changed,
                fmt=fmt,
                page=page,
            )

        return self._pool_feed(feed_key("daily", fmt, page=page is not None), fmt, page, build)

    def topic(self, query: str, fmt: FeedFormat, *, page: PageRender | None = None) -> CachedFeed:
        """Papers of the feed's days that match ``query`` (the interest language), best first."""
        query = query.strip()
        if not query or len(query) > MAX_TOPIC_CHARS:
            raise InputError(
                f"the topic query is {len(query)} characters; give 1 to {MAX_TOPIC_CHARS}, "
                'e.g. ?q="speculative decoding" -vision'
            )
        interests = parse_interests(query)
        if interests.empty:
            raise InputError(
                f"the topic query {query[:80]!r} has nothing to match: "
                + "; ".join(interests.describe())
            )
        public_url = self.options.public_url

        def build(changed: datetime) -> bytes:
            with session_scope(self.engine) as session:
                pool = newest_settled_papers(session, days=self.options.days, limit=TOPIC_POOL)
            matches: list[tuple[int, float, FeedEntry]] = []
            if pool:
                ranker = self.corpus.ranker(self.engine)
                index = ranker.index_day([to_document(p.paper, upvotes=p.upvotes) for p in pool])
                by_id = {p.paper.arxiv_id: p for p in pool}
                for scored in ranker.rank(index, [interests], top_k=len(pool)).select(0):
                    listed = by_id[scored.paper_id]
                    guid = topic_id(public_url, query, listed.listing_date, scored.paper_id)
                    item = listed_entry(listed, guid=guid, reasons=scored.reasons)
                    matches.append((listed.listing_date.toordinal(), scored.score, item))
            # Newest day first like every feed; the best match first within a day.
            matches.sort(key=lambda match: (-match[0], -match[1]))
            return self._render(
                # A title is one line: a query may hold line breaks (a reader's interests do).
                title=f"{self.options.list_name}: {shortened(query, 80)}",
                description=f"Trending papers matching {shortened(query, 200)}",
                self_url=public_url + feed_path("topic", fmt) + "?q=" + quote(query, safe=""),
                items=[item for _, _, item in matches[: self.options.max_items]],
                changed=changed,
                fmt=fmt,
                page=page,
            )

        key = feed_key("topic", query, fmt, page=page is not None)
        return self._pool_feed(key, fmt, page, build)

    def _pool_feed(
        self,
        key: Hashable,
        fmt: FeedFormat,
        page: PageRender | None,
        build: Callable[[datetime], bytes],
    ) -> CachedFeed:
        """A feed drawn from the settled days' pool, rebuilt (``build(changed)``) when it moves."""
        with session_scope(self.engine) as session:
            version = feed_pool_version(session)
        # Nothing settled yet: the newest crawl; nothing crawled at all: the first build.
        changed = version[0] or _now()
        return self.cache.get(
            key,
            version=version,
            last_modified=changed,
            media_type=PAGE_MEDIA_TYPE if page else MEDIA_TYPES[fmt],
            build=lambda: build(changed),
        )

    def personal(
        self, token: str, fmt: FeedFormat, *, page: PageRender | None = None
    ) -> CachedFeed | None:
        """The papers chosen for the subscriber with this feed token, newest edition first."""
        key: Hashable = feed_key("u", token, fmt, page=page is not None)
        with session_scope(self.engine) as session:
            subscriber = find_by_feed_token(session, token)
            if subscriber is None or subscriber.status == SubscriberStatus.PENDING:
                self.cache.forget(feed_key("u", token, fmt))
                self.cache.forget(feed_key("u", token, fmt, page=True))
                return None
            subscriber_id = subscriber.id or 0
            created_at = subscriber.created_at
            newest, count, created = edition_version(session, subscriber_id)
            # A team's feed may be shared with the team: no one rates for it from there.
            team = subscriber.name is not None

        changed = created or created_at
        public_url = self.options.public_url
        secret = None if team else self.options.secret
        signers: dict[datetime, RatingSigner] = {}

        def rate(reader: int, entry: EditionEntry) -> tuple[str, str] | None:
            # Signed as of the edition's making, so a rebuild writes the same bytes (the
            # entry does not change under the reader) and a link lives as long as the
            # edition's mail's links.
            if secret is None:
                return None
            at = entry.created_at
            signer = signers.get(at)
            if signer is None:
                signer = signers[at] = RatingSigner(secret, clock=lambda: at)
            pid = entry.paper.arxiv_id
            return (
                rating_url(public_url, signer, reader, pid, more=True),
                rating_url(public_url, signer, reader, pid, more=False),
            )

        def build() -> bytes:
            with session_scope(self.engine) as session:
                entries = edition_entries(session, subscriber_id, limit=self.options.max_items)
            # Newest edition first; within one its picks in rank order, then "also trending".
            entries.sort(
                key=lambda e: (
                    -e.local_date.toordinal(),
                    -e.edition_id,
                    e.section == "trending",
                    e.rank,
                )
            )
            return self._render(
                title=f"{self.options.list_name}: your papers",
                description="The papers chosen for you, newest edition first, with reasons.",
                self_url=links.personal_feed_url(public_url, token, fmt),
                items=[
                    edition_entry(e, public_url=public_url, rate=rate(subscriber_id, e))
                    for e in entries
                ],
                changed=changed,
                fmt=fmt,
                page=page,
            )

        return self.cache.get(
            key,
            version=(newest, count),
            last_modified=changed,
            media_type=PAGE_MEDIA_TYPE if page else MEDIA_TYPES[fmt],
            build=build,
        )

    def _render(
        self,
        *,
        title: str,
        description: str,
        self_url: str,
        items: list[FeedEntry],
        changed: datetime,
        fmt: FeedFormat,
        page: PageRender | None,
    ) -> bytes:
        """The document (or its page); ``changed`` dates a feed without items (its source's
        last change)."""
        dated = dated_in_order(items)
        meta = FeedMeta(
            title=title,
            description=description,
            site_url=self.options.public_url + "/",
            self_url=self_url,
            updated=max((item.published for item in dated), default=changed),
            author=self.options.list_name,
        )
        return page(meta, dated) if page else render_feed(meta, dated, fmt)
