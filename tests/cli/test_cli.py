"""The command line: one clear line and a non-zero exit for every error, no traceback."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from paperfeed.cli import app

runner = CliRunner()


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PAPERFEED_DATABASE_URL": database_url, "PAPERFEED_VAR_DIR": str(tmp_path / "var")}


def test_version_prints_the_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("paperfeed ")


def test_subscribers_add_then_list_then_remove(database_url: str, tmp_path: Path) -> None:
    env = _env(database_url, tmp_path)
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0

    added = runner.invoke(
        app,
        [
            "subscribers",
            "add",
            "Ada@Example.com",
            "--interests",
            '"speculative decoding"',
            "--timezone",
            "Europe/Berlin",
            "--hour",
            "8",
            "--confirmed",
        ],
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "added ada@example.com (active)" in added.output

    listed = runner.invoke(app, ["subscribers", "list"], env=env)
    assert listed.exit_code == 0
    assert "ada@example.com" in listed.output
    assert "Europe/Berlin" in listed.output

    removed = runner.invoke(app, ["subscribers", "remove", "ada@example.com"], env=env)
    assert removed.exit_code == 0
    assert "1 subscribers" not in runner.invoke(app, ["subscribers", "list"], env=env).output


def test_adding_a_known_address_fails_with_one_line(database_url: str, tmp_path: Path) -> None:
    env = _env(database_url, tmp_path)
    runner.invoke(app, ["db", "upgrade"], env=env)
    first = ["subscribers", "add", "a@example.com", "--interests", "rlhf", "--confirmed"]
    assert runner.invoke(app, first, env=env).exit_code == 0
    again = runner.invoke(
        app, ["subscribers", "add", "A@example.com", "--interests", "agents"], env=env
    )
    assert again.exit_code == 2
    assert "a@example.com is subscribed already" in again.output
    assert "Traceback" not in again.output


def test_import_is_all_or_nothing_and_names_each_bad_row(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    runner.invoke(app, ["db", "upgrade"], env=env)
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,interests,timezone,hour,frequency\n"
        'a@example.com,"""speculative decoding""",Europe/Berlin,8,daily\n'
        "not-an-address,x,UTC,7,daily\n"
        "c@example.com,x,Mars/Base,7,daily\n"
        "d@example.com,x,UTC,noon,daily\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["subscribers", "import", str(csv_file)], env=env)
    assert result.exit_code == 2
    assert "people.csv:3:" in result.output
    assert "people.csv:4:" in result.output
    assert "people.csv:5:" in result.output
    assert "nothing was imported" in result.output
    assert "0 subscribers" in runner.invoke(app, ["subscribers", "list"], env=env).output

    csv_file.write_text(
        "email,interests\na@example.com,rlhf\nb@example.com,agents\na@example.com,robots\n",
        encoding="utf-8",
    )
    ok = runner.invoke(app, ["subscribers", "import", str(csv_file), "--confirmed"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "imported 2, skipped 1 already subscribed" in ok.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "is not a database URL"),
        ("mysql://root@127.0.0.1/x", "supports sqlite and postgresql"),
        ("postgresql://postgres@127.0.0.1:1/nowhere", "cannot open the database"),
    ],
)
def test_a_bad_database_url_gives_one_clear_line(url: str, message: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"PAPERFEED_DATABASE_URL": url})
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unwritable_database_path_gives_one_clear_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    blocker = locked / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    url = f"sqlite:///{blocker / 'sub' / 'paperfeed.db'}"
    result = runner.invoke(app, ["db", "upgrade"], env={"PAPERFEED_DATABASE_URL": url})
    assert result.exit_code == 2
    assert "cannot create the database folder" in result.output
    assert "Traceback" not in result.output


def test_an_unmigrated_database_says_to_run_db_upgrade(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    result = runner.invoke(app, ["subscribers", "list"], env=env)
    assert result.exit_code == 2
    assert "run `paperfeed db upgrade`" in result.output


def test_a_bad_setting_names_the_variable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"PAPERFEED_PUBLIC_URL": "example.com"})
    assert result.exit_code == 2
    assert "PAPERFEED_PUBLIC_URL" in result.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "db", "upgrade"], env={"PAPERFEED_DATABASE_URL": "x"})
    assert result.exit_code != 0
    assert result.exception is not None


def test_a_database_that_stops_answering_mid_command_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}", tmp_path)
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0

    def database_gone(*_args: object, **_kwargs: object) -> None:
        raise OperationalError(
            "UPDATE delivery SET status=...", {}, Exception("server closed the connection")
        )

    monkeypatch.setattr("paperfeed.outbox.worker.send_once", database_gone)
    result = runner.invoke(app, ["send"], env=env)

    assert result.exit_code == 2
    assert "the database stopped answering: server closed the connection" in result.output
    assert "run the command again" in result.output
    assert "Traceback" not in result.output
    assert "UPDATE" not in result.output  # no SQL in front of the user


def test_removing_a_subscriber_removes_their_mail_from_the_file_outbox(
    database_url: str, tmp_path: Path
) -> None:
    env = _env(database_url, tmp_path)
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    for address in ("ada@example.com", "grace@example.com"):
        # Without --confirmed each gets the confirmation mail; no SMTP: the file outbox.
        added = runner.invoke(
            app, ["subscribers", "add", address, "--interests", "state space models"], env=env
        )
        assert added.exit_code == 0, added.output
    outbox = tmp_path / "var" / "outbox"

    def recipients() -> list[str]:
        return sorted(
            str(message_from_bytes(p.read_bytes(), policy=policy.default)["To"])
            for p in outbox.glob("*.eml")
        )

    assert recipients() == ["ada@example.com", "grace@example.com"]
    removed = runner.invoke(app, ["subscribers", "remove", "ada@example.com"], env=env)
    assert removed.exit_code == 0, removed.output
    assert recipients() == ["grace@example.com"]
