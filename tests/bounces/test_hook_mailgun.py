"""POST /hooks/mailgun: bodies signed as Mailgun signs them (HMAC-SHA256 of timestamp+token)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from paperfeed.bounces.events import apply_reported
from paperfeed.bounces.hook_payload import HookRefused
from paperfeed.bounces.mailgun_hook import MailgunVerifier
from paperfeed.web import hook_routes
from tests.bounces.bounce_samples import status_of
from tests.bounces.hook_samples import (
    NOW,
    deliveries,
    hook_client,
    mailgun_body,
    readers,
    recorded,
    two_readers,
)
from tests.web.web_samples import SQLITE_ONLY, Clock

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def _event(event: str, email: str, key: str, message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": key,
        "event": event,
        "timestamp": NOW.timestamp() - 5,
        "recipient": email,
        "message": {"headers": {"message-id": message_id.strip("<>"), "to": email}},
        **extra,
    }


def test_failures_and_complaints_become_each_readers_state(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, ada_mid), (bob, bob_mid), (carol, carol_mid), (dan, dan_mid) = readers(
        engine, "ada@example.org", "bob@example.org", "carol@example.org", "dan@example.org"
    )
    before = deliveries(engine)
    calls = [
        _event("failed", "ada@example.org", "mg-1", ada_mid, severity="permanent"),
        _event("failed", "bob@example.org", "mg-2", bob_mid, severity="temporary"),
        _event("complained", "carol@example.org", "mg-3", carol_mid),
        _event("delivered", "dan@example.org", "mg-4", dan_mid),
        _event("failed", "dan@example.org", "mg-5", dan_mid),  # no severity: not a bounce
    ]
    with hook_client(engine, tmp_path, database_url, mailgun_webhook_signing_key=KEY) as client:
        answers = [
            client.post("/hooks/mailgun", json=mailgun_body(KEY, data, token=f"tok-{n}" * 5))
            for n, data in enumerate(calls)
        ]
    assert [a.status_code for a in answers] == [200] * 5
    assert [status_of(engine, s) for s in (ada, bob, carol, dan)] == [
        "bounced",
        "active",
        "unsubscribed",
        "active",
    ]
    assert recorded(engine) == [
        ("mailgun", "hard_bounce", ada, "mg-1"),
        ("mailgun", "soft_bounce", bob, "mg-2"),
        ("mailgun", "complaint", carol, "mg-3"),
    ]
    after = deliveries(engine)
    assert {after[i] for i in after if after[i] != before[i]} == {
        (ada, "cancelled"),
        (carol, "cancelled"),
    }


def test_wrong_signatures_old_timestamps_replays_and_hostile_bodies_are_refused(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    (ada, ada_mid), _ = two_readers(engine)
    before = deliveries(engine)
    bounce = _event("failed", "ada@example.org", "mg-1", ada_mid, severity="permanent")
    good = mailgun_body(KEY, bounce, token="once" * 10)
    cases: dict[str, Any] = {
        "other key": mailgun_body("key-other", bounce),
        "signature of another token": {
            **good,
            "signature": {**good["signature"], "token": "other" * 10},
        },
        "no signature": {"event-data": bounce},
        "16 minutes old": mailgun_body(KEY, bounce, at=NOW - timedelta(minutes=16)),
        "16 minutes ahead": mailgun_body(KEY, bounce, at=NOW + timedelta(minutes=16)),
        "signature a number": {**good, "signature": {**good["signature"], "signature": 7}},
        "a list": [good],
    }
    with hook_client(engine, tmp_path, database_url, mailgun_webhook_signing_key=KEY) as client:
        answers = {
            name: client.post("/hooks/mailgun", json=body).status_code
            for name, body in cases.items()
        }
        answers["not json"] = client.post("/hooks/mailgun", content=b"\x00\x01").status_code
        answers["deep"] = client.post("/hooks/mailgun", content=b"[" * 100_000).status_code
        assert (recorded(engine), deliveries(engine)) == ([], before)
        # The genuine call is taken once; the same call again is a replay.
        answers["genuine"] = client.post("/hooks/mailgun", json=good).status_code
        answers["replayed"] = client.post("/hooks/mailgun", json=good).status_code
    assert answers == {
        "other key": 403,
        "signature of another token": 403,
        "no signature": 403,
        "16 minutes old": 403,
        "16 minutes ahead": 403,
        "signature a number": 403,
        "a list": 400,
        "not json": 400,
        "deep": 400,
        "genuine": 200,
        "replayed": 403,
    }
    assert recorded(engine) == [("mailgun", "hard_bounce", ada, "mg-1")]


def test_a_token_given_back_after_a_failed_call_is_accepted_on_retry() -> None:
    verifier = MailgunVerifier(KEY, clock=Clock(NOW))
    signature = mailgun_body(KEY, {}, token="retry" * 10)["signature"]
    token = verifier.claim(signature)
    with pytest.raises(HookRefused, match="already used"):
        verifier.claim(signature)
    verifier.release(token)
    assert verifier.claim(signature) == token


@SQLITE_ONLY
def test_without_a_signing_key_the_endpoint_refuses_everything(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    with hook_client(engine, tmp_path, database_url) as client:
        answer = client.post("/hooks/mailgun", json=mailgun_body(KEY, {}))
    assert answer.status_code == 404
    assert "PAPERFEED_MAILGUN_WEBHOOK_SIGNING_KEY" in answer.text


@SQLITE_ONLY
def test_a_store_failure_records_nothing_answers_503_and_lets_mailguns_retry_in(
    engine: Engine, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ada, ada_mid), _ = two_readers(engine)
    body = mailgun_body(
        KEY, _event("failed", "ada@example.org", "mg-1", ada_mid, severity="permanent")
    )

    def applied_then_lost(*args: Any, **kwargs: Any) -> Any:
        apply_reported(*args, **kwargs)  # written in the transaction, which then fails
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    with hook_client(engine, tmp_path, database_url, mailgun_webhook_signing_key=KEY) as client:
        monkeypatch.setattr(hook_routes, "apply_reported", applied_then_lost)
        failed = client.post("/hooks/mailgun", json=body)
        assert (failed.status_code, recorded(engine), status_of(engine, ada)) == (503, [], "active")
        monkeypatch.setattr(hook_routes, "apply_reported", apply_reported)
        retried = client.post("/hooks/mailgun", json=body)  # same token: not a replay
    assert retried.status_code == 200
    assert status_of(engine, ada) == "bounced"
