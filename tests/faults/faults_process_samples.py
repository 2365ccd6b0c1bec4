"""Driving real paperfeed processes for the process fault tests, and the points to hurt them.

Processes write their output to a log file, not a pipe (a full pipe would block them), and
the tests read the log for the lines a person would look for. A fault lands at a point the
test waits for: a fake Hugging Face request held open, a SQLite write lock seen while the
process is frozen (SIGSTOP), a message the SMTP sink received.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.fake_hf import FakeHF, Fault

if TYPE_CHECKING:
    from tests.support.fake_hf import _Answer

PAPERFEED = [sys.executable, "-m", "paperfeed"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll ``predicate`` until it holds; fail saying ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


def process_env(var_dir: Path, **settings: str) -> dict[str, str]:
    """This environment plus ``PAPERFEED_VAR_DIR`` and ``PAPERFEED_<NAME>`` for each setting."""
    env = {**os.environ, "PAPERFEED_VAR_DIR": str(var_dir)}
    env.update({f"PAPERFEED_{name.upper()}": value for name, value in settings.items()})
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``paperfeed ARGS`` with its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([*PAPERFEED, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def run(
    args: list[str], env: dict[str, str], *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``paperfeed ARGS`` to the end; its exit code is the caller's to check."""
    return subprocess.run(
        [*PAPERFEED, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def logged(log: Path, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``event`` in a process's log (other lines are skipped)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"event": "{event}"' in line:
            found.append(json.loads(line))
    return found


def freeze(process: subprocess.Popen[bytes]) -> None:
    """SIGSTOP, returning once the kernel shows the process stopped (it can commit nothing)."""
    os.kill(process.pid, signal.SIGSTOP)
    stat = Path(f"/proc/{process.pid}/stat")
    # The state letter follows the command name in parentheses: T is stopped.
    wait_for(lambda: stat.read_text().rpartition(")")[2].split()[0] == "T", 5, "it stopped", 0.001)


def thaw(process: subprocess.Popen[bytes]) -> None:
    """SIGCONT: carry on where ``freeze`` stopped it."""
    os.kill(process.pid, signal.SIGCONT)


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as the OOM killer or a pulled plug would, and reap it."""
    process.kill()
    process.wait(timeout=10)


@dataclass
class GatedFakeHF(FakeHF):
    """The fake Hugging Face, holding one API page open until released: a crawl paused there.

    ``hold`` is the (date, page number) of the ``/api/daily_papers`` request to hold; ``held``
    is set when the crawler asked for it, so a test can kill the crawler at that exact point.
    """

    hold: tuple[str, str] | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, path: str, query: dict[str, str], fault: Fault | None) -> _Answer:
        if path == "/api/daily_papers" and (query.get("date"), query.get("p")) == self.hold:
            self.held.set()
            self.release.wait(timeout=60)
        return super().answer(path, query, fault)


def sqlite_writer_active(database: Path) -> bool:
    """True while another connection holds SQLite's write lock (a write transaction is open)."""
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    else:
        probe.execute("ROLLBACK")
        return False
    finally:
        probe.close()
