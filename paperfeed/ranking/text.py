"""Text to index terms: folding, tokens, stop words, Snowball stemming, phrase and author keys.

One definition of "a term", shared by papers and interests so both sides always agree. Owns the
feature keys and their stable 64-bit hashes; knows nothing of scores, matrices or storage.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import Stemmer

# Bump when tokens, stems or keys change: cached TermStats built with another version are stale.
FEATURES_VERSION = 1

# Snowball's English stop list, plus words that carry no topic in paper text and interests.
_STOP_WORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can cannot could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just me more most my myself no nor not now of off on once only
    or other ought our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves also via using use used uses et al eg ie etc may might
    must shall whether within without upon thus hence however yet although though across
    along among around onto toward towards per
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

# Words that say "I am asking" rather than what about; dropped only from interests, never papers.
_QUERY_FILLER_TEXT = """
    paper papers article articles interested interest interests want wanting like likes
    liking looking look find show anything something everything stuff things thing topic
    topics please especially particularly mainly mostly related regarding new recent latest
    work works research study studies kind sort lot lots
"""
QUERY_FILLER = frozenset(_QUERY_FILLER_TEXT.split())

# Characters that end a run of words: no phrase spans them ("pruning, quantization" is no phrase).
_BREAKS = re.compile(r"[.,;:!?()\[\]{}\"'`|/\\<>=+*&^%$#@~]+")
_TOKEN = re.compile(r"[a-z0-9]+")
# Longer runs are not words (a hash, base64, a hostile 1 MB "word"): never a term or a key, so
# no key, cache entry or phrase grows with the input (issue 14).
MAX_TOKEN_CHARS = 64
_VOWELS = re.compile(r"[aeiouy]")
_LOCAL = threading.local()


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii")


def fold(text: str) -> str:
    """Lower-case ASCII form of ``text``: accents stripped, compatibility forms unified."""
    return _ascii(text).casefold()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe; one per thread keeps the web app safe.
    stemmer: Stemmer.Stemmer | None = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = Stemmer.Stemmer("english")
        _LOCAL.stemmer = stemmer
    return stemmer


def _singular_acronym(word: str) -> str:
    # Snowball leaves "llms", "ssms", "rnns" alone: a plural of a vowel-less acronym.
    if len(word) >= 4 and word[-1] == "s" and not _VOWELS.search(word[:-1]):
        return word[:-1]
    return word


def stem_words(words: Sequence[str]) -> list[str]:
    """Snowball (Porter2) stems of already folded words; acronym plurals made singular."""
    return list(_stemmer().stemWords([_singular_acronym(w) for w in words]))


def is_content_word(token: str, *, query: bool = False) -> bool:
    """Whether a folded token can be a term: not a stop word, not a number, not one letter."""
    if not 2 <= len(token) <= MAX_TOKEN_CHARS or token.isdigit() or token in STOP_WORDS:
        return False
    return not (query and token in QUERY_FILLER)


def word_runs(text: str, *, query: bool = False) -> list[list[str]]:
    """Content words of ``text`` (folded, unstemmed) in runs that punctuation does not break."""
    runs: list[list[str]] = []
    for piece in _BREAKS.split(_ascii(text)):
        words = [t for t in _TOKEN.findall(piece.lower()) if is_content_word(t, query=query)]
        if words:
            runs.append(words)
    return runs


def term_runs(text: str) -> list[list[str]]:
    """Stemmed content words of ``text`` in runs, the unit phrases are built from."""
    runs = word_runs(text)
    if not runs:
        return []
    flat = stem_words([w for run in runs for w in run])
    out: list[list[str]] = []
    start = 0
    for run in runs:
        out.append(flat[start : start + len(run)])
        start += len(run)
    return out


def phrase_key(first: str, second: str) -> str:
    """Key of two adjacent stemmed terms; a space never occurs inside a single term."""
    return f"{first} {second}"


def phrase_keys(terms: Sequence[str]) -> list[str]:
    """Keys of every adjacent pair in a run of stemmed terms."""
    return [phrase_key(a, b) for a, b in itertools.pairwise(terms)]


def name_tokens(name: str) -> list[str]:
    """Folded tokens of a person's name: ``"Tri C. Dao"`` gives ``["tri", "c", "dao"]``."""
    return _TOKEN.findall(fold(name))


def author_keys(name: str) -> tuple[str, ...]:
    """Keys a paper's author is found by: full name, initial plus surname, surname."""
    tokens = name_tokens(name)
    if not tokens:
        return ()
    last = tokens[-1]
    if len(tokens) == 1:
        return (f"author={last}",)
    first = tokens[0]
    return (f"author:{first} {last}", f"author~{first[0]} {last}", f"author={last}")


def author_query_key(name: str) -> str | None:
    """The one key a followed name is looked up by: the most specific the name allows."""
    tokens = name_tokens(name)
    if not tokens:
        return None
    last = tokens[-1]
    if len(tokens) == 1:
        return f"author={last}"
    first = tokens[0]
    # "T. Dao" or "T Dao" only pins the initial; "Tri Dao" pins the whole first name.
    return f"author~{first} {last}" if len(first) == 1 else f"author:{first} {last}"


@lru_cache(maxsize=1 << 18)
def feature_hash(key: str) -> int:
    """Stable signed 64-bit hash of a feature key (unlike ``hash``, the same in every process)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def feature_hashes(keys: Iterable[str]) -> list[int]:
    """``feature_hash`` of each key, in order."""
    return [feature_hash(k) for k in keys]
