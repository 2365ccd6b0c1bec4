"""Subjects fold into RFC 2047 encoded-words of at most 75 characters on the send path, and
the footer of the text part keeps the lines of multi-line interests (issue 18, Mail)."""

from __future__ import annotations

import dataclasses
import re
from email.header import decode_header, make_header

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.mailer.bulk import compile_shell, digest_mail
from paperfeed.mailer.message import Sender, fold_subject
from paperfeed.mailer.render import CompiledDay, compile_day, render_digest
from paperfeed.mailer.smtp import SmtpTransport
from paperfeed.mailer.transport import Outcome
from paperfeed.mailer.views import DayView, Recipient
from tests.mailer.mail_samples import NOW, body, make_digest, make_recipient, parse
from tests.mailer.smtp_samples import Sink, Start, send

MESSAGE_ID = "<paperfeed.delivery.7@example.org>"
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
SUBJECTS = [
    # The case: a long non-ASCII title made one 126-character encoded-word.
    "paperfeed · Fri 5 Dec: Große Sprachmodelle für die Übersetzung langer Dokumente — "
    "ein Überblick über Ansätze, Grenzen und offene Fragen (+4 more)",
    "paperfeed · Fri 5 Dec: 大規模言語モデルによる長文書の翻訳：手法と限界についての包括的な調査と"
    "今後の展望 😀 (+2 more)",
    "paperfeed · Fri 5 Dec: " + "Ünïcødé " * 30 + "(+9 more)",
    "paperfeed - Fri 5 Dec: Scaling laws for sparse mixture-of-experts language models "
    "trained on trillions of tokens of code and text (+4 more)",
    'paperfeed · Fri 5 Dec: a_b=c?d =?utf-8?q?not_a_word?= (x) <y> "z"',
    "short",
]


@pytest.fixture
def compiled(day: DayView) -> CompiledDay:
    return compile_day(day)


def _subject_block(data: bytes) -> str:
    """The raw Subject header as sent, with its folds."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    match = re.search(r"^Subject:.*?(?=\r\n\S)", head, flags=re.M | re.S)
    assert match, head
    return match.group()


def assert_folded_right(data: bytes, subject: str) -> None:
    raw = _subject_block(data)
    words = ENCODED_WORD.findall(raw)
    assert all(len(word) <= 75 for word in words), [len(w) for w in words]
    lines = raw.split("\r\n")
    if words:  # RFC 2047 2: a line holding an encoded-word is at most 76 characters
        assert max(map(len, lines)) <= 76, lines
    assert all(line.strip() for line in lines)  # no whitespace-only line
    assert str(parse(data)["Subject"]) == subject
    # The older decoder (email.header) agrees: the text, not just a lucky parse.
    value = raw.split(":", 1)[1].replace("\r\n", "").strip()
    assert str(make_header(decode_header(value))) == subject


def _mail(compiled: CompiledDay, recipient: Recipient, sender: Sender, subject: str) -> bytes:
    rendered = dataclasses.replace(render_digest(compiled, make_digest(recipient)), subject=subject)
    mail = digest_mail(compile_shell(sender), rendered, recipient, message_id=MESSAGE_ID, date=NOW)
    return mail.data


@pytest.mark.parametrize("subject", SUBJECTS)
def test_the_subject_folds_into_short_encoded_words(
    compiled: CompiledDay, recipient: Recipient, sender: Sender, subject: str
) -> None:
    data = _mail(compiled, recipient, sender, subject)
    assert_folded_right(data, subject)
    # The header is the one fold_subject writes, once.
    assert _subject_block(data) + "\r\n" == fold_subject(subject)
    assert len(parse(data).get_all("Subject") or []) == 1


def test_the_long_non_ascii_subject_is_several_encoded_words(
    compiled: CompiledDay, recipient: Recipient, sender: Sender
) -> None:
    data = _mail(compiled, recipient, sender, SUBJECTS[0])
    assert len(ENCODED_WORD.findall(_subject_block(data))) >= 2


def test_a_long_ascii_subject_stays_readable_and_folds_near_78(
    compiled: CompiledDay, recipient: Recipient, sender: Sender
) -> None:
    raw = _subject_block(_mail(compiled, recipient, sender, SUBJECTS[3]))
    assert "=?" not in raw
    assert max(map(len, raw.split("\r\n"))) <= 78


def test_a_subject_arrives_folded_through_a_real_smtp_server(
    smtp_server: Start, compiled: CompiledDay, recipient: Recipient, sender: Sender
) -> None:
    server = smtp_server(Sink())
    rendered = dataclasses.replace(
        render_digest(compiled, make_digest(recipient)), subject=SUBJECTS[1]
    )
    mail = digest_mail(compile_shell(sender), rendered, recipient, message_id=MESSAGE_ID, date=NOW)
    [result] = send(SmtpTransport(server.config()), [mail])
    assert result.outcome is Outcome.ACCEPTED
    [(_, data)] = server.handler.received
    assert_folded_right(data, SUBJECTS[1])


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=300,
    )
    .map(lambda s: " ".join(s.split()))
    .filter(bool)
)
def test_any_subject_folds_into_short_words_and_decodes_to_itself(subject: str) -> None:
    folded = fold_subject(subject)
    assert folded.isascii()
    assert_folded_right(folded.encode() + b"X-Next: 1\r\n\r\n", subject)


def test_the_text_footer_keeps_the_lines_of_multi_line_interests(
    compiled: CompiledDay, recipient: Recipient, sender: Sender
) -> None:
    who = make_recipient(interests='video diffusion\n\nauthor:"Tri Dao"\r\nlike:2312.00752  ')
    text = body(parse(_mail(compiled, who, sender, "x")), "plain").replace("\r\n", "\n")
    assert (
        'Your interests:\n  > video diffusion\n  > author:"Tri Dao"\n  > like:2312.00752\n'
    ) in text
    one = render_digest(compiled, make_digest(make_recipient(interests="state space models")))
    assert "Your interests: state space models\n" in one.text
