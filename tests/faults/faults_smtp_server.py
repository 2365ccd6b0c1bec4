"""A real aiosmtpd server that misbehaves on demand, and counts what it really took.

``FaultySink`` is the handler: it keeps every message it stored, by Message-ID, and notes
each time it stored one whose ``250`` the client never heard (the line dropped, or the
client timed out first): the only way an honest sender can deliver a message twice. Faults
are counters of "the next N": 421 at the greeting (server busy), a slow greeting, 451 on
DATA, a drop after DATA, a slow reply after DATA; and 550 5.1.1 at RCPT for addresses that
do not exist. ``heal`` clears them. ``serving`` runs it on a free 127.0.0.1 port.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.ports import free_port

_MESSAGE_ID = re.compile(rb"(?im)^Message-ID:\s*(<[^>\r\n]+>)")


@dataclass
class SmtpFaults:
    """What goes wrong next; each count is used up one connection or message at a time."""

    busy_greetings: int = 0  # connections greeted with 421 and closed
    refused_greetings: int = 0  # connections greeted with 554 (relay refuses us) and closed
    slow_greetings: int = 0  # connections greeted only after ``slow_seconds``
    busy_data: int = 0  # messages answered 451 at the end of DATA (not stored)
    drops_after_data: int = 0  # messages stored, then the line cut before the 250
    slow_after_data: int = 0  # messages stored, then the 250 only after ``slow_seconds``
    slow_seconds: float = 3.0
    gone_prefix: str | None = None  # RCPT TO addresses starting with it get 550 5.1.1

    def take(self, name: str) -> bool:
        left: int = getattr(self, name)
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True


@dataclass
class FaultySink:
    """The aiosmtpd handler; its counters are read by the test between send passes."""

    faults: SmtpFaults = field(default_factory=SmtpFaults)
    stored: Counter[str] = field(default_factory=Counter)  # Message-ID → copies taken
    unheard: Counter[str] = field(default_factory=Counter)  # copies whose 250 never arrived
    recipients: dict[str, set[str]] = field(default_factory=dict)
    fired: Counter[str] = field(default_factory=Counter)
    url: str = ""

    def heal(self) -> None:
        """The server works again (a refused address stays refused: it really is gone)."""
        self.faults = SmtpFaults(gone_prefix=self.faults.gone_prefix)

    def duplicates(self) -> int:
        """Copies stored beyond the first, over every message."""
        return sum(n - 1 for n in self.stored.values())

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        prefix = self.faults.gone_prefix
        if prefix is not None and address.startswith(prefix):
            self.fired["550"] += 1
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.faults.take("busy_data"):
            self.fired["451"] += 1
            return "451 4.3.0 try again later"
        content = bytes(envelope.content)
        found = _MESSAGE_ID.search(content.split(b"\r\n\r\n", 1)[0])
        message_id = found.group(1).decode() if found else "<none>"
        self.stored[message_id] += 1
        self.recipients.setdefault(message_id, set()).update(envelope.rcpt_tos)
        if self.faults.take("drops_after_data"):
            self.fired["drop"] += 1
            self.unheard[message_id] += 1
            server.transport.abort()
            return "250 2.0.0 queued, but nobody hears it"
        if self.faults.take("slow_after_data"):
            self.fired["slow"] += 1
            # Counted before the wait: a client that gives up first closes the line, and
            # aiosmtpd then cancels this coroutine mid-sleep.
            self.unheard[message_id] += 1
            await asyncio.sleep(self.faults.slow_seconds)
            self.unheard[message_id] -= 1
        return "250 2.0.0 queued"


class _FaultySMTP(SMTP):
    """aiosmtpd's SMTP with a greeting that can be busy (421) or slow.

    aiosmtpd has no hook before its 220 greeting, so this wraps the method that sends it;
    the controller's ``factory`` is the documented way to use another SMTP class.
    """

    async def _handle_client(self) -> None:
        sink: FaultySink = self.event_handler
        if sink.faults.take("busy_greetings"):
            sink.fired["421"] += 1
            await self.push("421 4.3.2 too busy, try again later")
            assert self.transport is not None
            self.transport.close()
            return
        if sink.faults.take("refused_greetings"):
            sink.fired["554"] += 1
            await self.push("554 5.7.1 no SMTP service here for you")
            assert self.transport is not None
            self.transport.close()
            return
        if sink.faults.take("slow_greetings"):
            sink.fired["slow greeting"] += 1
            await asyncio.sleep(sink.faults.slow_seconds)
        await super()._handle_client()


class _FaultyController(Controller):
    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


@contextlib.contextmanager
def serving(sink: FaultySink, *, timeout: float = 5.0) -> Iterator[FaultySink]:
    """Serve ``sink`` on a free port; ``sink.url`` is the ``PAPERFEED_SMTP_URL`` for it,
    with ``timeout`` as the client's per-command timeout."""
    for _ in range(5):  # another process may take the probed port first
        controller = _FaultyController(sink, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()  # returns once the server answered a first connection
        except (OSError, RuntimeError):
            continue
        break
    else:
        raise RuntimeError("no free port for the faulty SMTP server after 5 tries")
    sink.url = f"smtp://127.0.0.1:{controller.port}?starttls=off&timeout={timeout}"
    try:
        yield sink
    finally:
        controller.stop()
