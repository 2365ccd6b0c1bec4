"""DKIM signing itself: what dkimpy's verifier accepts, what it refuses, and the key file."""

from __future__ import annotations

import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from dkim.canonicalization import Relaxed
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.config import Settings
from paperfeed.errors import ConfigError
from paperfeed.mailer.dkim_sign import (
    DkimSigner,
    dkim_signer,
    load_private_key,
    relaxed_body,
    relaxed_header,
)
from paperfeed.mailer.message import OutgoingMail
from tests.mailer.dkim_samples import (
    DOMAIN,
    SELECTOR,
    key_file,
    pem,
    rsa_key,
    signature_tags,
    signed_headers,
    txt_record,
    verifies,
)

Build = Any  # the ``outgoing`` fixture


def signer(key: Any = None) -> DkimSigner:
    return DkimSigner(key or rsa_key(), selector=SELECTOR, domain=DOMAIN, clock=lambda: 1.7e9)


@pytest.fixture
def digest_bytes(outgoing: Build) -> bytes:
    mail: OutgoingMail = outgoing(1)[0]
    return mail.data


def test_a_signed_digest_verifies_and_covers_the_one_click_headers(digest_bytes: bytes) -> None:
    signed = signer().sign(digest_bytes)

    assert verifies(signed)
    assert signed.endswith(digest_bytes)  # one header added on top, nothing else changed
    assert signed.startswith(b"DKIM-Signature: ")
    tags = signature_tags(signed)
    assert (tags["a"], tags["c"], tags["d"], tags["s"]) == (
        "rsa-sha256",
        "relaxed/relaxed",
        DOMAIN,
        SELECTOR,
    )
    assert signed_headers(signed) == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
        "mime-version",
        "content-type",
    ]
    head = signed.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")[:8])


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"List-Unsubscribe: <https://", b"List-Unsubscribe: <http://"),
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"),
        (b"Subject: ", b"Subject: Re: "),
        (b"To: ", b"To: evil@example.net, "),
        (b"https://huggingface.co/papers/", b"https://evil.example/papers/"),  # the body
    ],
)
def test_a_message_altered_after_signing_fails(digest_bytes: bytes, old: bytes, new: bytes) -> None:
    signed = signer().sign(digest_bytes)
    assert old in signed
    assert not verifies(signed.replace(old, new, 1))


def test_a_second_from_header_added_after_signing_is_not_covered(digest_bytes: bytes) -> None:
    # The verifier signs the bottom instance of a header; prepending one changes nothing
    # for it, but appending one at the bottom of the header block must fail.
    signed = signer().sign(digest_bytes)
    head, rest = signed.split(b"\r\n\r\n", 1)
    assert not verifies(head + b"\r\nFrom: evil@example.net\r\n\r\n" + rest)


def test_another_key_does_not_verify(digest_bytes: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert not verifies(signer(other).sign(digest_bytes))
    assert verifies(signer(other).sign(digest_bytes), other)


def test_bare_line_feeds_are_made_crlf_before_signing_as_the_wire_does() -> None:
    data = b"From: a@example.org\nTo: b@example.com\nSubject: hi\n\nline one  \nline two"
    signed = signer().sign(data)
    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert signed.endswith(b"line one  \r\nline two\r\n")
    assert verifies(signed)


def test_a_message_without_a_from_header_is_refused() -> None:
    from paperfeed.errors import MailError

    with pytest.raises(MailError, match="From"):
        signer().sign(b"To: b@example.com\r\n\r\nhi\r\n")


bodies = st.lists(st.text(alphabet="ab \t", max_size=8), max_size=8).map(
    lambda lines: "\r\n".join(lines).encode()
)


@given(body=bodies, end=st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b" \r\n \r\n"]))
def test_relaxed_body_is_what_dkimpy_computes(body: bytes, end: bytes) -> None:
    assert relaxed_body(body + end) == Relaxed.canonicalize_body(body + end)


def _nacl_from_cryptography() -> types.SimpleNamespace:
    """The part of PyNaCl dkimpy's verifier calls for ed25519, over ``cryptography``
    (PyNaCl is not a dependency): dkimpy's parsing, canonicalisation and hashing still run."""
    import base64

    class BadSignatureError(Exception):
        pass

    class VerifyKey:
        def __init__(self, key: bytes, encoder: Any = None) -> None:
            raw = base64.b64decode(key)
            self.key = ed25519.Ed25519PublicKey.from_public_bytes(raw)

        def verify(self, message: bytes, signature: bytes) -> bytes:
            try:
                self.key.verify(signature, message)
            except InvalidSignature as exc:
                raise BadSignatureError from exc
            return message

    return types.SimpleNamespace(
        signing=types.SimpleNamespace(VerifyKey=VerifyKey),
        encoding=types.SimpleNamespace(Base64Encoder=None),
        exceptions=types.SimpleNamespace(
            BadSignatureError=BadSignatureError, ValueError=ValueError
        ),
    )


