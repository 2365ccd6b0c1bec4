"""Digest messages as bytes at bulk speed: a MIME shell built once, five headers per mail.

Building every header through ``EmailMessage`` costs milliseconds per mail
(``headerregistry`` parses and refolds each header), more than rendering and SMTP together.
Here the ``email`` package builds the shared part once (From, List-Id,
List-Unsubscribe-Post, Auto-Submitted, the multipart/alternative frame and its part
headers); per mail only To (``email.utils.formataddr``), Subject (``message.fold_subject``:
RFC 2047 encoded-words of at most 75 characters) and Date (the email package's own fold;
both cached: most subscribers share them), Message-ID and List-Unsubscribe (strict ASCII,
checked) are written, and the bodies dropped in. Tests parse the result and check each
header, the folds and the parts. Knows nothing of templates or transports.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from functools import lru_cache

from paperfeed.errors import MailError, UnsafeHeaderValue
from paperfeed.mailer.message import (
    POLICY,
    OutgoingMail,
    Sender,
    fold_subject,
    list_unsubscribe_value,
    refuse_line_breaks,
)
from paperfeed.mailer.views import Recipient, RenderedMail

MAX_LINE = 998  # RFC 5322 2.1.1, in octets without CRLF
_TEXT_SLOT = "pf-text-slot"
_HTML_SLOT = "pf-html-slot"
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9._-]+@[A-Za-z0-9.-]+>")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class MessageShell:
    """The shared bytes of every digest from one sender, cut where the bodies go."""

    sender: Sender
    boundary: str
    head: bytes
    middle: bytes
    tail: bytes


def compile_shell(sender: Sender) -> MessageShell:
    """Build the shared headers and MIME frame once, with the email package."""
    # A random boundary per shell: the bodies are checked not to contain it.
    boundary = "=_pf_" + secrets.token_hex(16)
    shell = EmailMessage(policy=POLICY)
    shell["From"] = sender.from_header
    shell["List-Id"] = sender.list_id_header
    shell["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    shell["Auto-Submitted"] = "auto-generated"
    shell.set_content(_TEXT_SLOT, cte="8bit")
    shell.add_alternative(_HTML_SLOT, subtype="html", cte="7bit")
    shell.set_boundary(boundary)
    flat = shell.as_bytes(policy=POLICY)
    head, rest = flat.split(_TEXT_SLOT.encode(), 1)
    middle, tail = rest.split(_HTML_SLOT.encode(), 1)
    # The slots' own line ends belong to the bodies' last lines, which get their own CRLF.
    return MessageShell(
        sender=sender,
        boundary=boundary,
        head=head,
        middle=middle.removeprefix(b"\r\n"),
        tail=tail.removeprefix(b"\r\n"),
    )


def digest_mail(
    shell: MessageShell,
    rendered: RenderedMail,
    recipient: Recipient,
    *,
    message_id: str,
    date: datetime,
) -> OutgoingMail:
    """One digest as bytes: multipart/alternative with the list and one-click unsubscribe
    headers, refusing any value that could break a header."""
    email = recipient.email
    if not _ADDRESS.fullmatch(email):
        raise MailError(
            f"recipient {email[:80]!r} is not a plain ASCII address; SMTPUTF8 addresses "
            "are not supported"
        )
    name = recipient.name or ""
    if name:
        refuse_line_breaks(name, what="the recipient's name")
        if not name.isprintable():
            raise UnsafeHeaderValue(f"the recipient's name {name[:80]!r} has control characters")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise MailError(
            f"Message-ID {message_id[:80]!r} is not <local@domain>; use make_message_id"
        )
    to = formataddr((name, email))
    unsubscribe = list_unsubscribe_value(recipient)
    lines = (
        f"To: {to}\r\n"
        f"{_subject_line(rendered.subject)}"
        f"{_date_line(date.replace(microsecond=0))}"
        f"Message-ID: {message_id}\r\n"
        f"List-Unsubscribe: {unsubscribe}\r\n"
    )
    if len(to) + 4 > MAX_LINE or len(unsubscribe) + 18 > MAX_LINE:
        raise MailError(f"a header for {email!r} would pass {MAX_LINE} octets; shorten the name")
    text = _body(rendered.text.encode("utf-8"), shell, what="text")
    html = _body(rendered.html.encode("ascii"), shell, what="HTML")
    data = b"".join((lines.encode("ascii"), shell.head, text, shell.middle, html, shell.tail))
    return OutgoingMail(
        message_id=message_id,
        envelope_from=shell.sender.envelope_from,
        recipient=email,
        data=data,
    )


def _body(data: bytes, shell: MessageShell, *, what: str) -> bytes:
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if shell.boundary.encode() in data:
        raise MailError(f"the {what} part holds the MIME boundary; render it again")
    # Checked and converted in C (a window search, one replace): splitting a mail into a
    # list of lines and joining it again cost more than the rest of the MIME work.
    if _has_long_line(data):
        raise MailError(
            f"a line of the {what} part passes {MAX_LINE} octets; the templates keep lines short"
        )
    data = data.replace(b"\n", b"\r\n")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _has_long_line(data: bytes) -> bool:
    """Whether a line of ``data`` (``\\n``-separated) passes ``MAX_LINE`` octets."""
    start, size = 0, len(data)
    # From each line start, the last line break within the next MAX_LINE + 1 octets: none
    # means the line starting there is longer; one means every line before it is short.
    while size - start > MAX_LINE:
        end = data.rfind(b"\n", start, start + MAX_LINE + 1)
        if end < 0:
            return True
        start = end + 1
    return False


@lru_cache(maxsize=4096)
def _subject_line(subject: str) -> str:
    # Most subscribers of a day share a top paper, so few subjects are folded per run.
    return fold_subject(subject)


@lru_cache(maxsize=64)
def _date_line(date: datetime) -> str:
    if date.tzinfo is None:
        raise MailError(f"Date {date.isoformat()} has no time zone; pass an aware UTC datetime")
    return str(POLICY.header_factory("Date", date).fold(policy=POLICY))
