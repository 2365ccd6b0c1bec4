"""Chat addresses in the store: checked with apprise, kept, listed redacted, removed, refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from paperfeed.errors import InputError
from paperfeed.outbox.ledger import stop_addresses
from paperfeed.store.channel_addresses import (
    add_address,
    check_address,
    list_addresses,
    redact,
    remove_address,
)
from paperfeed.store.db import session_scope
from paperfeed.store.models import ChannelAddressStatus
from paperfeed.store.subscribers import create_subscriber

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general"
DISCORD = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"


def subscriber_id(engine: Engine, email: str = "ada@example.org") -> int:
    with session_scope(engine) as session:
        sub = create_subscriber(session, email=email, interests="x", now=NOW, confirmed=True)
        assert sub.id is not None
        return sub.id


def test_add_list_mark_and_remove(engine: Engine) -> None:
    owner = subscriber_id(engine)
    with session_scope(engine) as session:
        slack = add_address(session, owner, f"  {SLACK} ", now=NOW)
        discord = add_address(session, owner, DISCORD, now=NOW)
    assert (slack.service, slack.shown, slack.url) == ("slack", "slack://…/…i7FQ", SLACK)
    assert discord.shown == "discord://…/…V_js"
    with session_scope(engine) as session:
        assert [a.id for a in list_addresses(session, owner)] == [slack.id, discord.id]
        assert discord.id is not None
        stop_addresses(session, {discord.id: "HTTP 404: the service refused"}, now=NOW)
    with session_scope(engine) as session:
        listed = list_addresses(session, owner)
        assert [a.status for a in listed] == [
            ChannelAddressStatus.ACTIVE,
            ChannelAddressStatus.UNDELIVERABLE,
        ]
        assert listed[1].last_error == "HTTP 404: the service refused"
        assert slack.id is not None
        remove_address(session, owner, slack.id)
    with session_scope(engine) as session:
        assert [a.id for a in list_addresses(session, owner)] == [discord.id]


def test_the_same_address_twice_and_someone_elses_address_are_refused(engine: Engine) -> None:
    owner, other = subscriber_id(engine), subscriber_id(engine, "bob@example.org")
    with session_scope(engine) as session:
        address = add_address(session, owner, SLACK, now=NOW)
    with session_scope(engine) as session, pytest.raises(InputError, match="added already"):
        add_address(session, owner, SLACK, now=NOW)
    assert address.id is not None
    with session_scope(engine) as session, pytest.raises(InputError, match="no chat address"):
        remove_address(session, other, address.id)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("foo://bar/baz", "foo:// is not a chat or push service.*slack://.*tgram://"),
        ("https://example.com/hook/abc", "https:// is not a chat or push service"),
        ("just some words", "holds spaces"),
        ("slack://only-one-part-secret", "this slack:// address is not one the service can use"),
    ],
)
def test_unusable_addresses_are_refused_without_echoing_them(raw: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        check_address(raw)
    assert "secret" not in str(caught.value)
    assert "baz" not in str(caught.value)


def test_the_public_page_refuses_operator_only_and_private_addresses() -> None:
    assert check_address("json://127.0.0.1:9/hook").service == "json"  # the operator may
    with pytest.raises(InputError, match="only be added by the operator"):
        check_address("json://127.0.0.1:9/hook", public=True)
    with pytest.raises(InputError, match="local or private host"):
        check_address("ntfy://10.0.0.5/topic-secret", public=True)
    with pytest.raises(InputError, match="local or private host"):
        check_address("mmost://localhost/abcdefghijklmnop", public=True)
    native = check_address(
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        public=True,
    )
    assert native.service == "slack"
    assert native.shown == "https://hooks.slack.com/…i7FQ"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (SLACK, "slack://…/…i7FQ"),
        ("tgram://123456789:ABCdefGHIjklMNOpqrSTUvwxYZ123456789/12345", "tgram://…/…6789"),
        (
            "json://user:pw@hooks.example.com:8080/path/s3cr3tvalue12",
            "json://hooks.example.com:8080/…ue12",
        ),
        ("ntfy://my-secret-topic-name", "ntfy://…/…name"),
        ("matrix://user:pass@matrix.org/#room", "matrix://matrix.org/…"),
    ],
)
def test_redaction_keeps_a_server_name_and_a_secrets_tail_only(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_an_undeliverable_address_added_again_receives_again(engine: Engine) -> None:
    owner = subscriber_id(engine)
    with session_scope(engine) as session:
        address = add_address(session, owner, SLACK, now=NOW)
        assert address.id is not None
        stop_addresses(session, {address.id: "HTTP 410"}, now=NOW)
    with session_scope(engine) as session:
        again = add_address(session, owner, SLACK, now=NOW)
    assert again.id == address.id
    assert (again.status, again.last_error) == (ChannelAddressStatus.ACTIVE, None)
