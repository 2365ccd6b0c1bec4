"""MIME messages for rendered mails: headers, parts, deterministic Message-IDs, flat bytes.

Every header goes through the ``email`` package's API (``EmailMessage``, ``headerregistry``),
and values that come from people (names) are refused when they hold a line break, so nothing
anyone types can add a header. Digests carry the list headers of RFC 2369, RFC 2919 and the
one-click unsubscribe of RFC 8058. Knows nothing of templates, transports or the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address, BaseHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any

from paperfeed.errors import MailError, UnsafeHeaderValue
from paperfeed.mailer.views import Recipient, RenderedMail

# RFC 2047 (section 2): an encoded-word is at most 75 characters, and a line holding one at
# most 76. The email package sizes its encoded-words by max_line_length (998 here), so it made
# one 126-character word of a long non-ASCII subject; and at 76 it still loses or doubles spaces
# around some words. Subjects are folded by fold_subject instead, on both send paths.
_WORD_MAX = 75
_LINE_MAX = 76
_FOLD_AT = 78  # RFC 5322 2.1.1: lines SHOULD stay within 78 characters
_WORD_HEAD = "=?utf-8?q?"
_WORD_TAIL = "?="
# RFC 2047 5(3): the most restricted set, safe in any header; every other byte is =XX.
_Q_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = ["_" if b == 0x20 else chr(b) if b in _Q_PLAIN else f"={b:02X}" for b in range(256)]


def fold_subject(subject: str, *, name: str = "Subject") -> str:
    """The whole ``Subject:`` header line(s), CRLF-terminated, folded by RFC 5322 and 2047.

    A printable ASCII subject without ``=?`` stays plain, folded before spaces near 78
    characters. Any other is sent as UTF-8 "Q" encoded-words of at most 75 characters each,
    cut between characters, one per line (whitespace between encoded-words is not part of the
    text, RFC 2047 6.2), so every reader decodes exactly ``subject``.
    """
    refuse_line_breaks(subject, what="the subject")
    head = f"{name}: "
    if subject.isascii() and subject.isprintable() and "=?" not in subject:
        return _fold_plain(head, subject)
    words: list[str] = []
    room = _LINE_MAX - len(head)  # the first word shares its line with "Subject: "
    current = ""
    budget = min(room, _WORD_MAX) - len(_WORD_HEAD) - len(_WORD_TAIL)
    for ch in subject:
        piece = _Q_BYTE[ord(ch)] if ch < "\x80" else "".join(_Q_BYTE[b] for b in ch.encode())
        if current and len(current) + len(piece) > budget:
            words.append(_WORD_HEAD + current + _WORD_TAIL)
            current = ""
            budget = _LINE_MAX - 1 - len(_WORD_HEAD) - len(_WORD_TAIL)  # " " + word
        current += piece
    words.append(_WORD_HEAD + current + _WORD_TAIL)
    return head + "\r\n ".join(words) + "\r\n"


def _fold_plain(head: str, subject: str) -> str:
    # Fold before the first space of a run, so unfolding (dropping CRLF) gives back the text.
    lines: list[str] = []
    line = head
    for match in re.finditer(r"\s*\S+", subject):
        chunk = match.group()
        if line != head and len(line) + len(chunk) > _FOLD_AT:
            lines.append(line)
            line = ""
        line += chunk
    lines.append(line + subject[len(subject.rstrip()) :])
    return "\r\n".join(lines) + "\r\n"


class _MailPolicy(EmailPolicy):
    """SMTP's policy, except that Subject is kept as typed and folded by ``fold_subject``."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        # The email package would parse the text and decode any "=?…?=" in it; a title that
        # shows such text literally must arrive literally (as on the bulk path).
        if name.lower() == "subject" and isinstance(value, str):
            refuse_line_breaks(value, what="the subject")
            return (name, value)
        return super().header_store_parse(name, value)

    def fold(self, name: str, value: Any) -> str:
        if name.lower() == "subject":
            return fold_subject(str(value), name=name)
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() == "subject":
            return fold_subject(str(value), name=name).encode("ascii")
        return bytes(super().fold_binary(name, value))


