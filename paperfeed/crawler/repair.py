"""Making upstream values safe to store and cheap to process, value by value.

Owns the bounds on what Hugging Face may hand us: text without lone UTF-16 surrogates (an API
cutting mid-emoji) or control characters (NUL cannot be stored in PostgreSQL text), text and
lists of bounded size, ids that look like ids, and raw JSON of bounded depth. Each repair
returns what it changed, so the caller can warn naming the day and the paper. No HTTP, no
database: the bounds below fit the store's columns (``store/models.py``) with room to spare.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# The store's key column holds 32 characters; arXiv ids have at most 16 ("2509.12345v12").
MAX_ID_CHARS = 32
# Real titles stay under 250 characters. A title is one line of a mail's text part, and SMTP
# refuses lines over 998 octets: in UTF-8 the bound is in bytes as well.
MAX_TITLE_CHARS = 300
MAX_TITLE_BYTES = 900
# Real abstracts and AI summaries stay under 3,000 characters; a longer one is cut, not lost.
MAX_TEXT_CHARS = 20_000
MAX_NAME_CHARS = 200  # an author, an organisation, an AI keyword
MAX_URL_CHARS = 500  # github_repo is the narrowest URL column
MAX_LIST_ITEMS = 1_000  # authors of one paper (the record is about 5,000; those are cut)
MAX_RAW_DEPTH = 32  # real items nest 4 deep
MAX_COUNT = 2**31 - 1  # upvotes, comments, stars: the store's integer columns
MAX_RAW_STRING_CHARS = MAX_TEXT_CHARS
MAX_RAW_JSON_CHARS = 256_000  # real items are under 10 KB of JSON

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls and DEL; tab, newlines, vertical tab and form feed are whitespace, collapsed.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_ARXIV_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Repaired:
    """A value made storable, and what had to change (empty when nothing did)."""

    value: str
    problems: tuple[str, ...] = ()


def shown(value: str, limit: int = 40) -> str:
    """``value`` for a log line: at most ``limit`` characters, every odd character escaped."""
    cut = value[:limit]
    return ascii(cut)[1:-1] + (ELLIPSIS if len(value) > limit else "")


def repair_text(value: str, *, limit: int, max_bytes: int | None = None) -> Repaired:
    """``value`` with lone surrogates replaced, controls removed, whitespace collapsed, and
    cut to ``limit`` characters and ``max_bytes`` bytes of UTF-8 (ending in "…")."""
    problems: list[str] = []
    if _SURROGATES.search(value):
        value = _SURROGATES.sub("\N{REPLACEMENT CHARACTER}", value)
        problems.append("lone UTF-16 surrogates replaced with U+FFFD")
    if _CONTROLS.search(value):
        value = _CONTROLS.sub("", value)
        problems.append("control characters removed")
    value = " ".join(value.split())
    if len(value) > limit:
        problems.append(f"{len(value):,} characters cut to {limit:,}")
        value = value[: limit - 1].rstrip() + ELLIPSIS
    if max_bytes is not None and len(encoded := value.encode()) > max_bytes:
        problems.append(f"{len(encoded):,} bytes of UTF-8 cut to {max_bytes:,}")
        value = encoded[: max_bytes - 3].decode("utf-8", "ignore").rstrip() + ELLIPSIS
    return Repaired(value, tuple(problems))


def id_problem(arxiv_id: str) -> str | None:
    """Why ``arxiv_id`` cannot be a paper's key (None when it can)."""
    if len(arxiv_id) > MAX_ID_CHARS:
        return f"its id is {len(arxiv_id):,} characters (at most {MAX_ID_CHARS})"
    if not _ARXIV_ID.fullmatch(arxiv_id):
        return f"its id {shown(arxiv_id)!r} holds characters no arXiv id has"
    return None


def storable_json(value: Any) -> tuple[Any, tuple[str, ...]]:
    """A copy of parsed JSON that any database stores: strings repaired and bounded, nesting
    deeper than ``MAX_RAW_DEPTH`` replaced by null, {} for an item too large to keep; and
    what changed."""
    problems: set[str] = set()
    cleaned = _storable(value, depth=0, problems=problems)
    size = len(json.dumps(cleaned))
    if size > MAX_RAW_JSON_CHARS:
        problems.add(
            f"raw item is {size:,} characters of JSON (at most {MAX_RAW_JSON_CHARS:,}); not kept"
        )
        cleaned = {}
    return cleaned, tuple(sorted(problems))


def _storable(value: Any, *, depth: int, problems: set[str]) -> Any:
    # Recursion is bounded by MAX_RAW_DEPTH, whatever the input's depth.
    if isinstance(value, str):
        repaired = _repair_raw_string(value)
        if repaired != value:
            problems.add("raw strings repaired")
        return repaired
    if not isinstance(value, (dict, list)):
        return value
    if depth >= MAX_RAW_DEPTH:
        problems.add(f"raw JSON nested deeper than {MAX_RAW_DEPTH} levels cut")
        return None
    if isinstance(value, list):
        return [_storable(item, depth=depth + 1, problems=problems) for item in value]
    out: dict[str, Any] = {}
    for key, item in value.items():
        out[_repair_raw_string(str(key))] = _storable(item, depth=depth + 1, problems=problems)
    return out


def _repair_raw_string(value: str) -> str:
    # Raw keeps HF's text as it came (no whitespace collapsing), only made storable.
    if _SURROGATES.search(value):
        value = _SURROGATES.sub("\N{REPLACEMENT CHARACTER}", value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    if len(value) > MAX_RAW_STRING_CHARS:
        value = value[: MAX_RAW_STRING_CHARS - 1] + ELLIPSIS
    return value
