"""Checking an Amazon SNS message the way SNS signs it, and confirming a subscription.

SNS signs a canonical string of the message's fields (``Key\\nValue\\n`` for each field
the message type lists, in that order, the optional ones only when present) with the key
of the X.509 certificate at ``SigningCertURL``: SHA1withRSA for ``SignatureVersion`` 1,
SHA256withRSA for 2. The certificate is trusted because of where it comes from: only a URL
matching ``sns_certificate_url_pattern`` whole (by default https on an
``sns.<region>.amazonaws.com`` host) is fetched, so TLS to Amazon vouches for it. Fetched
keys are cached per URL. A ``SubscribeURL`` is only visited on the origin the certificate
came from, so a forged confirmation cannot make the server fetch anything else.
Knows nothing of SES or of HTTP frameworks.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from paperfeed.bounces.hook_payload import HookRefused, text

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SIGNED_FIELDS = {
    "Notification": NOTIFICATION_FIELDS,
    "SubscriptionConfirmation": CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": CONFIRMATION_FIELDS,
}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
FETCH_SECONDS = 5.0
CERT_BYTES = 64 * 1024  # an SNS certificate is ~2 KB; anything far larger is not one
CACHED_CERTS = 32  # SNS rotates certificates rarely; a few regions' worth is plenty

Fetch = Callable[[str], Awaitable[bytes]]


def canonical_string(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signed for ``message`` (its ``Type`` chooses the fields)."""
    kind = message.get("Type")
    fields = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise HookRefused(400, "not an SNS message type this endpoint knows")
    lines: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue  # the only optional field: left out when absent
        if not isinstance(value, str):
            raise HookRefused(400, f"the SNS message has no {name}")
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode("utf-8")


async def fetch_https(url: str) -> bytes:
    """GET ``url`` (no redirects, short timeout, small answer) for its body."""
    async with (
        httpx.AsyncClient(timeout=FETCH_SECONDS, follow_redirects=False) as client,
        client.stream("GET", url) as answer,
    ):
        if answer.status_code != 200:
            raise httpx.HTTPStatusError(
                f"HTTP {answer.status_code}", request=answer.request, response=answer
            )
        body = b""
        async for chunk in answer.aiter_bytes():
            body += chunk
            if len(body) > CERT_BYTES:
                raise httpx.DecodingError("answer too large")
        return body


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


class SnsVerifier:
    """Checks SNS messages for one set of topics; caches certificates per URL."""

    def __init__(self, *, topics: str, cert_url_pattern: str, fetch: Fetch = fetch_https) -> None:
        self.topics = frozenset(t.strip() for t in topics.split(",") if t.strip())
        self.cert_url = re.compile(cert_url_pattern)
        self.fetch = fetch
        self._keys: dict[str, rsa.RSAPublicKey] = {}

    @property
    def configured(self) -> bool:
        return bool(self.topics)

    async def verify(self, message: Mapping[str, Any]) -> None:
        """Return if ``message`` is signed by SNS for one of our topics, else raise
        ``HookRefused`` (403 for a bad signature or a foreign topic, 400 when unreadable,
        503 when the certificate cannot be fetched now)."""
        signed = canonical_string(message)
        if message.get("TopicArn") not in self.topics:
            raise HookRefused(403, "not a topic this endpoint accepts")
        hash_of = HASHES.get(str(message.get("SignatureVersion")))
        if hash_of is None:
            raise HookRefused(403, "unknown SignatureVersion")
        cert_url = message.get("SigningCertURL")
        # Exactly as sent (not stripped): the URL fetched is the URL the pattern checked.
        if (
            not isinstance(cert_url, str)
            or len(cert_url) > 2048
            or not self.cert_url.fullmatch(cert_url)
        ):
            raise HookRefused(403, "SigningCertURL is not an SNS certificate URL")
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HookRefused(403, "the signature is not base64") from exc
        key = await self._key(cert_url)
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hash_of())
        except InvalidSignature as exc:
            raise HookRefused(403, "the SNS signature does not match") from exc

    async def confirm(self, message: Mapping[str, Any]) -> None:
        """Visit a verified SubscriptionConfirmation's SubscribeURL (503 if that fails)."""
        url = self.subscribe_url(message)
        try:
            await self.fetch(url)
        except httpx.HTTPError as exc:
            raise HookRefused(503, "the subscription could not be confirmed now") from exc

    def subscribe_url(self, message: Mapping[str, Any]) -> str:
        """The (verified) confirmation's SubscribeURL, if it is on the certificate's origin."""
        url = text(message.get("SubscribeURL"), 4096)
        cert_url = text(message.get("SigningCertURL"), 2048)
        try:
            same = url is not None and cert_url is not None and _origin(url) == _origin(cert_url)
        except httpx.InvalidURL:
            same = False
        if not same or url is None:
            raise HookRefused(403, "SubscribeURL is not on the SNS host")
        return url

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        cached = self._keys.get(url)
        if cached is not None:
            return cached
        try:
            pem = await self.fetch(url)
        except httpx.HTTPError as exc:
            raise HookRefused(503, "the SNS signing certificate cannot be fetched now") from exc
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as exc:
            raise HookRefused(403, "SigningCertURL does not hold a certificate") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise HookRefused(403, "the SNS certificate's key is not RSA")
        if len(self._keys) >= CACHED_CERTS:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = key
        return key
