"""MIME messages: every header the issue lists, no header injection, bulk equals reference."""

from __future__ import annotations

import dataclasses
import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.errors import MailError, UnsafeHeaderValue
from paperfeed.mailer.bulk import compile_shell, digest_mail
from paperfeed.mailer.confirm import render_confirmation
from paperfeed.mailer.message import (
    Sender,
    build_confirmation_message,
    build_digest_message,
    flatten,
    make_message_id,
    make_sender,
)
from paperfeed.mailer.render import CompiledDay, compile_day, render_digest
from paperfeed.mailer.views import ConfirmationView, DayView, Recipient, RenderedMail
from tests.mailer.mail_samples import NOW, body, make_day, make_digest, make_recipient, parse

MESSAGE_ID = "<paperfeed.delivery.42@example.org>"


@pytest.fixture
def compiled(day: DayView) -> CompiledDay:
    return compile_day(day)


def both_ways(compiled: CompiledDay, recipient: Recipient, sender: Sender) -> tuple[bytes, bytes]:
    """The same digest built by the reference builder and by the bulk path."""
    rendered = render_digest(compiled, make_digest(recipient))
    reference = build_digest_message(
        rendered, recipient, sender=sender, message_id=MESSAGE_ID, date=NOW
    )
    bulk = digest_mail(compile_shell(sender), rendered, recipient, message_id=MESSAGE_ID, date=NOW)
    return flatten(reference, sender=sender).data, bulk.data


@pytest.mark.parametrize("path", ["reference", "bulk"])
def test_a_digest_carries_every_header_the_issue_lists(
    compiled: CompiledDay, recipient: Recipient, sender: Sender, path: str
) -> None:
    reference, bulk = both_ways(compiled, recipient, sender)
    message = parse(reference if path == "reference" else bulk)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert str(message["From"]) == "paperfeed <digest@example.org>"
    assert message["From"].addresses[0].display_name == "paperfeed"
    assert str(message["To"]) == "Ada Lovelace <ada@example.com>"
    assert message["Subject"].startswith("paperfeed · Tue 3 Jun: <script>alert('x')</script>")
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == MESSAGE_ID
    assert message["List-Id"] == "paperfeed <paperfeed.example.org>"
    assert message["List-Unsubscribe"] == (
        "<https://paperfeed.example/unsubscribe/ada>, "
        "<mailto:unsubscribe@example.org?subject=unsubscribe%20ada>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"


def test_the_one_click_url_is_never_folded_into_encoded_words(
    compiled: CompiledDay, sender: Sender
) -> None:
    long_token = "t" * 150
    who = make_recipient(unsubscribe_url=f"https://paperfeed.example/unsubscribe/{long_token}")
    for data in both_ways(compiled, who, sender):
        head = data.split(b"\r\n\r\n", 1)[0]
        assert (
            f"List-Unsubscribe: <https://paperfeed.example/unsubscribe/{long_token}>".encode()
            in head
        )
        assert b"=?utf-8?" not in head.split(b"List-Unsubscribe:")[1].split(b"\r\n")[0]


def test_bulk_and_reference_messages_mean_the_same(compiled: CompiledDay, sender: Sender) -> None:
    who = make_recipient(name='Dœ, Jane "JD" (lab)')
    reference, bulk = (parse(data) for data in both_ways(compiled, who, sender))
    names = {k for k in reference if k != "Content-Type"}
    assert names == {k for k in bulk if k != "Content-Type"}
    for name in names:
        assert str(bulk[name]) == str(reference[name]), name
    for kind in ("plain", "html"):
        assert body(bulk, kind) == body(reference, kind)
    assert bulk["To"].addresses[0].display_name == 'Dœ, Jane "JD" (lab)'


@functools.cache
def shared_day() -> CompiledDay:
    return compile_day(make_day())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.text(min_size=1, max_size=60).filter(lambda s: len(s.splitlines()) == 1))
def test_any_printable_name_reaches_the_to_header_intact_or_is_refused(name: str) -> None:
    compiled, sender = shared_day(), make_sender("paperfeed <digest@example.org>")
    who = make_recipient(name=name)
    try:
        _, bulk = both_ways(compiled, who, sender)
    except UnsafeHeaderValue:
        assert not name.isprintable()
        return
    message = parse(bulk)
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    # Quoting may drop surrounding blanks; nothing else may change.
    assert message["To"].addresses[0].display_name in (name, name.strip())
    assert len(message.get_all("To") or []) == 1


