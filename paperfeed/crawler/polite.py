"""One polite GET: paced, retried with backoff and jitter, obedient to 429/503.

Owns the retry decision (stamina): timeouts, connection errors and 5xx are retried with
exponential backoff and jitter; 429/503 wait what ``Retry-After`` / ``RateLimit`` ask; any
other 4xx fails at once. Every wait goes through the pacer's clock, so it is injectable and,
in the daemon, interrupted by a stop request. Each retry is one log line naming the URL (the
crawl binds the day). Every final failure is a ``SourceUnavailable`` naming the URL, the
reason and what happens next, except a host that cannot be reached at all: that is a
``HostUnreachable``, which ends the whole crawl run. Never parses bodies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import stamina
import structlog

from paperfeed.crawler.pacing import Budget, Pacer, requested_wait
from paperfeed.errors import SourceUnavailable
from paperfeed.logs import own_retry_lines

log = structlog.get_logger("paperfeed.crawl")

# Transport failures worth another try; a malformed URL or proxy setup is not.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Failures to reach the host at all (DNS, refused, TLS handshake, no route): every other URL
# on the same host would fail the same way, so the crawl run ends instead of trying them all.
_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout)
FIX_UNREACHABLE = "check the network or PAPERFEED_HF_BASE_URL"
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class HostUnreachable(Exception):
    """Hugging Face's host could not be reached (DNS, refused, TLS); ends the crawl run.

    Not a ``CrawlError``: the fetchers' source fallbacks must not catch it, since the next
    source lives on the same host.
    """

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"cannot reach {host}: {reason}; {FIX_UNREACHABLE}")
        self.host = host
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one URL before giving the next source its turn."""

    attempts: int = 5
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    # A server asking for more than one rate-limit window is not coming back soon.
    max_requested_wait: float = 300.0
    # A body larger than this is refused while it streams in (a real page is 435 KB), so a
    # hostile or broken answer cannot take memory: parsing holds a few times the body.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


