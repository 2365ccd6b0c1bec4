"""A real HTTP server standing in for a chat service: records every POST, answers as told.

Tests point ``json://127.0.0.1:<port>/<path>`` addresses at it (apprise's JSON plugin posts
``{"title", "message", …}``), queue answers (``429`` with ``Retry-After``, ``500``, ``404``,
a slow answer) and read back what arrived, per path.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the kill -9 test) leaves a broken pipe: not an error
        # of the service's. Anything else still prints.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True, slots=True)
class Post:
    """One request the server took, with the answer it gave."""

    path: str
    body: dict[str, Any]
    status: int
    started: float  # time.time() when the request arrived
    at: float  # time.time() when it was answered


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ChatServer:
    """Start with ``with ChatServer() as server:``; ``url(path)`` is a json:// address.

    ``port`` 0 takes a free one; a given port lets a test start the service "again" where
    an address already points.
    """

    def __init__(self, port: int = 0) -> None:
        self.posts: list[Post] = []
        self._answers: dict[str, deque[Answer]] = {}
        self._default: dict[str, Answer] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                started = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode("utf-8", "replace")}
                answer = server._next(self.path)
                if answer.delay:
                    time.sleep(answer.delay)
                with server._lock:
                    server.posts.append(Post(self.path, body, answer.status, started, time.time()))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _next(self, path: str) -> Answer:
        with self._lock:
            queued = self._answers.get(path)
            if queued:
                return queued.popleft()
            return self._default.get(path, Answer())

    def answer(
        self,
        path: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """The next ``times`` POSTs to ``path`` get this answer (then 200 again)."""
        with self._lock:
            queue = self._answers.setdefault(path, deque())
            queue.extend(Answer(status, headers or {}, delay) for _ in range(times))

    def always(self, path: str, status: int, *, delay: float = 0.0) -> None:
        """Every POST to ``path`` gets this answer from now on."""
        with self._lock:
            self._default[path] = Answer(status, {}, delay)

    def url(self, path: str) -> str:
        """The apprise address of ``path`` on this server."""
        return f"json://127.0.0.1:{self.port}{path}"

    def posts_to(self, path: str, *, accepted_only: bool = True) -> list[Post]:
        """The POSTs ``path`` received (only those answered 2xx unless told otherwise)."""
        with self._lock:
            return [
                p
                for p in self.posts
                if p.path == path and (not accepted_only or 200 <= p.status < 300)
            ]

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
