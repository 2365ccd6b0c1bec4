"""The HTTP/1.1 protocol the web app is served with: uvicorn's httptools protocol, bounded.

uvicorn bounds neither the size of a request head nor the time a client takes to send it
(its keep-alive timeout only covers the idle time between requests): a 1 GB header pinned a
core and a few hundred slow clients held every descriptor (issue 14, item 4). This protocol
answers 431 and closes once a head passes ``max_head_bytes``, and 408 and closes when a head
has not arrived ``head_timeout`` seconds after its first byte (or after the connection
opened). Bodies and responses are uvicorn's own business; a reverse proxy adds the rest
(see SECURITY.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = structlog.get_logger("paperfeed.web")

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 28\r\n\r\n"
    b"Request header is too large\n"
)
_TOO_SLOW = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 29\r\n\r\n"
    b"Request header came too slow\n"
)


def bounded_protocol(*, max_head_bytes: int, head_timeout: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol class with these bounds on each request head."""

    class BoundedHttpTools(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._awaiting_head = True  # between requests, or inside a head
            self._head_bytes = 0
            self._head_began = False  # a request began in the chunk being parsed
            self._head_timer: asyncio.TimerHandle | None = None
            self._refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_head_clock()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_clock()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._awaiting_head and self._head_timer is None:  # the next request's first byte
                self._start_head_clock()
            self._head_began = False
            super().data_received(data)
            # A chunk (at most 256 KB) in which a request began may hold the previous body as
            # well: it is not counted, so the bound is max_head_bytes plus one chunk.
            if self._awaiting_head and not self._head_began and not self._refused:
                self._head_bytes += len(data)
                if self._head_bytes > max_head_bytes:
                    self._refuse(_TOO_LARGE, "header too large", bytes=self._head_bytes)

        def on_message_begin(self) -> None:
            self._head_began = True
            self._head_bytes = 0
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._awaiting_head = False
            self._stop_head_clock()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            # The parser's order, not the response's: a pipelined next head counts from here.
            self._awaiting_head = True
            super().on_message_complete()

        def _start_head_clock(self) -> None:
            self._head_timer = self.loop.call_later(head_timeout, self._head_too_slow)

        def _stop_head_clock(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if not self._awaiting_head or self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                self._start_head_clock()  # a pipelined head waits for the answer before it
                return
            self._refuse(_TOO_SLOW, "header too slow", seconds=head_timeout)

        def _refuse(self, answer: bytes, reason: str, **detail: float) -> None:
            self._refused = True
            self._stop_head_clock()
            client = f"{self.client[0]}:{self.client[1]}" if self.client else None
            # Debug only: an attacker decides how often this happens (access logs are off too).
            log.debug("web.connection_refused", reason=reason, client=client, **detail)
            if not self.transport.is_closing():
                self.transport.write(answer)
                self.transport.close()

    return BoundedHttpTools
