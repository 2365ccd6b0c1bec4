"""Serving a cached feed: requests per second (200 and 304) against StaticFiles on the same bytes.

Builds a store with 100 feed items of real papers, starts the web app (``create_app``) under
uvicorn on 127.0.0.1 in its own process, and next to it, in the same run, a Starlette app whose
only route is ``StaticFiles`` over a folder holding the very same bytes (the baseline: the
cheapest way Python serves a file). Each is loaded for a few seconds with concurrent keep-alive
clients, once for full 200 answers and once with ``If-None-Match`` for 304s.

Load generator: ``wrk`` (Debian's package) when installed; it is C and takes little CPU from
the server on a 2-core machine. Without it, an asyncio client in a separate process (raw
sockets, keep-alive; httpx itself would be the bottleneck), which is slower to generate load,
so its figures are lower bounds. Prints a table and writes bench/results/feed.json.

    python bench/feed_bench.py [--seconds 5] [--connections 32] [--python-load]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# `python bench/x.py` puts only bench/ on the path; the root makes tests.support importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.data_paths import CORPUS

RESULTS = Path(__file__).resolve().parent / "results" / "feed.json"
TARGET_RPS = 2_000
DAYS, PER_DAY = 5, 20


def fill_store(database_url: str) -> None:
    """Five settled days of 20 real papers each: a 100-item daily feed."""
    from paperfeed.crawler.records import PaperRecord
    from paperfeed.store import migrate
    from paperfeed.store.db import make_engine
    from tests.feeds.feed_samples import save_list

    docs = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    for n in range(DAYS):
        day = date(2026, 9, 21) + timedelta(days=n)
        chunk = docs[n * PER_DAY : (n + 1) * PER_DAY]
        papers = tuple(
            PaperRecord(
                arxiv_id=f"2609.{n:02d}{i:03d}",
                title=d["title"],
                abstract=d["abstract"],
                authors=("Ada Lovelace", "Alan Turing", f"Author {i}"),
                github_repo=f"https://github.com/example/repo{i}",
            )
            for i, d in enumerate(chunk)
        )
        at = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        upvotes = [100 - i for i in range(len(papers))]
        save_list(engine, day, papers, upvotes, at=at, settled=True)
    engine.dispose()


def serve(kind: str, port: int, var_dir: str, database_url: str, static_dir: str) -> None:
    """Run one server in this process until killed: the app, or the StaticFiles baseline."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from paperfeed.config import Settings
    from paperfeed.web.app import create_app

    if kind == "app":
        settings = Settings(
            var_dir=Path(var_dir), database_url=database_url, public_url="http://127.0.0.1"
        )
        app = create_app(settings)
    else:
        app = Starlette(routes=[Mount("/feeds", app=StaticFiles(directory=static_dir))])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(port: int, path: str) -> tuple[str, bytes]:
    """Wait for the server; returns the feed's ETag and bytes."""
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            response.raise_for_status()
            return response.headers["etag"], response.content
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_wrk(url: str, *, seconds: int, connections: int, etag: str | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if etag:
        command[1:1] = ["-H", f"If-None-Match: {etag}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "bad_responses": float(errors.group(1)) if errors else 0.0,
    }


async def _client(host: str, port: int, request: bytes, stop: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    while time.monotonic() < stop:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        if length:
            await reader.readexactly(int(length.group(1)))
        counts[0] += 1
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 304")):
            counts[1] += 1
    writer.close()


def _python_load(
    port: int,
    path: str,
    seconds: int,
    connections: int,
    etag: str | None,
    queue: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    extra = f"If-None-Match: {etag}\r\n" if etag else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
    counts = [0, 0]

    async def main() -> None:
        stop = time.monotonic() + seconds
        await asyncio.gather(
            *(_client("127.0.0.1", port, request, stop, counts) for _ in range(connections))
        )

    started = time.monotonic()
    asyncio.run(main())
    queue.put((counts[0] / (time.monotonic() - started), counts[1]))


def run_python(
    port: int, path: str, *, seconds: int, connections: int, etag: str | None
) -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    worker = multiprocessing.Process(
        target=_python_load, args=(port, path, seconds, connections, etag, queue)
    )
    worker.start()
    rps, bad = queue.get(timeout=seconds + 60)
    worker.join()
    return {"rps": rps, "p99_ms": float("nan"), "bad_responses": float(bad)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--python-load", action="store_true", help="use the asyncio client even if wrk is there"
    )
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    with tempfile.TemporaryDirectory() as tmp:
        var_dir = Path(tmp) / "var"
        static_dir = Path(tmp) / "static"
        static_dir.mkdir()
        database_url = f"sqlite:///{var_dir / 'paperfeed.db'}"
        fill_store(database_url)
        servers: dict[str, tuple[multiprocessing.Process, int]] = {}
        try:
            for kind in ("app", "static"):
                port = free_port()
                process = multiprocessing.Process(
                    target=serve, args=(kind, port, str(var_dir), database_url, str(static_dir))
                )
                process.start()
                servers[kind] = (process, port)
                if kind == "app":
                    _, body = wait_ready(port, "/feeds/daily.rss")
                    (static_dir / "daily.rss").write_bytes(body)
            rows = []
            for kind in ("app", "static"):
                port = servers[kind][1]
                etag, body = wait_ready(port, "/feeds/daily.rss")
                for status, validator in (("200", None), ("304", etag)):
                    url = f"http://127.0.0.1:{port}/feeds/daily.rss"
                    if use_wrk:
                        result = run_wrk(
                            url, seconds=args.seconds, connections=args.connections, etag=validator
                        )
                    else:
                        result = run_python(
                            port,
                            "/feeds/daily.rss",
                            seconds=args.seconds,
                            connections=args.connections,
                            etag=validator,
                        )
                    rows.append({"server": kind, "status": status, "bytes": len(body), **result})
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.join(10)
    baseline = {r["status"]: r["rps"] for r in rows if r["server"] == "static"}
    print(
        f"feed bench: {DAYS * PER_DAY}-item RSS feed, uvicorn 1 process, {args.connections} "
        f"keep-alive connections, {args.seconds} s each, load by "
        f"{'wrk' if use_wrk else 'asyncio client (lower bound)'}"
    )
    print(f"{'server':<22}{'answer':>7}{'bytes':>9}{'req/s':>10}{'p99 ms':>9}{'vs static':>11}")
    for r in rows:
        name = "paperfeed (cached)" if r["server"] == "app" else "StaticFiles baseline"
        ratio = r["rps"] / baseline[r["status"]]
        print(
            f"{name:<22}{r['status']:>7}{r['bytes'] if r['status'] == '200' else 0:>9}"
            f"{r['rps']:>10.0f}{r['p99_ms']:>9.2f}{ratio:>10.2f}x"
        )
    app_rates = [r["rps"] for r in rows if r["server"] == "app"]
    ok = min(app_rates) >= TARGET_RPS and all(r["bad_responses"] == 0 for r in rows)
    verdict = "met" if ok else "MISSED"
    if not ok and not use_wrk:
        verdict = "not judged: the asyncio client is the limit here (apt-get install wrk)"
    print(f"target: >= {TARGET_RPS} req/s for the cached feed (200 and 304): {verdict}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "load_generator": "wrk" if use_wrk else "asyncio",
                "connections": args.connections,
                "seconds": args.seconds,
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "rows": rows,
                "target_rps": TARGET_RPS,
                "met": ok,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0 if ok or not use_wrk else 1


if __name__ == "__main__":
    sys.exit(main())
