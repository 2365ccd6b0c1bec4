"""The interest language: what a subscriber types, parsed into topics, exclusions, authors, likes.

One topic per line (commas and semicolons also separate topics). In a line: words, "quoted
phrases", ``-word`` / ``-"a phrase"`` exclusions, ``author:"Full Name"`` and ``like:ARXIV_ID``.
``parse_interests`` never raises on user text: what it cannot use becomes a note, and
``Interests.describe()`` says in plain words what was understood. Knows nothing of papers,
statistics or scores (the weighted query features are built by ``query.py``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from paperfeed.ranking.query import QueryPlan, plan_query
from paperfeed.ranking.text import (
    author_query_key,
    fold,
    is_content_word,
    name_tokens,
    stem_words,
)

if TYPE_CHECKING:
    from paperfeed.ranking.feedback import Feedback

MAX_TEXT_CHARS = 20_000
MAX_TOPICS = 50
MAX_WORDS_PER_TOPIC = 40
MAX_TOPIC_TEXT = 160
MAX_EXCLUSIONS = 50
MAX_AUTHORS = 50
MAX_LIKES = 50
# A topic this long (in words, stop words included) or ending like a sentence reads as prose.
SENTENCE_MIN_WORDS = 6
# Distinct typed words (or quoted phrases) whose folded, stemmed form is kept.
WORDS_CACHE = 1 << 16
WORDS_CACHE_CHARS = 64
# Distinct topics kept parsed, and the longest topic text kept.
TOPIC_CACHE = 1 << 16
TOPIC_CACHE_CHARS = 200

_ASCII_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_QUOTES = str.maketrans({c: '"' for c in "“”„‟«»″〝〞＂"})
_DIRECTIVE = re.compile(r"(author|like):", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]+")
_SEPARATORS = re.compile(r"[,;]")
# What makes a part more than plain words: a quote, a directive's colon, an exclusion's dash.
_SPECIAL = re.compile(r'["\-:]')
_ARXIV_NEW = re.compile(r"(\d{4}\.\d{4,5})(?:v\d+)?")
_ARXIV_OLD = re.compile(r"([a-z][a-z.-]*/\d{7})(?:v\d+)?", re.IGNORECASE)
_PAPER_URL = re.compile(r"(?:huggingface\.co/papers|arxiv\.org/(?:abs|pdf))/(.+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Word:
    """A content word as the subscriber typed it (folded) and the stem it is matched by."""

    surface: str
    stem: str


@dataclass(frozen=True, slots=True)
class Topic:
    """One thing the subscriber wants: runs of words (nearby words count extra) and phrases."""

    text: str
    runs: tuple[tuple[Word, ...], ...]
    phrases: tuple[tuple[Word, ...], ...]
    sentence: bool = False
    # The words as typed without quote marks: what the semantic ranker embeds. Computed
    # once here because ranking 100,000 subscribers reads it for every topic.
    plain: str = field(default="", compare=False)
    # The hash, computed once: topics key the caches of parsing, packing and explaining, and
    # hashing the nested words each time cost more than the lookups.
    _hash: int = field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.plain:
            object.__setattr__(self, "plain", " ".join(self.text.replace('"', " ").split()))
        object.__setattr__(self, "_hash", hash((self.text, self.runs, self.phrases, self.sentence)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[Topic], tuple[str, Any, Any, bool, str]]:
        # Rebuilt through __init__, so the hash is this process's (str hashes are salted).
        return (Topic, (self.text, self.runs, self.phrases, self.sentence, self.plain))

    @property
    def words(self) -> tuple[Word, ...]:
        """Every content word of the topic, phrases included, in order of appearance."""
        return tuple(w for run in self.runs for w in run) + tuple(
            w for phrase in self.phrases for w in phrase
        )


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Papers whose main subject is this word or phrase are dropped."""

    text: str
    stems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthorQuery:
    """A followed author: the name as typed and the key papers' authors are found by."""

    name: str
    key: str


