"""A first ``paperfeed run`` that explains itself, as real processes.

Without network the daemon gives its first crawl up within a minute with one error line,
says ``degraded`` on /healthz, tries again before the next scheduled crawl and still stops
within 5 s on SIGTERM, even in the middle of a retry's wait. Without a public URL, mailed
links carry the port it listens on. A port in use is one line and exit 2. Off a terminal,
every line is JSON, uvicorn's too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

from tests.support.cycle_samples import serving_smtp
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import FIXTURES_DIR
from tests.support.ports import free_port

PAPERFEED = [sys.executable, "-m", "paperfeed"]
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')
CONFIRM_LINK = re.compile(r"http://[^\s\"'<>]+/confirm/[^\s\"'<>]+")
# A schedule whose next slot is months away: any second crawl is the daemon's own retry.
FAR_SCHEDULE = "0 0 1 1 *"


def _wait_for(what: str, predicate: Callable[[], object], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env["PAPERFEED_VAR_DIR"] = str(tmp_path / "var")
    env.update({f"PAPERFEED_{name.upper()}": value for name, value in settings.items()})
    subprocess.run([*PAPERFEED, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


class Daemon:
    """A ``paperfeed run`` whose stderr goes to a file (not a terminal, not a full pipe)."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [*PAPERFEED, "run", "--port", str(port)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
            )

    def records(self) -> list[dict[str, Any]]:
        """Every log line so far, each parsed as JSON (fails on a line that is not)."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def events(self, name: str) -> list[dict[str, Any]]:
        """The log records of event ``name``."""
        return [r for r in self.records() if r.get("event") == name]

    def health(self) -> dict[str, Any] | None:
        """/healthz's answer, or None while nothing listens."""
        try:
            answer = httpx.get(f"{self.url}/healthz", timeout=2)
        except httpx.HTTPError:
            return None
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def stop(self) -> tuple[int, float, bytes]:
        """SIGTERM; the exit code, the seconds it took and stdout."""
        asked = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, time.monotonic() - asked, out


@contextmanager
def running(env: dict[str, str], log: Path, port: int) -> Iterator[Daemon]:
    """A daemon, killed if the test leaves it running."""
    daemon = Daemon(env, log, port)
    try:
        yield daemon
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.communicate()


def test_without_network_the_daemon_gives_up_fast_retries_soon_and_stops_at_once(
    tmp_path: Path,
) -> None:
    env = _env(
        tmp_path,
        hf_base_url="http://nonexistent.invalid",
        crawl_schedule=FAR_SCHEDULE,
        crawl_retry_seconds="2",
    )
    started = time.monotonic()
    with running(env, tmp_path / "daemon.log", free_port()) as daemon:
        first = _wait_for(
            "the first crawl gives up", lambda: daemon.events("crawl.unreachable"), timeout=60
        )
        assert time.monotonic() - started < 60
        assert first[0]["host"] == "nonexistent.invalid"
        assert "PAPERFEED_HF_BASE_URL" in first[0]["fix"]
        # One error line for the whole run: not one per day, source or try.
        errors = [r for r in daemon.records() if r["level"] == "error"]
        assert [e["event"] for e in errors] == ["crawl.unreachable"]
        retries = daemon.events("crawl.retry")
        assert retries, "the source's own retries are logged"
        assert all("nonexistent.invalid" in r["url"] and r["day"] for r in retries)

        health = _wait_for("/healthz answers", daemon.health, timeout=30)
        assert health["status"] == "degraded"
        assert health["crawl"] == "failing"
        assert "nonexistent.invalid" in health["last_crawl_error"]
        assert health["last_successful_crawl_age_seconds"] is None

        # The next scheduled crawl is months away: a second crawl is the daemon's retry.
        assert daemon.events("crawl.retry_scheduled")
        seen = len(retries)
        _wait_for(
            "the retry crawl is waiting between two tries",
            lambda: len(daemon.events("crawl.retry")) > seen,
            timeout=60,
        )
        code, seconds, out = daemon.stop()

    assert code == 0, daemon.log.read_text()
    assert seconds < 5, f"SIGTERM took {seconds:.1f} s"
    assert b"paperfeed stopped" in out
    assert daemon.events("daemon.stopping")
    # The wait itself ended: nothing had to be abandoned.
    assert not daemon.events("daemon.stop_abandoned")
    assert not [r for r in daemon.records() if r["level"] == "error"][1:]