class _Throttled(Exception):
    """A 429/503; ``wait`` is what its headers asked, None when they asked nothing."""

    def __init__(self, response: httpx.Response, wait: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.wait = wait


class _ServerError(Exception):
    """A 5xx other than 503."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _retryable(exc: Exception) -> bool | float:
    # 0.0 tells stamina "retry, but sleep nothing yourself": polite_get waits through the
    # pacer's clock, which a stopping daemon interrupts (stamina's own sleep cannot be).
    return 0.0 if isinstance(exc, (_Throttled, _ServerError, *_TRANSIENT)) else False


def _wait_before_retry(exc: Exception, failures: int, policy: RetryPolicy) -> float:
    """Exponential backoff with jitter after ``failures`` failed tries; none after a 429/503
    whose headers said how long (the pacer already holds the budget that long)."""
    if stamina.is_testing() or (isinstance(exc, _Throttled) and exc.wait is not None):
        return 0.0  # stamina's test mode means no backoff, here as in every stamina retry
    backoff = policy.wait_initial * 2.0 ** (failures - 1) + random.uniform(0, policy.wait_jitter)  # noqa: S311
    return min(policy.wait_max, backoff)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def polite_get(
    client: httpx.Client,
    url: str,
    *,
    params: dict[str, str | int] | None = None,
    budget: Budget,
    pacer: Pacer,
    policy: RetryPolicy | None = None,
) -> httpx.Response:
    """GET ``url`` until a 2xx answer, within ``policy``; raise ``SourceUnavailable`` otherwise."""
    policy = policy or RetryPolicy()
    request_url = client.build_request("GET", url, params=params).url
    shown = str(request_url)
    tried = 0
    failed: Exception | None = None
    # The retry line below names the URL (and the crawl's day); stamina's would not.
    try:
        with own_retry_lines():
            for attempt in stamina.retry_context(
                on=_retryable,
                attempts=policy.attempts,
                timeout=None,  # bounded by attempts; a long Retry-After must not count as failure
            ):
                tried = attempt.num
                with attempt:
                    if failed is not None:
                        wait = _wait_before_retry(failed, attempt.num - 1, policy)
                        log.warning(
                            "crawl.retry",
                            url=shown,
                            attempt=attempt.num,
                            attempts=policy.attempts,
                            wait_seconds=round(wait, 1),
                            error=_reason(failed),
                        )
                        pacer.pause(budget, wait)
                    try:
                        return _get_once(
                            client,
                            url,
                            params=params,
                            budget=budget,
                            pacer=pacer,
                            policy=policy,
                            shown=shown,
                        )
                    except Exception as exc:
                        failed = exc
                        raise
    except _Throttled as exc:
        raise SourceUnavailable(
            f"GET {shown}: still rate limited (HTTP {exc.response.status_code}) after "
            f"{tried} attempts; the day is tried again on the next crawl, or set "
            "PAPERFEED_HF_TOKEN for a higher limit"
        ) from exc
    except _ServerError as exc:
        raise SourceUnavailable(
            f"GET {shown}: HTTP {exc.response.status_code} after {tried} attempts; "
            "Hugging Face is failing right now"
        ) from exc
    except _UNREACHABLE as exc:
        host = urlsplit(shown).netloc or request_url.host
        raise HostUnreachable(host, f"{_reason(exc)} (GET {shown}, {tried} attempts)") from exc
    except _TRANSIENT as exc:
        raise SourceUnavailable(
            f"GET {shown}: {type(exc).__name__} after {tried} attempts "
            f"({exc or 'no detail'}); check the network or PAPERFEED_HF_BASE_URL"
        ) from exc
    except httpx.HTTPError as exc:
        raise SourceUnavailable(f"GET {shown}: {type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable: stamina either returns or raises")


def _get_once(
    client: httpx.Client,
    url: str,
    *,
    params: dict[str, str | int] | None,
    budget: Budget,
    pacer: Pacer,
    policy: RetryPolicy,
    shown: str,
) -> httpx.Response:
    pacer.acquire(budget)
    with client.stream("GET", url, params=params) as streamed:
        response = _read_bounded(streamed, limit=policy.max_response_bytes, shown=shown)
    status = response.status_code
    if status in (429, 503):
        wait = requested_wait(response, now=pacer.clock.now())
        if wait is not None and wait > policy.max_requested_wait:
            raise SourceUnavailable(
                f"GET {shown}: HTTP {status} asks to wait {wait:.0f} s (more than "
                f"{policy.max_requested_wait:.0f} s); the day is tried again on the next crawl"
            )
        if wait is not None:
            pacer.pause(budget, wait)
        raise _Throttled(response, wait)
    if status >= 500:
        raise _ServerError(response)
    if status >= 400:
        raise SourceUnavailable(
            f"GET {shown}: HTTP {status} {response.reason_phrase}; not retried (a client error "
            "does not go away by asking again)"
        )
    pacer.observe(budget, response)
    return response


def _read_bounded(response: httpx.Response, *, limit: int, shown: str) -> httpx.Response:
    """``response`` with its body read, refusing (``SourceUnavailable``, not retried: the
    same URL answers the same) a body over ``limit`` bytes as soon as it shows."""
    if not response.is_success:
        return response  # only the status and headers matter; the body is never read

    def too_large(size: str) -> SourceUnavailable:
        return SourceUnavailable(
            f"GET {shown}: the answer is {size} (more than {limit:,} bytes); refused, the next "
            "source is tried"
        )

    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(f"{int(declared):,} bytes")
    body = bytearray()
    # Decoded bytes are counted, so a compressed bomb is stopped as well.
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise too_large(f"over {limit:,} bytes")
    kept = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=kept,
        content=bytes(body),
        request=response.request,
        extensions=response.extensions,
    )
