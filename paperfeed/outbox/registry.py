"""Which channel sends which delivery kind: a kind, and where its factory lives.

Factories are named, not imported, so loading the registry costs nothing (the CLI's quick
commands must not pull in SMTP or apprise); a channel's module is imported when a sender
first needs it. Adding a channel is its module and one line here.
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
    "chat": "paperfeed.chat.channel:chat_channel",
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