# Lines up to SMTP's 998 octets are legal; folding at 78 would wrap the long one-click URL of
# List-Unsubscribe into RFC 2047 encoded words, which mail clients then cannot use.
POLICY = _MailPolicy(linesep="\r\n", max_line_length=998)
_MESSAGE_ID_PART = re.compile(r"[A-Za-z0-9_-]+")
_LIST_ID_LABEL = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True, slots=True)
class Sender:
    """Who mail comes from, with the headers every message shares built once."""

    address: Address
    envelope_from: str
    domain: str
    list_name: str
    list_id: str
    from_header: BaseHeader
    list_id_header: BaseHeader
    # This install's part of every Message-ID (``install_tag``); empty only in tests.
    install: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A message flattened once for any transport: envelope and the exact bytes to send."""

    message_id: str
    envelope_from: str
    recipient: str
    data: bytes


def make_sender(
    mail_from: str,
    *,
    list_name: str = "paperfeed",
    list_id: str | None = None,
    envelope_from: str | None = None,
    install: str = "",
) -> Sender:
    """The sender for ``mail_from`` (``"paperfeed <paperfeed@example.org>"``).

    ``install`` (``install_tag`` of the secret key) goes into every Message-ID it makes.
    """
    refuse_line_breaks(mail_from, what="PAPERFEED_FROM")
    try:
        header = POLICY.header_factory("From", mail_from)
        addresses = header.addresses
    except (ValueError, AttributeError) as exc:
        raise MailError(f"PAPERFEED_FROM={mail_from!r} is not an address: {exc}") from exc
    if len(addresses) != 1 or not addresses[0].domain or header.defects:
        raise MailError(
            f"PAPERFEED_FROM={mail_from!r} must be one address with a domain, e.g. "
            "'paperfeed <digest@example.org>'"
        )
    address: Address = addresses[0]
    domain = address.domain.lower()
    label = _LIST_ID_LABEL.sub("-", list_name.lower()).strip("-") or "digest"
    list_id = list_id or f"{label}.{domain}"
    list_id_value = f"{list_name} <{list_id}>"
    refuse_line_breaks(list_id_value, what="the list id")
    return Sender(
        address=address,
        envelope_from=envelope_from or address.addr_spec,
        domain=domain,
        list_name=list_name,
        list_id=list_id,
        from_header=header,
        list_id_header=POLICY.header_factory("List-Id", list_id_value),
        install=install,
    )


def install_tag(secret: str) -> str:
    """A short id of this install, derived from its secret key (80 bits, base32, lower case).

    Two installs with fresh databases both have a delivery 1; receivers drop a message whose
    Message-ID they have seen, so ids need a part that differs between installs yet stays
    the same across this install's processes and restarts. An HMAC of the key is that part
    and reveals nothing of the key.
    """
    digest = hmac.new(secret.encode("utf-8"), b"paperfeed message-id", hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode("ascii").lower()


def make_message_id(*parts: str | int, domain: str, install: str = "") -> str:
    """A deterministic Message-ID, e.g. ``<paperfeed.k3x….delivery.42@example.org>``.

    The same parts give the same id, so a resent delivery is recognisable as the same mail;
    ``install`` (``Sender.install``) keeps two installs' delivery 42 apart.
    """
    words = [install, *(str(p) for p in parts)] if install else [str(p) for p in parts]
    if not parts or not all(_MESSAGE_ID_PART.fullmatch(w) for w in words):
        raise MailError(f"Message-ID parts {words!r} must be letters, digits, '-' or '_'")
    return f"<paperfeed.{'.'.join(words)}@{domain}>"


def build_confirmation_message(
    rendered: RenderedMail,
    *,
    email: str,
    sender: Sender,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """The double-opt-in mail: no list headers (the address is not on the list yet)."""
    message = _base(rendered, email, None, sender, message_id, date)
    _add_parts(message, rendered)
    return message


def flatten(message: EmailMessage, *, sender: Sender) -> OutgoingMail:
    """The message as the bytes every transport sends, with its envelope."""
    to = message["To"].addresses  # the header object built in _base
    return OutgoingMail(
        message_id=str(message["Message-ID"]),
        envelope_from=sender.envelope_from,
        recipient=to[0].addr_spec,
        data=message.as_bytes(policy=POLICY),
    )


def _base(
    rendered: RenderedMail,
    email: str,
    name: str | None,
    sender: Sender,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    refuse_line_breaks(email, what="the recipient's address")
    if name is not None:
        refuse_line_breaks(name, what="the recipient's name")
    refuse_line_breaks(rendered.subject, what="the subject")
    refuse_line_breaks(message_id, what="the Message-ID")
    if date.tzinfo is None:
        raise MailError(f"Date {date.isoformat()} has no time zone; pass an aware UTC datetime")
    try:
        to = Address(display_name=name or "", addr_spec=email)
    except (ValueError, IndexError) as exc:
        raise MailError(f"recipient {email!r} is not a valid address: {exc}") from exc
    message = EmailMessage(policy=POLICY)
    message["From"] = sender.from_header
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = date
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    return message


def _add_parts(message: EmailMessage, rendered: RenderedMail) -> None:
    # The HTML from render.py is ASCII with short lines, so it travels as 7bit untouched;
    # the text part is UTF-8 (names, dashes) and the policy picks 7bit or 8bit for it.
    message.set_content(rendered.text)
    html_cte = "7bit" if _is_7bit(rendered.html) else None
    message.add_alternative(rendered.html, subtype="html", cte=html_cte)


def _is_7bit(text: str) -> bool:
    return text.isascii() and all(len(line) <= 998 for line in text.splitlines())


def list_unsubscribe_value(recipient: Recipient) -> str:
    """``<https://…>, <mailto:…>`` for List-Unsubscribe, refusing anything that could break it."""
    targets = [recipient.unsubscribe_url]
    if recipient.unsubscribe_mailto:
        targets.append(recipient.unsubscribe_mailto)
    for target in targets:
        if not (target.isascii() and target.isprintable()) or any(ch in target for ch in '<>," '):
            raise UnsafeHeaderValue(
                f"unsubscribe link {target[:80]!r} must be a printable ASCII URL without spaces, "
                "commas, quotes or angle brackets (RFC 2369); percent-encode the token"
            )
        if not target.startswith(("https://", "http://", "mailto:")):
            raise MailError(f"unsubscribe link {target[:80]!r} must be an https or mailto URL")
    return ", ".join(f"<{t}>" for t in targets)


def refuse_line_breaks(value: str, *, what: str) -> None:
    """Raise ``UnsafeHeaderValue`` when ``value`` could end a header line (CR, LF, NUL...)."""
    # str.splitlines() is the test the email package itself applies; NUL is refused too.
    if len(value.splitlines()) > 1 or "\r" in value or "\n" in value or "\0" in value:
        raise UnsafeHeaderValue(
            f"{what} {value[:80]!r} holds a line break or NUL and would inject a header; "
            "fix the stored value (the web forms refuse such input)"
        )
