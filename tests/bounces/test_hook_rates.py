"""Reports from the webhooks show in /metrics (by kind and source) and in ``paperfeed status``
(rates over the email sent in the last 30 days, Gmail's complaint limit flagged)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from paperfeed.bounces.events import ReportedEvent, apply_reported
from paperfeed.cli import app
from paperfeed.cli_status import complaint_flag, status_lines
from paperfeed.store.db import session_scope
from paperfeed.store.models import MailEventKind
from paperfeed.store.ops_queries import mail_rates
from tests.bounces.bounce_samples import sent_digest
from tests.bounces.hook_samples import NOW, hook_client, mailgun_body, readers

KEY = "key-metrics"


def _report(engine: Engine, *events: ReportedEvent, now: datetime = NOW) -> None:
    with session_scope(engine) as session:
        apply_reported(session, events, now=now)


def test_metrics_count_the_reports_by_kind_and_source(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    readers(engine, "ada@example.org", "bob@example.org")
    _report(
        engine, ReportedEvent("imap", MailEventKind.SOFT_BOUNCE, "dsn-1", email="x@example.org")
    )
    calls = [
        {"id": "mg-1", "event": "failed", "severity": "permanent", "recipient": "ada@example.org"},
        {"id": "mg-2", "event": "complained", "recipient": "bob@example.org"},
        {"id": "mg-3", "event": "complained", "recipient": "nobody@example.org"},
    ]
    with hook_client(engine, tmp_path, database_url, mailgun_webhook_signing_key=KEY) as client:
        for n, data in enumerate(calls):
            answer = client.post("/hooks/mailgun", json=mailgun_body(KEY, data, token=f"m{n}" * 9))
            assert answer.status_code == 200
        text = client.get("/metrics").text
    samples = dict(re.findall(r"^(paperfeed_mail_events_total\{[^}]*\}) (\S+)$", text, re.M))
    assert samples == {
        'paperfeed_mail_events_total{kind="complaint",source="mailgun"}': "2.0",
        'paperfeed_mail_events_total{kind="hard_bounce",source="mailgun"}': "1.0",
        'paperfeed_mail_events_total{kind="soft_bounce",source="imap"}': "1.0",
    }


def test_rates_count_the_window_and_flag_gmails_complaint_limit(engine: Engine) -> None:
    # Four digests sent this month, one two months ago (outside the window).
    sent = [sent_digest(engine, f"r{n}@example.org", at=NOW - timedelta(days=n)) for n in range(4)]
    sent_digest(engine, "old@example.org", at=NOW - timedelta(days=60))
    _report(
        engine,
        ReportedEvent("ses", MailEventKind.HARD_BOUNCE, "h1", message_id=sent[0][1]),
        ReportedEvent("ses", MailEventKind.SOFT_BOUNCE, "s1", message_id=sent[1][1]),
        ReportedEvent("ses", MailEventKind.COMPLAINT, "c1", message_id=sent[2][1]),
        ReportedEvent(
            "ses",
            MailEventKind.COMPLAINT,
            "c-old",
            email="old@example.org",
            occurred_at=NOW - timedelta(days=59),
        ),
    )
    with session_scope(engine) as session:
        rates = mail_rates(session, now=NOW)
    assert (rates.sent, rates.hard_bounces, rates.soft_bounces, rates.complaints) == (4, 1, 1, 1)
    lines = status_lines(rates)
    assert lines[0] == "email digests sent in the last 30 days: 4"
    assert lines[1].split() == ["hard", "bounces", "1", "25.00%"]
    assert lines[3].startswith("complaints")
    assert "25.00%  OVER Gmail's 0.3% limit" in lines[3]


def test_the_complaint_flag_follows_gmails_thresholds() -> None:
    assert [complaint_flag(r) for r in (None, 0.0, 0.0009)] == ["", "", ""]
    assert "0.1% target" in complaint_flag(0.001)
    assert "0.1% target" in complaint_flag(0.0029)
    assert "OVER Gmail's 0.3% limit" in complaint_flag(0.003)


def test_paperfeed_status_prints_the_rates(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    # The command reads the real clock: the mail went out yesterday.
    now = datetime.now(UTC)
    mids = [
        sent_digest(engine, f"r{n}@example.org", at=now - timedelta(days=1))[1] for n in range(8)
    ]
    _report(
        engine,
        ReportedEvent("postmark", MailEventKind.HARD_BOUNCE, "b1", message_id=mids[0]),
        ReportedEvent("postmark", MailEventKind.HARD_BOUNCE, "b2", message_id=mids[1]),
        now=now,
    )
    env = {"PAPERFEED_DATABASE_URL": database_url, "PAPERFEED_VAR_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(app, ["status"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "email digests sent in the last 30 days: 8"
    assert lines[1].split() == ["hard", "bounces", "2", "25.00%"]
    assert lines[3].split() == ["complaints", "0", "0.00%"]
