"""The daemon's stderr stays one JSON record per line when its threads log at once.

Found by the two-weeks scenario, which reads the daemon's JSON lines: structlog printed a
line and its newline as two writes, so a line from the stdlib handler (uvicorn's, in the
web thread) could land in between and glue a JSON record to a text one, a line no JSON log
shipper can parse. A child process logs from two threads, as the daemon does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LINES = 3000
CHILD = f"""
import logging, sys, threading
import structlog
from paperfeed.logs import configure_logging

sys.setswitchinterval(1e-6)  # switch threads as often as possible
configure_logging("INFO", json=True)
structured = structlog.get_logger("paperfeed.scheduler")
plain = logging.getLogger("uvicorn.error")
threads = [
    threading.Thread(target=lambda: [structured.info("job.done", n=n) for n in range({LINES})]),
    threading.Thread(target=lambda: [plain.info("request %d", n) for n in range({LINES})]),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_json_and_plain_log_lines_from_two_threads_never_share_a_line(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:  # a file, as under systemd or docker: not a terminal
        subprocess.run([sys.executable, "-c", CHILD], stderr=stderr, check=True, timeout=60)
    structured, plain, broken = 0, 0, []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)  # off a terminal every line is JSON, uvicorn's too
        except json.JSONDecodeError:
            broken.append(line)
            continue
        structured += record["event"] == "job.done"
        plain += record.get("logger") == "uvicorn.error" and record["event"].startswith("request ")
    assert broken == [], f"{len(broken)} lines glued together, e.g. {broken[:2]}"
    assert (structured, plain) == (LINES, LINES)
