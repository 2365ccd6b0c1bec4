"""What every request handler shares: settings, the store, the mail transport, the clock.

Built once by ``create_app`` and reached through the ``AppStateDep`` annotated dependency.
Holds no request data. Knows nothing of routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.corpus import CorpusCache
from paperfeed.feeds.service import FeedService
from paperfeed.mailer.message import Sender
from paperfeed.mailer.transport import Transport
from paperfeed.web.feed_gate import BuildGate
from paperfeed.web.ratelimit import DistinctWindow, SlidingWindow
from paperfeed.web.signing import ConfirmationSigner, FormTokens


@dataclass
class AppState:
    """The app's long-lived parts."""

    settings: Settings
    engine: Engine
    transport: Transport
    sender: Sender
    clock: Callable[[], datetime]
    templates: Jinja2Templates
    confirmations: ConfirmationSigner
    forms: FormTokens
    feeds: FeedService
    # Cache misses of topic feeds (they rank papers) and of the other feeds, bounded apart.
    topic_builds: BuildGate
    feed_builds: BuildGate
    corpus: CorpusCache
    per_ip: DistinctWindow
    per_address: SlidingWindow

    @property
    def public_url(self) -> str:
        """The site's absolute base URL, without a trailing slash."""
        return self.settings.public_url


def get_state(request: Request) -> AppState:
    """The app's state from a request."""
    state: AppState = request.app.state.paperfeed
    return state


async def _state_dependency(request: Request) -> AppState:
    # async: FastAPI would run a plain function in the thread pool, a hop per request.
    return get_state(request)


AppStateDep = Annotated[AppState, Depends(_state_dependency)]
