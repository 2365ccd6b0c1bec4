"""POST /hooks/ses: SNS messages signed as SNS signs them, the certificate served over HTTP.

The certificate comes from a real HTTP server on 127.0.0.1, which the settings' certificate
URL pattern is pointed at (the default only allows https on sns.<region>.amazonaws.com).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paperfeed.bounces.hook_payload import HookRefused
from paperfeed.bounces.sns_signature import SnsVerifier
from paperfeed.config import Settings
from tests.bounces.bounce_samples import status_of
from tests.bounces.hook_samples import (
    TOPIC,
    LocalSite,
    deliveries,
    hook_client,
    recorded,
    self_signed_rsa,
    ses_bounce,
    sns_notification,
    sns_signed,
    two_readers,
)
from tests.web.web_samples import SQLITE_ONLY


@dataclass
class Sns:
    client: TestClient
    site: LocalSite
    key: rsa.RSAPrivateKey

    @property
    def cert_url(self) -> str:
        return f"{self.site.base}/SimpleNotificationService-test.pem"

    def post(self, message: dict[str, Any], *, version: str = "1") -> Any:
        signed = sns_signed(message, self.key, self.cert_url, version=version)
        return self.client.post("/hooks/ses", content=json.dumps(signed))


@pytest.fixture
def sns(engine: Engine, tmp_path: Path, database_url: str) -> Iterator[Sns]:
    key, pem = self_signed_rsa()
    pages = {"/SimpleNotificationService-test.pem": pem, "/confirm": b"<ConfirmSubscription/>"}
    with LocalSite(pages) as site:
        pattern = re.escape(site.base) + r"/[^?#]*\.pem"
        with hook_client(
            engine,
            tmp_path,
            database_url,
            sns_topic_arns=f"arn:aws:sns:us-east-1:1:other, {TOPIC}",
            sns_certificate_url_pattern=pattern,
        ) as client:
            yield Sns(client, site, key)


def test_a_permanent_bounce_bounces_that_reader_and_cancels_only_their_pending_mail(
    engine: Engine, sns: Sns
) -> None:
    (ada, ada_mid), (bob, _) = two_readers(engine)
    before = deliveries(engine)
    notice = ses_bounce("Permanent", ["ada@example.org"], message_id=ada_mid)
    answer = sns.post(sns_notification(notice))
    assert answer.status_code == 200
    assert (status_of(engine, ada), status_of(engine, bob)) == ("bounced", "active")
    after = deliveries(engine)
    changed = {i: after[i] for i in after if after[i] != before[i]}
    assert changed == {
        i: (ada, "cancelled") for i, (s, st) in before.items() if s == ada and st == "pending"
    }
    assert len(changed) == 1
    assert recorded(engine) == [("ses", "hard_bounce", ada, "fb-1:ada@example.org")]
    # The certificate was fetched once, from the URL the message named.
    assert sns.site.requested == ["/SimpleNotificationService-test.pem"]


def test_transient_bounces_are_counted_and_signature_version_2_is_checked_too(
    engine: Engine, sns: Sns
) -> None:
    (ada, ada_mid), _ = two_readers(engine)
    notice = ses_bounce("Transient", ["ada@example.org"], message_id=ada_mid, feedback="fb-s")
    assert sns.post(sns_notification(notice), version="2").status_code == 200
    assert status_of(engine, ada) == "active"
    assert recorded(engine) == [("ses", "soft_bounce", ada, "fb-s:ada@example.org")]
    # SNS delivering the same notification again records nothing new.
    assert sns.post(sns_notification(notice), version="2").status_code == 200
    assert len(recorded(engine)) == 1


def test_a_complaint_unsubscribes_and_a_delivery_notice_changes_nothing(
    engine: Engine, sns: Sns
) -> None:
    (ada, _), (bob, bob_mid) = two_readers(engine)
    delivered = {"notificationType": "Delivery", "mail": {"commonHeaders": {"messageId": bob_mid}}}
    assert sns.post(sns_notification(delivered, message_id="sns-d")).status_code == 200
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "Ada <ada@example.org>"}],
            "timestamp": "2026-09-30T11:00:00.000Z",
            "feedbackId": "fb-c",
            "complaintFeedbackType": "abuse",
        },
        # SES's own id only: the report is matched by the address.
        "mail": {"messageId": "0100018f-ses-own-id"},
    }
    assert sns.post(sns_notification(complaint, message_id="sns-c")).status_code == 200
    assert (status_of(engine, ada), status_of(engine, bob)) == ("unsubscribed", "active")
    assert recorded(engine) == [("ses", "complaint", ada, "fb-c:ada@example.org")]


def test_a_subscription_confirmation_visits_the_subscribe_url_on_the_sns_host(
    engine: Engine, sns: Sns
) -> None:
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "sns-sub",
        "Token": "tok",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe...",
        "SubscribeURL": f"{sns.site.base}/confirm?Action=ConfirmSubscription&Token=tok",
        "Timestamp": "2026-09-30T11:00:00.000Z",
    }
    assert sns.post(confirmation).status_code == 200
    assert "/confirm?Action=ConfirmSubscription&Token=tok" in sns.site.requested
    # Elsewhere than the certificate's origin: refused, and not visited.
    elsewhere = {**confirmation, "SubscribeURL": "http://127.0.0.2:9/confirm"}
    assert sns.post(elsewhere).status_code == 403
    assert recorded(engine) == []


def _refusals(sns: Sns, notification: dict[str, Any]) -> dict[str, int]:
    signed = sns_signed(notification, sns.key, sns.cert_url)
    other_key, _ = self_signed_rsa()
    forged = sns_signed(notification, other_key, sns.cert_url)
    tampered = {**signed, "Message": signed["Message"].replace("Permanent", "Transient")}
    outside = sns_signed(notification, sns.key, "http://127.0.0.1:9/evil/cert.pem")
    foreign_topic = sns_signed({**notification, "TopicArn": TOPIC + "-x"}, sns.key, sns.cert_url)
    unsigned = {k: v for k, v in signed.items() if k != "Signature"}
    bodies: dict[str, bytes] = {
        "forged": json.dumps(forged).encode(),
        "tampered": json.dumps(tampered).encode(),
        "cert outside pattern": json.dumps(outside).encode(),
        "foreign topic": json.dumps(foreign_topic).encode(),
        "unsigned": json.dumps(unsigned).encode(),
        "version 3": json.dumps({**signed, "SignatureVersion": "3"}).encode(),
        "not json": b"\xff{",
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "a list": b"[1, 2]",
        "no type": json.dumps({**signed, "Type": "Surprise"}).encode(),
    }
    return {
        name: sns.client.post("/hooks/ses", content=body).status_code
        for name, body in bodies.items()
    }


def test_forged_tampered_foreign_or_hostile_messages_are_refused_and_record_nothing(
    engine: Engine, sns: Sns
) -> None:
    (ada, ada_mid), _ = two_readers(engine)
    before = deliveries(engine)
    notification = sns_notification(
        ses_bounce("Permanent", ["ada@example.org"], message_id=ada_mid)
    )
    assert _refusals(sns, notification) == {
        "forged": 403,
        "tampered": 403,
        "cert outside pattern": 403,
        "foreign topic": 403,
        "unsigned": 403,
        "version 3": 403,
        "not json": 400,
        "deep": 400,
        "a list": 400,
        "no type": 400,
    }
    assert (recorded(engine), deliveries(engine), status_of(engine, ada)) == ([], before, "active")
    # Only the allowed URL was ever fetched.
    assert set(sns.site.requested) <= {"/SimpleNotificationService-test.pem"}


@SQLITE_ONLY
def test_without_topics_the_endpoint_refuses_everything(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    with hook_client(engine, tmp_path, database_url) as client:
        answer = client.post("/hooks/ses", content=b"{}")
    assert answer.status_code == 404
    assert "PAPERFEED_SNS_TOPIC_ARNS" in answer.text


@SQLITE_ONLY
def test_a_body_over_a_megabyte_is_refused_before_it_is_read(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    with hook_client(engine, tmp_path, database_url, sns_topic_arns=TOPIC) as client:
        big = client.post("/hooks/ses", content=b" " * (1024 * 1024 + 1))
        # Under the hooks' 1 MB but over the pages' 64 KB: read (and refused as unsigned).
        medium = client.post("/hooks/ses", content=b"{" + b" " * 100_000 + b"}")
    assert (big.status_code, medium.status_code) == (413, 400)


@pytest.mark.parametrize(
    ("url", "fetched"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc123.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem", False),
        ("https://sns.us-east-1.amazonaws.com@evil.example/cert.pem", False),
        ("https://evil.example/sns.us-east-1.amazonaws.com/cert.pem", False),
        ("https://sns.us-east-1.amazonaws.com/cert.pem?x=.pem", False),
        ("https://sns.us-east-1.amazonaws.com/cert.pem\n", False),
    ],
)
def test_the_default_pattern_fetches_certificates_from_sns_hosts_only(
    url: str, fetched: bool
) -> None:
    asked: list[str] = []

    async def fetch(where: str) -> bytes:
        asked.append(where)
        return self_signed_rsa()[1]

    verifier = SnsVerifier(
        topics=TOPIC, cert_url_pattern=Settings().sns_certificate_url_pattern, fetch=fetch
    )
    message = {**sns_notification({}), "SignatureVersion": "1", "SigningCertURL": url}
    with pytest.raises(HookRefused) as refused:
        asyncio.run(verifier.verify({**message, "Signature": "AAAA"}))
    # A fetched certificate cannot check a made-up signature: 403 either way, and the
    # certificate is only fetched from SNS's hosts.
    assert refused.value.status == 403
    assert asked == ([url] if fetched else [])
