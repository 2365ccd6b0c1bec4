"""The quick commands stay quick: they load none of the heavy libraries the service needs.

Each command runs in a fresh interpreter (a test process has everything imported already),
which then reports what ``sys.modules`` holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "scipy", "fastapi", "starlette", "uvicorn", "alembic", "apscheduler")
# Parsing interests builds their query plan with numpy (paperfeed.ranking.query), so the
# commands that check typed interests load numpy, and nothing else of the list.
HEAVY_BUT_NUMPY = tuple(name for name in HEAVY if name != "numpy")

RUN_AND_REPORT = """
import json, sys
from paperfeed.cli import app
try:
    app(sys.argv[1:], prog_name="paperfeed")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _run(args: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env["PAPERFEED_VAR_DIR"] = str(tmp_path / "var")
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return int(report["code"] or 0), set(report["modules"])


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    code, _ = _run(["db", "upgrade"], tmp_path)
    assert code == 0
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["subscribers", "--help"],
        ["subscribers", "list"],
        ["subscribers", "list", "--status", "active"],
        ["subscribers", "remove", "nobody@example.com"],
    ],
    ids=" ".join,
)
def test_quick_commands_import_none_of_the_heavy_libraries(args: list[str], migrated: Path) -> None:
    code, modules = _run(args, migrated)
    assert code in (0, 2)  # remove of an unknown address is a clean error
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))
    assert "paperfeed" in modules  # the probe did run the CLI


@pytest.mark.parametrize(
    "args",
    [
        ["subscribers", "add", "ada@example.com", "--interests", "state space models"],
        ["subscribers", "add", "bob@example.com", "--interests", "rlhf", "--confirmed"],
    ],
    ids=" ".join,
)
def test_adding_subscribers_imports_no_web_scheduler_or_migration_code(
    args: list[str], migrated: Path
) -> None:
    code, modules = _run(args, migrated)
    assert code == 0
    assert modules.isdisjoint(HEAVY_BUT_NUMPY), sorted(modules & set(HEAVY_BUT_NUMPY))


def test_import_time_of_help_lists_none_of_them(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "paperfeed", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "paperfeed.cli" in imported
    assert not {name for name in imported if name.split(".")[0] in HEAVY}
    assert "subscribers" in done.stdout
