"""Where a benchmark's figures end up: one JSON file in bench/results/, with the machine.

Every benchmark writes its record the same way (indented, newline-terminated, the machine it
ran on last), so plot_results.py and a reader comparing runs see one layout.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def write_results(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` with the machine it was measured on."""
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    path.write_text(json.dumps({**record, "machine": machine}, indent=2) + "\n", encoding="utf-8")
