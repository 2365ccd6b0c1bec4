"""SendGrid's Signed Event Webhook: checking its signature, and what its events report.

SendGrid signs ``timestamp + body`` (the ``X-Twilio-Email-Event-Webhook-Timestamp`` header's
text followed by the raw request body) with ECDSA P-256 and SHA-256, and sends the DER
signature base64-encoded in ``X-Twilio-Email-Event-Webhook-Signature``; the verification
key (``sendgrid_webhook_public_key``) is the base64 DER SubjectPublicKeyInfo its mail
settings show. A body is checked byte for byte as received, before it is parsed.

What the events (a JSON list, batched) report:

* ``bounce``: ``type`` ``bounce`` (or none) is hard, ``blocked`` soft (the receiving server
  refused this message, which says little about the address);
* ``dropped`` with reason ``Bounced Address``: hard (SendGrid refuses to send to an address
  that bounced before), with ``Spam Reporting Address``: a complaint; other drops ignored;
* ``spamreport``: a complaint;
* anything else (``deferred``, ``delivered``, opens…) ignored: SendGrid retries deferrals
  itself and reports a final failure as a bounce.

The key is ``sg_event_id``; the Message-ID is ``smtp-id``, the header of the mail we handed
over.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from paperfeed.bounces.events import ReportedEvent
from paperfeed.bounces.hook_payload import HookRefused, address, detail, objects, text, when
from paperfeed.store.models import MailEventKind

SOURCE = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
DROPPED_KINDS = {
    "Bounced Address": MailEventKind.HARD_BOUNCE,
    "Spam Reporting Address": MailEventKind.COMPLAINT,
}


def load_public_key(configured: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its base64 DER (a pasted PEM block works too)."""
    body = "".join(
        line.strip() for line in configured.strip().splitlines() if not line.startswith("-----")
    )
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a base64 DER public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic curve (ECDSA) public key")
    return key


def check_signature(
    key: ec.EllipticCurvePublicKey, signature: str | None, timestamp: str | None, body: bytes
) -> None:
    """Return if ``signature`` signs ``timestamp + body`` with ``key``, else 403."""
    if not signature or not timestamp:
        raise HookRefused(403, "the SendGrid signature headers are missing")
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise HookRefused(403, "the SendGrid signature does not match") from exc


def _kind(event: Mapping[str, Any]) -> MailEventKind | None:
    name = text(event.get("event"))
    if name == "bounce":
        blocked = text(event.get("type")) == "blocked"
        return MailEventKind.SOFT_BOUNCE if blocked else MailEventKind.HARD_BOUNCE
    if name == "dropped":
        return DROPPED_KINDS.get(text(event.get("reason")) or "")
    if name == "spamreport":
        return MailEventKind.COMPLAINT
    return None


def sendgrid_events(batch: object) -> list[ReportedEvent]:
    """The reports in one SendGrid batch (a JSON list of events); 400 if it is no list."""
    if not isinstance(batch, list):
        raise HookRefused(400, "a SendGrid batch is a JSON list")
    events: list[ReportedEvent] = []
    for event in objects(batch):
        kind = _kind(event)
        email = address(event.get("email"))
        message_id = text(event.get("smtp-id"), 255)
        if kind is None or (email is None and message_id is None):
            continue
        key = text(event.get("sg_event_id"), 200) or (
            f"{text(event.get('sg_message_id'), 100)}:{event.get('event')}:{email}"
        )
        events.append(
            ReportedEvent(
                source=SOURCE,
                kind=kind,
                event_key=key,
                email=email,
                message_id=message_id,
                occurred_at=when(event.get("timestamp")),
                detail=detail(event.get("event"), event.get("status"), event.get("reason")),
            )
        )
    return events
