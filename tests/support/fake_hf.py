"""A fake Hugging Face over real HTTP on 127.0.0.1, for tests and local runs.

Serves what the crawler reads — ``/api/daily_papers``, ``/papers/date/D``, ``/papers``,
``/papers/trending``, ``/api/papers/{id}`` — from days of real-shaped API items (the captures
in data/hf/, or synthetic days built from them), and injects faults on demand:
429 with Retry-After, 500/503, a hang past the client's timeout, truncated JSON, a page
without its props, a page whose props miss a card. Like HF, an unknown or future day's page
shows the latest list.

In tests::

    with FakeHF.from_fixtures(FIXTURES_DIR) as hf:
        hf.inject("429", count=1, retry_after="7", path="/api/daily_papers")
        ... make_client(Settings(hf_base_url=hf.url)) ...

From the repository root:
``python -m tests.support.fake_hf --port 8999 [--days DIR] [--synthetic 30]`` where DIR
holds ``YYYY-MM-DD.json`` files (a list of API items each) and optional ``YYYY-MM-DD.html``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.hf_days import (
    FIXTURE_PAGE_DAY,
    FIXTURES_DIR,
    Item,
    fixture_items,
    load_items,
    page_items,
    read_days,
    render_page,
    synthetic_days,
)

FaultKind = Literal["429", "500", "503", "hang", "truncated_json", "no_props", "short_props"]


@dataclass
class Fault:
    """The next ``count`` requests whose path starts with ``path`` go wrong this way."""

    kind: FaultKind
    count: int = 1
    path: str = "/"
    retry_after: str | None = "1"
    ratelimit: str | None = None


@dataclass(frozen=True)
class SeenRequest:
    """One request the fake answered (or failed on purpose)."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    fault: FaultKind | None = None


@dataclass
class FakeHF:
    """The fake server's data and faults; ``with`` it to serve on a free port."""

    days: dict[date, list[Item]]
    pages: dict[date, bytes] = field(default_factory=dict)  # real captured pages, served as is
    trending: list[Item] | None = None
    hang_seconds: float = 3.0
    seen: list[SeenRequest] = field(default_factory=list)
    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def from_fixtures(cls, fixtures: Path = FIXTURES_DIR, **kwargs: Any) -> FakeHF:
        """The three captured days: 2026-09-28 (the real page), 2026-08-03, 2026-09-29."""
        page = (fixtures / "papers_2026-09-28.html").read_bytes()
        days = {
            FIXTURE_PAGE_DAY: page_items(page),
            date(2026, 8, 3): load_items(fixtures / "api_daily_papers_2026-08-03.json"),
            date(2026, 9, 29): load_items(fixtures / "api_daily_papers_2026-09-29_trimmed.json"),
        }
        return cls(days=days, pages={FIXTURE_PAGE_DAY: page}, **kwargs)

    # -- control ---------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        count: int = 1,
        path: str = "/",
        retry_after: str | None = "1",
        ratelimit: str | None = None,
    ) -> None:
        """Make the next ``count`` requests under ``path`` fail as ``kind``."""
        with self._lock:
            self._faults.append(Fault(kind, count, path, retry_after, ratelimit))

    def paths(self, prefix: str = "/") -> list[str]:
        """Paths requested so far (with their query), in order, under ``prefix``."""
        return [
            r.path + ("?" + "&".join(f"{k}={v}" for k, v in r.query.items()) if r.query else "")
            for r in list(self.seen)
            if r.path.startswith(prefix)
        ]

    @property
    def url(self) -> str:
        """Base URL to give the crawler (``PAPERFEED_HF_BASE_URL``)."""
        if self._server is None:
            raise RuntimeError("FakeHF is not serving; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, *, port: int = 0) -> FakeHF:
        """Serve on 127.0.0.1:``port`` (0: a free one) in a background thread."""
        fake = self

        class Handler(_Handler):
            hf = fake

        self._stop.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests hanging on purpose are released."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeHF:
        return self if self._server is not None else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- answers -----------------------------------------------------------------------------

    def latest(self) -> date | None:
        """The newest day with a list: what HF shows for a future or unknown day."""
        listed = [day for day, items in self.days.items() if items]
        return max(listed) if listed else None

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and path.startswith(fault.path):
                    fault.count -= 1
                    return fault
        return None

    def answer(self, path: str, query: dict[str, str], fault: Fault | None) -> _Answer:
        """Status, headers and body for one GET (the fault already applied where it shapes
        the body)."""
        if path == "/api/daily_papers":
            return self._daily_api(query)
        if path.startswith("/api/papers/"):
            return self._paper_api(unquote(path.removeprefix("/api/papers/")))
        if path == "/papers/trending":
            items = (
                self.trending
                if self.trending is not None
                else self.days.get(self.latest() or date.min, [])
            )
            return _html(_render(items, day=None, trending=True, fault=fault))
        if path in ("/papers", "/papers/"):
            return self._day_page(self.latest(), fault)
        if path.startswith("/papers/date/"):
            try:
                day = date.fromisoformat(path.removeprefix("/papers/date/"))
            except ValueError:
                return _json_answer({"error": "Not Found"}, status=404)
            # Like HF: a day without a list of its own shows the latest list instead.
            return self._day_page(day if day in self.days else self.latest(), fault)
        return _json_answer({"error": "Not Found"}, status=404)

    def _daily_api(self, query: dict[str, str]) -> _Answer:
        try:
            day = date.fromisoformat(query["date"]) if "date" in query else self.latest()
            limit = max(1, min(100, int(query.get("limit", "50"))))
            page = max(0, int(query.get("p", "0")))
        except ValueError as exc:
            return _json_answer({"error": f"Invalid query: {exc}"}, status=400)
        items = self.days.get(day, []) if day else []
        return _json_answer(items[page * limit : (page + 1) * limit])

    def _paper_api(self, arxiv_id: str) -> _Answer:
        for items in self.days.values():
            for item in items:
                paper = item.get("paper")
                if isinstance(paper, dict) and paper.get("id") == arxiv_id:
                    return _json_answer(paper)
        return _json_answer({"error": "Paper not found"}, status=404)

    def _day_page(self, day: date | None, fault: Fault | None) -> _Answer:
        if day is None:
            return _html(_render([], day=None, trending=False, fault=fault))
        if day in self.pages and (fault is None or fault.kind == "no_props"):
            body = self.pages[day]
            if fault is not None:
                body = re.sub(rb'(data-target="DailyPapers") data-props="[^"]*"', rb"\1", body)
            return _html(body)
        return _html(_render(self.days[day], day=day, trending=False, fault=fault))


class FakeClock:
    """A crawler ``Clock`` whose sleeps return at once and advance its time, to measure waits."""

    def __init__(self, start: datetime = datetime(2026, 9, 28, 12, tzinfo=UTC)) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)


