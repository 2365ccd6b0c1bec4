"""Signing up: double opt-in, the same answer for every address, limits, and bad input."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import select

from paperfeed.store.db import session_scope
from paperfeed.store.models import Subscriber, SubscriberStatus
from paperfeed.store.subscribers import create_subscriber, find_by_email, unsubscribe
from tests.web.web_samples import SQLITE_ONLY, Clock, MemoryTransport

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"http://testserver(/confirm/[A-Za-z0-9._-]+)")


def form_token(client: TestClient, path: str = "/") -> str:
    page = client.get(path)
    match = CSRF.search(page.text)
    assert match, "the page has no form token"
    return match.group(1)


def sign_up(client: TestClient, email: str, **fields: str) -> str:
    data = {
        "csrf": form_token(client),
        "email": email,
        "interests": '"speculative decoding"\n-vision',
        "timezone": "Europe/Berlin",
        "send_hour": "8",
        "frequency": "daily",
        **fields,
    }
    response = client.post("/subscribe", data=data)
    return f"{response.status_code} {response.text}"


def mail_text(transport: MemoryTransport, index: int = -1) -> str:
    message = message_from_bytes(transport.sent[index].data, policy=policy.default)
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def confirm_path(transport: MemoryTransport, index: int = -1) -> str:
    match = LINK.search(mail_text(transport, index))
    assert match, "the mail holds no confirmation link"
    return match.group(1)


def subscriber_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(Subscriber)).one())


def test_subscribing_answers_check_your_inbox_and_mails_a_confirmation_link(
    client: TestClient, transport: MemoryTransport, stored: Engine
) -> None:
    answer = sign_up(client, "Ada@Example.com")
    assert answer.startswith("200")
    assert "Check your inbox" in answer
    assert [m.recipient for m in transport.sent] == ["ada@example.com"]
    assert confirm_path(transport).startswith("/confirm/")
    with session_scope(stored) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.PENDING
        assert (row.timezone, row.send_hour, row.interests) == (
            "Europe/Berlin",
            8,
            '"speculative decoding"\n-vision',
        )


def test_the_link_opens_a_page_whose_button_confirms_and_its_get_changes_nothing(
    client: TestClient, transport: MemoryTransport, stored: Engine
) -> None:
    sign_up(client, "ada@example.com")
    path = confirm_path(transport)
    for _ in range(3):  # link scanners fetch it, maybe several times
        page = client.get(path)
        assert page.status_code == 200
        assert "Yes, confirm" in page.text
    with session_scope(stored) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.PENDING
        token = row.token
    done = client.post(path, data={"csrf": form_token(client, path)}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"http://testserver/u/{token}?welcome=1"
    with session_scope(stored) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.ACTIVE


@SQLITE_ONLY
def test_the_mail_does_not_contain_the_subscriber_token(
    client: TestClient, transport: MemoryTransport, stored: Engine
) -> None:
    sign_up(client, "ada@example.com")
    with session_scope(stored) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        token = row.token
    assert token.encode() not in transport.sent[0].data


def test_an_address_on_the_list_gets_the_same_page_and_its_owner_a_mail_that_fits(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    with session_scope(stored) as session:
        create_subscriber(
            session, email="old@example.com", interests="x", now=clock(), confirmed=True
        )
        gone = create_subscriber(
            session, email="gone@example.com", interests="y", now=clock(), confirmed=True
        )
        unsubscribe(session, gone, now=clock())
    pages = {email: sign_up(client, email) for email in ("new@example.com", "old@example.com")}
    pages["gone@example.com"] = sign_up(client, "gone@example.com")

    def neutral(text: str, email: str) -> str:
        text = text.replace(email, "EMAIL")
        return LINK.sub("LINK", CSRF.sub("CSRF", text))

    shown = {neutral(page, email) for email, page in pages.items()}
    assert len(shown) == 1, "the page differs for an address on the list"
    mails = {
        m.recipient: neutral(mail_text(transport, i), m.recipient)
        for i, m in enumerate(transport.sent)
    }
    assert len(transport.sent) == 3
    # New and unsubscribed addresses are asked to confirm, in the same words; the reader who
    # gets digests already is not told "nothing is sent until you confirm".
    assert mails["new@example.com"] == mails["gone@example.com"]
    assert "Nothing is sent until you confirm" in mails["new@example.com"]
    assert "Nothing is sent until you confirm" not in mails["old@example.com"]
    assert "Apply them here: LINK" in mails["old@example.com"]
    with session_scope(stored) as session:
        old = find_by_email(session, "old@example.com")
        assert old is not None
        assert old.interests == "x"  # a stranger's form changed nothing


def test_confirming_an_unsubscribed_address_starts_digests_again(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    with session_scope(stored) as session:
        gone = create_subscriber(
            session, email="gone@example.com", interests="y", now=clock(), confirmed=True
        )
        unsubscribe(session, gone, now=clock())
    sign_up(client, "gone@example.com")
    path = confirm_path(transport)
    client.post(path, data={"csrf": form_token(client, path)})
    with session_scope(stored) as session:
        row = find_by_email(session, "gone@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.ACTIVE


def test_an_expired_confirmation_link_shows_a_clear_page_and_changes_nothing(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    sign_up(client, "late@example.com")
    path = confirm_path(transport)
    token = form_token(client)
    clock.now += timedelta(hours=49)
    page = client.get(path)
    assert page.status_code == 410
    assert "more than 48 hours old" in page.text
    assert client.post(path, data={"csrf": token}).status_code == 410
    with session_scope(stored) as session:
        row = find_by_email(session, "late@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.PENDING


@SQLITE_ONLY
def test_a_forged_or_cut_confirmation_link_is_refused(
    client: TestClient, transport: MemoryTransport
) -> None:
    sign_up(client, "ada@example.com")
    path = confirm_path(transport)
    for bad in (path[:-3], "/confirm/WzEsImFiYyJd.x.y", path.replace("/confirm/", "/confirm/x")):
        page = client.get(bad)
        assert page.status_code == 400, bad
        assert "not one we sent" in page.text


def test_sign_ups_are_limited_per_ip_and_per_address(
    make_client: Callable[..., TestClient], transport: MemoryTransport, stored: Engine
) -> None:
    # The network limit counts different addresses: a's repeats cost it one.
    client = make_client(subscribe_per_ip_per_hour=2, subscribe_per_address_per_hour=2)
    assert sign_up(client, "a@example.com").startswith("200")
    assert sign_up(client, "a@example.com").startswith("200")
    third = sign_up(client, "a@example.com")
    assert third.startswith("429")
    assert "several confirmation mails" in third
    assert sign_up(client, "b@example.com").startswith("200")
    fifth = sign_up(client, "c@example.com")
    assert fifth.startswith("429")
    assert "too many sign-ups from your network" in fifth
    assert len(transport.sent) == 3
    assert subscriber_count(stored) == 2


@SQLITE_ONLY
def test_a_form_without_its_token_or_from_another_site_is_refused(
    client: TestClient, transport: MemoryTransport, stored: Engine
) -> None:
    fields = {"email": "x@example.com", "interests": "llm", "timezone": "UTC"}
    missing = client.post("/subscribe", data=fields)
    assert missing.status_code == 403
    assert "security token" in missing.text
    token = form_token(client)
    elsewhere = client.post(
        "/subscribe", data={**fields, "csrf": token}, headers={"origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    wrong = client.post("/subscribe", data={**fields, "csrf": token[:-2] + "xx"})
    assert wrong.status_code == 403
    assert transport.sent == []
    assert subscriber_count(stored) == 0


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"email": "not-an-address"}, "is not an email address"),
        ({"email": ""}, "the email address is empty"),
        ({"email": "a@example.com\r\nBcc: victim@example.com"}, "line break"),
        ({"timezone": "Europe/Berlin\r\nX-Injected: 1"}, "line break"),
        ({"timezone": "Mars/Olympus_Mons"}, "is not an IANA time zone"),
        ({"send_hour": "24"}, "not a whole hour"),
        ({"frequency": "hourly"}, "is not one of daily, weekly"),
        ({"interests": "llm\x00agents"}, "control character"),
        ({"interests": "x" * 5001}, "the limit is 5000"),
    ],
)
def test_bad_input_gets_a_clear_400_and_changes_nothing(
    client: TestClient,
    transport: MemoryTransport,
    stored: Engine,
    fields: dict[str, str],
    says: str,
) -> None:
    fields.setdefault("email", "ok@example.com")
    answer = sign_up(client, **fields)
    assert answer.startswith("400"), answer[:200]
    assert says in answer
    assert "Subscribe" in answer  # the form is shown again to fix
    assert transport.sent == []
    assert subscriber_count(stored) == 0


@SQLITE_ONLY
def test_a_ten_megabyte_body_gets_413_and_changes_nothing(
    client: TestClient, transport: MemoryTransport, stored: Engine
) -> None:
    token = form_token(client)
    body = f"csrf={token}&email=big%40example.com&interests=".encode() + b"a" * 10_000_000
    declared = client.post(
        "/subscribe",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert declared.status_code == 413
    assert "Request too large" in declared.text

    def chunks() -> object:  # no Content-Length: the limit is counted as it streams
        for start in range(0, len(body), 1_000_000):
            yield body[start : start + 1_000_000]

    streamed = client.post(
        "/subscribe",
        content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413
    assert transport.sent == []
    assert subscriber_count(stored) == 0


def confirm_by_button(client: TestClient, path: str) -> tuple[int, str]:
    """Press the link page's button; (status, where it leads or the page's text)."""
    token = form_token(client)
    done = client.post(path, data={"csrf": token}, follow_redirects=False)
    return done.status_code, done.headers.get("location", done.text)


def test_a_confirmation_link_works_once_then_says_already_confirmed_and_shows_no_account(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    sign_up(client, "ada@example.com")
    path = confirm_path(transport)
    status, where = confirm_by_button(client, path)
    assert status == 303
    with session_scope(stored) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        token = row.token
        # The reader unsubscribes; the old link must not sign them up again.
        unsubscribe(session, row, now=clock())
    assert token in where
    clock.now += timedelta(hours=1)
    for answer in (client.get(path), client.post(path, data={"csrf": form_token(client)})):
        assert answer.status_code == 410
        assert "Already confirmed" in answer.text
        assert token not in answer.text
        assert "ada@example.com" not in answer.text
        assert "/u/" not in answer.text
    with session_scope(stored) as session:
        row = find_by_email(session, "ada@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.UNSUBSCRIBED


def test_a_re_subscribe_link_works_once_and_an_older_link_is_spent_by_a_newer_one(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    with session_scope(stored) as session:
        gone = create_subscriber(
            session, email="gone@example.com", interests="llm", now=clock(), confirmed=True
        )
        unsubscribe(session, gone, now=clock())
    sign_up(client, "gone@example.com")
    first = confirm_path(transport)
    sign_up(client, "gone@example.com")
    second = confirm_path(transport)
    assert confirm_by_button(client, second)[0] == 303
    assert confirm_by_button(client, second)[0] == 410
    assert confirm_by_button(client, first)[0] == 410, "a sibling link re-used the account"


def test_an_active_subscriber_gets_a_link_that_applies_the_interests_they_typed(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    with session_scope(stored) as session:
        create_subscriber(
            session, email="old@example.com", interests="llm agents", now=clock(), confirmed=True
        )
    answer = sign_up(
        client,
        "old@example.com",
        interests='state space models\nauthor:"Tri Dao"',
        timezone="Asia/Tokyo",
        send_hour="6",
        frequency="weekly",
    )
    assert answer.startswith("200")
    assert "Check your inbox" in answer
    path = confirm_path(transport)
    page = client.get(path)  # a link scanner: shows what would change, changes nothing
    assert page.status_code == 200
    assert "state space models" in page.text
    assert "Asia/Tokyo" in page.text
    with session_scope(stored) as session:
        row = find_by_email(session, "old@example.com")
        assert row is not None
        assert (row.interests, row.timezone) == ("llm agents", "UTC")
    assert confirm_by_button(client, path)[0] == 303
    with session_scope(stored) as session:
        row = find_by_email(session, "old@example.com")
        assert row is not None
        assert row.status == SubscriberStatus.ACTIVE
        assert (row.interests, row.timezone, row.send_hour, row.frequency) == (
            'state space models\nauthor:"Tri Dao"',
            "Asia/Tokyo",
            6,
            "weekly",
        )
    assert confirm_by_button(client, path)[0] == 410


def test_the_same_interests_typed_again_still_spend_the_link(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    with session_scope(stored) as session:
        create_subscriber(
            session,
            email="old@example.com",
            interests='"speculative decoding"\n-vision',
            timezone="Europe/Berlin",
            send_hour=8,
            now=clock(),
            confirmed=True,
        )
    sign_up(client, "old@example.com")  # the very values stored, at the same instant
    path = confirm_path(transport)
    assert confirm_by_button(client, path)[0] == 303
    status, shown = confirm_by_button(client, path)
    assert status == 410
    assert "/u/" not in shown


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"send_hour": "²"}, "not a whole hour"),
        ({"send_hour": "٣"}, "not a whole hour"),
        ({"timezone": "America"}, "is not an IANA time zone"),
        ({"timezone": "A" * 300}, "is not an IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "is not an IANA time zone"),
        ({"email": "jörg@example.com"}, "is not an email address we can mail"),
        ({"interests": ""}, "give nothing to match (they are empty)"),
        ({"interests": "-survey"}, "exclusions alone pick no paper"),
    ],
)
def test_values_that_were_a_500_or_stored_unusable_get_a_400_with_the_security_headers(
    client: TestClient,
    transport: MemoryTransport,
    stored: Engine,
    fields: dict[str, str],
    says: str,
) -> None:
    fields.setdefault("email", "ok@example.com")
    data = {"csrf": form_token(client), "interests": "diffusion models", **fields}
    answer = client.post("/subscribe", data=data)
    assert answer.status_code == 400, answer.text[:300]
    assert says in answer.text
    assert "content-security-policy" in answer.headers
    assert transport.sent == []
    assert subscriber_count(stored) == 0


@SQLITE_ONLY
def test_an_internationalised_domain_is_stored_and_mailed_in_its_ascii_form(
    client: TestClient, transport: MemoryTransport, stored: Engine
) -> None:
    assert sign_up(client, "Ada@Bücher.example").startswith("200")
    assert [m.recipient for m in transport.sent] == ["ada@xn--bcher-kva.example"]
    message = message_from_bytes(transport.sent[0].data, policy=policy.default)
    assert message["To"] == "ada@xn--bcher-kva.example"
    with session_scope(stored) as session:
        assert find_by_email(session, "ada@xn--bcher-kva.example") is not None


def test_interests_too_long_for_a_link_still_give_a_working_link(
    client: TestClient, transport: MemoryTransport, stored: Engine, clock: Clock
) -> None:
    with session_scope(stored) as session:
        create_subscriber(
            session, email="old@example.com", interests="llm agents", now=clock(), confirmed=True
        )
    # Random CJK characters: JSON writes each as \\uXXXX and they barely compress.
    pick = random.Random(7)
    wide = "diffusion models\n" + "".join(chr(0x4E00 + pick.randrange(8000)) for _ in range(4900))
    assert sign_up(client, "old@example.com", interests=wide).startswith("200")
    path = confirm_path(transport)
    assert len(path) < 6_100
    assert client.get(path).status_code == 200
    status, where = confirm_by_button(client, path)
    assert status == 303
    assert "/u/" in where  # their preferences page, to type them there
    with session_scope(stored) as session:
        row = find_by_email(session, "old@example.com")
        assert row is not None
        assert row.interests == "llm agents"
