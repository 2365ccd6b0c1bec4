"""Text from outside (paper titles, reasons, addresses, interests) made safe for the terminal.

The command line prints through rich, which reads ``[...]`` as markup: a title holding
``[/x]`` stopped ``crawl --dry-run`` and ``rank`` with a MarkupError, and ``[red]`` would
restyle the line. A terminal also obeys escape sequences: an upstream title holding ESC could
move the cursor, retitle the window or hide the text after it, and bidi controls reorder what
is shown. ``terminal_text`` removes every escape sequence and control or format character and
then escapes rich's markup, so the text is shown as it is, on one line. Imports only rich.
"""

from __future__ import annotations

import re
import unicodedata

from rich.markup import escape

# CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), other two-byte escapes; 8-bit CSI too.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
)
_WHITESPACE_RUN = re.compile(r"\s+")
# Control (Cc: C0, DEL, C1), format (Cf: bidi overrides and isolates, zero-width marks),
# lone surrogates (Cs), line and paragraph separators: none of them is text to show.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def strip_controls(text: str) -> str:
    """``text`` on one line without escape sequences or control and format characters."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or unicodedata.category(ch) not in _HIDDEN
    )
    return _WHITESPACE_RUN.sub(" ", text).strip()


def terminal_text(text: str) -> str:
    """``text`` safe to print through a rich console: no control sequences, markup escaped."""
    return escape(strip_controls(text))
