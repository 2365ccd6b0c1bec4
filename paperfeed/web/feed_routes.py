"""Feeds over HTTP: cached bytes with a strong ETag, Last-Modified and 304s.

A feed whose source was checked within ``feed_check_seconds`` is answered on the event loop
from memory; otherwise a thread of a ``BuildGate`` asks the store for its version and
rebuilds only if it changed (feedgen is never run on the event loop). The gates bound how
many misses run at once and wait; beyond, 503 with Retry-After, so pages stay responsive.
``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 13.2.2).

Browsers show RSS and Atom as raw XML, and Chromium is removing XSLT: a request whose
Accept prefers HTML to the feed's XML (a browser opening a link sends ``text/html`` first)
gets the feed's page (paperfeed/web/feed_page.py), built from the same entries and cached
beside the document under the same rules, with its own strong ETag. Readers (their Accept
names the feed types, ``*/*`` or nothing) get the document's exact bytes; a tie goes to
the document. Every answer says ``Vary: Accept``. Knows nothing of how feeds are built.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from paperfeed.errors import InputError
from paperfeed.feeds.cache import CachedFeed
from paperfeed.feeds.rss_atom import MEDIA_TYPES, FeedFormat
from paperfeed.feeds.service import PageRender, feed_key
from paperfeed.web.feed_gate import FeedsBusy
from paperfeed.web.feed_page import FeedKind, feed_page
from paperfeed.web.pages import PageError, http_error_handler, page_error_handler, sentence
from paperfeed.web.security import SecurityHeaders
from paperfeed.web.state import AppState, get_state

PUBLIC_CACHE = "public, max-age=300"
# A personal feed's URL is its key: shared caches must not keep it.
PRIVATE_CACHE = "private, max-age=300"
FORMATS: dict[str, FeedFormat] = {"rss": "rss", "atom": "atom"}
HTML_TYPES = ("text/html", "application/xhtml+xml")
# A reader asking for plain XML is asking for the document too.
XML_TYPES = ("application/xml", "text/xml")
BUSY_RETRY_SECONDS = 10
BUSY = (
    "Many feeds are being built right now; nothing is wrong with this one. "
    f"Try again in {BUSY_RETRY_SECONDS} seconds.\n"
)


def http_date(moment: datetime) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for Last-Modified."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _accepted(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their weights (``q``, 1 when not given)."""
    ranges: list[tuple[str, float]] = []
    for part in accept.lower().split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    weight = 0.0
        if media:
            ranges.append((media, weight))
    return ranges


