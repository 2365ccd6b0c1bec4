"""Compiled HTML with named holes: cut once, filled per subscriber with escaped values.

MJML runs once per edition day; what differs per subscriber is written into the compiled HTML
as ``%%PF_NAME%%`` slots. This module owns that syntax: splitting compiled HTML at slots and
at ``<!--pf:name-->`` markers, escaping stage-1 values so they can never forge a slot, and
filling slots with HTML-escaped per-subscriber values. It knows nothing of papers or MJML.

Everything it returns is ASCII (other characters become character references) with line
breaks before block tags, so a mail can carry the HTML as 7bit without re-encoding, and its
size in bytes is its length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import Markup, escape

from paperfeed.errors import TemplateError

_SLOT = re.compile(r"%%PF_([A-Z][A-Z0-9_]*)%%")
_MARKER = re.compile(r"<!--pf:([a-z0-9:-]+)-->")
# A line break before these start tags never shows: MJML's cells have font-size 0 and the
# rest are blocks. It keeps lines far under SMTP's 998-octet limit.
_BLOCK_START = re.compile(r"(?<!\n)(?=<(?:table|tr|td|div|p|!--\[if)[\s>])")


@dataclass(frozen=True, slots=True)
class Slotted:
    """A piece of compiled HTML split at its slots: literals at even indexes, names at odd."""

    parts: tuple[str, ...]

    @property
    def names(self) -> frozenset[str]:
        """The slot names this piece needs filled."""
        return frozenset(self.parts[1::2])

    def fill(self, values: Mapping[str, str]) -> str:
        """The piece with each slot replaced by its value; values must already be escaped."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        out = list(parts)
        for i in range(1, len(parts), 2):
            out[i] = values[parts[i]]
        return "".join(out)


def ascii_html(html: str) -> str:
    """The same HTML in ASCII: every other character becomes a numeric character reference."""
    return html.encode("ascii", "xmlcharrefreplace").decode("ascii")


def break_lines(html: str) -> str:
    """Compiled HTML with a line break before each block start tag."""
    return _BLOCK_START.sub("\n", html)


def slotted(html: str) -> Slotted:
    """Split compiled HTML at its ``%%PF_NAME%%`` slots, as ASCII with short lines."""
    return Slotted(tuple(_SLOT.split(break_lines(ascii_html(html)))))


def cut_at_markers(html: str) -> dict[str, str]:
    """Split compiled HTML at ``<!--pf:name-->`` markers: ``{"": before the first, name: ...}``.

    The markers themselves are dropped, so pieces can be joined in any order and subset.
    """
    pieces = _MARKER.split(html)
    cut = {"": pieces[0]}
    for i in range(1, len(pieces), 2):
        name = pieces[i]
        if name in cut:
            raise TemplateError(f"marker <!--pf:{name}--> appears twice; each must be unique")
        cut[name] = pieces[i + 1]
    return cut


def escape_stage1(value: object) -> Markup:
    """Jinja ``finalize`` for MJML sources: HTML-escape, and escape ``%`` so no slot is forged.

    A paper titled ``%%PF_EMAIL%%`` must print as text, not receive someone's address.
    """
    if value is None:
        return Markup("")
    # Safe: escape() ran first; "&#37;" is the character reference for "%".
    return Markup(str(escape(value)).replace("%", "&#37;"))  # noqa: S704


def escape_value(value: str) -> str:
    """HTML-escape one per-subscriber value for a text node or a double-quoted attribute."""
    return ascii_html(str(escape(value)))
