"""The file transport: each message becomes one ``.eml`` file in a folder (VAR_DIR/outbox).

The default when no SMTP URL is set, so a machine with no mail server still runs end to end.
A file is written under a temporary name, flushed and renamed, so a reader never sees half a
message; its name comes from the Message-ID, so a resent delivery replaces its own file
instead of adding a second. A full or read-only disk is reported per message as RETRY_LATER
and pauses the transport. The folder is created 0700 and each file 0600 (mail holds the
links that open a subscriber's pages); ``remove_mail_to`` deletes everything written to one
address when that subscriber's data is deleted. Knows nothing of SMTP or the database.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

import structlog

from paperfeed.errors import TransportError
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.transport import Outcome, SendResult, not_tried

log = structlog.get_logger("paperfeed.mail")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._@-]+")
# Our headers are a few hundred bytes; the To: line is read from at most this much.
HEADER_BYTES = 64 * 1024


def eml_name(message_id: str) -> str:
    """The file name for a Message-ID: ``<a.b@c>`` becomes ``a.b@c.eml``."""
    stem = _UNSAFE_NAME.sub("_", message_id.strip("<>")).strip("._") or "message"
    return stem[:200] + ".eml"


class FileTransport:
    """Writes each message atomically as ``<message-id>.eml`` under ``directory``."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync
        self._paused: str | None = None
        try:
            # mkdir(parents=True) gives missing parents the default mode: VAR_DIR first.
            directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TransportError(
                f"cannot create the outbox {directory}: {exc.strerror}; make PAPERFEED_VAR_DIR "
                "writable or set PAPERFEED_SMTP_URL"
            ) from exc
        if not os.access(directory, os.W_OK | os.X_OK):
            raise TransportError(
                f"the outbox {directory} is not writable; fix its permissions, change "
                "PAPERFEED_VAR_DIR or set PAPERFEED_SMTP_URL"
            )

    @property
    def paused_reason(self) -> str | None:
        """Why writing stopped (a full or unwritable disk), or None."""
        return self._paused

    async def send(self, messages: Sequence[OutgoingMail]) -> list[SendResult]:
        """Write every message; disk I/O runs in a thread so the event loop keeps moving."""
        return await asyncio.to_thread(self._write_all, list(messages))

    def resume(self) -> None:
        """Forget a pause: the next send tries the disk again."""
        self._paused = None

    async def aclose(self) -> None:
        """Nothing stays open between batches."""

    def _write_all(self, messages: list[OutgoingMail]) -> list[SendResult]:
        results = [self._write(m) for m in messages]
        if self.fsync and any(r.outcome is Outcome.ACCEPTED for r in results):
            self._fsync_directory()
        return results

    def _write(self, message: OutgoingMail) -> SendResult:
        if self._paused:
            return not_tried(message, self._paused)
        final = self.directory / eml_name(message.message_id)
        temp = self.directory / f".{final.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.data)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            os.replace(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            self._paused = (
                f"cannot write to the outbox {self.directory}: {exc.strerror or exc}; free disk "
                "space or fix permissions, then run `paperfeed send` again"
            )
            log.error("outbox write failed, pausing", path=str(final), error=str(exc))
            return SendResult(
                message_id=message.message_id,
                outcome=Outcome.RETRY_LATER,
                detail=self._paused,
                attempts=1,
            )
        return SendResult(
            message_id=message.message_id, outcome=Outcome.ACCEPTED, detail=str(final), attempts=1
        )

    def _fsync_directory(self) -> None:
        # The renames are durable only once the directory entry is on disk.
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_mail_to(directory: Path, *addresses: str | None) -> int:
    """Delete every ``.eml`` in ``directory`` whose To: is one of ``addresses``; how many went.

    Names come from Message-IDs, which say nothing of the recipient, so each file's header
    block is read (once, for all the addresses); a file that vanished or cannot be parsed
    meanwhile is left alone.
    """
    wanted = {address.strip().lower() for address in addresses if address}
    if not wanted:
        return 0
    try:
        entries = [e for e in os.scandir(directory) if e.name.endswith(".eml")]
    except FileNotFoundError:
        return 0
    removed = 0
    for entry in entries:
        if _addressed_to(Path(entry.path), wanted):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("outbox.removed_mail", files=removed)
    return removed


def _addressed_to(path: Path, wanted: set[str]) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except OSError:
        return False
    headers = BytesHeaderParser(policy=default_policy).parsebytes(head.split(b"\r\n\r\n")[0])
    to = headers.get("To")
    addresses = getattr(to, "addresses", ())
    return any(a.addr_spec.lower() in wanted for a in addresses)
