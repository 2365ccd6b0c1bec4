"""Feeds over HTTP: cached bytes with a strong ETag, Last-Modified and 304s.

A feed whose source was checked within ``feed_check_seconds`` is answered on the event loop
from memory; otherwise a thread of a ``BuildGate`` asks the store for its version and
rebuilds only if it changed (feedgen is never run on the event loop). The gates bound how
many misses run at once and wait; beyond, 503 with Retry-After, so pages stay responsive.
``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 13.2.2).

Browsers show ``application/rss+xml`` and ``application/atom+xml`` as raw text and apply no
stylesheet: a request that accepts ``text/html`` (a browser opening a link; readers ask for
feed types) gets the same bytes as ``application/xml``, which browsers render through the
document's ``feed.xsl``. Its ETag carries a suffix, as a different representation's must, and
every answer says ``Vary: Accept``. Knows nothing of how feeds are built.
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
from paperfeed.feeds.rss_atom import FeedFormat
from paperfeed.web.feed_gate import FeedsBusy
from paperfeed.web.pages import PageError, http_error_handler, page_error_handler, sentence
from paperfeed.web.security import SecurityHeaders
from paperfeed.web.state import AppState, get_state

PUBLIC_CACHE = "public, max-age=300"
# A personal feed's URL is its key: shared caches must not keep it.
PRIVATE_CACHE = "private, max-age=300"
FORMATS: dict[str, FeedFormat] = {"rss": "rss", "atom": "atom"}
# What a browser gets (see the module doc): a type it renders through the stylesheet.
BROWSER_MEDIA_TYPE = "application/xml; charset=utf-8"
BROWSER_ETAG_SUFFIX = "-xml"
BUSY_RETRY_SECONDS = 10
BUSY = (
    "Many feeds are being built right now; nothing is wrong with this one. "
    f"Try again in {BUSY_RETRY_SECONDS} seconds.\n"
)


def http_date(moment: datetime) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for Last-Modified."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def for_browser(request: Request) -> bool:
    """Whether the request comes from a browser opening the feed (it accepts ``text/html``)."""
    return "text/html" in request.headers.get("accept", "").lower()


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
    """200 with the bytes, or 304 when the client's copy is current."""
    browser = for_browser(request)
    etag = feed.etag[:-1] + BROWSER_ETAG_SUFFIX + '"' if browser else feed.etag
    headers = {
        "etag": etag,
        "last-modified": http_date(feed.last_modified),
        "cache-control": cache_control,
        "vary": "Accept",
    }
    if _not_modified(request, feed, etag):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else feed.body
    media_type = BROWSER_MEDIA_TYPE if browser else feed.media_type
    response = Response(content=body, media_type=media_type, headers=headers)
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


async def daily(request: Request) -> Response:
    """The settled days' trending papers."""
    state = get_state(request)
    fmt = _format(request.path_params["suffix"])
    feed: CachedFeed | None = state.feeds.cache.fresh(("daily", fmt))
    if feed is None:
        try:
            feed = await state.feed_builds.run(lambda: state.feeds.daily(fmt))
        except FeedsBusy:
            return busy_response()
    return feed_response(request, feed, cache_control=PUBLIC_CACHE)


async def topic(request: Request) -> Response:
    """Papers matching ``q`` in the interest language; no account needed."""
    state = get_state(request)
    fmt = _format(request.path_params["suffix"])
    query = request.query_params.get("q", "")

    def load() -> CachedFeed:
        try:
            return state.feeds.topic(query, fmt)
        except InputError as exc:
            raise PageError(400, sentence(str(exc))) from exc

    feed: CachedFeed | None = state.feeds.cache.fresh(("topic", query.strip(), fmt))
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
    feed = state.feeds.cache.fresh(("u", token, fmt))
    if feed is None:
        try:
            feed = await state.feed_builds.run(lambda: state.feeds.personal(token, fmt))
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
