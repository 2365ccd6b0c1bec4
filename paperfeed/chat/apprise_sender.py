"""The chat channel: each delivery posted through apprise, its HTTP answer mapped to an outcome.

apprise speaks to 100+ services from one URL each (``slack://…``, ``discord://…``,
``json://…``) and answers only True or False. What the outbox needs is finer: a 429 with
``Retry-After`` waits that long, a 5xx or a dead server is tried again later, a 400, 401,
403, 404 or 410 (a revoked webhook, an unknown channel) makes the address undeliverable. So
the HTTP answers apprise's ``requests`` calls receive are observed: ``requests.Session.send``
(the public method every ``requests.request``/``requests.post`` call ends in) is wrapped once
with a recorder that is active only while this channel posts (a context variable set around
each post; elsewhere the wrapper just calls through). pyproject pins ``requests`` to its
major for that reason.

apprise is synchronous: each post runs in a worker thread, at most ``chat_concurrency`` at
once, and one address gets one post at a time (in claim order). apprise's own retries are
off (the outbox owns retrying) and its log lines never reach ours: they can hold the URL.
Detail strings and log lines name an address only by its redacted form.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from paperfeed import links
from paperfeed.chat.markdown import ChatLimits, ChatMessage, render_chat
from paperfeed.config import Settings, secret_key
from paperfeed.outbox.channel import Outcome, Parcel, Result
from paperfeed.paper_view import PaperView, paper_view
from paperfeed.rating_links import EditionRatingSigner, edition_rating_base
from paperfeed.store.channel_addresses import redact
from paperfeed.store.deliveries import PaperRow

log = logging.getLogger(__name__)

KIND = "chat"
UNDELIVERABLE_STATUSES = frozenset({400, 401, 403, 404, 410})
MAX_RETRY_AFTER = 86_400.0  # a service asking for more than a day is asked again tomorrow


@dataclass(frozen=True, slots=True)
class Observed:
    """One HTTP exchange apprise made: its status and Retry-After, or the error instead."""

    status: int | None
    retry_after: str | None = None
    error: str | None = None


# Set (to a fresh list) only around one of this channel's posts, in the worker thread.
_RECORDING: ContextVar[list[Observed] | None] = ContextVar("paperfeed_chat_http", default=None)


def install_recorder() -> None:
    """Wrap ``requests.Session.send`` once so chat posts can see their HTTP answers."""
    import requests

    original = requests.Session.send
    if getattr(original, "_paperfeed_recorder", False):
        return

    @functools.wraps(original)
    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        seen = _RECORDING.get()
        if seen is None:
            return original(self, request, **kwargs)
        try:
            response = original(self, request, **kwargs)
        except requests.RequestException as exc:
            seen.append(Observed(None, error=type(exc).__name__))
            raise
        seen.append(Observed(response.status_code, response.headers.get("Retry-After")))
        return response

    send._paperfeed_recorder = True  # type: ignore[attr-defined]
    requests.Session.send = send  # type: ignore[method-assign]


class _NotWhilePosting(logging.Filter):
    """Drops urllib3's lines made during a chat post: they name the path, which is secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _RECORDING.get() is None


_URLLIB3_FILTER = _NotWhilePosting()


