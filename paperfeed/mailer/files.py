"""The file transport: each message becomes one ``.eml`` file in a folder (VAR_DIR/outbox).

The default when no SMTP URL is set, so a machine with no mail server still runs end to end.
A file is written under a temporary name, flushed and renamed, so a reader never sees half a
message; its name comes from the Message-ID, so a resent delivery replaces its own file
instead of adding a second. A full or read-only disk is reported per message as RETRY_LATER
and pauses the transport. Knows nothing of SMTP or the database.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

import structlog

from paperfeed.errors import TransportError
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.transport import Outcome, SendResult, not_tried

log = structlog.get_logger("paperfeed.mail")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._@-]+")


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
            directory.mkdir(parents=True, exist_ok=True)
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
            with open(temp, "wb") as handle:
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
