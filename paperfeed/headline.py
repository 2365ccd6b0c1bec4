"""A digest's headline in every channel: the subject line (a mail's subject, a chat
message's title) and the date as people read it.

A paper's own values (tidy title, author line, blurb, safe links) are ``paper_view``'s.
Nothing is escaped here: each channel escapes for its own syntax (mail templates, chat
markdown; a mail subject is folded into encoded-words by ``mailer.message.fold_subject``).
"""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import lru_cache

from paperfeed.paper_view import one_line, shorten

MAX_SUBJECT_TITLE_CHARS = 90

# Control, format (bidi overrides and isolates, zero-width and joiner marks, BOM), private-use
# and unassigned characters, line and paragraph separators: a subject line shows none of
# them, and bidi controls can make an inbox show a title (or a file name) reversed.
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})


def visible_text(text: str) -> str:
    """``text`` on one line with only characters that show (see ``_INVISIBLE``)."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE or ch in "\t\n")
    return one_line(kept)


def date_label(day: date) -> str:
    """A day as people read it in English: ``Tuesday, 3 June 2025``."""
    return f"{day:%A}, {day.day} {day:%B %Y}"


def subject_line(
    list_name: str, day: date, top_title: str | None, *, more: int, trending_only: bool
) -> str:
    """``paperfeed · Tue 3 Jun: <top paper> (+4 more)``: the date and the top paper."""
    head = _subject_head(list_name, day)
    if top_title is None:
        return head
    title = _subject_title(top_title)
    lead = "Trending: " if trending_only else ""
    tail = f" (+{more} more)" if more > 0 else ""
    return f"{head}: {lead}{title}{tail}"


# A sender writes thousands of subjects a day from one list name, one date and a few dozen
# top papers: each is cleaned once (visible_text looks up every character's category).
@lru_cache(maxsize=64)
def _subject_head(list_name: str, day: date) -> str:
    return f"{visible_text(list_name)} · {day:%a} {day.day} {day:%b}"


@lru_cache(maxsize=4096)
def _subject_title(top_title: str) -> str:
    return shorten(visible_text(top_title), MAX_SUBJECT_TITLE_CHARS)
