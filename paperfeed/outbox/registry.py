"""Which channel sends which delivery kind: a kind, and where its factory lives.

Factories are named, not imported, so loading the registry costs nothing (the CLI's quick
commands must not pull in SMTP or apprise); a channel's module is imported when a sender
first needs it. Adding a channel is its module and one line here.

The new-channel exercise (issue 16): a second chat channel, say native Slack Block Kit
messages instead of apprise's markdown, touches four files:

1. ``paperfeed/slack_blocks.py`` (new): a ``Channel`` (``kind = "slack"``) that renders an
   edition as blocks (``paperfeed.chat.markdown.chat_text`` makes upstream text inert), posts
   each parcel's webhook with httpx and maps the answers with ``paperfeed.chat.apprise_sender.
   classify`` (2xx sent, 429 Retry-After, 5xx later, 400/401/403/404/410 undeliverable);
   and its factory ``slack_channel(settings)``;
2. this file: ``"slack": "paperfeed.slack_blocks:slack_channel"``;
3. ``tests/test_slack_blocks.py`` (new), against a real HTTP server like ``tests/chat``'s;
4. ``README.md``: one line under "Chat and push channels".

Nothing else changes: addresses take the kind when added (``--kind slack`` on
``subscribers chat add`` and ``teams add``, checked against this registry), compose writes a
``slack:<address id>`` delivery per active address of that kind, and the outbox claims,
retries, holds back (``not_before``) and marks them as it does every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from paperfeed.config import Settings
    from paperfeed.outbox.channel import Channel

ChannelFactory = Callable[["Settings"], "Channel"]

CHANNELS: dict[str, str] = {
    "email": "paperfeed.mailer.email_channel:email_channel",
    "chat": "paperfeed.chat.apprise_sender:chat_channel",
}


def kinds() -> tuple[str, ...]:
    """Every registered delivery kind, in registry order."""
    return tuple(CHANNELS)


def factory_for(kind: str) -> ChannelFactory:
    """The factory that opens the channel for ``kind``, imported now."""
    try:
        where = CHANNELS[kind]
    except KeyError:
        known = ", ".join(CHANNELS)
        raise ValueError(f"no channel sends {kind!r} deliveries; known: {known}") from None
    module, _, name = where.partition(":")
    return cast(ChannelFactory, getattr(import_module(module), name))


def open_channel(kind: str, settings: Settings) -> Channel:
    """A fresh channel for ``kind`` built from the settings."""
    return factory_for(kind)(settings)
