"""POST /hooks/postmark: basic auth as Postmark sends it, bounce and spam complaint records."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from structlog.testing import capture_logs

from tests.bounces.bounce_samples import status_of
from tests.bounces.hook_samples import deliveries, hook_client, readers, recorded, two_readers
from tests.web.web_samples import SQLITE_ONLY

AUTH = "postmark:s3cret-Pa55"


def _auth(credentials: str = AUTH) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def _bounce(bounce_type: str, email: str, record_id: int, **extra: Any) -> dict[str, Any]:
    """A Postmark bounce webhook record (MessageID is Postmark's own id)."""
    return {
        "RecordType": "Bounce",
        "ID": record_id,
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": bounce_type,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message",
        "Details": "smtp;550 5.1.1 The email account does not exist.",
        "Email": email,
        "From": "digest@paperfeed.example",
        "BouncedAt": "2026-09-30T11:58:01Z",
        **extra,
    }


def _post(client: TestClient, record: dict[str, Any], credentials: str = AUTH) -> int:
    return client.post("/hooks/postmark", json=record, headers=_auth(credentials)).status_code


def test_bounce_types_and_a_spam_complaint_become_reader_state(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, ada_mid), (bob, _), (carol, _), (dan, _) = readers(
        engine, "ada@example.org", "bob@example.org", "carol@example.org", "dan@example.org"
    )
    before = deliveries(engine)
    # The returned mail quotes our headers: the Message-ID is found there.
    content = (
        f"Received: ...\r\nMessage-ID: <bounce-own@mx>\r\n\r\n...\r\nMessage-ID: {ada_mid}\r\n"
    )
    with hook_client(engine, tmp_path, database_url, postmark_webhook_auth=AUTH) as client:
        assert _post(client, _bounce("HardBounce", "ada@example.org", 1, Content=content)) == 200
        assert _post(client, _bounce("SoftBounce", "bob@example.org", 2)) == 200
        assert _post(client, _bounce("AutoResponder", "bob@example.org", 3)) == 200
        assert _post(client, _bounce("Blocked", "bob@example.org", 4)) == 200
        complaint = {
            **_bounce("SpamComplaint", "carol@example.org", 5),
            "RecordType": "SpamComplaint",
        }
        assert _post(client, complaint) == 200
        assert _post(client, complaint) == 200  # Postmark retrying: nothing new
    assert [status_of(engine, s) for s in (ada, bob, carol, dan)] == [
        "bounced",
        "active",
        "unsubscribed",
        "active",
    ]
    assert recorded(engine) == [
        ("postmark", "hard_bounce", ada, "Bounce:1"),
        ("postmark", "soft_bounce", bob, "Bounce:2"),
        ("postmark", "complaint", carol, "SpamComplaint:5"),
    ]
    after = deliveries(engine)
    changed = {i for i in after if after[i] != before[i]}
    assert {after[i] for i in changed} == {(ada, "cancelled"), (carol, "cancelled")}
    assert len(changed) == 2


def test_wrong_or_missing_credentials_and_hostile_bodies_are_refused(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, _), _ = two_readers(engine)
    record = _bounce("HardBounce", "ada@example.org", 1)
    with hook_client(engine, tmp_path, database_url, postmark_webhook_auth=AUTH) as client:
        answers = {
            "wrong password": _post(client, record, "postmark:guess"),
            "prefix of it": _post(client, record, AUTH[:-1]),
            "none": client.post("/hooks/postmark", json=record).status_code,
            "bearer": client.post(
                "/hooks/postmark", json=record, headers={"authorization": "Bearer " + AUTH}
            ).status_code,
            "not base64": client.post(
                "/hooks/postmark", json=record, headers={"authorization": "Basic %%%"}
            ).status_code,
            "not json": client.post(
                "/hooks/postmark", content=b'{"RecordType": "Bou', headers=_auth()
            ).status_code,
            "deep": client.post(
                "/hooks/postmark", content=b'{"a":' * 50_000 + b"1" + b"}" * 50_000, headers=_auth()
            ).status_code,
            "a list": client.post("/hooks/postmark", json=[record], headers=_auth()).status_code,
        }
    assert answers == {
        "wrong password": 401,
        "prefix of it": 401,
        "none": 401,
        "bearer": 401,
        "not base64": 401,
        "not json": 400,
        "deep": 400,
        "a list": 400,
    }
    assert (recorded(engine), status_of(engine, ada)) == ([], "active")


@SQLITE_ONLY
def test_without_credentials_set_the_endpoint_refuses_everything(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    with hook_client(engine, tmp_path, database_url) as client:
        answer = client.post("/hooks/postmark", json={}, headers=_auth(":"))
    assert answer.status_code == 404
    assert "PAPERFEED_POSTMARK_WEBHOOK_AUTH" in answer.text


@SQLITE_ONLY
def test_the_log_says_what_happened_and_never_the_credentials(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, _), _ = two_readers(engine)
    with (
        hook_client(engine, tmp_path, database_url, postmark_webhook_auth=AUTH) as client,
        capture_logs() as logged,
    ):
        _post(client, _bounce("HardBounce", "ada@example.org", 1), "postmark:guess")
        _post(client, _bounce("HardBounce", "ada@example.org", 1))
    hooks = [entry for entry in logged if str(entry["event"]).startswith("hooks.")]
    assert [(e["event"], e["source"]) for e in hooks] == [
        ("hooks.refused", "postmark"),
        ("hooks.recorded", "postmark"),
    ]
    assert (hooks[0]["status"], hooks[1]["recorded"], hooks[1]["bounced"]) == (401, 1, 1)
    assert "guess" not in repr(logged)
    assert "s3cret" not in repr(logged)
    assert status_of(engine, ada) == "bounced"
