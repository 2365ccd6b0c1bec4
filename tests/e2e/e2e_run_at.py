"""Run the paperfeed command line with its wall clock starting at a moment it is told.

    python tests/e2e/e2e_run_at.py run --port 8123 < moment   (e.g. 2026-10-05T23:00:00+00:00)

The end-to-end scenario needs the real daemon to live through two weeks in about a minute.
This is the real ``paperfeed`` command (the entry point ``python -m paperfeed`` runs); only
its wall clock moves: time-machine (the library the scheduler's clock tests use) makes
``datetime.now`` and ``time.time`` start at the given moment and tick at the normal rate,
while monotonic time, sleeps, socket and lock timeouts stay real. The moment is read from
stdin after paperfeed is imported, so the scenario can start the next daemon's process (and
pay for its imports) while the previous one is still at work; nothing of paperfeed runs
before the moment arrives. libfaketime, the usual tool, cannot run Python 3.11 on Debian 12:
its 0.9.10 makes ``time.sleep`` fail with EINVAL when monotonic time is excluded
(wolfcw/libfaketime#426) and hangs timed thread waits when it is not (#390).
"""

from __future__ import annotations

import sys
from datetime import datetime

import time_machine

from paperfeed.cli import app


def main(argv: list[str]) -> None:
    """Wait for the start moment (ISO, with its UTC offset) on stdin, then run ``argv``."""
    line = sys.stdin.readline().strip()
    if not line:
        raise SystemExit("no start moment on stdin: the scenario gave up on this process")
    start = datetime.fromisoformat(line)
    if start.tzinfo is None:
        raise SystemExit(f"{line!r} needs a UTC offset, e.g. 2026-10-05T23:00:00+00:00")
    with time_machine.travel(start, tick=True):
        app(args=argv, prog_name="paperfeed")


if __name__ == "__main__":
    main(sys.argv[1:])
