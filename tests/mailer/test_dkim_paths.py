"""Every kind of mail leaves signed when DKIM is configured: digests through the real email
channel (``.eml`` files and SMTP to an aiosmtpd server), confirmations and test sends, each
checked with dkimpy's verifier; nothing is signed without the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.errors import ConfigError
from paperfeed.mailer.confirm import confirmation_mail
from paperfeed.mailer.dkim_sign import SigningTransport
from paperfeed.mailer.edition_mail import mail_setup
from paperfeed.mailer.files import FileTransport
from paperfeed.mailer.preview import send_test
from paperfeed.mailer.transport import Outcome, SendResult, Transport
from paperfeed.mailer.transport_choice import transport_for
from paperfeed.mailer.views import ConfirmationView
from paperfeed.services import Services
from paperfeed.store.models import DeliveryStatus
from tests.mailer.dkim_samples import SELECTOR, key_file, signed_headers, verifies
from tests.mailer.mail_samples import Server
from tests.mailer.outbox_samples import (
    T0,
    Sink,
    add_readers,
    deliveries,
    make_settings,
    readers,
    send,
    store_papers,
)

Start = Callable[..., Server]
ONE_CLICK = {"list-unsubscribe", "list-unsubscribe-post"}


def dkim_settings(tmp_path: Path, database_url: str, **changes: Any) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        dkim_private_key_path=key_file(tmp_path),
        dkim_selector=SELECTOR,
        **changes,
    )


def outbox_files(settings: Settings) -> list[bytes]:
    return [p.read_bytes() for p in sorted(settings.outbox_dir.glob("*.eml"))]


def test_digests_written_to_the_outbox_folder_are_signed_and_verify(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    add_readers(engine, readers(3))
    settings = dkim_settings(tmp_path, database_url)
    transport = transport_for(settings)
    assert isinstance(transport, SigningTransport)
    assert isinstance(transport.inner, FileTransport)

    summary = send(engine, settings, transport)

    assert summary.sent == 3
    files = outbox_files(settings)
    assert len(files) == 3
    for data in files:
        assert data.startswith(b"DKIM-Signature: ")
        assert data.count(b"\r\nDKIM-Signature:") == 0  # signed once
        assert verifies(data)
        assert set(signed_headers(data)) >= ONE_CLICK | {"from", "to", "subject", "message-id"}


def test_digests_sent_over_smtp_arrive_signed_and_verify(
    engine: Engine, database_url: str, tmp_path: Path, smtp_server: Start
) -> None:
    store_papers(engine)
    add_readers(engine, readers(4))
    server = smtp_server(Sink())
    settings = dkim_settings(
        tmp_path,
        database_url,
        smtp_url=f"smtp://127.0.0.1:{server.port}?starttls=off&timeout=5",
    )

    send(engine, settings, transport_for(settings))

    assert [r.status for r in deliveries(engine)] == [DeliveryStatus.SENT] * 4
    received = [data for _, data in server.handler.received]
    assert len(received) == 4
    for data in received:
        assert verifies(data)
        assert set(signed_headers(data)) >= ONE_CLICK
    # The verifier really reads what arrived: a changed byte there fails.
    assert not verifies(received[0].replace(b"reader", b"readr", 1))


def test_a_confirmation_mail_is_signed_and_verifies(database_url: str, tmp_path: Path) -> None:
    settings = dkim_settings(tmp_path, database_url)
    mail = confirmation_mail(
        ConfirmationView(
            list_name="paperfeed",
            list_address="digest@example.org",
            email="new@example.com",
            confirm_url="https://paperfeed.example/confirm/abc",
        ),
        sender=mail_setup(settings).sender,
        now=T0,
    )

    [result] = hand_over(transport_for(settings), mail)

    assert result.outcome is Outcome.ACCEPTED
    [data] = outbox_files(settings)
    assert verifies(data)
    # No list headers on a confirmation: the address is not on the list yet.
    assert signed_headers(data)[:5] == ["from", "to", "subject", "date", "message-id"]
    assert not ONE_CLICK & set(signed_headers(data))


def test_a_test_send_is_signed_and_verifies(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    add_readers(engine, readers(1))
    settings = dkim_settings(tmp_path, database_url)

    async def run() -> Outcome:
        transport = transport_for(settings)
        try:
            sent = await send_test(
                engine, settings, transport=transport, to="me@example.net", now=T0
            )
        finally:
            await transport.aclose()
        return sent.result.outcome

    assert asyncio.run(run()) is Outcome.ACCEPTED
    [data] = outbox_files(settings)
    assert b"\r\nTo: me@example.net\r\n" in data
    assert verifies(data)
    assert set(signed_headers(data)) >= ONE_CLICK


def test_without_dkim_settings_nothing_is_signed(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store_papers(engine)
    add_readers(engine, readers(2))
    settings = make_settings(tmp_path, database_url)
    transport = transport_for(settings)
    assert isinstance(transport, FileTransport)

    send(engine, settings, transport)

    files = outbox_files(settings)
    assert len(files) == 2
    for data in files:
        assert b"DKIM-Signature" not in data


def test_a_bad_key_file_stops_the_start_with_a_clear_error(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "dkim.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    settings = make_settings(
        tmp_path, database_url, dkim_private_key_path=bad, dkim_selector=SELECTOR
    )
    with pytest.raises(ConfigError, match=r"PAPERFEED_DKIM_PRIVATE_KEY_PATH=.*not a PEM"):
        Services.from_settings(settings, engine=engine)
    with pytest.raises(ConfigError, match="not a PEM"):
        transport_for(settings)


def hand_over(transport: Transport, *mails: Any) -> list[SendResult]:
    async def run() -> list[SendResult]:
        try:
            return await transport.send(list(mails))
        finally:
            await transport.aclose()

    return asyncio.run(run())
