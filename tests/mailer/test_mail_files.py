"""The file transport: one .eml per message, atomic, idempotent, honest when the disk fails."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from paperfeed.errors import TransportError
from paperfeed.mailer.files import FileTransport, eml_name
from paperfeed.mailer.message import OutgoingMail
from paperfeed.mailer.smtp import SmtpTransport
from paperfeed.mailer.transport import Outcome, SendResult
from paperfeed.mailer.transport_choice import open_transport
from tests.mailer.mail_samples import parse

Build = Callable[..., list[OutgoingMail]]


def send(transport: FileTransport, mails: Sequence[OutgoingMail]) -> list[SendResult]:
    return asyncio.run(transport.send(mails))


def test_each_message_becomes_one_eml_named_after_its_message_id(
    tmp_path: Path, outgoing: Build
) -> None:
    outbox = tmp_path / "var" / "outbox"
    mails = outgoing(3)
    results = send(FileTransport(outbox), mails)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    names = sorted(p.name for p in outbox.iterdir())
    assert names == [f"paperfeed.delivery.{i}@example.org.eml" for i in range(3)]
    message = parse((outbox / names[0]).read_bytes())
    assert message["Message-ID"] == "<paperfeed.delivery.0@example.org>"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_a_resent_delivery_replaces_its_file_instead_of_adding_one(
    tmp_path: Path, outgoing: Build
) -> None:
    mails = outgoing(2)
    transport = FileTransport(tmp_path, fsync=False)
    send(transport, mails)
    send(transport, mails[:1])
    assert len(list(tmp_path.glob("*.eml"))) == 2
    assert list(tmp_path.glob(".*.tmp")) == []


def test_message_ids_never_escape_the_outbox() -> None:
    assert eml_name("<../../etc/passwd@x>") == "etc_passwd@x.eml"
    assert "/" not in eml_name("<a/b@c>")


def test_an_outbox_that_vanished_is_retry_later_and_pauses(tmp_path: Path, outgoing: Build) -> None:
    outbox = tmp_path / "outbox"
    transport = FileTransport(outbox)
    shutil.rmtree(outbox)
    results = send(transport, outgoing(3))
    assert [r.outcome for r in results] == [Outcome.RETRY_LATER] * 3
    assert [r.attempts for r in results] == [1, 0, 0]
    assert transport.paused_reason is not None
    assert f"cannot write to the outbox {outbox}" in transport.paused_reason


def test_a_full_disk_is_retry_later_with_a_clear_reason(
    tmp_path: Path, outgoing: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = FileTransport(tmp_path)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    [result] = send(transport, outgoing(1))
    assert result.outcome is Outcome.RETRY_LATER
    assert "No space left on device" in result.detail
    assert "free disk space" in result.detail
    assert list(tmp_path.iterdir()) == []  # no half-written file is left behind


def test_an_outbox_that_cannot_be_created_is_a_transport_error(tmp_path: Path) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(TransportError, match=r"cannot create the outbox .*PAPERFEED_SMTP_URL"):
        FileTransport(blocker / "outbox")


def test_without_an_smtp_url_mail_goes_to_the_outbox_folder(tmp_path: Path) -> None:
    transport = open_transport(smtp_url=None, outbox_dir=tmp_path / "var" / "outbox")
    assert isinstance(transport, FileTransport)
    assert transport.directory == tmp_path / "var" / "outbox"
    smtp = open_transport(smtp_url="smtp://127.0.0.1:2525", outbox_dir=tmp_path, pool_size=3)
    assert isinstance(smtp, SmtpTransport)
    assert smtp.pool_size == 3
