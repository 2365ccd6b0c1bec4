"""The README's recipes, run as written (through bash) against a temp SQLite and the fake HF.

Every line of a ```sh block and every inline command (a code span that starts with a program)
is either run here or listed in SKIPPED with the reason, so a new recipe cannot go untested
unnoticed. Synopses from the generated command table (with placeholders) are not recipes.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

SKIPPED = {
    "make run": "installs into .venv and serves until stopped; tests/e2e runs the daemon",
    "make run HOST=0.0.0.0 PORT=8080": "as `make run`",
    "make test": "is this test suite (and builds .venv-semantic)",
    "make bench": "the benchmarks, minutes long; bench/README.md publishes their output",
    "docker compose up": "needs Docker and the images' registry (network)",
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": (
        "needs the real network (PyTorch's package index)"
    ),
    "pip install 'paperfeed[semantic]'": "needs the real network (PyPI)",
    '.venv/bin/alembic revision --autogenerate -m "what changed"': (
        "writes a new migration into the package; tests/store/test_migrations.py checks that "
        "autogenerate finds nothing to add"
    ),
    "paperfeed run": "serves until stopped; tests/e2e runs it as a real process",
    "paperfeed worker": "drains until stopped; tests/mailer/test_mail_cli.py runs it",
    '.venv/bin/pytest -m "not e2e and not faults"': "is this test suite",
    "paperfeed tick": "one cron-mode pass; tests/jobs and tests/e2e run it",
    "paperfeed bounces poll": (
        "needs an IMAP mailbox; tests/bounces/test_mailbox_command.py runs it against dovecot"
    ),
    "paperfeed dkim-record": "needs a DKIM key; tests/mailer/test_dkim_cli.py runs it",
    ".venv/bin/python docs/screenshots/take.py": (
        "runs tests/web/test_web_pages_browser.py (part of this suite) and rewrites the PNGs"
    ),
}
FAKE_HF = "python -m tests.support.fake_hf --port 8999 --synthetic 20"
CRAWL = "PAPERFEED_HF_BASE_URL=http://127.0.0.1:8999 paperfeed crawl"
RANK = "paperfeed rank --interests '\"speculative decoding\"\\n-vision'"
RUN_HERE = {
    FAKE_HF,
    CRAWL,
    RANK,
    "paperfeed db upgrade",
    "export PAPERFEED_RANKER=hybrid",
    "paperfeed embed",
}
# A program and its arguments, optionally after VAR=value assignments.
COMMAND = re.compile(
    r"^(?:PAPERFEED_[A-Z_]+=\S+ )*(?:make|docker|pip|python|\.venv/bin/\w+|paperfeed) \S"
)
PLACEHOLDER = re.compile(r"[\[<…]")


def _text() -> str:
    return README.read_text(encoding="utf-8")


def sh_lines(text: str) -> list[str]:
    """The commands of every ```sh block, comments and blank lines dropped."""
    lines: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def inline_commands(text: str) -> list[str]:
    """Code spans in the prose (not blocks, not tables) that run a program as written."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"<!--.*?-->", "", prose, flags=re.DOTALL)  # cog's markers and notes
    prose = "\n".join(line for line in prose.splitlines() if not line.startswith("|"))
    spans = re.findall(r"`([^`\n]+)`", prose)
    return [s for s in spans if COMMAND.match(s) and not PLACEHOLDER.search(s)]


def test_every_recipe_is_run_here_or_skipped_with_a_reason() -> None:
    text = _text()
    recipes = set(sh_lines(text)) | set(inline_commands(text))
    assert FAKE_HF in recipes  # the extraction finds the recipes
    assert RANK in recipes
    unknown = recipes - set(SKIPPED) - RUN_HERE
    assert not unknown, f"README recipes neither run nor skipped with a reason: {unknown}"
    stale = (set(SKIPPED) | RUN_HERE) - recipes
    assert not stale, f"recipes listed here that the README no longer has: {stale}"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `python`, `paperfeed`
    env["PAPERFEED_VAR_DIR"] = str(tmp_path / "var")
    return env


def bash(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a recipe as a reader would paste it."""
    return subprocess.run(
        ["bash", "-c", command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def fake_hf(tmp_path: Path) -> Iterator[int]:
    """The README's fake-HF recipe, on a free port instead of 8999."""
    port = free_port()
    command = FAKE_HF.replace("8999", str(port))
    server = subprocess.Popen(  # bash runs the README's own line
        ["bash", "-c", f"exec {command}"],
        env=_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the fake HF did not start in 30 s"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


@pytest.mark.slow
def test_the_offline_recipe_crawls_the_fake_hf_and_rank_explains_the_scores(
    fake_hf: int, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    text = _text()
    for recipe in (CRAWL, RANK, "`paperfeed db upgrade`"):
        assert recipe in text

    upgraded = bash("paperfeed db upgrade", env, tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    crawled = bash(CRAWL.replace("8999", str(fake_hf)), env, tmp_path)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert re.search(r"[1-9]\d* papers", crawled.stdout), crawled.stdout

    ranked = bash(RANK, env, tmp_path)
    assert ranked.returncode == 0, ranked.stdout + ranked.stderr
    assert 'understood topic: "speculative decoding"' in ranked.stdout
    assert "understood exclude: vision" in ranked.stdout  # \n made it a second line
    assert re.search(r"\d+ of [1-9]\d* papers of \d{4}-\d\d-\d\d match", ranked.stdout)


def test_version_recipe(tmp_path: Path) -> None:
    done = bash("paperfeed --version", _env(tmp_path), tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("paperfeed ")


def test_the_semantic_recipe_embeds_or_names_the_extra_to_install(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert bash("paperfeed db upgrade", env, tmp_path).returncode == 0
    done = bash("export PAPERFEED_RANKER=hybrid\npaperfeed embed", env, tmp_path)
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        assert done.returncode == 2, done.stdout + done.stderr
        assert "paperfeed[semantic]" in done.stderr.replace("\n", "")
    else:
        assert done.returncode == 0, done.stdout + done.stderr