def test_an_ed25519_key_signs_ed25519_sha256(
    digest_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dkim, "nacl", _nacl_from_cryptography(), raising=False)
    key = ed25519.Ed25519PrivateKey.generate()
    signed = signer(key).sign(digest_bytes)
    assert signature_tags(signed)["a"] == "ed25519-sha256"
    assert verifies(signed, key)
    assert not verifies(signed.replace(b"Subject: ", b"Subject: Re: ", 1), key)
    assert signer(key).dns_record()[1] == txt_record(key).decode()


def test_the_dns_record_names_the_selector_and_holds_the_public_key() -> None:
    name, value = signer().dns_record()
    assert name == f"{SELECTOR}._domainkey.{DOMAIN}"
    assert value == txt_record(rsa_key()).decode()


def settings_for(tmp_path: Path, **dkim_settings: Any) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        mail_from="paperfeed <digest@Example.ORG>",
        **dkim_settings,
    )


def test_the_settings_signer_uses_the_from_domain_unless_one_is_set(tmp_path: Path) -> None:
    path = key_file(tmp_path)
    plain = dkim_signer(settings_for(tmp_path, dkim_private_key_path=path, dkim_selector="s1"))
    assert plain is not None
    assert (plain.domain, plain.selector) == ("example.org", "s1")
    assert plain is dkim_signer(
        settings_for(tmp_path, dkim_private_key_path=path, dkim_selector="s1")
    )  # read once
    other = dkim_signer(
        settings_for(
            tmp_path, dkim_private_key_path=path, dkim_selector="s1", dkim_domain="mail.example.org"
        )
    )
    assert other is not None
    assert other.domain == "mail.example.org"
    assert dkim_signer(settings_for(tmp_path)) is None


def test_a_missing_key_file_is_a_clear_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"PAPERFEED_DKIM_PRIVATE_KEY_PATH=.*no such file"):
        load_private_key(tmp_path / "absent.pem")


def test_an_unreadable_key_path_is_a_clear_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_private_key(tmp_path)  # a folder


@pytest.mark.parametrize(
    "content",
    [
        b"not a key at all, hunter2\n",
        pem(rsa_key()).replace(b"MII", b"XXX", 1),  # damaged
        pem(rsa_key()).replace(b"PRIVATE", b"PUBLIC"),  # wrong kind of PEM
    ],
)
def test_a_file_that_is_not_a_key_is_a_config_error_that_shows_none_of_it(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="is not a PEM private key") as caught:
        load_private_key(path)
    shown = str(caught.value)
    for part in ("hunter2", "MII", "XXX"):
        assert part not in shown
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_an_encrypted_or_ec_key_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        rsa_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ConfigError, match="encrypted"):
        load_private_key(path)
    key_file(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConfigError, match="RSA or Ed25519"):
        load_private_key(path)


def test_a_selector_that_is_not_a_dns_name_is_refused(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, dkim_private_key_path=key_file(tmp_path), dkim_selector="s1; x=y"
    )
    with pytest.raises(ConfigError, match="PAPERFEED_DKIM_SELECTOR"):
        dkim_signer(settings)


def test_signing_twice_gives_the_same_header_for_the_same_time(digest_bytes: bytes) -> None:
    # The signer is pure but for its clock: retries resend signed bytes, never re-sign.
    one = signer()
    assert one.sign(digest_bytes) == replace(one).sign(digest_bytes)


header_values = st.lists(st.text(alphabet="aB :\t", max_size=10), min_size=1, max_size=4).map(
    lambda lines: "\r\n ".join(lines).encode() + b"\r\n"
)


@given(name=st.sampled_from([b"Subject", b"LIST-Unsubscribe", b"x "]), value=header_values)
def test_relaxed_header_is_what_dkimpy_computes(name: bytes, value: bytes) -> None:
    [(their_name, their_value)] = Relaxed.canonicalize_headers([(name, value)])
    assert relaxed_header(name, value) == their_name + b":" + their_value
