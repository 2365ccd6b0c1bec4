"""One polite GET: paced, retried with backoff and jitter, obedient to 429/503.

Owns the retry decision (stamina): timeouts, connection errors and 5xx are retried with
exponential backoff and jitter; 429/503 wait what ``Retry-After`` / ``RateLimit`` ask (through
the pacer, so the clock is injectable); any other 4xx fails at once. Every final failure is a
``SourceUnavailable`` naming the URL, the reason and what happens next. Never parses bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import stamina

from paperfeed.crawler.pacing import Budget, Pacer, requested_wait
from paperfeed.errors import SourceUnavailable

# Transport failures worth another try; a malformed URL or proxy setup is not.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one URL before giving the next source its turn."""

    attempts: int = 5
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    # A server asking for more than one rate-limit window is not coming back soon.
    max_requested_wait: float = 300.0


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


def _backoff(exc: Exception) -> bool | float:
    # Returning 0.0 tells stamina "retry, but add no backoff of your own": the pacer
    # already holds the next request for as long as the server asked.
    if isinstance(exc, _Throttled):
        return True if exc.wait is None else 0.0
    return isinstance(exc, (_ServerError, *_TRANSIENT))


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
    shown = str(client.build_request("GET", url, params=params).url)
    tried = 0
    try:
        for attempt in stamina.retry_context(
            on=_backoff,
            attempts=policy.attempts,
            timeout=None,  # bounded by attempts; a long Retry-After must not count as failure
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            tried = attempt.num
            with attempt:
                return _get_once(
                    client,
                    url,
                    params=params,
                    budget=budget,
                    pacer=pacer,
                    policy=policy,
                    shown=shown,
                )
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
    response = client.get(url, params=params)
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
