"""Mailgun's webhooks: checking their signature, refusing replays, and what an event reports.

A Mailgun webhook body is ``{"signature": {"timestamp", "token", "signature"},
"event-data": {...}}``; ``signature`` is the hex HMAC-SHA256 of ``timestamp + token`` under
the account's webhook signing key. A call is refused when the signature does not match,
when its timestamp is more than ``MAX_AGE`` from now, or when its token was already used
within that window. The used tokens are kept in this process's memory only, which is
enough: a replay after the window fails the timestamp check, and a replay that reaches
another process records nothing new anyway (each report is stored once under its id).

What an event reports: ``failed`` with severity ``permanent`` is a hard bounce, with
``temporary`` a soft one; ``complained`` is a complaint; anything else is ignored. The key
is the event's ``id``; the Message-ID is ``message.headers.message-id``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from paperfeed.bounces.events import ReportedEvent
from paperfeed.bounces.hook_payload import HookRefused, address, detail, mapping, text, when
from paperfeed.store.models import MailEventKind

SOURCE = "mailgun"
MAX_AGE = timedelta(minutes=15)
MAX_TOKENS = 100_000  # a flood of valid calls cannot grow the memory past this
SEVERITY_KINDS = {
    "permanent": MailEventKind.HARD_BOUNCE,
    "temporary": MailEventKind.SOFT_BOUNCE,
}


class MailgunVerifier:
    """Checks Mailgun signatures under one signing key and remembers recent tokens."""

    def __init__(self, signing_key: str, *, clock: Callable[[], datetime]) -> None:
        self.key = signing_key.encode("utf-8")
        self.clock = clock
        self._tokens: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, signature: Mapping[str, Any]) -> str:
        """Check the call's ``signature`` object and take its token (returned), or raise
        ``HookRefused(403)``. Give the token back with ``release`` if the call then fails,
        so Mailgun's retry of it is not mistaken for a replay."""
        timestamp = text(signature.get("timestamp"), 20)
        token = text(signature.get("token"), 200)
        given = text(signature.get("signature"), 128)
        if timestamp is None or token is None or given is None:
            raise HookRefused(403, "the Mailgun signature is missing")
        expected = hmac.new(self.key, (timestamp + token).encode("utf-8"), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), given.lower()):
            raise HookRefused(403, "the Mailgun signature does not match")
        signed_at = when(int(timestamp)) if timestamp.isdigit() else None
        now = self.clock()
        if signed_at is None or abs(now - signed_at) > MAX_AGE:
            raise HookRefused(403, "the Mailgun timestamp is too old (or in the future)")
        with self._lock:
            self._forget_before(now - MAX_AGE)
            if token in self._tokens:
                raise HookRefused(403, "this Mailgun token was already used")
            self._tokens[token] = signed_at
        return token

    def release(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def _forget_before(self, oldest: datetime) -> None:
        # Oldest first (insertion order is close to timestamp order): stop at the first kept.
        for token, signed_at in list(self._tokens.items()):
            if signed_at >= oldest and len(self._tokens) < MAX_TOKENS:
                break
            del self._tokens[token]


def mailgun_events(body: Mapping[str, Any]) -> list[ReportedEvent]:
    """The report in one Mailgun webhook body (none for other events)."""
    data = mapping(body.get("event-data"))
    name = text(data.get("event"))
    if name == "failed":
        kind = SEVERITY_KINDS.get(text(data.get("severity")) or "")
    elif name == "complained":
        kind = MailEventKind.COMPLAINT
    else:
        kind = None
    key = text(data.get("id"), 200)
    email = address(data.get("recipient"))
    headers = mapping(mapping(data.get("message")).get("headers"))
    message_id = text(headers.get("message-id"), 255)
    if kind is None or key is None or (email is None and message_id is None):
        return []
    status = mapping(data.get("delivery-status"))
    return [
        ReportedEvent(
            source=SOURCE,
            kind=kind,
            event_key=key,
            email=email,
            message_id=message_id,
            occurred_at=when(data.get("timestamp")),
            detail=detail(name, data.get("severity"), data.get("reason"), status.get("message")),
        )
    ]
