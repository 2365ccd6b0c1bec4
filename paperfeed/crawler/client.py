"""The one httpx client the crawler talks to Hugging Face with.

Owns the connection settings: base URL, User-Agent, timeouts, keep-alive, the optional token.
Never decides what to fetch, how often, or what to do with an answer.
"""

from __future__ import annotations

import httpx

from paperfeed import __version__
from paperfeed.config import Settings

PROJECT_URL = "https://github.com/paperfeed/paperfeed"
USER_AGENT = f"paperfeed/{__version__} (+{PROJECT_URL})"
DEFAULT_TIMEOUT_SECONDS = 20.0


def make_client(
    settings: Settings,
    *,
    timeout: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An HTTP/1.1 keep-alive client for ``settings.hf_base_url``; close it (or use ``with``)."""
    timeout = settings.hf_timeout_seconds if timeout is None else timeout
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/html;q=0.9"}
    if settings.hf_token is not None and settings.hf_token.get_secret_value():
        headers["Authorization"] = f"Bearer {settings.hf_token.get_secret_value()}"
    return httpx.Client(
        base_url=settings.hf_base_url,
        headers=headers,
        # Connecting should be quick; a whole page (435 KB) may take longer to arrive.
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        # One host, sequential requests: a couple of kept-alive connections is plenty.
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=30),
        # HF redirects some paths (e.g. trailing slashes); httpx drops the Authorization
        # header when a redirect leaves the origin, so following is safe for the token.
        follow_redirects=True,
        transport=transport,
    )
