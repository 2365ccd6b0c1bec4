"""POST /hooks/sendgrid: batches signed as SendGrid's Signed Event Webhook signs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.bounces.bounce_samples import status_of
from tests.bounces.hook_samples import (
    deliveries,
    hook_client,
    readers,
    recorded,
    sendgrid_headers,
    sendgrid_keys,
    two_readers,
)
from tests.web.web_samples import SQLITE_ONLY

STAMP = "1790770000"


def _event(event: str, email: str, key: str, message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": 1790769990,
        "smtp-id": message_id,
        "event": event,
        "sg_event_id": key,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **extra,
    }


def test_a_batch_turns_into_each_readers_state_and_nothing_else(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, ada_mid), (bob, bob_mid), (carol, carol_mid), (dan, dan_mid) = readers(
        engine, "ada@example.org", "bob@example.org", "carol@example.org", "dan@example.org"
    )
    before = deliveries(engine)
    key, public = sendgrid_keys()
    batch = [
        _event("bounce", "ada@example.org", "sg-1", ada_mid, type="bounce", status="5.1.1"),
        _event("bounce", "bob@example.org", "sg-2", bob_mid, type="blocked", status="5.7.1"),
        _event("spamreport", "carol@example.org", "sg-3", carol_mid),
        _event("delivered", "dan@example.org", "sg-4", dan_mid),
        _event("deferred", "dan@example.org", "sg-5", dan_mid),
        _event("dropped", "dan@example.org", "sg-6", dan_mid, reason="Unsubscribed Address"),
        "not an event",
    ]
    body = json.dumps(batch).encode()
    with hook_client(engine, tmp_path, database_url, sendgrid_webhook_public_key=public) as client:
        answer = client.post(
            "/hooks/sendgrid", content=body, headers=sendgrid_headers(key, body, STAMP)
        )
        again = client.post(
            "/hooks/sendgrid", content=body, headers=sendgrid_headers(key, body, STAMP)
        )
    assert (answer.status_code, again.status_code) == (200, 200)
    assert [status_of(engine, s) for s in (ada, bob, carol, dan)] == [
        "bounced",
        "active",
        "unsubscribed",
        "active",
    ]
    assert recorded(engine) == [
        ("sendgrid", "hard_bounce", ada, "sg-1"),
        ("sendgrid", "soft_bounce", bob, "sg-2"),
        ("sendgrid", "complaint", carol, "sg-3"),
    ]
    after = deliveries(engine)
    changed = {after[i] for i in after if after[i] != before[i]}
    assert changed == {(ada, "cancelled"), (carol, "cancelled")}


def test_a_drop_for_a_bounced_address_is_a_hard_bounce(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, ada_mid), (bob, _) = two_readers(engine)
    key, public = sendgrid_keys()
    body = json.dumps(
        [_event("dropped", "ada@example.org", "sg-d", ada_mid, reason="Bounced Address")]
    ).encode()
    with hook_client(engine, tmp_path, database_url, sendgrid_webhook_public_key=public) as client:
        headers = sendgrid_headers(key, body, STAMP)
        assert client.post("/hooks/sendgrid", content=body, headers=headers).status_code == 200
    assert (status_of(engine, ada), status_of(engine, bob)) == ("bounced", "active")


def test_unsigned_wrongly_signed_or_hostile_batches_are_refused(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, ada_mid), _ = two_readers(engine)
    before = deliveries(engine)
    key, public = sendgrid_keys()
    other, _ = sendgrid_keys()
    body = json.dumps(
        [_event("bounce", "ada@example.org", "sg-1", ada_mid, type="bounce")]
    ).encode()
    tampered = body.replace(b"ada@", b"bob@")
    cases = {
        "unsigned": (body, {"content-type": "application/json"}),
        "other key": (body, sendgrid_headers(other, body, STAMP)),
        "tampered body": (tampered, sendgrid_headers(key, body, STAMP)),
        "other timestamp": (
            body,
            {
                **sendgrid_headers(key, body, STAMP),
                "x-twilio-email-event-webhook-timestamp": "1790770001",
            },
        ),
        "garbage signature": (
            body,
            {**sendgrid_headers(key, body, STAMP), "x-twilio-email-event-webhook-signature": "@@@"},
        ),
        "signed, not json": (b"[{", sendgrid_headers(key, b"[{", STAMP)),
        "signed, an object": (b"{}", sendgrid_headers(key, b"{}", STAMP)),
        "signed, deep": (b"[" * 60_000, sendgrid_headers(key, b"[" * 60_000, STAMP)),
    }
    with hook_client(engine, tmp_path, database_url, sendgrid_webhook_public_key=public) as client:
        answers = {
            name: client.post("/hooks/sendgrid", content=content, headers=headers).status_code
            for name, (content, headers) in cases.items()
        }
    assert answers == {
        "unsigned": 403,
        "other key": 403,
        "tampered body": 403,
        "other timestamp": 403,
        "garbage signature": 403,
        "signed, not json": 400,
        "signed, an object": 400,
        "signed, deep": 400,
    }
    assert (recorded(engine), deliveries(engine), status_of(engine, ada)) == ([], before, "active")


@SQLITE_ONLY
def test_without_a_usable_key_the_endpoint_refuses_everything(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    key, _ = sendgrid_keys()
    headers = sendgrid_headers(key, b"[]", STAMP)
    for configured in (None, "not-a-key"):
        with hook_client(
            engine, tmp_path, database_url, sendgrid_webhook_public_key=configured
        ) as client:
            answer = client.post("/hooks/sendgrid", content=b"[]", headers=headers)
        assert answer.status_code == 404
        assert "PAPERFEED_SENDGRID_WEBHOOK_PUBLIC_KEY" in answer.text
