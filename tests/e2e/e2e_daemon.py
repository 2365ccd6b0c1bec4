"""Starting the real ``paperfeed run`` at a simulated moment, and knowing when its pass is done.

On start the daemon crawls, composes what is due and sends it, in that order, before its
interval jobs take over; every job is an idempotent pass over the database and the clock.
The scenario therefore lives through its two weeks as one daemon start per simulated
moment: start at T (wall clock moved by ``e2e_run_at.py``), wait until the start-up pass
has composed and the outbox is empty, SIGTERM, move on; each must exit 0 with no error
logged. The next process is spawned (and imports paperfeed) while the current one works; it
is told its moment, and starts, only once the current one has stopped and closed its store.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func
from sqlmodel import col, select

from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, DeliveryStatus

RUN_AT = Path(__file__).with_name("e2e_run_at.py")
START_TIMEOUT = 60.0
PASS_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
OUTSTANDING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
STOPPED = b"\npaperfeed stopped\n"  # printed by `paperfeed run` once it closed the store
LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:[0-9]+)")


def wait_until(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.1)


@dataclass
class DaemonSetup:
    """What every start of the scenario's daemon shares: environment, store, log folder."""

    env: dict[str, str]
    engine: Engine
    logs: Path
    starts: int = field(default=0)

    def spawn(self) -> WaitingDaemon:
        """A ``paperfeed run`` process, imported and waiting for its moment."""
        self.starts += 1
        log = self.logs / f"daemon-{self.starts:02d}.log"
        with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the daemon
            # Port 0: the system picks a free one when the daemon binds, and uvicorn logs it.
            process = subprocess.Popen(
                [sys.executable, str(RUN_AT), "run", "--port", "0"],
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return WaitingDaemon(process, log, self.engine)


@dataclass
class WaitingDaemon:
    """A daemon process that has not been told its moment yet."""

    process: subprocess.Popen[bytes]
    log: Path
    engine: Engine

    def go(self, at: datetime) -> RunningDaemon:
        """Start it with its wall clock at ``at``."""
        assert self.process.stdin is not None
        self.process.stdin.write(at.isoformat().encode() + b"\n")
        self.process.stdin.close()
        return RunningDaemon(self.process, self.log, self.engine, at)

    def kill(self) -> None:
        """Make sure the process is gone (it was never needed, or a test failed)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()


@dataclass
class RunningDaemon:
    """One daemon process of the scenario."""

    process: subprocess.Popen[bytes]
    log: Path
    engine: Engine
    at: datetime
    url: str = ""  # known once the web app listens (see wait_for_web)
    _read: int = 0
    _events: list[dict[str, Any]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        """The structured (JSON) log lines written so far."""
        with self.log.open("rb") as handle:
            handle.seek(self._read)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written waits for later
        self._read += len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    self._events.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise AssertionError(f"a broken JSON log line ({exc}): {line!r}") from None
        return self._events

    def tail(self, chars: int = 4000) -> str:
        """The end of the log, for failure messages."""
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def _alive(self, what: str) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"the daemon started at {self.at} exited ({self.process.returncode}) before "
                f"{what}:\n{self.tail()}"
            )

    def wait_for_web(self) -> None:
        """Block until the web app listens (learning its address) and answers ``/healthz``."""

        def listens() -> bool:
            self._alive("its web app listened")
            found = LISTENING.search(self.log.read_text(encoding="utf-8", errors="replace"))
            if found:
                self.url = found.group(1)
            return found is not None

        wait_until(f"the daemon started at {self.at} listened", listens, START_TIMEOUT)

        def answers() -> bool:
            self._alive("its web app answered")
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(f"{self.url}/healthz answered", answers, START_TIMEOUT)

    def wait_for_pass(self) -> None:
        """Block until the start-up pass has composed and every delivery has been handed over."""

        def composed() -> bool:
            self._alive("its start-up pass composed")
            return any(e.get("event") == "compose.done" for e in self.events())

        wait_until(f"the daemon started at {self.at} composed", composed, PASS_TIMEOUT)

        def drained() -> bool:
            self._alive("its outbox was drained")
            return outstanding(self.engine) == 0

        wait_until(f"the daemon started at {self.at} drained its outbox", drained, PASS_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM, then wait until it has let go of everything (the CLI's last line).

        Only the interpreter's exit is left then; ``finish`` waits for it and checks it,
        while the next daemon already works.
        """
        self.process.send_signal(signal.SIGTERM)

        def let_go() -> bool:
            return self.process.poll() is not None or STOPPED in self.log.read_bytes()

        wait_until(f"the daemon started at {self.at} stopped", let_go, STOP_TIMEOUT)

    def finish(self) -> None:
        """The stopped daemon must exit 0 and have logged no failed job and no error."""
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the daemon did not exit after SIGTERM:\n{self.tail()}") from None
        assert code == 0, f"the daemon exited {code}:\n{self.tail()}"
        bad = [e for e in self.events() if e.get("level") in ("error", "critical")]
        assert not bad, f"the daemon started at {self.at} logged errors: {bad}\n{self.tail()}"

    def kill(self) -> None:
        """Make sure the process is gone (cleanup after a failure)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def outstanding(engine: Engine) -> int:
    """Deliveries not yet handed over (pending, or claimed by a sender)."""
    with session_scope(engine) as session:
        return int(
            session.exec(select(func.count()).where(col(Delivery.status).in_(OUTSTANDING))).one()
        )


def daemon_env(
    *,
    var_dir: Path,
    database_url: str,
    hf_url: str,
    smtp_url: str,
    public_url: str,
) -> dict[str, str]:
    """The daemon's environment: the real parts' addresses and the scenario's few settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env.update(
        PAPERFEED_VAR_DIR=str(var_dir),
        PAPERFEED_DATABASE_URL=database_url,
        PAPERFEED_HF_BASE_URL=hf_url,
        PAPERFEED_SMTP_URL=smtp_url,
        PAPERFEED_PUBLIC_URL=public_url,
        # 500 sign-ups come from the test's one address (the default allows 10 an hour).
        PAPERFEED_SUBSCRIBE_PER_IP_PER_HOUR="1000",
        # Each start composes once, at its simulated send time; an interval pass during a
        # long start would compose at an unplanned moment.
        PAPERFEED_COMPOSE_INTERVAL_MINUTES="1440",
        # Yesterday and today: each list is crawled the day it appears and again when it
        # settles (late additions, new upvotes); a wider window only costs paced requests.
        PAPERFEED_RECRAWL_DAYS="1",
        # Two weeks of editions fit in one personal feed, so it can be compared whole.
        PAPERFEED_FEED_MAX_ITEMS="1000",
    )
    return env
