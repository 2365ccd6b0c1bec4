"""MIME messages: every header the issue lists, each once, the rendered bodies intact, no
header injection."""

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


def bulk_bytes(compiled: CompiledDay, recipient: Recipient, sender: Sender) -> bytes:
    """A digest for ``recipient`` as the send path builds it."""
    rendered = render_digest(compiled, make_digest(recipient))
    mail = digest_mail(compile_shell(sender), rendered, recipient, message_id=MESSAGE_ID, date=NOW)
    return mail.data


def test_a_digest_carries_every_header_the_issue_lists(
    compiled: CompiledDay, recipient: Recipient, sender: Sender
) -> None:
    message = parse(bulk_bytes(compiled, recipient, sender))
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
    head = bulk_bytes(compiled, who, sender).split(b"\r\n\r\n", 1)[0]
    line = f"List-Unsubscribe: <https://paperfeed.example/unsubscribe/{long_token}>"
    assert line.encode() in head
    assert b"=?utf-8?" not in head.split(b"List-Unsubscribe:")[1].split(b"\r\n")[0]


HEADERS = (
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "From",
    "List-Id",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "Content-Type",
    "MIME-Version",
)


def test_each_header_comes_once_and_the_parts_carry_the_rendered_bodies(
    compiled: CompiledDay, sender: Sender
) -> None:
    who = make_recipient(name='Dœ, Jane "JD" (lab)')
    rendered = render_digest(compiled, make_digest(who))
    data = bulk_bytes(compiled, who, sender)
    message = parse(data)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert sorted(message.keys()) == sorted(HEADERS)
    # ASCII, CRLF line ends only, every continuation line folded (starts with a blank).
    assert head.isascii()
    lines = head.split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in lines)
    assert all(line[:1] in (b" ", b"\t") or b":" in line for line in lines)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert message["To"].addresses[0].display_name == 'Dœ, Jane "JD" (lab)'
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    assert str(message["Subject"]) == rendered.subject
    text, html = message.iter_parts()
    assert text["Content-Transfer-Encoding"] == "8bit"
    assert html["Content-Transfer-Encoding"] == "7bit"
    assert text.get_content_charset() == "utf-8"
    # The bodies travel with CRLF line ends; their text is the rendered text, unchanged.
    for kind, rendered_body in (("plain", rendered.text), ("html", rendered.html)):
        sent = body(message, kind).replace("\r\n", "\n")
        assert sent.rstrip("\n") == rendered_body.replace("\r\n", "\n").rstrip("\n")


@functools.cache
def shared_day() -> CompiledDay:
    return compile_day(make_day())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.text(min_size=1, max_size=60).filter(lambda s: len(s.splitlines()) == 1))
def test_any_printable_name_reaches_the_to_header_intact_or_is_refused(name: str) -> None:
    compiled, sender = shared_day(), make_sender("paperfeed <digest@example.org>")
    who = make_recipient(name=name)
    try:
        data = bulk_bytes(compiled, who, sender)
    except UnsafeHeaderValue:
        assert not name.isprintable()
        return
    message = parse(data)
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
def test_a_name_with_a_line_break_is_refused(
    compiled: CompiledDay, sender: Sender, name: str
) -> None:
    who = make_recipient(name=name)
    rendered = render_digest(compiled, make_digest(make_recipient()))
    with pytest.raises(UnsafeHeaderValue, match="the recipient's name"):
        digest_mail(compile_shell(sender), rendered, who, message_id=MESSAGE_ID, date=NOW)


def test_interests_with_a_line_break_stay_in_the_body(
    compiled: CompiledDay, sender: Sender
) -> None:
    who = make_recipient(interests="video\r\nBcc: victim@example.net\r\n\r\n<b>x</b>")
    data = bulk_bytes(compiled, who, sender)
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
    changed = dataclasses.replace(rendered, subject="x")  # not a cached Date either
    with pytest.raises(MailError, match="no time zone"):
        digest_mail(
            compile_shell(sender), changed, make_recipient(), message_id=MESSAGE_ID, date=naive
        )
