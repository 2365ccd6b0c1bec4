"""Interests typed on the command line or in an imported CSV cell.

A shell argument and a spreadsheet cell cannot hold a line break comfortably, so a typed
``\\n`` starts a new line (the interest language gives a backslash no meaning of its own).
Text that can pick no paper is refused with the parser's own notes as the reason, instead
of being stored for a subscriber who would then only ever get "also trending".
"""

from __future__ import annotations

from paperfeed.errors import InputError
from paperfeed.ranking.interests import Interests, parse_interests

EXAMPLES = 'a topic (state space models), an author (author:"Tri Dao") or a paper (like:2312.00752)'
SHOWN_CHARS = 60


def typed_interests(raw: str) -> str:
    """The interest text with every typed ``\\n`` turned into a line break."""
    return raw.replace("\\n", "\n")


def usable_interests(raw: str) -> tuple[str, Interests]:
    """The text to store and what it says, or an InputError saying why nothing would match."""
    text = typed_interests(raw)
    parsed = parse_interests(text)
    if not parsed.empty:
        return text, parsed
    if parsed.notes:
        why = "; ".join(parsed.notes)
    elif parsed.exclusions:
        why = "exclusions alone pick no paper"
    else:
        why = "they are empty"
    shown = raw if len(raw) <= SHOWN_CHARS else raw[: SHOWN_CHARS - 1] + "…"
    raise InputError(f"interests {shown!r} give nothing to match ({why}); write {EXAMPLES}")
