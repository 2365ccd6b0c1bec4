"""Amazon SES bounce and complaint notifications (the ``Message`` of an SNS notification).

Reads both SES formats: feedback notifications (``notificationType``) and event publishing
through a configuration set (``eventType``). A ``Bounce`` gives one report per bounced
recipient: ``Permanent`` is hard, ``Transient`` and ``Undetermined`` soft. A ``Complaint``
gives one per complained recipient, except a "not-spam" feedback report (the reader took
the mail *out* of spam). Deliveries and everything else are ignored.

The Message-ID is our own header as SES saw it (``mail.headers``, else
``mail.commonHeaders.messageId``); ``mail.messageId`` is SES's id, not ours. A report's key
is SES's ``feedbackId`` with the recipient, so one notification naming two recipients is two
reports and SNS delivering it twice is still two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paperfeed.bounces.events import ReportedEvent
from paperfeed.bounces.hook_payload import address, detail, mapping, objects, text, when
from paperfeed.store.models import MailEventKind

SOURCE = "ses"
BOUNCE_KINDS = {
    "Permanent": MailEventKind.HARD_BOUNCE,
    "Transient": MailEventKind.SOFT_BOUNCE,
    "Undetermined": MailEventKind.SOFT_BOUNCE,
}


def message_id_of(mail: Mapping[str, Any]) -> str | None:
    """Our Message-ID header in an SES ``mail`` object, if SES kept it."""
    for header in objects(mail.get("headers")):
        name = text(header.get("name"))
        if name is not None and name.lower() == "message-id":
            return text(header.get("value"))
    return text(mapping(mail.get("commonHeaders")).get("messageId"))


def ses_events(notice: Mapping[str, Any], *, fallback_key: str) -> list[ReportedEvent]:
    """The reports in one SES notification; ``fallback_key`` (the SNS MessageId) keys a
    notification that lacks a feedbackId."""
    kind = text(notice.get("notificationType")) or text(notice.get("eventType"))
    mail = mapping(notice.get("mail"))
    message_id = message_id_of(mail)
    if kind == "Bounce":
        bounce = mapping(notice.get("bounce"))
        event_kind = BOUNCE_KINDS.get(str(bounce.get("bounceType")), MailEventKind.SOFT_BOUNCE)
        recipients = objects(bounce.get("bouncedRecipients"))
        part, what = bounce, f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
    elif kind == "Complaint":
        part = mapping(notice.get("complaint"))
        if text(part.get("complaintFeedbackType")) == "not-spam":
            return []
        event_kind = MailEventKind.COMPLAINT
        recipients = objects(part.get("complainedRecipients"))
        what = str(part.get("complaintFeedbackType") or "complaint")
    else:
        return []
    feedback = text(part.get("feedbackId"), 200) or fallback_key
    occurred = when(part.get("timestamp"))
    events: list[ReportedEvent] = []
    for recipient in recipients:
        email = address(recipient.get("emailAddress"))
        if email is None and message_id is None:
            continue
        events.append(
            ReportedEvent(
                source=SOURCE,
                kind=event_kind,
                event_key=f"{feedback}:{email or ''}",
                email=email,
                message_id=message_id,
                occurred_at=occurred,
                detail=detail(what, recipient.get("status"), recipient.get("diagnosticCode")),
            )
        )
    return events
