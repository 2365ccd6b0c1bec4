"""What a paper contributes to the index: term and phrase counts per field, and author keys.

Owns the fields (title, abstract, AI keywords) and how a paper's text becomes counts. Knows
nothing of weights, statistics over many papers, or subscribers.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.text import (
    STOP_WORDS,
    author_keys,
    fold,
    is_content_word,
    phrase_keys,
    stem_words,
    term_runs,
)

Field = Literal["title", "abstract", "keywords"]
FIELDS: tuple[Field, ...] = ("title", "abstract", "keywords")

# "state space models (SSMs)": up to eight words, then an acronym in parentheses. Linear in
# the text (issue 14): a match starts only at a word's start, and words and separators are
# possessive, so a long alphanumeric run is scanned once, not once per character in it.
_DEFINITION = re.compile(
    r"((?:(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*+[\s-]++){1,10})\(([A-Z][A-Za-z]{1,9})\)"
)
_LETTERS = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@dataclass(frozen=True, slots=True)
class FieldCounts:
    """Counts of terms and adjacent-term phrases in one field, and its length in terms."""

    counts: Counter[str]
    length: int


@dataclass(frozen=True, slots=True)
class DocFeatures:
    """A paper broken into per-field counts plus the keys its authors are found by."""

    fields: dict[Field, FieldCounts]
    authors: frozenset[str]

    def keys(self) -> set[str]:
        """Every term and phrase key that occurs anywhere in the paper's text."""
        out: set[str] = set()
        for field in self.fields.values():
            out.update(field.counts)
        return out


def acronym_definitions(text: str) -> dict[str, list[str]]:
    """Acronyms a text defines, as stem -> stems of the long form ("ssm" -> state, space, model).

    A paper that writes "state space models (SSMs)" once and "SSMs" ten times is about state
    space models ten times over; counting each later "SSMs" as the long form says so.
    """
    found: dict[str, list[str]] = {}
    for match in _DEFINITION.finditer(text):
        acronym = match.group(2)
        core = acronym[:-1] if acronym.endswith("s") and acronym[-2:-1].isupper() else acronym
        initials = [c.lower() for c in core if c.isupper()]
        words = [w for w in _LETTERS.findall(match.group(1)) if w.lower() not in STOP_WORDS]
        if len(initials) < 2 or len(words) < len(initials):
            continue
        long_form = words[-len(initials) :]
        if [w[0].lower() for w in long_form] != initials:
            continue
        content = [fold(w) for w in long_form if is_content_word(fold(w))]
        if len(content) >= 2:
            found[stem_words([fold(acronym)])[0]] = stem_words(content)
    return found


def _count(runs: list[list[str]], acronyms: dict[str, list[str]]) -> FieldCounts:
    counts: Counter[str] = Counter()
    length = 0
    for run in runs:
        counts.update(run)
        counts.update(phrase_keys(run))
        length += len(run)
    for acronym, long_form in acronyms.items():
        # The defining occurrence already has its long form beside it.
        uses = counts.get(acronym, 0) - 1
        if uses > 0:
            for key in (*long_form, *phrase_keys(long_form)):
                counts[key] += uses
    return FieldCounts(counts=counts, length=length)


def document_features(doc: Document) -> DocFeatures:
    """Break a paper into per-field counts; each AI keyword is its own run (no phrase across)."""
    keyword_runs = [run for kw in doc.ai_keywords for run in term_runs(kw)]
    acronyms = acronym_definitions(f"{doc.title}. {doc.abstract}")
    fields: dict[Field, FieldCounts] = {
        "title": _count(term_runs(doc.title), acronyms),
        "abstract": _count(term_runs(doc.abstract), acronyms),
        "keywords": _count(keyword_runs, acronyms),
    }
    authors = frozenset(key for name in doc.authors for key in author_keys(name))
    return DocFeatures(fields=fields, authors=authors)
