"""Weighted, hashed query features of parsed interests, packed flat for vectorised scoring.

Owns how much each part of a topic counts: a word, two typed words side by side (a phrase
boost), a quoted phrase, and how a liked paper becomes a query. Packing happens once per
parsed interests, so stacking many subscribers is a byte join instead of a Python loop. Knows
nothing of the day's papers or of scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from paperfeed.ranking.text import feature_hashes, phrase_key, phrase_keys

if TYPE_CHECKING:
    from paperfeed.ranking.features import DocFeatures
    from paperfeed.ranking.interests import AuthorQuery, Exclusion, Topic
    from paperfeed.ranking.stats import TermStats

# A typed word counts 1. Two words typed side by side also count as a phrase, as in the
# sequential dependence model: a paper using them together matches better than one using
# them apart. Quoting asks for the phrase: its words alone count little.
WORD_WEIGHT = 1.0
NEAR_WEIGHT = 0.25
QUOTED_WORD_WEIGHT = 0.25
QUOTED_PHRASE_WEIGHT = 1.0
# For the evidence a paper must show to be picked (not for ranking), two words typed side by
# side count as much as a word: "state space" together says more than "state" and "space"
# apart. 0.25 here let scattered words of a topic pick papers; see bench/RANKING.md.
EVIDENCE_NEAR_WEIGHT = 1.0
# A liked paper becomes a topic of its most telling terms and phrases.
LIKE_FEATURES = 12
# Distinct topics whose features are kept (a few hundred bytes each).
TOPIC_CACHE = 1 << 16


@dataclass(frozen=True, slots=True)
class QueryFeature:
    """One weighted term or phrase of a query, with the words to show when it matches.

    ``weight`` ranks; ``evidence`` is the feature's weight in the evidence a paper must show
    to be picked; ``required`` says the feature is part of the topic itself (a typed word or
    a quoted pair), which a paper must contain to *cover* the topic.
    """

    key: str
    weight: float
    display: str
    evidence: float = 0.0
    required: bool = False


@dataclass(frozen=True, slots=True)
class LikedQuery:
    """A liked paper as one query row, and the factor that makes the paper itself score 1."""

    features: tuple[QueryFeature, ...]
    scale: float


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A subscriber's query rows as little-endian arrays: sizes, 64-bit hashes, weights.

    Topic rows carry, per feature, the ranking weight, the evidence weight and whether the
    feature is required (1.0) or not (0.0), all float32 in the order of the hashes.
    """

    topic_sizes: bytes = b""
    topic_hashes: bytes = b""
    topic_weights: bytes = b""
    topic_evidence: bytes = b""
    topic_required: bytes = b""
    author_hashes: bytes = b""
    exclusion_sizes: bytes = b""
    exclusion_hashes: bytes = b""
    exclusion_weights: bytes = b""


def topic_features(topic: Topic) -> list[QueryFeature]:
    """The weighted features of one topic; a key met twice adds its weights.

    Required: every typed word, and each adjacent pair of a quoted phrase (its words alone
    are not the phrase). Pairs of unquoted words only add; they are never required.
    """
    return list(cached_topic_features(topic))


@lru_cache(maxsize=TOPIC_CACHE)
def cached_topic_features(topic: Topic) -> tuple[QueryFeature, ...]:
    """``topic_features``, kept per distinct topic: readers share topics, and parsing and
    explaining 100,000 profiles read each topic's features many times."""
    # key -> [weight, display, evidence, required]; a QueryFeature is made once per key.
    out: dict[str, list[Any]] = {}

    def add(key: str, weight: float, evidence: float, display: str, required: bool) -> None:
        seen = out.get(key)
        if seen is None:
            out[key] = [weight, display, evidence, required]
        else:
            seen[0] = weight + seen[0]
            seen[2] = evidence + seen[2]
            seen[3] = required or seen[3]

    for run in topic.runs:
        for word in run:
            add(word.stem, WORD_WEIGHT, WORD_WEIGHT, word.surface, True)
        for a, b in itertools.pairwise(run):
            display = f'"{a.surface} {b.surface}"'
            add(phrase_key(a.stem, b.stem), NEAR_WEIGHT, EVIDENCE_NEAR_WEIGHT, display, False)
    for phrase in topic.phrases:
        for word in phrase:
            add(word.stem, QUOTED_WORD_WEIGHT, QUOTED_WORD_WEIGHT, word.surface, False)
        for a, b in itertools.pairwise(phrase):
            display = f'"{a.surface} {b.surface}"'
            key = phrase_key(a.stem, b.stem)
            add(key, QUOTED_PHRASE_WEIGHT, QUOTED_PHRASE_WEIGHT, display, True)
    return tuple(
        QueryFeature(key=key, weight=w, display=d, evidence=e, required=r)
        for key, (w, d, e, r) in out.items()
    )