class Mailbox:
    """An aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else iter([message])
    for part in parts:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def test_run_on_a_port_mails_confirmation_links_on_that_port(tmp_path: Path) -> None:
    mailbox = Mailbox()
    port = free_port()
    with (
        FakeHF.from_fixtures(FIXTURES_DIR) as fake,
        serving_smtp(mailbox) as smtp_url,
    ):
        env = _env(tmp_path, hf_base_url=fake.url, smtp_url=smtp_url, recrawl_days="1")
        with running(env, tmp_path / "daemon.log", port) as daemon:
            _wait_for("/healthz answers", daemon.health, timeout=60)
            with httpx.Client(base_url=daemon.url, timeout=30) as browser:
                page = browser.get("/")
                token = CSRF_FIELD.search(page.text)
                assert token, page.text[:300]
                answer = browser.post(
                    "/subscribe",
                    data={
                        "csrf": token.group(1),
                        "email": "reader@example.org",
                        "interests": "state space models",
                        "timezone": "UTC",
                        "send_hour": "7",
                        "frequency": "daily",
                    },
                    follow_redirects=True,  # a sign-up answers 303 to "check your inbox"
                )
                assert answer.status_code == 200, answer.text[:300]
                assert answer.url.path == "/subscribe/sent"
                _wait_for("the confirmation mail arrives", lambda: mailbox.messages, timeout=30)
                link = CONFIRM_LINK.search(_text(mailbox.messages[0]))
                assert link, _text(mailbox.messages[0])
                assert link.group(0).startswith(f"http://127.0.0.1:{port}/confirm/")
                # ... and the link opens the confirmation page of this very daemon.
                assert browser.get(link.group(0)).status_code == 200
            started = daemon.events("paperfeed.started")
            assert started[0]["public_url"] == f"http://127.0.0.1:{port}"
            assert started[0]["ranker"].startswith("lexical")
            # Real mail (SMTP) with links to a loopback address: said once, at start.
            warnings = daemon.events("config.public_url")
            assert len(warnings) == 1
            assert "loopback" in warnings[0]["warning"]
            assert "PAPERFEED_PUBLIC_URL" in warnings[0]["warning"]
            # Off a terminal uvicorn's lines are JSON records too.
            assert any(
                r.get("logger", "").startswith("uvicorn") and "Uvicorn running on" in r["event"]
                for r in daemon.records()
            )
            code, seconds, _ = daemon.stop()
    assert code == 0
    assert seconds < 5


def test_a_port_in_use_is_one_line_naming_the_option_and_exit_2(tmp_path: Path) -> None:
    env = _env(tmp_path, hf_base_url="http://nonexistent.invalid")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*PAPERFEED, "run", "--port", str(port)],
            env=env,
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr.decode()
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"port {port}" in lines[0]
    assert "--port" in lines[0]
    assert "PORT=" in lines[0]


def _stuck_in_a_request(tmp_path: Path, fake: FakeHF) -> dict[str, str]:
    """A daemon environment whose first crawl request hangs (the fake answers nothing)."""
    fake.inject("hang", count=1000)
    return _env(tmp_path, hf_base_url=fake.url, hf_timeout_seconds="60")


def test_sigterm_during_a_request_that_hangs_still_exits_0_within_5_s(tmp_path: Path) -> None:
    with FakeHF.from_fixtures(FIXTURES_DIR, hang_seconds=60) as fake:
        env = _stuck_in_a_request(tmp_path, fake)
        with running(env, tmp_path / "daemon.log", free_port()) as daemon:
            _wait_for("the crawl's first request is in flight", lambda: fake.seen, timeout=60)
            code, seconds, out = daemon.stop()
    assert code == 0, daemon.log.read_text()
    assert seconds < 5, f"SIGTERM took {seconds:.1f} s"
    assert b"paperfeed stopped" in out
    assert daemon.events("daemon.stop_abandoned")  # left to the next start, like a crash


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    with FakeHF.from_fixtures(FIXTURES_DIR, hang_seconds=60) as fake:
        env = _stuck_in_a_request(tmp_path, fake)
        with running(env, tmp_path / "daemon.log", free_port()) as daemon:
            _wait_for("the crawl's first request is in flight", lambda: fake.seen, timeout=60)
            daemon.process.send_signal(signal.SIGINT)
            _wait_for("the daemon is stopping", lambda: daemon.events("daemon.stopping"), 10)
            daemon.process.send_signal(signal.SIGINT)
            code = daemon.process.wait(timeout=30)
    # 130, not the 0 of a stop that waited out the job: the second Ctrl-C did not wait.
    assert code == 130, daemon.log.read_text()
    assert daemon.events("daemon.stop_forced")
    assert not daemon.events("daemon.stop_abandoned")
