"""What paperfeed keeps on disk is private, and deleting someone's data deletes their mail.

Issue 14, item 9: the SQLite database and the file outbox were world-readable (mode 0644
under the usual umask), and a subscriber who deleted their data left their digests and
confirmation mails behind as ``.eml`` files. The store is created by a real
``paperfeed db upgrade`` process under umask 022; the mail is written by the web app's own
file transport (no injected transport).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paperfeed.config import Settings
from paperfeed.mailer.files import FileTransport
from paperfeed.store.db import make_engine
from paperfeed.web.app import create_app
from tests.web.web_samples import NOW, SQLITE_ONLY, Clock

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"http://testserver(/confirm/[A-Za-z0-9._%-]+)")
SECRET = "private-files-secret-" + "f" * 32


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_store_and_var_folder_are_private_under_a_permissive_umask(
    tmp_path: Path,
) -> None:
    var = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env["PAPERFEED_VAR_DIR"] = str(var)
    done = subprocess.run(
        [sys.executable, "-m", "paperfeed", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert mode(var) == 0o700
    assert mode(var / "paperfeed.db") == 0o600
    for companion in var.glob("paperfeed.db-*"):  # WAL and shared-memory files, if left
        assert mode(companion) & 0o077 == 0, companion.name


def sign_up(client: TestClient, email: str) -> None:
    page = client.get("/")
    match = CSRF.search(page.text)
    assert match
    answer = client.post(
        "/subscribe",
        data={
            "csrf": match.group(1),
            "email": email,
            "interests": "speculative decoding",
            "timezone": "UTC",
            "send_hour": "8",
            "frequency": "daily",
        },
    )
    assert answer.status_code == 200


def recipients(outbox: Path) -> list[str]:
    return sorted(
        str(message_from_bytes(p.read_bytes(), policy=policy.default)["To"])
        for p in outbox.glob("*.eml")
    )


@SQLITE_ONLY
@pytest.mark.usefixtures("stored")
def test_deleting_my_data_deletes_my_mail_from_the_file_outbox_and_only_mine(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    old_umask = os.umask(0o022)
    try:
        settings = Settings(
            var_dir=tmp_path / "var",
            database_url=database_url,
            public_url="http://testserver",
            secret_key=SECRET,
            mail_from="paperfeed <digest@paperfeed.example>",
        )
        engine = make_engine(database_url)
        app = create_app(settings, engine=engine, now=Clock(NOW))  # its own file outbox
        with TestClient(app) as client:
            sign_up(client, "ada@example.com")
            sign_up(client, "ada@example.com")  # a second confirmation mail
            sign_up(client, "grace@example.com")
            outbox = settings.outbox_dir
            assert recipients(outbox) == [
                "ada@example.com",
                "ada@example.com",
                "grace@example.com",
            ]
            assert mode(outbox) == 0o700
            assert {mode(p) for p in outbox.glob("*.eml")} == {0o600}

            mail = next(
                m
                for m in (p.read_bytes().decode() for p in outbox.glob("*.eml"))
                if "To: ada@example.com" in m
            )
            link = LINK.search(mail.replace("=\r\n", ""))
            assert link, "the confirmation mail holds no link"
            # Confirm Ada, then delete her data from her preferences page.
            confirm_page = client.get(link.group(1))
            csrf = CSRF.search(confirm_page.text)
            assert csrf
            confirmed = client.post(
                link.group(1), data={"csrf": csrf.group(1)}, follow_redirects=False
            )
            assert confirmed.status_code == 303
            preferences = confirmed.headers["location"].removeprefix("http://testserver")
            preferences = preferences.split("?")[0]
            page = client.get(preferences)
            csrf = CSRF.search(page.text)
            assert csrf
            gone = client.post(preferences + "/delete", data={"csrf": csrf.group(1), "sure": "yes"})
            assert gone.status_code == 200
            assert recipients(outbox) == ["grace@example.com"]
        engine.dispose()
    finally:
        os.umask(old_umask)


def test_an_outbox_made_first_makes_its_var_folder_private_too(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        FileTransport(tmp_path / "var" / "outbox")
    finally:
        os.umask(old_umask)
    assert mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "outbox") == 0o700