def _render(items: list[Item], *, day: date | None, trending: bool, fault: Fault | None) -> bytes:
    kind = fault.kind if fault else None
    return render_page(
        items,
        day=day,
        trending=trending,
        with_props=kind != "no_props",
        props_short_by=1 if kind == "short_props" and items else 0,
    )


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _json_answer(value: object, *, status: int = 200) -> _Answer:
    return _Answer(status, "application/json; charset=utf-8", json.dumps(value).encode())


def _html(body: bytes) -> _Answer:
    return _Answer(200, "text/html; charset=utf-8", body)


class _Handler(BaseHTTPRequestHandler):
    hf: FakeHF
    protocol_version = "HTTP/1.1"  # keep-alive, like the real thing
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        fault = self.hf.take_fault(parts.path)
        self.hf.seen.append(
            SeenRequest(
                parts.path, query, dict(self.headers.items()), fault.kind if fault else None
            )
        )
        if fault is not None and fault.kind == "hang":
            self.hf._stop.wait(self.hf.hang_seconds)  # past the client's timeout
        if fault is not None and fault.kind in ("429", "500", "503"):
            headers = []
            if fault.retry_after is not None:
                headers.append(("Retry-After", fault.retry_after))
            if fault.ratelimit is not None:
                headers.append(("RateLimit", fault.ratelimit))
            message = json.dumps({"error": f"fake HF says {fault.kind}"}).encode()
            answer = _Answer(int(fault.kind), "application/json", message, tuple(headers))
        else:
            answer = self.hf.answer(parts.path, query, fault)
            if fault is not None and fault.kind == "truncated_json":
                answer = _Answer(
                    answer.status, answer.content_type, answer.body[: len(answer.body) // 2]
                )
        self._send(answer)

    def _send(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:  # the client gave up (timeout test): nothing left to tell it
            self.close_connection = True

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read ``FakeHF.seen`` instead of a log on stderr


def main(argv: Iterable[str] | None = None) -> None:
    """Serve the fixtures (plus ``--days`` and ``--synthetic`` days) until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8999, help="port on 127.0.0.1 (0: any)")
    parser.add_argument(
        "--fixtures", type=Path, default=FIXTURES_DIR, help="data/hf (the real captures)"
    )
    parser.add_argument("--days", type=Path, help="folder of YYYY-MM-DD.json (and .html) days")
    parser.add_argument(
        "--synthetic", type=int, default=0, help="add N synthetic days ending today"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    fake = FakeHF.from_fixtures(args.fixtures)
    if args.synthetic:
        today = datetime.now(UTC).date()
        start = today - timedelta(days=args.synthetic - 1)
        fake.days.update(
            synthetic_days(fixture_items(args.fixtures), start=start, count=args.synthetic)
        )
    if args.days:
        days, pages = read_days(args.days)
        fake.days.update(days)
        fake.pages.update(pages)
    with fake.start(port=args.port):
        print(f"fake Hugging Face at {fake.url} ({len(fake.days)} days); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
