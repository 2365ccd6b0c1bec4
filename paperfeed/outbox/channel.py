"""What a channel promises the outbox: build what each claimed delivery sends, send a batch,
and say what became of each delivery.

The outbox owns the ledger every channel shares: claiming a batch of one channel kind, the
lease, expiry, cancelling deliveries of subscribers who stopped receiving, counting
attempts, holding back a delivery the service asked to wait for, and waiting out a database
outage before marking. A channel owns everything service-specific: turning an edition into
its message (a MIME mail, a chat post), handing the batch over, and mapping the service's
answers to outcomes. It never raises for one delivery: each gets a ``Result``.

Adding a channel is a module with a class like ``Channel`` and one line in the registry.
Added after the first version (the seam's owner): ``NothingSent``, which a channel may raise
when it failed before sending anything; a channel may also carry ``max_attempts`` (passes a
delivery gets before RETRY_LATER becomes a failure; default ``smtp_max_attempts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from paperfeed.store.deliveries import EditionContent, PaperRow, SubscriberRow


class Outcome(StrEnum):
    """What became of one delivery."""

    SENT = "sent"  # the service took it: marked sent, with its reference
    RETRY_LATER = "retry_later"  # not taken this time (4xx, 429, server down): queued again
    UNDELIVERABLE = "undeliverable"  # the address is dead for good: it stops receiving
    FAILED = "failed"  # this delivery cannot be sent (unbuildable, refused); the address stays


@dataclass(frozen=True, slots=True)
class Parcel:
    """One claimed delivery with everything a channel needs to build what it sends.

    ``address`` is the chat address's URL for chat deliveries (it holds a secret: never log
    it) and None for email, whose address is the subscriber's.
    """

    delivery_id: int
    attempts: int  # counting this claim
    channel: str  # "email", or "chat:<address id>"
    address_id: int | None
    address: str | None
    subscriber: SubscriberRow
    edition_id: int
    content: EditionContent


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one parcel, in the words the outbox records.

    ``reference`` is what the service calls the message (a Message-ID), stored with a sent
    delivery. ``retry_after`` is how long the service asked us to wait (HTTP 429
    Retry-After), in seconds. ``attempted`` False means the parcel never reached the service
    (a paused channel), so the pass does not count against the delivery. ``detail`` is the
    service's words for logs and ``last_error``; it never contains the address.
    """

    outcome: Outcome
    detail: str = ""
    reference: str | None = None
    retry_after: float | None = None
    attempted: bool = True


class NothingSent(Exception):
    """Raised by a channel (from the real error) when ``deliver`` failed before it handed
    anything over, a rendering bug say: the outbox then gives the batch back at once instead
    of leaving it claimed until the lease ends. Any other exception leaves it claimed, since
    some of it may have been taken."""


class Channel(Protocol):
    """Anything that delivers editions: email over SMTP or files, chat through apprise."""

    @property
    def kind(self) -> str:
        """The ``Delivery.kind`` this channel sends (``email``, ``chat``)."""
        ...

    @property
    def paused_reason(self) -> str | None:
        """Why the channel stopped trying (every result is then RETRY_LATER), or None."""
        ...

    async def deliver(
        self, parcels: Sequence[Parcel], papers: Mapping[str, PaperRow]
    ) -> list[Result]:
        """Build and send every parcel; one result per parcel, in the same order.

        ``papers`` holds every paper the parcels' editions list.
        """
        ...

    async def aclose(self) -> None:
        """Close connections; safe to call twice."""
        ...