def _weight(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The weight the most specific matching range gives ``media_type`` (RFC 9110 12.5.1)."""
    kind = media_type.split("/", 1)[0] + "/*"
    best: tuple[int, float] = (0, 0.0)
    for media, weight in ranges:
        specificity = (
            3 if media == media_type else 2 if media == kind else 1 if media == "*/*" else 0
        )
        if specificity > best[0]:
            best = (specificity, weight)
    return best[1]


def prefers_page(accept: str, fmt: FeedFormat) -> bool:
    """Whether ``accept`` weighs HTML above the feed's XML: a browser opening the address.

    Browsers send ``text/html,…,application/xml;q=0.9,*/*;q=0.8``; readers name the feed
    types, send ``*/*`` or nothing, and an equal weight gives them the document.
    """
    if "html" not in accept.lower():  # the hot path: every reader, no parsing
        return False
    ranges = _accepted(accept)
    feed_type = MEDIA_TYPES[fmt].split(";", 1)[0]
    html = max(_weight(ranges, media) for media in HTML_TYPES)
    xml = max(_weight(ranges, media) for media in (feed_type, *XML_TYPES))
    return html > xml


def _not_modified(request: Request, feed: CachedFeed, etag: str) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        moment = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return feed.last_modified.replace(microsecond=0) <= moment


def feed_response(request: Request, feed: CachedFeed, *, cache_control: str) -> Response:
    """200 with the bytes (the document's or the page's), or 304 when the client's copy is
    current."""
    etag = feed.etag
    headers = {
        "etag": etag,
        "last-modified": http_date(feed.last_modified),
        "cache-control": cache_control,
        "vary": "Accept",
    }
    if _not_modified(request, feed, etag):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else feed.body
    response = Response(content=body, media_type=feed.media_type, headers=headers)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(feed.body))
    return response


def busy_response() -> Response:
    """503 with Retry-After: every build slot is taken and the line is full."""
    return Response(
        BUSY,
        status_code=503,
        media_type="text/plain; charset=utf-8",
        headers={"retry-after": str(BUSY_RETRY_SECONDS), "cache-control": "no-store"},
    )


def _format(suffix: str) -> FeedFormat:
    if suffix not in FORMATS:
        raise PageError(404, "Feeds end in .rss or .atom, e.g. /feeds/daily.atom.")
    return FORMATS[suffix]


def _page(request: Request, state: AppState, kind: FeedKind, fmt: FeedFormat) -> PageRender | None:
    """The page renderer when a browser opens the feed, else None (the document)."""
    if not prefers_page(request.headers.get("accept", ""), fmt):
        return None
    return feed_page(
        state.templates.env,
        list_name=state.settings.list_name,
        public_url=state.public_url,
        kind=kind,
        fmt=fmt,
        query=request.query_params.get("q", "").strip() if kind == "topic" else "",
    )


async def daily(request: Request) -> Response:
    """The settled days' trending papers."""
    state = get_state(request)
    fmt = _format(request.path_params["suffix"])
    page = _page(request, state, "daily", fmt)
    feed: CachedFeed | None = state.feeds.cache.fresh(feed_key("daily", fmt, page=bool(page)))
    if feed is None:
        try:
            feed = await state.feed_builds.run(lambda: state.feeds.daily(fmt, page=page))
        except FeedsBusy:
            return busy_response()
    return feed_response(request, feed, cache_control=PUBLIC_CACHE)


async def topic(request: Request) -> Response:
    """Papers matching ``q`` in the interest language; no account needed."""
    state = get_state(request)
    fmt = _format(request.path_params["suffix"])
    query = request.query_params.get("q", "")
    page = _page(request, state, "topic", fmt)

    def load() -> CachedFeed:
        try:
            return state.feeds.topic(query, fmt, page=page)
        except InputError as exc:
            raise PageError(400, sentence(str(exc))) from exc

    key = feed_key("topic", query.strip(), fmt, page=bool(page))
    feed: CachedFeed | None = state.feeds.cache.fresh(key)
    if feed is None:
        try:
            feed = await state.topic_builds.run(load)
        except FeedsBusy:
            return busy_response()
    return feed_response(request, feed, cache_control=PUBLIC_CACHE)


async def personal(request: Request) -> Response:
    """The papers chosen for one subscriber, with the reasons."""
    state = get_state(request)
    token, dot, suffix = request.path_params["name"].rpartition(".")
    fmt = _format(suffix if dot else "")
    page = _page(request, state, "personal", fmt)
    feed = state.feeds.cache.fresh(feed_key("u", token, fmt, page=bool(page)))
    if feed is None:
        try:
            feed = await state.feed_builds.run(lambda: state.feeds.personal(token, fmt, page=page))
        except FeedsBusy:
            return busy_response()
    if feed is None:
        raise PageError(404, "No subscription has this feed; it may have been deleted.")
    return feed_response(request, feed, cache_control=PRIVATE_CACHE)


def feeds_app(state: AppState, *, https: bool = False) -> Starlette:
    """The feeds as a plain Starlette app answering ``/feeds/...`` (see ``PaperfeedApp``).

    Plain Starlette routes, not FastAPI ones: FastAPI's route matching and dependency solving
    cost several times the whole answer from memory, and a cached feed must serve thousands of
    requests a second on one core.
    """
    methods = ["GET", "HEAD"]
    app = Starlette(
        routes=[
            Route("/feeds/daily.{suffix}", daily, methods=methods),
            Route("/feeds/topic.{suffix}", topic, methods=methods),
            Route("/feeds/u/{name}", personal, methods=methods),
        ],
        middleware=[Middleware(SecurityHeaders, https=https)],
        exception_handlers={
            PageError: page_error_handler,
            StarletteHTTPException: http_error_handler,
        },
    )
    app.state.paperfeed = state
    return app
