"""An aiosmtpd server that keeps every mail, and readers for what the scenario checks in them.

Each mail is stamped with the scenario slot that was running when it arrived, so a test
can say "after this slot, nothing". Digests are read from their plain-text part: the
edition's date (the first line), the papers' links and the upvotes shown next to them.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email import message_from_bytes
from email.message import Message
from email.utils import parseaddr
from functools import cached_property
from typing import Any

from tests.support.cycle_samples import serving_smtp

MESSAGE_ID = re.compile(rb"(?im)^Message-ID:\s*(<[^>\r\n]+>)")
PAPER_LINK = re.compile(r"https://huggingface\.co/papers/([0-9]{4}\.[0-9]{5})")
# "   ^ 12 upvotes" under a pick's link (an authors line may come between), "(^ 12)" before a
# trending row's link.
PICK_VOTES = re.compile(
    r"https://huggingface\.co/papers/([0-9.]+)\n(?:   (?!\^).*\n)?   \^ ([0-9]+) upvote"
)
TRENDING_VOTES = re.compile(r"\(\^ ([0-9]+)\)\n  https://huggingface\.co/papers/([0-9.]+)")


@dataclass
class Mail:
    """One message as the server received it; parsed when first read."""

    slot: int
    recipient: str
    data: bytes

    @cached_property
    def message(self) -> Message:
        """The parsed message (compat32: several times faster than the default policy)."""
        return message_from_bytes(self.data)

    @cached_property
    def message_id(self) -> str:
        """The Message-ID header."""
        found = MESSAGE_ID.search(self.data.split(b"\r\n\r\n", 1)[0])
        return found.group(1).decode() if found else ""

    @property
    def is_confirmation(self) -> bool:
        """The double-opt-in mail (its Message-ID says so)."""
        return ".confirm." in self.message_id

    @property
    def is_digest(self) -> bool:
        """A digest: one delivery of an edition."""
        return ".delivery." in self.message_id

    @cached_property
    def text(self) -> str:
        """The plain-text part."""
        for part in self.message.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                text = payload.decode(part.get_content_charset() or "utf-8")
                return text.replace("\r\n", "\n")
        raise AssertionError(f"the mail to {self.recipient} has no text part")

    def link_after(self, label: str) -> str:
        """The URL on the text line that starts with ``label`` (e.g. "Unsubscribe:")."""
        for line in self.text.splitlines():
            if line.startswith(label):
                return line.removeprefix(label).strip()
        raise AssertionError(f"no {label!r} line in the mail to {self.recipient}")

    def one_click_url(self) -> str:
        """The https target of ``List-Unsubscribe`` (RFC 8058 one-click)."""
        header = re.sub(r"\r?\n[ \t]+", " ", str(self.message["List-Unsubscribe"]))
        found = re.search(r"<(https?://[^>]+)>", header)
        assert found, f"no https List-Unsubscribe in the mail to {self.recipient}"
        return found.group(1)

    def edition_date(self) -> date:
        """The edition's local date, from the digest's first line ("name · Tuesday, 6 ...")."""
        first = self.text.splitlines()[0]
        return datetime.strptime(first.split(" · ", 1)[1].strip(), "%A, %d %B %Y").date()

    def paper_ids(self) -> list[str]:
        """The papers of a digest, in order, from their links (each paper links once)."""
        return PAPER_LINK.findall(self.text)

    def upvotes(self) -> dict[str, int]:
        """The upvotes the digest shows for each paper."""
        text = self.text
        shown = {paper: int(votes) for paper, votes in PICK_VOTES.findall(text)}
        shown.update({paper: int(votes) for votes, paper in TRENDING_VOTES.findall(text)})
        return shown


class Mailbox:
    """aiosmtpd handler: accepts every message and keeps it with the current slot."""

    def __init__(self) -> None:
        self.slot = 0
        self.url = ""
        self._mails: list[Mail] = []
        self._by_recipient: dict[str, list[Mail]] = defaultdict(list)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = bytes(envelope.content)  # parsed later, if read: the sender is waiting
        with self._lock:
            for recipient in envelope.rcpt_tos:
                mail = Mail(self.slot, recipient.lower(), data)
                self._mails.append(mail)
                self._by_recipient[mail.recipient].append(mail)
        return "250 2.0.0 kept"

    @property
    def mails(self) -> list[Mail]:
        """Every mail so far, in arrival order."""
        with self._lock:
            return list(self._mails)

    def to(self, address: str) -> list[Mail]:
        """The mails one address received, in arrival order."""
        with self._lock:
            return list(self._by_recipient.get(parseaddr(address)[1].lower(), ()))

    def wait_for(self, what: str, predicate: Callable[[list[Mail]], bool], timeout: float) -> None:
        """Block until ``predicate(mails)`` holds; fail naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not predicate(self.mails):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.05)


@contextlib.contextmanager
def running_mailbox() -> Iterator[Mailbox]:
    """A ``Mailbox`` served on a free 127.0.0.1 port; ``mailbox.url`` is its SMTP URL."""
    mailbox = Mailbox()
    with serving_smtp(mailbox) as mailbox.url:
        yield mailbox
