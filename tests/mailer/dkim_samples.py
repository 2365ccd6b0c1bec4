"""DKIM keys for the tests, and checking a message the way a receiver does: dkimpy's verifier
with a DNS answer made from the public key (not from the code under test)."""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

SELECTOR = "pf2026"
DOMAIN = "example.org"


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key for the whole run (generating one takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


def key_file(tmp_path: Path, key: Any = None) -> Path:
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem(key or rsa_key()))
    path.chmod(0o600)
    return path


def txt_record(key: Any) -> bytes:
    """``v=DKIM1; k=…; p=…`` for ``key``, as the operator publishes it."""
    public = key.public_key()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def verifies(message: bytes, key: Any = None, *, domain: str = DOMAIN) -> bool:
    """Whether dkimpy accepts ``message``'s signature, with ``key`` published in DNS."""
    record = txt_record(key or rsa_key())
    asked: list[bytes] = []

    def dns(name: bytes, timeout: float = 5) -> bytes | None:
        asked.append(name)
        return record if name == f"{SELECTOR}._domainkey.{domain}.".encode() else None

    ok = bool(dkim.verify(message, dnsfunc=dns))
    assert asked, "the verifier never looked the key up: is there a signature at all?"
    return ok


def signature_tags(message: bytes) -> dict[str, str]:
    """The tags of the message's first header, which must be its DKIM-Signature."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("ascii")
    first = re.split(r"\r\n(?=\S)", head)[0]
    name, value = first.split(":", 1)
    assert name == "DKIM-Signature"
    tags = (t.strip() for t in re.sub(r"\s+", "", value).split(";") if t.strip())
    return dict(t.split("=", 1) for t in tags)


def signed_headers(message: bytes) -> list[str]:
    return signature_tags(message)["h"].split(":")
