"""Every exit code the README documents, through the real command line.

0 done; 1 the work ran but part of it failed; 2 it could not run and changed nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperfeed.cli import app
from tests.support.cycle_samples import serving_smtp

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


class Refuses:
    async def handle_RCPT(self, *_args: object) -> str:
        return "550 5.1.1 no such user here"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {"PAPERFEED_VAR_DIR": str(tmp_path / "var")}
    assert runner.invoke(app, ["db", "upgrade"], env=values).exit_code == 0
    return values


def test_the_readme_documents_the_three_codes() -> None:
    text = README.read_text(encoding="utf-8")
    assert "| `0` | done |" in text
    assert "| `1` | the work ran but part of it failed" in text
    assert "| `2` | it could not run, and changed nothing" in text


def test_0_when_done(env: dict[str, str]) -> None:
    assert runner.invoke(app, ["subscribers", "list"], env=env).exit_code == 0


def test_1_when_the_subscriber_is_added_but_the_confirmation_mail_is_refused(
    env: dict[str, str],
) -> None:
    with serving_smtp(Refuses()) as smtp_url:
        result = runner.invoke(
            app,
            ["subscribers", "add", "a@example.com", "--interests", "rlhf"],
            env={**env, "PAPERFEED_SMTP_URL": smtp_url},
        )
    assert result.exit_code == 1
    assert "added a@example.com (pending)" in result.stdout
    listed = runner.invoke(app, ["subscribers", "list", "--status", "pending"], env=env)
    assert "a@example.com" in listed.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["subscribers", "add", "not-an-address", "--interests", "rlhf"], "is not an email"),
        (["subscribers", "add", "a@example.com", "--interests", "the"], "nothing to match"),
        (
            ["subscribers", "add", "a@example.com", "--interests", "rlhf", "--timezone", "Mars"],
            "is not an IANA time zone",
        ),
        (
            ["subscribers", "add", "a@example.com", "--interests", "rlhf", "--hour", "25"],
            "Invalid value for '--hour'",
        ),
        (["subscribers", "remove", "nobody@example.com"], "is not subscribed"),
        (["subscribers", "list", "--status", "confirmed"], "'confirmed' is not one of"),
        (["crawl", "--date", "2026-02-30"], "is not a date; use YYYY-MM-DD"),
        (["crawl", "--until", "2026-01-01"], "--until needs --since"),
        (["compose", "--date", "tomorrow"], "is not a date"),
        (["rank", "--interests", "rlhf", "--date", "yesterday"], "is not a date"),
        (["subscribers", "import", "missing.csv"], "cannot read missing.csv"),
        (["subscribers", "frobnicate"], "No such command"),
        (["send", "--dry-run", "--test-to", "me@example.com"], "use one of them"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_2_for_bad_input_or_usage(env: dict[str, str], args: list[str], says: str) -> None:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert says in result.output.replace("\n", " ")
    assert "Traceback" not in result.output


def test_2_for_a_known_address(env: dict[str, str]) -> None:
    add = ["subscribers", "add", "a@example.com", "--interests", "rlhf", "--confirmed"]
    assert runner.invoke(app, add, env=env).exit_code == 0
    again = runner.invoke(app, add, env=env)
    assert again.exit_code == 2
    assert "a@example.com is subscribed already" in again.output


def test_2_for_a_bad_csv_row_and_nothing_is_imported(env: dict[str, str], tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email,interests\na@example.com,rlhf\nbad,agents\n", encoding="utf-8")
    result = runner.invoke(app, ["subscribers", "import", str(people)], env=env)
    assert result.exit_code == 2
    assert "0 subscribers" in runner.invoke(app, ["subscribers", "list"], env=env).stdout


def test_2_for_configuration_and_database(tmp_path: Path) -> None:
    bad_setting = runner.invoke(app, ["subscribers", "list"], env={"PAPERFEED_SMTP_RATE": "-1"})
    assert bad_setting.exit_code == 2
    assert "PAPERFEED_SMTP_RATE" in bad_setting.output
    fresh = {"PAPERFEED_VAR_DIR": str(tmp_path / "fresh")}
    unmigrated = runner.invoke(app, ["subscribers", "list"], env=fresh)
    assert unmigrated.exit_code == 2
    assert "run `paperfeed db upgrade`" in unmigrated.output
