"""The web app signs its confirmation mails when DKIM is configured (its own transport)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.web.app import create_app
from tests.mailer.dkim_samples import SELECTOR, key_file, signed_headers, verifies
from tests.web.test_web_signup import sign_up


def test_a_confirmation_from_the_sign_up_form_is_signed_and_verifies(
    web_settings: Settings, stored: Engine, tmp_path: Path
) -> None:
    settings = web_settings.model_copy(
        update={"dkim_private_key_path": key_file(tmp_path), "dkim_selector": SELECTOR}
    )
    with TestClient(create_app(settings, engine=stored)) as client:
        assert sign_up(client, "new@example.com").startswith("200")
        deadline = time.monotonic() + 10  # the mail goes out in a background task
        while not list(settings.outbox_dir.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
    [mail] = settings.outbox_dir.glob("*.eml")
    data = mail.read_bytes()
    assert verifies(data, domain="paperfeed.example")  # the From domain
    assert signed_headers(data)[:3] == ["from", "to", "subject"]
