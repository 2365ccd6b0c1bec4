"""The preferences page's "Chat and push" card over real HTTP: add, list redacted, remove,
the "also send by email" box; the secret never appears in a page."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.store.channel_addresses import list_addresses
from paperfeed.store.db import session_scope
from paperfeed.store.models import Subscriber
from paperfeed.store.subscribers import create_subscriber, find_by_token
from paperfeed.store.teams import create_team
from paperfeed.web.app import create_app
from tests.web.web_samples import NOW, Clock, MemoryTransport, store_days

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SECRET = "TIiajkdnlazkcOXrIdevi7FQ"
SLACK = f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}/#general"
NATIVE = f"https://hooks.slack.com/services/T1JJ3T3L2/B0RTD4JD1/{SECRET}"
DISCORD = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"


@pytest.fixture
def client(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    store_days(engine)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url="sqlite://",  # unused: the app gets the engine
        public_url="http://testserver",
        secret_key="test-secret-key-" + "k" * 32,
        mail_from="paperfeed <digest@paperfeed.example>",
    )
    app = create_app(settings, engine=engine, transport=MemoryTransport(), now=Clock(NOW))
    with TestClient(app) as running:
        yield running


@pytest.fixture
def token(engine: Engine) -> str:
    with session_scope(engine) as session:
        return create_subscriber(
            session, email="ada@example.org", interests="speculative decoding", now=NOW,
            confirmed=True,
        ).token  # fmt: skip


def post(client: TestClient, token: str, path: str, **fields: str) -> tuple[int, str]:
    page = client.get(f"/u/{token}")
    match = CSRF.search(page.text)
    assert match
    response = client.post(f"/u/{token}{path}", data={"csrf": match.group(1), **fields})
    return response.status_code, response.text


def load(engine: Engine, token: str) -> Subscriber:
    with session_scope(engine) as session:
        found = find_by_token(session, token)
        assert found is not None
        return found


def test_add_list_redacted_and_remove(
    client: TestClient, engine: Engine, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = client.get(f"/u/{token}").text
    assert "Chat and push" in page
    assert "No chat or push address yet." in page
    status, page = post(client, token, "/chat", address=SLACK)
    assert status == 200
    assert "Address added: your next digest goes there too." in page
    assert "slack://…/…i7FQ" in page
    status, page = post(client, token, "/chat", address=NATIVE)
    assert "https://hooks.slack.com/…i7FQ" in page
    assert SECRET not in page
    assert SECRET not in client.get(f"/u/{token}").text
    assert SECRET not in client.get(f"/u/{token}/feeds.opml").text
    assert SECRET not in caplog.text
    owner = load(engine, token)
    with session_scope(engine) as session:
        addresses = list_addresses(session, owner.id or 0)
    assert [a.url for a in addresses] == [SLACK, NATIVE]
    status, page = post(client, token, f"/chat/{addresses[0].id}/remove")
    assert "Address removed." in page
    assert "slack://…/…i7FQ" not in page
    with session_scope(engine) as session:
        assert [a.url for a in list_addresses(session, owner.id or 0)] == [NATIVE]


def test_unusable_and_operator_only_addresses_are_refused_with_the_reason(
    client: TestClient, engine: Engine, token: str
) -> None:
    for address, reason in (
        (f"nope://{SECRET}", "nope:// is not a chat or push service"),
        ("json://127.0.0.1:9000/hook", "json:// addresses can only be added by the operator"),
        (f"ntfy://192.168.1.5/{SECRET}", "names a local or private host"),
        (f"slack://{SECRET}", "this slack:// address is not one the service can use"),
    ):
        status, page = post(client, token, "/chat", address=address)
        assert status == 400
        assert reason in page
        assert SECRET not in page
    with session_scope(engine) as session:
        assert list_addresses(session, load(engine, token).id or 0) == []


def test_also_send_by_email(client: TestClient, engine: Engine, token: str) -> None:
    assert 'name="email_digest" checked' in client.get(f"/u/{token}").text
    status, page = post(client, token, "/chat/email")  # unticked, with no chat address
    assert status == 400
    assert "before turning email off" in page
    assert load(engine, token).email_digest is True
    post(client, token, "/chat", address=SLACK)
    status, page = post(client, token, "/chat/email")
    assert load(engine, token).email_digest is False
    assert 'name="email_digest">' in page  # shown unticked
    post(client, token, "/chat/email", email_digest="on")
    assert load(engine, token).email_digest is True


def test_forms_need_the_csrf_token_and_other_peoples_addresses_stay(
    client: TestClient, engine: Engine, token: str
) -> None:
    response = client.post(f"/u/{token}/chat", data={"address": SLACK})
    assert response.status_code == 403
    with session_scope(engine) as session:
        other = create_subscriber(
            session, email="bob@example.org", interests="x y", now=NOW, confirmed=True
        )
        team, address = create_team(session, name="lab", url=SLACK, interests="x y", now=NOW)
    status, _ = post(client, token, f"/chat/{address.id}/remove")
    assert status == 404
    with session_scope(engine) as session:
        assert len(list_addresses(session, team.id or 0)) == 1
    assert other.token != token


def test_a_teams_pages_cannot_change_it(client: TestClient, engine: Engine) -> None:
    """A team's link is in every post to its channel: its pages change nothing."""
    with session_scope(engine) as session:
        team, _ = create_team(session, name="vision-lab", url=SLACK, interests="x y", now=NOW)
    page = client.get(f"/u/{team.token}")
    assert page.status_code == 403
    assert "team digest" in page.text
    assert SECRET not in page.text
    csrf = CSRF.search(client.get("/").text)
    assert csrf
    for path, fields in (
        ("", {"interests": "something else", "timezone": "UTC", "send_hour": "7"}),
        ("/chat", {"address": DISCORD}),
        ("/delete", {"sure": "yes"}),
        ("/reset-link", {}),
    ):
        response = client.post(f"/u/{team.token}{path}", data={"csrf": csrf.group(1), **fields})
        assert response.status_code == 403, path
    one_click = client.post(f"/unsubscribe/{team.token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 403
    with session_scope(engine) as session:
        kept = find_by_token(session, team.token)
        assert kept is not None
        assert (kept.interests, kept.status) == ("x y", "active")
        assert len(list_addresses(session, kept.id or 0)) == 1


def test_deleting_my_data_deletes_my_chat_addresses(
    client: TestClient, engine: Engine, token: str
) -> None:
    post(client, token, "/chat", address=SLACK)
    owner = load(engine, token).id or 0
    status, _ = post(client, token, "/delete", sure="yes")
    assert status == 200
    with session_scope(engine) as session:
        assert list_addresses(session, owner) == []
