"""Absolute URLs of the web app's pages, shared by mails, feeds and the pages themselves.

The one place that knows the URL layout, so the sender (List-Unsubscribe, "see all N papers")
and the routes cannot drift apart. Pure functions over the public base URL.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote


def _part(value: str) -> str:
    return quote(value, safe="")


def preferences_url(public_url: str, token: str) -> str:
    """The subscriber's preferences page."""
    return f"{public_url}/u/{_part(token)}"


def unsubscribe_url(public_url: str, token: str) -> str:
    """The RFC 8058 one-click target (POST) and the unsubscribe page (GET)."""
    return f"{public_url}/unsubscribe/{_part(token)}"


def personal_feed_url(public_url: str, token: str, fmt: str = "atom") -> str:
    """The subscriber's own feed, ``rss`` or ``atom``."""
    return f"{public_url}/feeds/u/{_part(token)}.{fmt}"


def edition_url(public_url: str, token: str, edition_id: int) -> str:
    """One edition in the browser: the "see all N papers" target."""
    return f"{public_url}/e/{_part(token)}/{edition_id}"


def archive_url(public_url: str, day: date) -> str:
    """One day's list."""
    return f"{public_url}/archive/{day.isoformat()}"


def confirm_url(public_url: str, signed: str) -> str:
    """The double-opt-in link of the confirmation mail (its page POSTs; a GET changes nothing)."""
    return f"{public_url}/confirm/{_part(signed)}"


def topic_feed_url(public_url: str, query: str, fmt: str = "atom") -> str:
    """The feed of a topic query in the interest language."""
    return f"{public_url}/feeds/topic.{fmt}?q={_part(query)}"
