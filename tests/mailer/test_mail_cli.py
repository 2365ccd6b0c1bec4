"""`paperfeed send`, `preview` and `worker` through the command line (file transport, real DB)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.store.db import make_engine, session_scope
from paperfeed.store.editions import PlannedEdition, write_editions
from paperfeed.store.models import Delivery, DeliveryStatus, Edition
from paperfeed.store.subscribers import create_subscriber
from tests.mailer.mail_samples import Server
from tests.mailer.outbox_samples import EDITION_DAY, RefusesGone, add_readers, readers, store_papers

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    values = {
        "PAPERFEED_VAR_DIR": str(tmp_path / "var"),
        "PAPERFEED_DATABASE_URL": database_url,
        "PAPERFEED_PUBLIC_URL": "https://paperfeed.example",
        "PAPERFEED_FROM": "paperfeed <digest@example.org>",
    }
    result = runner.invoke(app, ["db", "upgrade"], env=values)
    assert result.exit_code == 0, result.output
    return values


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(env["PAPERFEED_DATABASE_URL"])
    store_papers(engine)
    yield engine
    engine.dispose()


def outbox(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "var" / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def statuses(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.exec(select(Delivery.status).order_by(Delivery.id)).all())


def test_send_writes_each_due_digest_to_the_outbox_and_reports_the_counts(
    env: dict[str, str], store: Engine, tmp_path: Path
) -> None:
    add_readers(store, readers(3), created=datetime.now(UTC))
    result = runner.invoke(app, ["send"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent 3, retried 0, bounced 0, failed 0; expired 0, cancelled 0" in result.stdout
    files = outbox(tmp_path)
    assert [f.name.split(".", 2)[2] for f in files] == [
        f"delivery.{i}@example.org.eml" for i in (1, 2, 3)
    ]
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"] == "reader0@example.com"
    assert statuses(store) == [DeliveryStatus.SENT] * 3

    again = runner.invoke(app, ["send"], env=env)
    assert again.exit_code == 0
    assert "sent 0, retried 0" in again.stdout


def test_send_dry_run_says_what_would_go_and_writes_nothing(
    env: dict[str, str], store: Engine, tmp_path: Path
) -> None:
    add_readers(store, readers(2), created=datetime.now(UTC))
    result = runner.invoke(app, ["send", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "would send 2," in result.stdout
    assert "(dry run: nothing sent or marked)" in result.stdout
    assert outbox(tmp_path) == []
    assert statuses(store) == [DeliveryStatus.PENDING] * 2


def test_send_test_to_mails_the_newest_edition_elsewhere_and_leaves_the_outbox(
    env: dict[str, str], store: Engine, tmp_path: Path
) -> None:
    add_readers(store, readers(2), created=datetime.now(UTC))
    result = runner.invoke(
        app, ["send", "--test-to", "Me@Example.net", "--only", "reader1@example.com"], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"sent reader1@example.com's edition of {EDITION_DAY} to me@example.net" in (
        result.stdout
    )
    [file] = outbox(tmp_path)
    message = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert message["To"] == "me@example.net"
    assert "/unsubscribe/test-mail>" in message["List-Unsubscribe"]
    assert statuses(store) == [DeliveryStatus.PENDING] * 2


def test_send_test_to_with_no_edition_says_to_compose_first(
    env: dict[str, str], store: Engine
) -> None:
    result = runner.invoke(app, ["send", "--test-to", "me@example.net"], env=env)
    assert result.exit_code == 2
    assert "there is no edition to send yet; run `paperfeed compose` first" in result.output


def test_send_exits_1_and_counts_the_bounce_when_the_server_refuses_an_address(
    env: dict[str, str], store: Engine, smtp_server: Callable[..., Server]
) -> None:
    server = smtp_server(RefusesGone())
    add_readers(store, ["gone@example.com", "ok@example.com"], created=datetime.now(UTC))
    smtp_url = f"smtp://127.0.0.1:{server.port}?starttls=off&timeout=5"
    result = runner.invoke(app, ["send"], env={**env, "PAPERFEED_SMTP_URL": smtp_url})
    assert result.exit_code == 1
    assert "sent 1, retried 0, bounced 1, failed 0" in result.stdout
    assert [rcpts for rcpts, _ in server.handler.received] == [("ok@example.com",)]


def test_preview_writes_the_html_and_text_of_a_stored_edition(
    env: dict[str, str], store: Engine, tmp_path: Path
) -> None:
    add_readers(store, readers(1))
    out = tmp_path / "previews"
    result = runner.invoke(
        app, ["preview", "--subscriber", "reader0@example.com", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"reader0@example.com, {EDITION_DAY}: 4 papers" in result.stdout
    html = (out / f"reader0@example.com-{EDITION_DAY}.html").read_text(encoding="utf-8")
    text = (out / f"reader0@example.com-{EDITION_DAY}.txt").read_text(encoding="utf-8")
    assert "&lt;b&gt;Attention&lt;/b&gt;" in html
    assert "Sparse Video Diffusion, 1" in text
    assert statuses(store) == [DeliveryStatus.PENDING]


def test_preview_without_an_edition_shows_what_compose_would_pick_and_stores_nothing(
    env: dict[str, str], store: Engine, tmp_path: Path
) -> None:
    added = runner.invoke(
        app,
        ["subscribers", "add", "new@example.com", "--interests", "video diffusion", "--confirmed"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    result = runner.invoke(
        app,
        ["preview", "--subscriber", "new@example.com", "--date", str(EDITION_DAY), "--out", "."],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "(composed for this preview, not stored)" in result.stdout
    text = (tmp_path / f"new@example.com-{EDITION_DAY}.txt").read_text(encoding="utf-8")
    assert "Sparse Video Diffusion" in text
    with session_scope(store) as session:
        assert session.exec(select(func.count()).select_from(Edition)).one() == 0


def test_preview_of_an_unknown_address_says_so(env: dict[str, str], store: Engine) -> None:
    result = runner.invoke(app, ["preview", "--subscriber", "who@example.com"], env=env)
    assert result.exit_code == 2
    assert "who@example.com is not subscribed" in result.output


@pytest.mark.slow
def test_worker_drains_the_outbox_and_stops_cleanly_on_sigterm(
    env: dict[str, str], store: Engine, tmp_path: Path
) -> None:
    add_readers(store, readers(3), created=datetime.now(UTC))
    command = [sys.executable, "-c", "from paperfeed.cli import app; app()", "worker"]
    worker = subprocess.Popen(
        [*command, "--idle", "0.2"],
        env={**os.environ, **env, "PAPERFEED_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(outbox(tmp_path)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(outbox(tmp_path)) == 3
        # Let the pass mark its batch (the files exist once the transport accepted them).
        while statuses(store) != [DeliveryStatus.SENT] * 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, stderr
    assert "worker stopped: sent 3, retried 0, bounced 0, failed 0" in stdout
    assert statuses(store) == [DeliveryStatus.SENT] * 3


def test_preview_of_an_edition_with_nothing_new_renders_an_empty_digest(
    env: dict[str, str], store: Engine, tmp_path: Path
) -> None:
    with session_scope(store) as session:
        reader = create_subscriber(
            session, email="quiet@example.com", interests="x", now=datetime.now(UTC), confirmed=True
        )
        assert reader.id is not None
        write_editions(
            session,
            [PlannedEdition(reader.id, EDITION_DAY, (), deliver=False)],
            now=reader.created_at,
        )
    result = runner.invoke(app, ["preview", "--subscriber", "quiet@example.com"], env=env)
    assert result.exit_code == 0, result.output
    assert f"quiet@example.com, {EDITION_DAY}: 0 papers" in result.stdout
    assert (tmp_path / f"quiet@example.com-{EDITION_DAY}.html").exists()
