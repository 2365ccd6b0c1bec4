"""The bulk MIME path's body check: CRLF line ends, and no line past 998 octets."""

from __future__ import annotations

import pytest

from paperfeed.errors import MailError
from paperfeed.mailer.bulk import MAX_LINE, MessageShell, _body
from paperfeed.mailer.message import make_sender

SHELL = MessageShell(
    sender=make_sender("paperfeed <digest@example.org>"),
    boundary="=_pf_test",
    head=b"",
    middle=b"",
    tail=b"",
)


def _reference(data: bytes) -> bytes:
    """The line-by-line conversion the bulk path used before the C-level one."""
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return b"\r\n".join(lines) + b"\r\n"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"one",
        b"one\n",
        b"one\n\ntwo",
        b"one\r\ntwo\rthree\n\n",
        b"x" * MAX_LINE,
        (b"x" * MAX_LINE + b"\n") * 40 + b"tail",
        (b"y" * 500 + b"\n") * 100,
    ],
)
def test_body_ends_every_line_with_crlf(data: bytes) -> None:
    assert _body(data, SHELL, what="text") == _reference(data)


@pytest.mark.parametrize(
    "data",
    [
        b"x" * (MAX_LINE + 1),
        b"short\n" + b"x" * (MAX_LINE + 1) + b"\nshort\n",
        (b"x" * MAX_LINE + b"\n") * 40 + b"z" * (MAX_LINE + 1),
        (b"y" * 500 + b"\n") * 100 + b"y" * 5000,
    ],
)
def test_body_refuses_a_line_past_998_octets(data: bytes) -> None:
    with pytest.raises(MailError, match="passes 998 octets"):
        _body(data, SHELL, what="text")


def test_body_refuses_the_boundary() -> None:
    with pytest.raises(MailError, match="boundary"):
        _body(b"a\n=_pf_test\n", SHELL, what="HTML")