def exclusion_features(exclusion: Exclusion) -> list[QueryFeature]:
    """Features that must all be a paper's main subject: the word, or each pair of a phrase."""
    keys = phrase_keys(exclusion.stems) if len(exclusion.stems) > 1 else list(exclusion.stems)
    return [QueryFeature(key=k, weight=1.0 / len(keys), display=exclusion.text) for k in keys]


def liked_paper_features(
    features: DocFeatures,
    self_weights: Mapping[str, float],
    stats: TermStats,
) -> LikedQuery | None:
    """A liked paper's most telling terms and phrases as a query row.

    Features are ranked by count × IDF (title and keywords count triple), among those at
    least one other stored paper has (a word only this paper uses cannot find similar ones).
    The paper itself would score 1, the top of the scale, as a fully matched topic is.
    ``self_weights`` are its own saturated term frequencies (``index.doc_term_weights``).
    """
    counts: dict[str, float] = {}
    for name, field in features.fields.items():
        boost = 1.0 if name == "abstract" else 3.0
        for key, n in field.counts.items():
            counts[key] = counts.get(key, 0.0) + boost * n
    keys = [k for k in counts if stats.document_frequency(k) >= 2]
    if not keys:
        return None
    idfs = np.asarray([stats.idf(k) for k in keys], dtype=float)
    scores = np.log1p(np.array([counts[k] for k in keys])) * idfs
    top = [int(i) for i in np.argsort(-scores, kind="stable")[:LIKE_FEATURES] if scores[i] > 0]
    if not top:
        return None
    weights = {keys[i]: float(scores[i]) for i in top}
    mass = sum(weights[keys[i]] * idfs[i] for i in top)
    self_match = sum(weights[keys[i]] * idfs[i] * self_weights.get(keys[i], 0.0) for i in top)
    return LikedQuery(
        features=tuple(
            QueryFeature(key=keys[i], weight=weights[keys[i]], display=keys[i]) for i in top
        ),
        # A row scores its weight × IDF share matched; this puts the paper itself at 1.
        scale=mass / self_match if self_match > 0 else 1.0,
    )


def pack_rows(rows: Iterable[Sequence[QueryFeature]]) -> tuple[bytes, bytes, bytes]:
    """Sizes, hashes and weights of non-empty rows, as int32, int64 and float32 bytes."""
    sizes: list[int] = []
    keys: list[str] = []
    weights: list[float] = []
    for row in rows:
        if row:
            sizes.append(len(row))
            keys.extend(f.key for f in row)
            weights.extend(f.weight for f in row)
    return (
        np.asarray(sizes, dtype="<i4").tobytes(),
        np.asarray(feature_hashes(keys), dtype="<i8").tobytes(),
        np.asarray(weights, dtype="<f4").tobytes(),
    )


def plan_query(
    topics: Sequence[Topic], exclusions: Sequence[Exclusion], authors: Sequence[AuthorQuery]
) -> QueryPlan:
    """Pack a subscriber's topics, exclusions and followed authors into a ``QueryPlan``."""
    rows = [row for row in map(cached_topic_features, topics) if row]
    topic_sizes, topic_hashes, topic_weights = pack_rows(rows)
    excl_sizes = excl_hashes = excl_weights = b""
    if exclusions:
        excl_sizes, excl_hashes, excl_weights = pack_rows(exclusion_features(e) for e in exclusions)
    flat = [f for row in rows for f in row]
    return QueryPlan(
        topic_sizes=topic_sizes,
        topic_hashes=topic_hashes,
        topic_weights=topic_weights,
        topic_evidence=np.asarray([f.evidence for f in flat], dtype="<f4").tobytes(),
        topic_required=np.asarray([f.required for f in flat], dtype="<f4").tobytes(),
        author_hashes=np.asarray(feature_hashes(a.key for a in authors), dtype="<i8").tobytes()
        if authors
        else b"",
        exclusion_sizes=excl_sizes,
        exclusion_hashes=excl_hashes,
        exclusion_weights=excl_weights,
    )
