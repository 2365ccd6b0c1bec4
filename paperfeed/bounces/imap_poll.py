"""Poll the bounce mailbox over IMAP: read new reports, apply them, tidy the mailbox.

The mailbox is paperfeed's own (the address bounces and feedback loops are sent to): every
unread (``UNSEEN``) mail in its folder is fetched without marking it read (``BODY.PEEK[]``),
in batches; each batch's reports are applied in one transaction, and only once that
committed are its mails flagged, so a database that fails mid-poll leaves them unread for
the next poll. Each report is stored once under its own key, so a mail read twice (a crash
between commit and flagging) changes nothing twice.

What happens to each mail:

* a bounce or complaint report: applied, then flagged ``\\Seen \\Deleted`` and expunged (the
  event row keeps what it said);
* anything else (an auto-reply, spam): flagged ``\\Seen`` and left in place for a human;
* a report that cannot be read: flagged ``\\Seen \\Flagged`` and left for a human, logged.

Connection errors are ``MailboxError`` (a ``ConfigError``): one line naming the host and
the reason, never the password.
"""

from __future__ import annotations

import imaplib
import ipaddress
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote, urlsplit

import structlog
from sqlalchemy import Engine

from paperfeed.bounces.dsn_reports import UnreadableReport, read_report
from paperfeed.bounces.events import BouncePolicy, ReportedEvent, apply_reported
from paperfeed.errors import ConfigError
from paperfeed.store.db import session_scope

log = structlog.get_logger("paperfeed.bounces")

SETTING = "PAPERFEED_BOUNCE_MAILBOX_URL"
BATCH = 50
TIMEOUT_SECONDS = 30.0


class MailboxError(ConfigError):
    """The bounce mailbox cannot be used: a bad URL, a refused login, no server answering."""


@dataclass(frozen=True)
class MailboxAddress:
    """Where the bounce mailbox is, parsed from the setting (the password kept out of repr)."""

    tls: bool  # imaps: TLS from the first byte; imap: STARTTLS when the server offers it
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"

    @property
    def where(self) -> str:
        """``imaps://user@host:993/INBOX``: the address without the password, for messages."""
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


@dataclass
class PollSummary:
    """What one poll did."""

    read: int = 0
    reports: int = 0
    other: int = 0
    unreadable: int = 0
    recorded: int = 0
    repeated: int = 0
    unmatched: int = 0
    bounced: list[int] = field(default_factory=list)
    unsubscribed: list[int] = field(default_factory=list)

    def line(self) -> str:
        """One line with every count, for the CLI and cron's mail."""
        return (
            f"bounce mailbox: {self.read} mails read, {self.reports} reports "
            f"({self.recorded} recorded, {self.repeated} already seen, {self.unmatched} "
            f"matching nobody), {len(self.bounced)} bounced, {len(self.unsubscribed)} "
            f"unsubscribed; {self.other} other mails and {self.unreadable} unreadable left "
            "in the mailbox"
        )