def quiet_apprise() -> None:
    """Keep apprise's log lines out of ours (at DEBUG they hold the URL it posts to), and
    urllib3's lines about our posts (``"POST /hooks/<secret>"``)."""
    apprise_log = logging.getLogger("apprise")
    apprise_log.propagate = False
    apprise_log.setLevel(logging.CRITICAL + 1)
    if not apprise_log.handlers:
        apprise_log.addHandler(logging.NullHandler())
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3"):
        urllib3_log = logging.getLogger(name)
        if _URLLIB3_FILTER not in urllib3_log.filters:
            urllib3_log.addFilter(_URLLIB3_FILTER)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def classify(sent: bool, seen: Sequence[Observed], *, default_retry: float) -> Result:
    """What apprise's True/False and the HTTP answers it got mean for the delivery."""
    if sent:
        status = next((o.status for o in reversed(seen) if o.status is not None), None)
        return Result(Outcome.SENT, f"HTTP {status}" if status else "sent")
    refused = [o.status for o in seen if o.status in UNDELIVERABLE_STATUSES]
    if refused:
        return Result(
            Outcome.UNDELIVERABLE,
            f"HTTP {refused[-1]}: the service refused the address (revoked or unknown)",
        )
    limited = [o for o in seen if o.status == 429]
    if limited:
        wait = parse_retry_after(limited[-1].retry_after)
        said = f"Retry-After {limited[-1].retry_after}" if wait is not None else "no Retry-After"
        return Result(
            Outcome.RETRY_LATER,
            f"HTTP 429: rate limited ({said})",
            retry_after=wait if wait is not None else default_retry,
        )
    for o in reversed(seen):
        if o.error is not None:
            return Result(Outcome.RETRY_LATER, f"no answer: {o.error}", retry_after=default_retry)
        if o.status is not None and o.status >= 500:
            return Result(Outcome.RETRY_LATER, f"HTTP {o.status}", retry_after=default_retry)
    other = [o.status for o in seen if o.status is not None and o.status >= 300]
    if other:
        return Result(Outcome.FAILED, f"HTTP {other[-1]}: the service refused this message")
    # apprise gave up before any HTTP exchange we saw (a plugin's own check): try again later;
    # the outbox's attempt limit ends it if it never goes.
    return Result(
        Outcome.RETRY_LATER,
        "the service plugin failed without an HTTP answer",
        retry_after=default_retry,
    )


@dataclass(frozen=True, slots=True)
class ChatSetup:
    """What every chat post of a run shares, built once from the settings."""

    public_url: str
    list_name: str
    timeout: float
    concurrency: int
    retry_seconds: float
    max_attempts: int = 8
    # Signs each post's edition once for its rating links; None: posts carry none.
    rating_signer: EditionRatingSigner | None = None


def _measure(plugin: Any) -> Callable[[str], int]:
    """How long a markdown body is once apprise turned it into what the service takes."""
    from apprise import NotifyFormat
    from apprise.conversion import convert_between

    formats = plugin.notify_format
    accepted = tuple(formats) if isinstance(formats, (tuple, list)) else (formats,)
    if NotifyFormat.MARKDOWN in accepted:
        return len
    target = accepted[0]
    return lambda body: len(convert_between(NotifyFormat.MARKDOWN, target, body))  # type: ignore[no-untyped-call]


