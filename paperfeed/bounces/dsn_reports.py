"""Read one mail from the bounce mailbox: a bounce (DSN), a spam complaint (ARF), or neither.

* A spam complaint (RFC 5965 ARF: ``multipart/report; report-type=feedback-report``, as
  Yahoo's CFL and Microsoft's JMRP send them) is a complaint about the reader named by the
  report's ``Original-Rcpt-To`` or the included message's ``To``. ``not-spam`` and
  ``auth-failure`` reports are not complaints.
* A bounce is read with ``flufl.bounce`` (GNU Mailman's detectors: RFC 3464 DSNs first, then
  Exim's ``X-Failed-Recipients`` and the heuristics for MTAs that send plain text). Its
  recipients are hard bounces when permanent, soft when temporary; in a DSN the recipient's
  ``Status`` class decides, because a DSN that gave up on ``4.2.2`` (mailbox full for days)
  says ``Action: failed`` and flufl calls every failed recipient permanent.
* Anything else (an auto-reply, spam sent to the bounce address) yields no event.

Every event carries the Message-ID of the mail it is about when the report includes that mail
(``message/rfc822``) or its headers (``text/rfc822-headers``), or, for the plain-text bounces
that quote it, a paperfeed Message-ID found in the text; ``apply_reported`` matches on it
first. Its key is the report's own Message-ID (a hash of the mail when it has none) plus the
recipient, so reading the same mail again is recognised as a repeat.

A mail that says it is a report but cannot be read (a broken MIME structure, no recipient,
a detector that raises) raises ``UnreadableReport``: the poller keeps it for a human.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.errors import NoBoundaryInMultipartDefect, StartBoundaryNotFoundDefect
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

from flufl.bounce import all_failures

from paperfeed.bounces.events import ReportedEvent
from paperfeed.store.models import MailEventKind

SOURCE = "imap"
_KEY_CHARS = 255
# A digest's Message-ID quoted in a plain-text bounce (Exim and qmail quote the headers).
_OUR_MESSAGE_ID = re.compile(r"<paperfeed\.[a-z0-9.]*delivery\.\d{1,18}@[^<>\s]+>", re.I)
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
# Feedback types that are not a reader's complaint (RFC 5965, RFC 6591).
_NOT_COMPLAINTS = {"not-spam", "auth-failure"}
_UNSPLITTABLE = (NoBoundaryInMultipartDefect, StartBoundaryNotFoundDefect)


class UnreadableReport(ValueError):
    """A mail that looks like a bounce or complaint report but cannot be read."""


def read_report(raw: bytes, *, now: datetime) -> list[ReportedEvent]:
    """The bounces and complaints ``raw`` reports; empty when it is neither.

    Raises ``UnreadableReport`` for a report that cannot be read (the mailbox keeps it).
    """
    try:
        # compat32: flufl.bounce's detectors expect the classic Message API.
        msg = message_from_bytes(raw, policy=policy.compat32)
    except Exception as error:  # the parser is lenient; anything it raises is a broken mail
        raise UnreadableReport(f"not a readable mail: {error}") from None
    report_type = msg.get_param("report-type", "", header="content-type")
    report_type = report_type.lower() if isinstance(report_type, str) else ""
    is_report = msg.get_content_type() == "multipart/report"
    if is_report and (_broken_structure(msg) or not msg.is_multipart()):
        raise UnreadableReport("a multipart/report whose MIME parts cannot be separated")
    key = _report_key(msg, raw)
    at = _occurred_at(msg, now)
    if report_type == "feedback-report" or _part(msg, "message/feedback-report") is not None:
        return _complaints(msg, key, at)
    try:
        temporary, permanent = all_failures(msg)
    except Exception as error:  # a detector tripped over the mail: keep it for a human
        raise UnreadableReport(f"the bounce detectors failed: {error!r}") from None
    if not temporary and not permanent:
        if is_report and report_type == "delivery-status" and _has_failed_blocks(msg):
            raise UnreadableReport("a delivery-status report naming no readable recipient")
        return []
    return _bounces(msg, raw, key, at, temporary, permanent)


def _broken_structure(msg: Message) -> bool:
    # Only the report's own parts matter: an included original may be cut short (many MTAs
    # truncate it), which leaves defects in it but the report readable.
    return any(isinstance(defect, _UNSPLITTABLE) for defect in msg.defects)


def _bounces(
    msg: Message,
    raw: bytes,
    key: str,
    at: datetime | None,
    temporary: frozenset[bytes],
    permanent: frozenset[bytes],
) -> list[ReportedEvent]:
    statuses = dict(_dsn_statuses(msg))
    original = _original_headers(msg)
    message_id = _header(original, "message-id") if original is not None else None
    if message_id is None:
        quoted = _OUR_MESSAGE_ID.search(raw.decode("ascii", errors="replace"))
        message_id = quoted.group(0) if quoted else None
    events = []
    for address_bytes in sorted(permanent | temporary):
        address = address_bytes.decode("ascii").strip().lower()
        if not address:
            continue
        status, diagnostic = statuses.get(address, ("", ""))
        if status.startswith("5"):
            kind = MailEventKind.HARD_BOUNCE
        elif status.startswith("4"):
            kind = MailEventKind.SOFT_BOUNCE
        elif address_bytes in permanent:
            kind = MailEventKind.HARD_BOUNCE
        else:
            kind = MailEventKind.SOFT_BOUNCE
        detail = " ".join(part for part in (status, diagnostic) if part) or _subject(msg)
        events.append(
            ReportedEvent(
                source=SOURCE,
                kind=kind,
                event_key=_event_key(key, address),
                email=address,
                message_id=message_id,
                occurred_at=at,
                detail=detail,
                by_address=False,
            )
        )
    return events


def _complaints(msg: Message, key: str, at: datetime | None) -> list[ReportedEvent]:
    fields = _feedback_fields(msg)
    feedback_type = (_header(fields, "feedback-type") or "abuse").lower()
    if feedback_type in _NOT_COMPLAINTS:
        return []
    original = _original_headers(msg)
    message_id = _header(original, "message-id") if original is not None else None
    recipients: list[str | None] = list(_addresses(fields.get_all("original-rcpt-to", [])))
    if not recipients and original is not None:
        recipients = list(_addresses(original.get_all("to", [])))
    if not recipients and message_id is None:
        raise UnreadableReport("a complaint naming neither a recipient nor a Message-ID")
    detail = f"feedback-type {feedback_type}"
    agent = _header(fields, "user-agent")
    if agent:
        detail += f" from {agent}"
    return [
        ReportedEvent(
            source=SOURCE,
            kind=MailEventKind.COMPLAINT,
            event_key=_event_key(key, address or message_id or ""),
            email=address,
            message_id=message_id,
            occurred_at=at,
            detail=detail,
            by_address=False,
        )
        # Microsoft redacts the recipient: then the Message-ID alone names the reader.
        for address in (recipients or [None])
    ]


def _dsn_statuses(msg: Message) -> Iterator[tuple[str, tuple[str, str]]]:
    """(recipient, (Status, Diagnostic-Code)) for every recipient block of a DSN."""
    for block in _recipient_blocks(msg):
        match = _STATUS.search(block.get("status", ""))
        status = match.group(0) if match else ""
        diagnostic = " ".join(str(block.get("diagnostic-code", "")).split())
        for name in ("original-recipient", "final-recipient"):
            address = _typed_address(block.get(name))
            if address:
                yield address, (status, diagnostic)


def _has_failed_blocks(msg: Message) -> bool:
    return any(
        str(block.get("action", "")).lower().startswith(("fail", "delayed", "error"))
        for block in _recipient_blocks(msg)
    )


def _recipient_blocks(msg: Message) -> Iterator[Message]:
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            yield from (block for block in payload if isinstance(block, Message))


def _typed_address(value: object) -> str | None:
    """``rfc822; ada@example.org`` -> ``ada@example.org``."""
    if not value:
        return None
    text = " ".join(str(value).split())
    address = text.split(";", 1)[-1].strip().strip("<>").lower()
    return address or None


def _feedback_fields(msg: Message) -> Message:
    part = _part(msg, "message/feedback-report")
    if part is None:
        return Message()
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    text = part.get_payload(decode=True)
    body = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(payload)
    return HeaderParser().parsestr(body)


def _original_headers(msg: Message) -> Message | None:
    """The reported mail's headers: its ``message/rfc822`` part or ``text/rfc822-headers``."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif kind == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return HeaderParser().parsestr(data.decode("utf-8", errors="replace"))
    return None


def _part(msg: Message, content_type: str) -> Message | None:
    return next((p for p in msg.walk() if p.get_content_type() == content_type), None)


def _header(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _addresses(values: list[str]) -> list[str]:
    found = [address.strip().lower() for _, address in getaddresses([str(v) for v in values])]
    return [address for address in found if "@" in address]


def _subject(msg: Message) -> str:
    return _header(msg, "subject") or ""


def _report_key(msg: Message, raw: bytes) -> str:
    own_id = _header(msg, "message-id")
    return own_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def _event_key(report: str, recipient: str) -> str:
    key = f"{report} {recipient}"
    if len(key) <= _KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _occurred_at(msg: Message, now: datetime) -> datetime | None:
    """When the report was written (its Date), never later than ``now``; None if unknown."""
    value = msg.get("date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(moment.astimezone(UTC), now)
