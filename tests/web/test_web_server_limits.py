"""The web server under abusive clients (issue 14, item 4), through a real ``paperfeed serve``.

Before: no header timeout (a few hundred slow clients held every descriptor) and no header
size cap (a 1 GB header pinned a core for 12 minutes and ignored SIGTERM). Now a head slower
than PAPERFEED_WEB_HEADER_TIMEOUT_SECONDS gets 408, one larger than
PAPERFEED_WEB_MAX_HEADER_BYTES gets 431, both are disconnected, and meanwhile a normal client
is answered at once and SIGTERM ends the process within 5 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.web.web_process import wait_until_answering

PAPERFEED = [sys.executable, "-m", "paperfeed"]
HEADER_TIMEOUT = 2.0
SLOW_CLIENTS = 200
HUGE_HEADER_BYTES = 1_000_000_000  # what the sender would send if nobody stopped it
START = b"GET /healthz HTTP/1.1\r\nHost: paperfeed\r\nX-Padding: "

pytestmark = pytest.mark.slow  # real processes, several seconds each


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname is not None
        assert parts.port is not None
        return parts.hostname, parts.port

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env.update(
        PAPERFEED_VAR_DIR=str(tmp_path / "var"),
        PAPERFEED_SECRET_KEY="limits-secret-" + "z" * 32,
        PAPERFEED_WEB_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
    )
    upgrade = subprocess.run([*PAPERFEED, "db", "upgrade"], env=env, capture_output=True)
    assert upgrade.returncode == 0, upgrade.stderr
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*PAPERFEED, "serve", "--port", "0"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield Served(process, wait_until_answering(process, log), log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class SlowClients:
    """Clients that send a request head one byte at a time, never finishing it."""

    address: tuple[str, int]
    count: int
    sockets: list[socket.socket] = field(default_factory=list)
    closed_after: dict[int, float] = field(default_factory=dict)  # index -> seconds
    answers: dict[int, bytes] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> SlowClients:
        for _ in range(self.count):
            sock = socket.create_connection(self.address, timeout=5)
            sock.sendall(START)
            sock.setblocking(False)
            self.sockets.append(sock)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._dribble, daemon=True)
        self.thread.start()
        return self

    def _dribble(self) -> None:
        while not self.stop.is_set() and len(self.closed_after) < self.count:
            for index, sock in enumerate(self.sockets):
                if index in self.closed_after:
                    continue
                try:
                    answer = sock.recv(4096)
                except BlockingIOError:
                    answer = None
                except OSError:
                    answer = b""
                if answer is not None:  # the server answered or hung up
                    self.answers[index] = answer
                    self.closed_after[index] = time.monotonic() - self.started
                    continue
                try:
                    sock.send(b"a")
                except OSError:
                    self.closed_after[index] = time.monotonic() - self.started
            self.stop.wait(0.25)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


@dataclass
class HugeHeader:
    """A client sending one endless header line as fast as the server takes it."""

    address: tuple[str, int]
    sent: int = 0
    answer: bytes = b""
    done: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> HugeHeader:
        self.sock = socket.create_connection(self.address, timeout=10)
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()
        return self

    def _send(self) -> None:
        chunk = b"a" * 65_536
        try:
            self.sock.sendall(START)
            while self.sent < HUGE_HEADER_BYTES:
                self.sock.sendall(chunk)
                self.sent += len(chunk)
        except OSError:
            pass  # the server hung up: what it said is read below
        with contextlib.suppress(OSError):
            self.answer = self.sock.recv(4096)
        self.done.set()

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


def _normal_requests(url: str, count: int) -> list[float]:
    """Seconds each of ``count`` ordinary GET /healthz took (fresh connection each)."""
    took = []
    for _ in range(count):
        started = time.monotonic()
        answer = httpx.get(url + "/healthz", timeout=5)
        assert answer.status_code == 200
        took.append(time.monotonic() - started)
        time.sleep(0.1)
    return took


def test_slow_clients_get_408_and_a_huge_header_431_while_others_are_served(
    served: Served,
) -> None:
    with SlowClients(served.address, SLOW_CLIENTS) as slow, HugeHeader(served.address) as huge:
        took = _normal_requests(served.url, 10)
        assert huge.done.wait(10), "the server never stopped reading the huge header"
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        while len(slow.closed_after) < SLOW_CLIENTS and time.monotonic() < deadline:
            time.sleep(0.1)
        took += _normal_requests(served.url, 5)

    assert max(took) < 2.0, took
    assert huge.answer.startswith(b"HTTP/1.1 431 "), huge.answer[:100]
    assert huge.sent < 50_000_000  # cut off early, not after reading a gigabyte
    assert len(slow.closed_after) == SLOW_CLIENTS, served.output()
    # Closed for being slow, not before: each had its whole head timeout.
    assert min(slow.closed_after.values()) >= HEADER_TIMEOUT - 0.5
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in slow.answers.values())


def test_sigterm_ends_the_server_within_5_s_while_abusive_clients_are_connected(
    served: Served,
) -> None:
    with SlowClients(served.address, SLOW_CLIENTS), HugeHeader(served.address):
        time.sleep(0.5)
        assert httpx.get(served.url + "/healthz", timeout=5).status_code == 200
        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(timeout=10)
        stopped_in = time.monotonic() - signalled

    assert code == 0, served.output()
    assert stopped_in < 5.0


def _read_answers(sock: socket.socket, count: int) -> bytes:
    """Read until ``count`` HTTP status lines arrived (or 5 s passed)."""
    data = b""
    deadline = time.monotonic() + 5
    sock.settimeout(0.5)
    while data.count(b"HTTP/1.1 ") < count and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            chunk = sock.recv(65_536)
            if not chunk:
                break
            data += chunk
    return data


def test_ordinary_clients_are_unaffected_by_the_limits(served: Served) -> None:
    # Keep-alive: many requests on one connection, spaced out less than the head timeout.
    with httpx.Client(base_url=served.url, timeout=5) as http:
        for _ in range(3):
            assert http.get("/healthz").status_code == 200
            time.sleep(HEADER_TIMEOUT / 2)
        assert http.get("/healthz").status_code == 200
    # Pipelined: three requests in one write, three answers in order.
    with socket.create_connection(served.address, timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: paperfeed\r\n\r\n" * 3)
        assert _read_answers(sock, 3).count(b"HTTP/1.1 200 ") == 3
    # A head sent slowly but within the timeout is answered.
    with socket.create_connection(served.address, timeout=5) as sock:
        for piece in (b"GET /healthz HT", b"TP/1.1\r\nHost: pa", b"perfeed\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(HEADER_TIMEOUT / 4)
        assert _read_answers(sock, 1).startswith(b"HTTP/1.1 200 ")
    # Head and a body together in one write: the body is not counted as header.
    body = b"email=" + b"a" * 200_000  # more than the head cap, less than one read
    with socket.create_connection(served.address, timeout=5) as sock:
        sock.sendall(
            b"POST /subscribe HTTP/1.1\r\nHost: paperfeed\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        answer = _read_answers(sock, 1)
    assert answer.startswith(b"HTTP/1.1 ")
    assert not answer.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 408 ")), answer[:100]
