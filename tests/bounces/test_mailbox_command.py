"""`paperfeed bounces poll` and the daemon's bounce poll job, against a real dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.config import Settings
from paperfeed.scheduler import Jobs, build_scheduler
from tests.bounces import mailbox_samples as samples
from tests.bounces.bounce_samples import sent_digest, status_of
from tests.support.dovecot import PASSWORD, Dovecot, running_dovecot
from tests.support.ports import free_port

runner = CliRunner()
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def mailbox() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


def _env(tmp_path: Path, database_url: str, mailbox_url: str | None) -> dict[str, str]:
    values = {"PAPERFEED_VAR_DIR": str(tmp_path / "var"), "PAPERFEED_DATABASE_URL": database_url}
    if mailbox_url is not None:
        values["PAPERFEED_BOUNCE_MAILBOX_URL"] = mailbox_url
    return values


def _with_mailbox(settings: Settings, url: str, **more: int) -> Settings:
    return Settings(
        var_dir=settings.var_dir,
        database_url=settings.database_url,
        bounce_mailbox_url=url,  # pydantic makes it a SecretStr
        **more,  # type: ignore[arg-type]
    )


def test_the_command_polls_once_and_prints_the_counts(
    engine: Engine, database_url: str, mailbox: Dovecot, tmp_path: Path
) -> None:
    ada, ada_id = sent_digest(engine, "ada@example.net", at=NOW)
    dan, dan_id = sent_digest(engine, "dan@yahoo.com", at=NOW)
    mailbox.deliver(
        samples.postfix_unknown_user(ada_id, "ada@example.net", NOW),
        samples.yahoo_complaint(dan_id, "dan@yahoo.com", NOW),
        samples.auto_reply(ada_id, "ada@example.net", NOW),
    )
    env = _env(tmp_path, database_url, mailbox.url())
    first = runner.invoke(app, ["bounces", "poll"], env=env)
    second = runner.invoke(app, ["bounces", "poll"], env=env)

    assert first.exit_code == 0, first.output
    assert "3 mails read, 2 reports (2 recorded" in first.stdout
    assert "1 bounced, 1 unsubscribed; 1 other mails" in first.stdout
    assert "0 mails read, 0 reports" in second.stdout
    assert (status_of(engine, ada), status_of(engine, dan)) == ("bounced", "unsubscribed")


def test_the_command_says_in_one_line_what_is_wrong(
    engine: Engine, database_url: str, mailbox: Dovecot, tmp_path: Path
) -> None:
    unset = runner.invoke(app, ["bounces", "poll"], env=_env(tmp_path, database_url, None))
    wrong = "wrong-password-0815"
    refused = runner.invoke(
        app, ["bounces", "poll"], env=_env(tmp_path, database_url, mailbox.url(password=wrong))
    )
    assert unset.exit_code == 2
    assert "set PAPERFEED_BOUNCE_MAILBOX_URL" in unset.output
    assert refused.exit_code == 2
    assert "refused the login" in refused.output
    assert "Traceback" not in refused.output
    assert wrong not in refused.output
    assert PASSWORD not in refused.output


def test_the_daemon_polls_only_with_a_mailbox_and_every_configured_minutes(
    settings: Settings, engine: Engine
) -> None:
    without = build_scheduler(Jobs(settings, engine))
    url = f"imap://bounces:pw@127.0.0.1:{free_port()}/INBOX"
    configured = _with_mailbox(settings, url, bounce_poll_minutes=7)
    with_mailbox = build_scheduler(Jobs(configured, engine))

    assert "bounce_poll" not in {job.id for job in without.get_jobs()}
    job = with_mailbox.get_job("bounce_poll")
    assert job is not None
    assert job.trigger.interval.total_seconds() == 7 * 60
    assert job.coalesce is True


def test_an_unreachable_mailbox_is_logged_and_the_daemon_goes_on(
    settings: Settings, engine: Engine
) -> None:
    url = f"imap://bounces:secret-pw-42@127.0.0.1:{free_port()}/INBOX"
    configured = _with_mailbox(settings, url)
    with capture_logs() as logged:
        said = Jobs(configured, engine, now=lambda: NOW).bounce_poll()
    assert said.startswith("failed: cannot reach the bounce mailbox imap://bounces@127.0.0.1")
    assert "secret-pw-42" not in said
    assert [entry["event"] for entry in logged] == ["bounces.poll_failed"]
    assert "secret-pw-42" not in str(logged)
