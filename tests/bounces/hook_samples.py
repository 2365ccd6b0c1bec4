"""Webhook calls signed the way each provider signs them, an app to send them to, and the
store's state to compare before and after."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from paperfeed.bounces.sns_signature import canonical_string
from paperfeed.store.db import session_scope
from paperfeed.store.models import Delivery, MailEvent
from paperfeed.web.app import create_app
from tests.bounces.bounce_samples import sent_digest
from tests.mailer.outbox_samples import EDITION_DAY
from tests.outbox.channel_samples import compose
from tests.support.ports import free_port
from tests.web.web_samples import Clock, MemoryTransport, app_settings

NOW = datetime(2026, 9, 30, 12, tzinfo=UTC)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:paperfeed-bounces"


def readers(engine: Engine, *emails: str) -> list[tuple[int, str]]:
    """Readers each sent a digest (ids and Message-IDs returned), the next one pending."""
    sent = [sent_digest(engine, email, at=NOW - timedelta(hours=2)) for email in emails]
    compose(engine, [reader for reader, _ in sent], day=EDITION_DAY + timedelta(days=1))
    return sent


def two_readers(engine: Engine) -> tuple[tuple[int, str], tuple[int, str]]:
    """Ada and Bob, each sent a digest (Message-IDs returned) with the next one pending."""
    ada, bob = readers(engine, "ada@example.org", "bob@example.org")
    return ada, bob


def deliveries(engine: Engine) -> dict[int, tuple[int, str]]:
    """Every delivery: id -> (subscriber id, status)."""
    with session_scope(engine) as session:
        return {d.id or 0: (d.subscriber_id, d.status) for d in session.exec(select(Delivery))}


def recorded(engine: Engine) -> list[tuple[str, str, int | None, str]]:
    """Every stored report: (source, kind, subscriber id, key), in the order stored."""
    with session_scope(engine) as session:
        rows = session.exec(select(MailEvent).order_by(col(MailEvent.id))).all()
        return [(e.source, e.kind, e.subscriber_id, e.event_key) for e in rows]


@contextmanager
def hook_client(
    engine: Engine, tmp_path: Path, database_url: str, **settings: Any
) -> Iterator[TestClient]:
    """A client for the app over ``engine`` with these settings, its clock at NOW."""
    app = create_app(
        app_settings(tmp_path, database_url, **settings),
        engine=engine,
        transport=MemoryTransport(),
        now=Clock(NOW),
    )
    with TestClient(app) as client:
        yield client


# --- a small web server on 127.0.0.1 (the SNS certificate, the subscription URL) ------


class LocalSite:
    """A real HTTP server on 127.0.0.1 serving ``pages`` (path -> body); records each GET."""

    def __init__(self, pages: Mapping[str, bytes]) -> None:
        self.pages = dict(pages)
        self.requested: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requested.append(self.path)
                body = site.pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("content-length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LocalSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


# --- Amazon SNS ---------------------------------------------------------------------


def self_signed_rsa(common_name: str = "sns.test") -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA key and a self-signed certificate (PEM) for it, as SNS's signing cert."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sns_signed(
    message: dict[str, Any], key: rsa.RSAPrivateKey, cert_url: str, *, version: str = "1"
) -> dict[str, Any]:
    """``message`` signed as SNS signs it (SignatureVersion 1: SHA1withRSA, 2: SHA256)."""
    signed = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(canonical_string(signed), padding.PKCS1v15(), digest)
    return {**signed, "Signature": base64.b64encode(signature).decode()}


def sns_notification(
    ses_message: Mapping[str, Any], *, message_id: str = "sns-1"
) -> dict[str, Any]:
    """An SNS Notification carrying an SES notification (unsigned)."""
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(ses_message),
        "Timestamp": "2026-09-30T11:59:58.000Z",
        "UnsubscribeURL": "https://sns.example/unsubscribe",
    }


def ses_bounce(
    bounce_type: str, recipients: list[str], *, message_id: str, feedback: str = "fb-1"
) -> dict[str, Any]:
    """SES's Bounce notification for mail with our ``message_id`` header."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": r, "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1"}
                for r in recipients
            ],
            "timestamp": "2026-09-30T11:59:57.000Z",
            "feedbackId": feedback,
        },
        "mail": {
            "messageId": "0100018f-ses-own-id-000000",
            "headers": [
                {"name": "From", "value": "digest@paperfeed.example"},
                {"name": "Message-ID", "value": message_id},
            ],
            "commonHeaders": {"messageId": message_id},
        },
    }


# --- SendGrid, Mailgun --------------------------------------------------------------


def sendgrid_keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key and its public half as SendGrid shows it (base64 DER SPKI)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(der).decode()


def sendgrid_headers(
    key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str
) -> dict[str, str]:
    """The headers SendGrid's Signed Event Webhook sends with ``body``."""
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
        "x-twilio-email-event-webhook-timestamp": timestamp,
    }


def mailgun_body(
    signing_key: str, event_data: Mapping[str, Any], *, at: datetime = NOW, token: str = "t" * 50
) -> dict[str, Any]:
    """A Mailgun webhook body signed as Mailgun signs it (HMAC-SHA256 of timestamp+token)."""
    timestamp = str(int(at.timestamp()))
    signature = hmac.new(
        signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": dict(event_data),
    }