@pytest.mark.parametrize(
    "name",
    [
        "Eve\r\nBcc: victim@example.net",
        "Eve\nBcc: victim@example.net",
        "Eve\rBcc: victim@example.net",
        "Eve\u2028Bcc: victim@example.net",
        "Eve\x00",
    ],
)
def test_a_name_with_a_line_break_is_refused_by_both_builders(
    compiled: CompiledDay, sender: Sender, name: str
) -> None:
    who = make_recipient(name=name)
    rendered = render_digest(compiled, make_digest(make_recipient()))
    with pytest.raises(UnsafeHeaderValue, match="the recipient's name"):
        build_digest_message(rendered, who, sender=sender, message_id=MESSAGE_ID, date=NOW)
    with pytest.raises(UnsafeHeaderValue, match="the recipient's name"):
        digest_mail(compile_shell(sender), rendered, who, message_id=MESSAGE_ID, date=NOW)


def test_interests_with_a_line_break_stay_in_the_body(
    compiled: CompiledDay, sender: Sender
) -> None:
    who = make_recipient(interests="video\r\nBcc: victim@example.net\r\n\r\n<b>x</b>")
    for data in both_ways(compiled, who, sender):
        message = parse(data)
        assert message["Bcc"] is None
        assert "victim@example.net" not in data.split(b"\r\n\r\n", 1)[0].decode()
        assert "Bcc: victim@example.net" in body(message, "plain")


def test_an_unsubscribe_link_that_would_break_the_header_is_refused(
    compiled: CompiledDay, sender: Sender
) -> None:
    rendered = render_digest(compiled, make_digest(make_recipient()))
    for bad in ("https://x.example/u>, <https://evil.example", "https://x.example/u\r\nBcc: a@b"):
        who = make_recipient(unsubscribe_url=bad)
        with pytest.raises(UnsafeHeaderValue):
            digest_mail(compile_shell(sender), rendered, who, message_id=MESSAGE_ID, date=NOW)


def test_message_ids_are_deterministic_per_delivery(sender: Sender) -> None:
    first = make_message_id("delivery", 42, domain=sender.domain)
    assert first == make_message_id("delivery", 42, domain=sender.domain)
    assert first == "<paperfeed.delivery.42@example.org>"
    assert first != make_message_id("delivery", 43, domain=sender.domain)
    with pytest.raises(MailError, match="letters, digits"):
        make_message_id("delivery", "42>\r\nBcc: x", domain=sender.domain)


def test_a_from_address_without_a_domain_is_a_config_error() -> None:
    with pytest.raises(MailError, match="PAPERFEED_FROM"):
        make_sender("paperfeed")
    with pytest.raises(UnsafeHeaderValue):
        make_sender("paperfeed <a@example.org>\r\nBcc: x@example.org")


def test_a_confirmation_mail_has_both_parts_and_no_list_headers(sender: Sender) -> None:
    view = ConfirmationView(
        list_name="paperfeed",
        list_address="paperfeed@example.org",
        email="new@example.com",
        confirm_url="https://paperfeed.example/confirm/abc?x=1&y=<2>",
    )
    rendered = render_confirmation(view)
    assert 'href="https://paperfeed.example/confirm/abc?x=1&amp;y=&lt;2&gt;"' in rendered.html
    assert "Confirm here: https://paperfeed.example/confirm/abc?x=1&y=<2>" in rendered.text
    message = parse(
        flatten(
            build_confirmation_message(
                rendered,
                email=view.email,
                sender=sender,
                message_id=make_message_id("confirm", 7, domain=sender.domain),
                date=NOW,
            ),
            sender=sender,
        ).data
    )
    assert message["Subject"] == "Confirm your subscription to paperfeed"
    assert message["List-Unsubscribe"] is None
    assert message["Auto-Submitted"] == "auto-generated"
    assert "new@example.com" in body(message, "html")
    assert "%%PF_" not in rendered.html


def test_a_confirmation_escapes_the_address_it_names() -> None:
    rendered = render_confirmation(
        ConfirmationView("paperfeed", "p@example.org", '"<b>x</b>"@example.com', "https://c/1")
    )
    assert "<b>x</b>" not in rendered.html
    assert "&lt;b&gt;x&lt;/b&gt;" in rendered.html


def test_a_naive_date_is_refused(compiled: CompiledDay, sender: Sender) -> None:
    rendered: RenderedMail = render_digest(compiled, make_digest(make_recipient()))
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(MailError, match="no time zone"):
        digest_mail(
            compile_shell(sender), rendered, make_recipient(), message_id=MESSAGE_ID, date=naive
        )
    changed = dataclasses.replace(rendered, subject="x")
    with pytest.raises(MailError, match="no time zone"):
        build_digest_message(
            changed, make_recipient(), sender=sender, message_id=MESSAGE_ID, date=naive
        )
