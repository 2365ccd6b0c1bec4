"""render.escape_value's shortcut for plain ASCII values escapes exactly like slots'."""

from __future__ import annotations

import pytest

from paperfeed.mailer import slots
from paperfeed.mailer.render import escape_value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ada@example.com",
        "https://paperfeed.example/preferences/tok%2Fx",
        "a & b",
        "<script>",
        'say "hi"',
        "O'Neil",
        "Zoë",
        "%%PF_EMAIL%%",
        "日本語 & <b>",
        "tab\there \x7f \x00",
        "\x80",
        "\U0010ffff",
    ],
)
def test_escape_value_matches_slots(value: str) -> None:
    assert escape_value(value) == slots.escape_value(value)


def test_escape_value_escapes_markup() -> None:
    assert escape_value('O\'Neil & <b>"Zoë"') == "O&#39;Neil &amp; &lt;b&gt;&#34;Zo&#235;&#34;"