class ChatChannel:
    """Posts digests to chat and push services through apprise (see the module docstring)."""

    def __init__(self, setup: ChatSetup) -> None:
        self.setup = setup
        install_recorder()
        quiet_apprise()

    @property
    def kind(self) -> str:
        return KIND

    @property
    def max_attempts(self) -> int:
        """Passes a delivery gets before a retry becomes a failure (the outbox reads it)."""
        return self.setup.max_attempts

    @property
    def paused_reason(self) -> str | None:
        # Each address fails on its own; nothing here stops the whole channel.
        return None

    async def deliver(
        self, parcels: Sequence[Parcel], papers: Mapping[str, PaperRow]
    ) -> list[Result]:
        """Post every parcel; one address at a time, ``concurrency`` posts across addresses."""
        views = {
            pid: paper_view(row, upvotes=row.upvotes, comments=row.comments)
            for pid, row in papers.items()
        }
        by_address: dict[str, list[int]] = {}
        for index, parcel in enumerate(parcels):
            key = str(parcel.address_id) if parcel.address_id is not None else parcel.channel
            by_address.setdefault(key, []).append(index)
        results: list[Result | None] = [None] * len(parcels)
        gate = asyncio.Semaphore(self.setup.concurrency)

        async def one_address(indexes: list[int]) -> None:
            for index in indexes:
                async with gate:
                    results[index] = await asyncio.to_thread(self.post, parcels[index], views)

        await asyncio.gather(*(one_address(ix) for ix in by_address.values()))
        return [r if r is not None else Result(Outcome.FAILED, "not posted") for r in results]

    def message_for(
        self, parcel: Parcel, views: Mapping[str, PaperView], plugin: Any
    ) -> ChatMessage:
        """The parcel's edition rendered within the plugin's limits."""
        subscriber = parcel.subscriber
        return render_chat(
            list_name=self.setup.list_name,
            local_date=parcel.content.local_date,
            items=parcel.content.items,
            papers=views,
            edition_link=links.edition_url(
                self.setup.public_url, subscriber.token, parcel.edition_id
            ),
            limits=ChatLimits(
                body_maxlen=int(plugin.body_maxlen),
                title_maxlen=int(plugin.title_maxlen),
                measure=_measure(plugin),
            ),
            # A team's channel gets none: anyone there could rate for the team.
            rating_base=edition_rating_base(
                self.setup.public_url, self.setup.rating_signer, parcel.edition_id
            )
            if self.setup.rating_signer is not None and subscriber.email is not None
            else None,
        )

    def post(self, parcel: Parcel, views: Mapping[str, PaperView]) -> Result:
        """Build and post one parcel (blocking: runs in a worker thread). Never raises."""
        import apprise

        shown = redact(parcel.address or "")
        try:
            plugin = apprise.Apprise.instantiate(parcel.address or "", suppress_exceptions=True)
        except Exception:
            plugin = None
        if plugin is None:
            return Result(Outcome.UNDELIVERABLE, "apprise cannot use this address")
        plugin.retry = 0  # the outbox retries; a retry here would post twice per attempt
        plugin.socket_connect_timeout = self.setup.timeout
        plugin.socket_read_timeout = self.setup.timeout
        try:
            message = self.message_for(parcel, views, plugin)
        except Exception as exc:  # a bug or an unshowable edition: this delivery only
            log.exception("chat: cannot render delivery %s for %s", parcel.delivery_id, shown)
            return Result(Outcome.FAILED, f"cannot render: {type(exc).__name__}")
        seen: list[Observed] = []
        token = _RECORDING.set(seen)
        started = time.monotonic()
        try:
            sent = bool(
                plugin.notify(
                    body=message.body,
                    title=message.title,
                    body_format=apprise.NotifyFormat.MARKDOWN,
                )
            )
        except Exception as exc:  # a plugin bug must not stop the batch
            seen.append(Observed(None, error=type(exc).__name__))
            sent = False
        finally:
            _RECORDING.reset(token)
        result = classify(sent, seen, default_retry=self.setup.retry_seconds)
        level = logging.INFO if result.outcome == Outcome.SENT else logging.WARNING
        log.log(
            level,
            "chat: delivery %s to %s: %s (%s) in %.2f s",
            parcel.delivery_id,
            shown,
            result.outcome,
            result.detail,
            time.monotonic() - started,
        )
        return result

    async def aclose(self) -> None:
        """Nothing stays open between posts (apprise opens a session per post)."""


def chat_setup(settings: Settings) -> ChatSetup:
    """The chat channel's settings."""
    return ChatSetup(
        public_url=settings.public_url,
        list_name=settings.list_name,
        timeout=settings.chat_timeout_seconds,
        concurrency=settings.chat_concurrency,
        retry_seconds=float(settings.chat_retry_seconds),
        max_attempts=settings.chat_max_attempts,
        rating_signer=EditionRatingSigner(secret_key(settings), clock=lambda: datetime.now(UTC)),
    )


def chat_channel(settings: Settings) -> ChatChannel:
    """The registry's factory: a chat channel for these settings."""
    return ChatChannel(chat_setup(settings))
