"""Issue 18, "CLI details": each command says what it did (or why not) in one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperfeed.cli import app
from tests.support.fake_hf import FakeHF
from tests.support.hf_days import FIXTURES_DIR

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_LOG_LEVEL": "error",
        "COLUMNS": "200",
    }
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    return env


@pytest.fixture
def fake() -> Iterator[FakeHF]:
    with FakeHF.from_fixtures(FIXTURES_DIR, hang_seconds=1.0) as server:
        yield server


def _add(env: dict[str, str], email: str, interests: str, *extra: str) -> None:
    args = ["subscribers", "add", email, "--interests", interests, "--confirmed", *extra]
    added = runner.invoke(app, args, env=env)
    assert added.exit_code == 0, added.output


def test_compose_for_an_unknown_address_says_not_subscribed_and_exits_2(
    env: dict[str, str],
) -> None:
    result = runner.invoke(app, ["compose", "--subscriber", "Nobody@Example.com"], env=env)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: nobody@example.com is not subscribed; `paperfeed subscribers list` shows who is"
    ]


def test_compose_for_a_paused_or_pending_address_says_so(env: dict[str, str]) -> None:
    _add(env, "off@example.com", "rlhf", "--frequency", "off")
    result = runner.invoke(app, ["compose", "--subscriber", "off@example.com"], env=env)
    assert result.exit_code == 2, result.output
    assert "off@example.com has digests paused or off" in result.output
    assert "composed" not in result.output


def test_compose_for_a_subscriber_still_composes(env: dict[str, str]) -> None:
    _add(env, "a@example.com", "rlhf")
    result = runner.invoke(app, ["compose", "--subscriber", "a@example.com"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("composed ")


def test_send_off_a_terminal_prints_its_line_first(env: dict[str, str], tmp_path: Path) -> None:
    # A real process with pipes, as cron runs it: no progress bar's empty line before it.
    done = subprocess.run(
        [sys.executable, "-m", "paperfeed", "send"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent 0, retried 0"), repr(done.stdout)
    assert done.stderr == ""


def test_tick_prints_one_line_with_what_each_job_did(env: dict[str, str], fake: FakeHF) -> None:
    _add(env, "a@example.com", "rlhf")
    result = runner.invoke(
        app,
        ["tick", "--housekeeping"],
        env={**env, "PAPERFEED_HF_BASE_URL": fake.url, "PAPERFEED_HF_MAX_ATTEMPTS": "1"},
    )
    assert result.exit_code == 0, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("tick: crawl: crawled ")
    assert "; compose: composed " in line
    assert "; send: sent " in line
    assert "; housekeeping: 0 unconfirmed sign-ups expired" in line
    # The next tick: the crawl is not due again, and says so.
    again = runner.invoke(app, ["tick"], env={**env, "PAPERFEED_HF_BASE_URL": fake.url})
    assert again.output.startswith("tick: crawl: not due; compose: composed 0 editions")


def test_crawl_dry_run_on_an_empty_database_says_what_it_would_store(
    env: dict[str, str], fake: FakeHF
) -> None:
    result = runner.invoke(
        app,
        ["crawl", "--date", "2026-09-28", "--dry-run"],
        env={**env, "PAPERFEED_HF_BASE_URL": fake.url},
    )
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last == (
        "would store 28 papers from 1 list (1 ok, 0 errors, 0 warnings); dry run: nothing written"
    )
    assert "0 new" not in result.output


def test_subscribers_list_marks_interests_it_cuts_with_an_ellipsis(env: dict[str, str]) -> None:
    _add(env, "multi@example.com", "video diffusion\\nstate space models")
    _add(env, "one@example.com", "agents")
    listed = runner.invoke(app, ["subscribers", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    [multi] = [line for line in listed.output.splitlines() if "multi@example.com" in line]
    [one] = [line for line in listed.output.splitlines() if "one@example.com" in line]
    assert "video diffusion …" in multi
    assert "state space" not in multi
    assert "agents" in one
    assert "…" not in one


@pytest.mark.parametrize("interests", ["", "   ", "\\n"])
def test_rank_refuses_empty_interests_like_subscribers_add(
    env: dict[str, str], interests: str
) -> None:
    result = runner.invoke(app, ["rank", "--interests", interests], env=env)
    assert result.exit_code == 2, result.output
    assert "give nothing to match (they are empty)" in result.output
    assert "score" not in result.output  # no empty table
    added = runner.invoke(app, ["subscribers", "add", "a@example.com", "--interests", interests])
    assert added.exit_code == 2


def test_rank_checks_the_date_before_saying_what_it_understood(env: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["rank", "--interests", "video diffusion", "--date", "2026-02-30"], env=env
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: --date '2026-02-30' is not a date; use YYYY-MM-DD"
    ]
