"""``create_app(settings)``: the FastAPI app with its pages, feeds, static files and middleware.

Everything is built here from settings and the injected boundaries (engine, mail transport,
clock), nothing at import. An engine or transport the app opened itself is closed when the
app shuts down; injected ones belong to the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from paperfeed.config import Settings, secret_key
from paperfeed.corpus import CorpusCache
from paperfeed.errors import InputError
from paperfeed.feeds.cache import FeedCache
from paperfeed.feeds.service import FeedOptions, FeedService
from paperfeed.mailer.message import install_tag, make_sender
from paperfeed.mailer.transport import Transport
from paperfeed.mailer.transport_choice import dkim_for, open_transport
from paperfeed.store.db import make_engine
from paperfeed.web import (
    browse,
    chat_settings,
    feed_routes,
    hook_routes,
    manage,
    ops,
    past_editions,
    ratings_page,
    signup,
)
from paperfeed.web import rating_buttons as rating_routes
from paperfeed.web.feed_gate import BuildGate
from paperfeed.web.pages import (
    PageError,
    http_error_handler,
    input_error_handler,
    page_error_handler,
    validation_error_handler,
)
from paperfeed.web.ratelimit import DistinctWindow, SlidingWindow
from paperfeed.web.security import BodyLimit, SecurityHeaders
from paperfeed.web.signing import ConfirmationSigner, FormTokens
from paperfeed.web.state import AppState

STATIC = Path(__file__).with_name("static")
# Feed cache misses at once, and callers that may wait for a slot (beyond: 503). Each build
# holds one thread and one database connection; the pool has 5 (+10 overflow) and the
# pages' thread pool 40, so feeds never take more than a few of either.
TOPIC_BUILD_SLOTS, TOPIC_BUILD_LINE = 2, 8
FEED_BUILD_SLOTS, FEED_BUILD_LINE = 3, 32
# Forms are a few KB (interests are capped at 5,000 characters); anything bigger is refused.
MAX_BODY_BYTES = 64 * 1024


class PaperfeedApp(FastAPI):
    """FastAPI, except that ``/feeds/`` goes straight to the feeds' own Starlette app.

    FastAPI's router walks every route (and a mount is one of them) at a cost larger than
    answering a cached feed; dispatching on the path prefix first keeps feeds fast.
    """

    feeds: ASGIApp | None = None
    # The providers' webhooks: their own body limit (1 MB), so they skip the pages' 64 KB.
    hooks: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        feeds = self.feeds
        if feeds is not None and scope["type"] == "http" and scope["path"].startswith("/feeds/"):
            await feeds(scope, receive, send)
            return
        hooks = self.hooks
        if hooks is not None and scope["type"] == "http" and scope["path"].startswith("/hooks/"):
            await hooks(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def template_env() -> Environment:
    """The pages' Jinja environment: autoescaped, strict about missing values."""
    return Environment(
        loader=PackageLoader("paperfeed.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    transport: Transport | None = None,
    now: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The web app for ``settings``; ``engine``, ``transport`` and ``now`` are injectable."""
    owned_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    owned_transport = transport is None
    transport = transport or open_transport(
        smtp_url=settings.smtp_url,
        outbox_dir=settings.outbox_dir,
        pool_size=1,
        max_attempts=settings.smtp_max_attempts,
        dkim=dkim_for(settings),  # confirmations are signed like digests
    )
    clock = now or _utc_now
    secret = secret_key(settings)
    corpus = CorpusCache.for_settings(settings)
    hour = 3600.0
    state = AppState(
        settings=settings,
        engine=engine,
        transport=transport,
        sender=make_sender(
            settings.mail_from,
            list_name=settings.list_name,
            list_id=settings.list_id,
            envelope_from=settings.bounce_address,
            install=install_tag(secret),
        ),
        clock=clock,
        templates=Jinja2Templates(env=template_env()),
        confirmations=ConfirmationSigner(
            secret, clock=clock, max_age_seconds=settings.confirm_hours * 3600
        ),
        forms=FormTokens(secret),
        feeds=FeedService(
            engine,
            FeedOptions.from_settings(settings),
            cache=FeedCache(check_seconds=settings.feed_check_seconds),
            corpus=corpus,
        ),
        topic_builds=BuildGate(TOPIC_BUILD_SLOTS, TOPIC_BUILD_LINE),
        feed_builds=BuildGate(FEED_BUILD_SLOTS, FEED_BUILD_LINE),
        corpus=corpus,
        per_ip=DistinctWindow(settings.subscribe_per_ip_per_hour, hour),
        per_address=SlidingWindow(settings.subscribe_per_address_per_hour, hour),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned_transport:
                await transport.aclose()
            if owned_engine:
                engine.dispose()

    app = PaperfeedApp(
        title=settings.list_name,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.paperfeed = state
    routers = (
        signup.router,
        manage.router,
        chat_settings.router,
        ratings_page.router,
        past_editions.router,
    )
    for router in (*routers, rating_routes.router, browse.router, ops.router):
        app.include_router(router)
    app.feeds = feed_routes.feeds_app(state, https=settings.public_url.startswith("https://"))
    app.hooks = hook_routes.hooks_app(state)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(PageError, page_error_handler)
    app.add_exception_handler(InputError, input_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    # Outermost last: the body limit answers before anything reads a byte of the body.
    app.add_middleware(SecurityHeaders, https=settings.public_url.startswith("https://"))
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    return app
