"""Message-IDs differ between installs and stay the same within one (issue 14, item 8).

Two fresh installs both have a delivery 1; receivers drop a message whose Message-ID they
have seen, so the second install's first digest would vanish at any reader of the first.
Each install sends its digest through the real send pass into its own file outbox.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from paperfeed.mailer.edition_mail import delivery_message_id, mail_setup
from paperfeed.mailer.files import FileTransport
from paperfeed.store import migrate
from paperfeed.store.db import make_engine
from tests.mailer.outbox_samples import add_readers, make_settings, send, store_papers


def send_one_digest(folder: Path) -> tuple[str, str]:
    """A fresh install in ``folder`` (its own database and generated key) sends delivery 1."""
    settings = make_settings(folder, f"sqlite:///{folder / 'var' / 'paperfeed.db'}")
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        store_papers(engine)
        add_readers(engine, ["reader@example.com"])
        summary = send(engine, settings, FileTransport(settings.outbox_dir, fsync=False))
    finally:
        engine.dispose()
    assert summary.sent == 1
    [eml] = settings.outbox_dir.glob("*.eml")
    sent_id = str(message_from_bytes(eml.read_bytes(), policy=policy.default)["Message-ID"])
    # A later process of the same install (a resend after a crash) names delivery 1 alike.
    return sent_id, delivery_message_id(mail_setup(settings), 1)


def test_two_fresh_installs_never_share_a_message_id_and_each_stays_deterministic(
    tmp_path: Path,
) -> None:
    first, first_again = send_one_digest(tmp_path / "one")
    second, second_again = send_one_digest(tmp_path / "two")
    assert first != second
    assert first == first_again
    assert second == second_again
    for message_id in (first, second):
        assert message_id.startswith("<paperfeed.")
        assert message_id.endswith(".delivery.1@example.org>")


def test_the_install_part_follows_the_secret_key_not_the_folder(tmp_path: Path) -> None:
    key = "a-shared-secret-key-for-two-web-servers-0123456789"
    one = make_settings(tmp_path / "a", "sqlite://", secret_key=key)
    two = make_settings(tmp_path / "b", "sqlite://", secret_key=key)
    other = make_settings(tmp_path / "c", "sqlite://", secret_key=key + "!")
    assert delivery_message_id(mail_setup(one), 7) == delivery_message_id(mail_setup(two), 7)
    assert delivery_message_id(mail_setup(one), 7) != delivery_message_id(mail_setup(other), 7)
    assert key not in delivery_message_id(mail_setup(one), 7)
