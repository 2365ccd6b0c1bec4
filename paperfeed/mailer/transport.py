"""What a transport promises: take flat messages, say what became of each one.

A transport never raises for one message: each gets a ``SendResult``. ``ACCEPTED`` means the
server (or the disk) took it, so the caller may mark the delivery sent. ``RETRY_LATER`` means
it was not taken and may be tried again (4xx, connection lost, disk full, transport paused).
``REJECTED`` means a permanent refusal (5xx); ``bounced`` names the recipients the server
refused at RCPT, whom the caller marks bounced and stops mailing. When too many errors come in
a row a transport pauses: it stops trying and says why in ``paused_reason``.
Exactly-once over SMTP is impossible: a connection lost after the final ``.`` may hide an
acceptance, so a retry can duplicate that one in-flight message (hence deterministic ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from paperfeed.mailer.message import OutgoingMail


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    RETRY_LATER = "retry_later"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one message: outcome, the server's code and words, who bounced.

    ``attempts`` counts the tries that offered the message to a server; 0 means it never
    was (a paused transport, or a server that could not be reached), and the outbox then
    does not count the pass against the delivery.
    """

    message_id: str
    outcome: Outcome
    code: int | None = None
    detail: str = ""
    bounced: tuple[str, ...] = ()
    attempts: int = 0


class Transport(Protocol):
    """Anything that hands messages over: SMTP, files, a test double."""

    @property
    def paused_reason(self) -> str | None:
        """Why the transport stopped trying (then every result is RETRY_LATER), or None."""
        ...

    async def send(self, messages: Sequence[OutgoingMail]) -> list[SendResult]:
        """Hand over every message; one result per message, in the same order."""
        ...

    def resume(self) -> None:
        """Try again after a pause (a long-lived sender: the web app's confirmations)."""
        ...

    async def aclose(self) -> None:
        """Close connections and files; safe to call twice."""
        ...


def not_tried(message: OutgoingMail, reason: str) -> SendResult:
    """The result for a message a paused transport did not try."""
    return SendResult(message_id=message.message_id, outcome=Outcome.RETRY_LATER, detail=reason)
