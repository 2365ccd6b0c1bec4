"""Postmark's bounce and spam complaint webhooks: who may call, and what a call reports.

Postmark signs nothing; it sends the ``user:password`` put in the webhook's URL as HTTP
basic auth, compared here in constant time with ``postmark_webhook_auth``.

A ``Bounce`` record is one report. Its ``Type`` decides what it is:

* hard: ``HardBounce``, ``BadEmailAddress`` (no such address), ``ManuallyDeactivated``
  (the operator deactivated it at Postmark, which will not send to it any more);
* soft: ``SoftBounce``, ``Transient``, ``DnsError`` (counted over days, like a full mailbox);
* a complaint: ``SpamComplaint`` (also its own ``RecordType``);
* ignored, because they say nothing about whether the address can receive mail:
  ``AutoResponder`` (out of office), ``Unsubscribe``/``Subscribe``/``AddressChange`` (a
  person's reply classified by Postmark; readers leave through List-Unsubscribe),
  ``SpamNotification``, ``Blocked`` and ``DMARCPolicy`` (about the message or the sender,
  not the reader), ``ChallengeVerification``, ``VirusNotification``, ``Unknown`` and the rest.

Postmark's ``MessageID`` is its own id, not our Message-ID header: when the webhook includes
the bounce's content (the returned mail, which quotes our headers), our Message-ID is looked
for there; otherwise the report is matched by ``Email``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from typing import Any

from paperfeed.bounces.events import ReportedEvent
from paperfeed.bounces.hook_payload import HookRefused, address, detail, text, when
from paperfeed.store.models import MailEventKind

SOURCE = "postmark"
KINDS = {
    "HardBounce": MailEventKind.HARD_BOUNCE,
    "BadEmailAddress": MailEventKind.HARD_BOUNCE,
    "ManuallyDeactivated": MailEventKind.HARD_BOUNCE,
    "SoftBounce": MailEventKind.SOFT_BOUNCE,
    "Transient": MailEventKind.SOFT_BOUNCE,
    "DnsError": MailEventKind.SOFT_BOUNCE,
    "SpamComplaint": MailEventKind.COMPLAINT,
}
_OUR_MESSAGE_ID = re.compile(r"<paperfeed\.[a-z0-9.]{1,80}@[^<>\s]{1,253}>", re.IGNORECASE)
_CONTENT_CHARS = 200_000  # where our header is quoted: near the top of the returned mail


def check_basic_auth(authorization: str | None, expected: str) -> None:
    """Return if ``authorization`` is HTTP basic auth with ``expected`` ("user:password")."""
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    # compare_digest even on a malformed header, so timing tells nothing either way.
    matches = hmac.compare_digest(given, expected.encode("utf-8"))
    if scheme.lower() != "basic" or not matches:
        raise HookRefused(401, "wrong or missing credentials")


def our_message_id(content: object) -> str | None:
    """Our Message-ID quoted in a bounce's content, if it is there."""
    raw = content[:_CONTENT_CHARS] if isinstance(content, str) else ""
    found = _OUR_MESSAGE_ID.search(raw)
    return found.group(0) if found else None


def postmark_events(record: Mapping[str, Any]) -> list[ReportedEvent]:
    """The report in one Postmark webhook record (none for other records and types)."""
    record_type = text(record.get("RecordType"))
    bounce_type = text(record.get("Type"))
    if record_type == "SpamComplaint":
        bounce_type = "SpamComplaint"
    elif record_type != "Bounce":
        return []
    kind = KINDS.get(bounce_type or "")
    email = address(record.get("Email"))
    message_id = our_message_id(record.get("Content"))
    if kind is None or (email is None and message_id is None):
        return []
    record_id = record.get("ID")
    if isinstance(record_id, int | str) and not isinstance(record_id, bool) and str(record_id):
        key = f"{record_type}:{record_id}"
    else:
        key = f"{record_type}:{text(record.get('MessageID'), 100)}:{email}:{bounce_type}"
    return [
        ReportedEvent(
            source=SOURCE,
            kind=kind,
            event_key=key,
            email=email,
            message_id=message_id,
            occurred_at=when(record.get("BouncedAt")),
            detail=detail(bounce_type, record.get("Description"), record.get("Details")),
        )
    ]