def mailbox_address(url: str) -> MailboxAddress:
    """Parse ``imaps://user:password@host:993/INBOX`` (or ``imap://``); MailboxError if bad."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise MailboxError(
            f"{SETTING} is not a URL paperfeed can read; use "
            "imaps://user:password@host:993/INBOX (percent-encode : @ / in the password)"
        ) from None
    if parts.scheme not in ("imap", "imaps"):
        raise MailboxError(
            f"{SETTING} must start with imaps:// (TLS) or imap:// (STARTTLS when offered), "
            f"not {parts.scheme or 'nothing'}://"
        )
    if not parts.hostname:
        raise MailboxError(f"{SETTING} names no host: imaps://user:password@host:993/INBOX")
    if not parts.username or parts.password is None:
        raise MailboxError(
            f"{SETTING} must hold the user and password: imaps://user:password@{parts.hostname}/"
        )
    tls = parts.scheme == "imaps"
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxAddress(
        tls=tls,
        host=parts.hostname,
        port=port or (993 if tls else 143),
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=folder,
    )


def _is_loopback(host: str) -> bool:
    with suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


@contextmanager
def open_mailbox(
    address: MailboxAddress,
    *,
    context: ssl.SSLContext | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Iterator[imaplib.IMAP4]:
    """Connect, log in and select the folder read-write; log out afterwards."""
    context = context or ssl.create_default_context()
    try:
        if address.tls:
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                address.host, address.port, ssl_context=context, timeout=timeout
            )
        else:
            imap = imaplib.IMAP4(address.host, address.port, timeout=timeout)
            if "STARTTLS" in imap.capabilities:
                imap.starttls(ssl_context=context)
            elif not _is_loopback(address.host):
                log.warning(
                    "bounces.mailbox_plaintext",
                    mailbox=address.where,
                    reason="the server offers no STARTTLS: the password crosses the network "
                    "unencrypted; use imaps://",
                )
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxError(
            f"cannot reach the bounce mailbox {address.where}: {_reason(error)}; check "
            f"{SETTING} and that the server is up"
        ) from None
    try:
        try:
            imap.login(address.user, address.password)
        except imaplib.IMAP4.error as error:
            raise MailboxError(
                f"the bounce mailbox {address.where} refused the login: {_reason(error)}; "
                f"check the user and password in {SETTING}"
            ) from None
        status, answer = imap.select(_quoted(address.folder))
        if status != "OK":
            raise MailboxError(
                f"the bounce mailbox has no folder {address.folder!r} ({_reason(answer)}); "
                f"fix the path in {SETTING}"
            )
        yield imap
    except (OSError, imaplib.IMAP4.abort) as error:
        raise MailboxError(
            f"the connection to the bounce mailbox {address.where} broke: {_reason(error)}"
        ) from None
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reason(error: object) -> str:
    """A server's or socket's answer as text (servers never echo the password back)."""
    if isinstance(error, socket.timeout):
        return "no answer in time"
    if isinstance(error, list | tuple):
        error = b" ".join(part for part in error if isinstance(part, bytes))
    if isinstance(error, imaplib.IMAP4.error) and error.args and isinstance(error.args[0], bytes):
        error = error.args[0]
    if isinstance(error, bytes):
        return error.decode("utf-8", errors="replace")
    return str(error) or type(error).__name__


def poll_mailbox(
    engine: Engine,
    address: MailboxAddress,
    *,
    now: datetime,
    policy: BouncePolicy,
    context: ssl.SSLContext | None = None,
    batch: int = BATCH,
) -> PollSummary:
    """Read every unread mail in the bounce mailbox once; apply the reports among them."""
    summary = PollSummary()
    with open_mailbox(address, context=context) as imap:
        status, found = imap.uid("SEARCH", "UNSEEN")
        if status != "OK":
            raise MailboxError(f"the bounce mailbox refused SEARCH: {_reason(found)}")
        uids = [uid.decode() for uid in (found[0] or b"").split()]
        done: list[str] = []
        for start in range(0, len(uids), batch):
            chunk = uids[start : start + batch]
            done.extend(_poll_batch(imap, engine, chunk, now=now, policy=policy, into=summary))
        if done:
            _expunge(imap, done)
    log.info(
        "bounces.polled",
        read=summary.read,
        reports=summary.reports,
        recorded=summary.recorded,
        bounced=len(summary.bounced),
        unsubscribed=len(summary.unsubscribed),
        other=summary.other,
        unreadable=summary.unreadable,
    )
    return summary


def _poll_batch(
    imap: imaplib.IMAP4,
    engine: Engine,
    uids: Sequence[str],
    *,
    now: datetime,
    policy: BouncePolicy,
    into: PollSummary,
) -> list[str]:
    """Read, apply and flag one batch; the uids of the reports (to expunge)."""
    reports: list[str] = []
    other: list[str] = []
    unreadable: list[str] = []
    events: list[ReportedEvent] = []
    for uid, raw in _fetch(imap, uids):
        into.read += 1
        try:
            found = read_report(raw, now=now)
        except UnreadableReport as error:
            log.warning("bounces.unreadable_report", uid=uid, reason=str(error))
            unreadable.append(uid)
            continue
        except Exception:  # a bug reading one mail must not stop the poll; keep the mail
            log.exception("bounces.report_failed", uid=uid)
            unreadable.append(uid)
            continue
        if found:
            reports.append(uid)
            events.extend(found)
        else:
            other.append(uid)
    if events:
        with session_scope(engine) as session:
            applied = apply_reported(session, events, now=now, policy=policy)
        into.recorded += applied.recorded
        into.repeated += applied.repeated
        into.unmatched += applied.unmatched
        into.bounced.extend(applied.bounced)
        into.unsubscribed.extend(applied.unsubscribed)
    # Flagged only now: had the transaction failed, these mails would be read again.
    _flag(imap, reports, r"(\Seen \Deleted)")
    _flag(imap, other, r"(\Seen)")
    _flag(imap, unreadable, r"(\Seen \Flagged)")
    into.reports += len(reports)
    into.other += len(other)
    into.unreadable += len(unreadable)
    return reports


def _fetch(imap: imaplib.IMAP4, uids: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    if not uids:
        return
    # BODY.PEEK[]: RFC822 would set \Seen before the reports are safely applied.
    status, data = imap.uid("FETCH", ",".join(uids), "(UID BODY.PEEK[])")
    if status != "OK":
        raise MailboxError(f"the bounce mailbox refused FETCH: {_reason(data)}")
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, raw = item
        uid = _uid_of(head)
        if uid is not None:
            yield uid, raw


def _uid_of(head: bytes) -> str | None:
    words = head.replace(b"(", b" ").split()
    for index, word in enumerate(words[:-1]):
        if word.upper() == b"UID":
            return words[index + 1].rstrip(b")").decode()
    return None


def _flag(imap: imaplib.IMAP4, uids: Sequence[str], flags: str) -> None:
    if uids:
        imap.uid("STORE", ",".join(uids), "+FLAGS.SILENT", flags)


def _expunge(imap: imaplib.IMAP4, uids: Sequence[str]) -> None:
    # UID EXPUNGE (UIDPLUS) removes only what this poll deleted, not what a human marked.
    # Asked now: servers announce more capabilities after the login than before it.
    _, answer = imap.capability()
    capabilities = b" ".join(a for a in answer if isinstance(a, bytes)).upper().split()
    if b"UIDPLUS" in capabilities:
        imap.uid("EXPUNGE", ",".join(uids))
    else:
        imap.expunge()