@dataclass(frozen=True, slots=True)
class Interests:
    """Everything one subscriber's interest text says, plus notes on what was not used."""

    topics: tuple[Topic, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    authors: tuple[AuthorQuery, ...] = ()
    likes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # What the reader rated (``feedback.with_feedback``), never parsed from the text.
    feedback: Feedback | None = field(default=None, compare=False, repr=False)
    plan: QueryPlan = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Hashing and packing once here lets ranking stack 100,000 subscribers without a loop.
        object.__setattr__(self, "plan", plan_query(self.topics, self.exclusions, self.authors))

    @property
    def empty(self) -> bool:
        """True when nothing can select a paper (exclusions alone select nothing)."""
        liked = self.feedback is not None and bool(self.feedback.liked)
        return not (self.topics or self.authors or self.likes or liked)

    def describe(self) -> tuple[str, ...]:
        """What was understood, one line per item, for the preferences page."""
        lines: list[str] = []
        for topic in self.topics:
            parts = [w.surface for run in topic.runs for w in run]
            parts += ['"' + " ".join(w.surface for w in p) + '"' for p in topic.phrases]
            kind = "sentence, read as" if topic.sentence else "matches"
            lines.append(f"topic: {topic.text} ({kind} {', '.join(parts)})")
        lines += [f"exclude: {e.text} (drops papers mainly about it)" for e in self.exclusions]
        lines += [f"author: {a.name}" for a in self.authors]
        lines += [f"like: {paper_id} (papers similar to it)" for paper_id in self.likes]
        lines += [f"note: {note}" for note in self.notes]
        if self.empty:
            lines.append("note: nothing to match yet; add a topic, an author or a liked paper")
        return tuple(lines)


@dataclass(slots=True)
class _Item:
    text: str
    quoted: bool = False
    negated: bool = False
    directive: str = ""


@dataclass(slots=True)
class _Builder:
    topics: list[Topic] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    authors: list[AuthorQuery] = field(default_factory=list)
    likes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_interests(text: str) -> Interests:
    """Parse a subscriber's interest text; never raises, notes say what was skipped and why."""
    if not isinstance(text, str):
        return Interests(notes=("interests must be text",))
    build = _Builder()
    if len(text) > MAX_TEXT_CHARS:
        build.notes.append(f"only the first {MAX_TEXT_CHARS:,} characters were read")
        text = text[:MAX_TEXT_CHARS]
    clean = _clean(text)
    for number, line in enumerate(clean.splitlines(), start=1):
        for part in _split_outside_quotes(line):
            if part.strip():
                _parse_part(part, number, build)
    return Interests(
        topics=tuple(build.topics),
        exclusions=tuple(build.exclusions),
        authors=tuple(build.authors),
        likes=tuple(build.likes),
        notes=tuple(build.notes),
    )


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii():  # the common case: only ASCII control characters can need dropping
        return _ASCII_CONTROL.sub("", text.replace("\t", " "))
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    # Drop control and format characters (zero-width spaces, bidi marks) but keep line breaks.
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return kept.replace("\t", " ")


def _split_outside_quotes(line: str) -> list[str]:
    if '"' not in line:
        return _SEPARATORS.split(line)
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch in ",;" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _scan(part: str, number: int, notes: list[str]) -> list[_Item]:
    items: list[_Item] = []
    pos, end = 0, len(part)
    while pos < end:
        if part[pos].isspace():
            pos += 1
            continue
        item = _Item(text="")
        if part[pos] == "-" and pos + 1 < end and not part[pos + 1].isspace():
            item.negated = True
            pos += 1
        directive = _DIRECTIVE.match(part, pos)
        if directive:
            item.directive = directive.group(1).lower()
            pos = directive.end()
        if pos < end and part[pos] == '"':
            close = part.find('"', pos + 1)
            if close < 0:
                close = end
                notes.append(f"line {number}: a closing quote was missing; read it at line end")
            item.text, item.quoted, pos = part[pos + 1 : close], True, close + 1
        else:
            stop = pos
            while stop < end and not part[stop].isspace() and part[stop] != '"':
                stop += 1
            item.text, pos = part[pos:stop], stop
        items.append(item)
    return items


def _parse_part(part: str, number: int, build: _Builder) -> None:
    if not _SPECIAL.search(part):
        # The common case, a plain topic: no quote, directive or exclusion to scan for.
        _add_topic(tuple((word, False) for word in part.split()), number, build)
        return
    items = _scan(part, number, build.notes)
    topic_items: list[_Item] = []
    index = 0
    while index < len(items):
        item = items[index]
        index += 1
        if item.directive and item.negated:
            build.notes.append(f"line {number}: -{item.directive}: is not supported; ignored")
        elif item.directive == "author":
            name = item.text
            if not item.quoted:
                # An unquoted name runs to the next directive, exclusion or quote.
                while index < len(items) and _plain(items[index]):
                    name += " " + items[index].text
                    index += 1
            _add_author(name, number, build)
        elif item.directive == "like":
            _add_like(item.text, number, build)
        elif item.negated:
            _add_exclusion(item.text, number, build)
        else:
            topic_items.append(item)
    if topic_items:
        _add_topic(tuple((i.text, i.quoted) for i in topic_items), number, build)


def _plain(item: _Item) -> bool:
    return not (item.quoted or item.negated or item.directive)


def _words(text: str, *, drop_filler: bool = True) -> tuple[Word, ...]:
    # Readers share words: each typed word is folded and stemmed once (per process); a long
    # quoted phrase is not kept, so the cache stays small whatever people type.
    if len(text) <= WORDS_CACHE_CHARS:
        return _cached_words(text, drop_filler)
    return _fold_and_stem(text, drop_filler)


@lru_cache(maxsize=WORDS_CACHE)
def _cached_words(text: str, drop_filler: bool) -> tuple[Word, ...]:
    return _fold_and_stem(text, drop_filler)


def _fold_and_stem(text: str, drop_filler: bool) -> tuple[Word, ...]:
    surfaces = [t for t in _WORD.findall(fold(text)) if is_content_word(t, query=drop_filler)]
    stems = stem_words(surfaces)
    return tuple(Word(surface=s, stem=t) for s, t in zip(surfaces, stems, strict=True))


# One typed topic as ``_add_topic`` reads it: each item's text and whether it was quoted.
TopicItems = tuple[tuple[str, bool], ...]


def _add_topic(items: TopicItems, number: int, build: _Builder) -> None:
    if len(build.topics) >= MAX_TOPICS:
        build.notes.append(f"line {number}: more than {MAX_TOPICS} topics; the rest ignored")
        return
    if sum(len(text) for text, _ in items) <= TOPIC_CACHE_CHARS:
        topic, notes = _cached_topic(items)
    else:
        topic, notes = _topic_of(items)
    build.notes.extend(f"line {number}: {note}" for note in notes)
    if topic is None:
        return
    if any((t.runs, t.phrases) == (topic.runs, topic.phrases) for t in build.topics):
        build.notes.append(f"line {number}: {topic.text!r} repeats an earlier topic; ignored")
        return
    build.topics.append(topic)


@lru_cache(maxsize=TOPIC_CACHE)
def _cached_topic(items: TopicItems) -> tuple[Topic | None, tuple[str, ...]]:
    # Readers share topics: each distinct one is read once per process (topics are immutable).
    return _topic_of(items)


def _topic_of(items: TopicItems) -> tuple[Topic | None, tuple[str, ...]]:
    """The topic these items make (None when no word is searchable), and notes about it."""
    shown = " ".join(f'"{text.strip()}"' if quoted else text for text, quoted in items).strip()
    if len(shown) > MAX_TOPIC_TEXT:
        shown = shown[: MAX_TOPIC_TEXT - 1].rstrip() + "…"
    runs, phrases, truncated = _topic_words(items, drop_filler=True)
    if not runs and not phrases:  # a topic made only of filler ("new papers") still means it
        runs, phrases, truncated = _topic_words(items, drop_filler=False)
    if not runs and not phrases:
        return None, (f"{shown!r} has no searchable words; ignored",)
    notes = (f"only the first {MAX_WORDS_PER_TOPIC} words were used",) if truncated else ()
    raw_words = sum(len(_WORD.findall(text)) for text, _ in items)
    sentence = raw_words >= SENTENCE_MIN_WORDS or shown.endswith((".", "?", "!"))
    return Topic(text=shown, runs=runs, phrases=phrases, sentence=sentence), notes


def _topic_words(
    items: TopicItems, *, drop_filler: bool
) -> tuple[tuple[tuple[Word, ...], ...], tuple[tuple[Word, ...], ...], bool]:
    """Runs of unquoted words and quoted phrases of a topic, and whether words were cut."""
    runs: list[tuple[Word, ...]] = []
    phrases: list[tuple[Word, ...]] = []
    pending: list[Word] = []
    budget = MAX_WORDS_PER_TOPIC
    truncated = False
    for text, quoted in items:
        words = _words(text, drop_filler=drop_filler)
        truncated = truncated or len(words) > budget
        words = words[: max(budget, 0)]
        budget -= len(words)
        if not quoted:
            pending.extend(words)
            continue
        if pending:
            runs.append(tuple(pending))
            pending = []
        if len(words) == 1:
            runs.append(tuple(words))
        elif words:
            phrases.append(tuple(words))
    if pending:
        runs.append(tuple(pending))
    return tuple(runs), tuple(phrases), truncated


def _add_exclusion(text: str, number: int, build: _Builder) -> None:
    stems = tuple(w.stem for w in _words(text))
    if not stems:
        build.notes.append(f"line {number}: exclusion -{text!r} has no searchable words; ignored")
    elif len(build.exclusions) >= MAX_EXCLUSIONS:
        build.notes.append(f"line {number}: more than {MAX_EXCLUSIONS} exclusions; ignored")
    elif all(e.stems != stems for e in build.exclusions):
        build.exclusions.append(Exclusion(text=" ".join(text.split()), stems=stems))


def _add_author(name: str, number: int, build: _Builder) -> None:
    key = author_query_key(name)
    shown = " ".join(name.split())
    if key is None:
        build.notes.append(f'line {number}: author:"{shown}" names nobody; ignored')
    elif len(build.authors) >= MAX_AUTHORS:
        build.notes.append(f"line {number}: more than {MAX_AUTHORS} authors; ignored")
    elif all(a.key != key for a in build.authors):
        build.authors.append(AuthorQuery(name=shown, key=key))
        if len(name_tokens(name)) == 1:
            build.notes.append(
                f'line {number}: author:"{shown}" follows everyone with that surname; '
                "give the full name to narrow it"
            )


def _add_like(text: str, number: int, build: _Builder) -> None:
    paper_id = normalise_paper_id(text)
    if paper_id is None:
        build.notes.append(
            f"line {number}: like:{text!r} is not an arXiv id like 2312.00752; ignored"
        )
    elif len(build.likes) >= MAX_LIKES:
        build.notes.append(f"line {number}: more than {MAX_LIKES} liked papers; ignored")
    elif paper_id not in build.likes:
        build.likes.append(paper_id)


def normalise_paper_id(text: str) -> str | None:
    """The arXiv id in ``text`` (a bare id or a Hugging Face / arXiv URL), version dropped."""
    text = text.strip().rstrip("/")
    url = _PAPER_URL.search(text)
    if url:
        text = url.group(1).removesuffix(".pdf")
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        match = pattern.fullmatch(text)
        if match:
            return match.group(1)
    return None
