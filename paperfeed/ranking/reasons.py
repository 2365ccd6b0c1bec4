"""Why a paper was picked for a subscriber: the topics, words, phrases and authors that matched.

Recomputes, for one subscriber and one paper, the same per-topic evidence the vectorised
scorer gated on, and turns it into short human strings for the email and the feed: a topic
is named only when it gave evidence (a quoted phrase whose words stand apart gave none), the
topic that gave most first. Built only for the papers a subscriber actually gets, so it may
loop in Python; ``Explainer`` does it for a whole ranked batch, computing what readers share
(feature IDF, a topic's totals, a topic's reason for a paper) once. Knows nothing of layout
or escaping (the templates escape).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from paperfeed.ranking.index import FOCUS_POWER, DayIndex
from paperfeed.ranking.interests import Interests, Topic
from paperfeed.ranking.query import LikedQuery, QueryFeature, cached_topic_features
from paperfeed.ranking.text import author_keys, feature_hashes, phrase_keys

MAX_TOPIC_REASONS = 3
# A topic other than the best one is named only when its evidence is at least this strong
# (a quarter of the default threshold: it helped, not merely shared a word).
TOPIC_REASON_MIN = 0.02
# A liked paper is named as a reason only when the match is more than incidental.
LIKE_MIN = 0.1
# What an ``Explainer`` keeps at most: distinct topics, and (topic, paper) reasons.
TOPICS_KEPT = 50_000
REASONS_KEPT = 200_000


def _idf(index: DayIndex, keys: Sequence[str]) -> list[float]:
    if not keys:
        return []
    hashes = np.asarray(feature_hashes(keys), dtype=np.int64)
    return [float(v) for v in index.stats.idf_table()[index.stats.buckets(hashes)]]


def _rarest(index: DayIndex) -> float:
    n = max(index.stats.n_docs, 1)
    return float(np.log1p((n - 1 + 0.5) / 1.5))


def _match(
    weights: Mapping[str, float], features: Sequence[QueryFeature], idf: Sequence[float]
) -> tuple[float, list[QueryFeature]]:
    total = sum(f.weight * w for f, w in zip(features, idf, strict=True))
    if total <= 0:
        return 0.0, []
    score = 0.0
    matched: list[QueryFeature] = []
    for feature, w in zip(features, idf, strict=True):
        tf = weights.get(feature.key, 0.0)
        if tf > 0 and w > 0:
            score += feature.weight * w * tf
            matched.append(feature)
    return score / total, matched


def feature_match(
    index: DayIndex, position: int, features: Sequence[QueryFeature]
) -> tuple[float, list[QueryFeature]]:
    """A query row's normalised match with one paper, and the features that matched."""
    return _match(index.doc_weights[position], features, _idf(index, [f.key for f in features]))


@dataclass(frozen=True, slots=True)
class TopicTerms:
    """One topic's features with their evidence IDF and the totals a paper's evidence is a
    share of: what explaining it costs once per topic, not once per paper."""

    features: tuple[QueryFeature, ...]
    idf: tuple[float, ...]
    focus_total: float
    cover_total: float


def topic_terms(
    features: Sequence[QueryFeature], idf: Sequence[float], rarest: float
) -> TopicTerms:
    """A topic's ``features`` with their IDF, a feature nobody has as rare as can be."""
    evidence_idf = tuple(w if w > 0 else rarest for w in idf)
    return TopicTerms(
        tuple(features),
        evidence_idf,
        sum(f.evidence * w for f, w in zip(features, evidence_idf, strict=True)),
        sum(w for f, w in zip(features, evidence_idf, strict=True) if f.required),
    )


def _evidence(weights: Mapping[str, float], terms: TopicTerms) -> tuple[float, list[QueryFeature]]:
    if terms.focus_total <= 0 or terms.cover_total <= 0:
        return 0.0, []
    focus = covered = 0.0
    matched: list[QueryFeature] = []
    for feature, w in zip(terms.features, terms.idf, strict=True):
        tf = weights.get(feature.key, 0.0)
        if tf <= 0:
            continue
        focus += feature.evidence * w * tf**FOCUS_POWER
        covered += w if feature.required else 0.0
        matched.append(feature)
    return (focus / terms.focus_total) * (covered / terms.cover_total), matched


def topic_evidence_of(
    index: DayIndex, position: int, features: Sequence[QueryFeature]
) -> tuple[float, list[QueryFeature]]:
    """One topic's evidence for one paper (as ``scoring.topic_evidence``), and what matched."""
    idf = _idf(index, [f.key for f in features])
    terms = topic_terms(features, idf, _rarest(index))
    return _evidence(index.doc_weights[position], terms)


def _shown(matched: Sequence[QueryFeature]) -> list[str]:
    """Matched words and phrases as typed; chained pairs become one phrase ("a b" + "b c")."""
    chains: list[list[str]] = []  # stems of each chain of matched adjacent pairs
    shown: list[list[str]] = []  # the words as typed, for the same chains
    for feature in matched:
        if " " not in feature.key:
            continue
        first, second = feature.key.split(" ", 1)
        words = feature.display.strip('"').split(" ", 1)
        if chains and chains[-1][-1] == first:
            chains[-1].append(second)
            shown[-1].append(words[-1])
        else:
            chains.append([first, second])
            shown.append(words)
    covered = {stem for chain in chains for stem in chain}
    words = [f.display for f in matched if " " not in f.key and f.key not in covered]
    return ['"' + " ".join(chain) + '"' for chain in shown] + words


def _required_keys(topic: Topic) -> set[str]:
    """What a paper must contain to be named as matching the whole topic: every word, with
    the words typed side by side standing side by side, and every quoted phrase. A paper
    with "state-of-the-art" and "latent space" has the words of "state space models", not
    the topic: its reason lists the words."""
    keys = {w.stem for run in topic.runs for w in run}
    for run in topic.runs:
        keys.update(phrase_keys([w.stem for w in run]))
    for phrase in topic.phrases:
        keys.update(phrase_keys([w.stem for w in phrase]))
    return keys


def _author_reasons(interests: Interests, index: DayIndex, position: int) -> list[str]:
    doc = index.docs[position]
    present = index.features[position].authors
    out: list[str] = []
    for followed in interests.authors:
        if followed.key in present:
            names = [n for n in doc.authors if followed.key in author_keys(n)]
            out.append(f"by {names[0] if names else followed.name} (an author you follow)")
    return out


def explain(
    interests: Interests,
    index: DayIndex,
    position: int,
    *,
    liked: Mapping[str, LikedQuery] | None = None,
) -> tuple[str, ...]:
    """Reasons, strongest first: matched topics (with their words), followed authors, likes."""
    return Explainer(index).explain(interests, position, liked=liked)


class Explainer:
    """Reasons for many subscribers and papers of one day's index (``explain``, in bulk).

    What reasons share is computed once and kept: each feature's IDF; each topic's papers
    (those with any of its words: the others have no evidence, nothing to compute), features
    and totals; each topic's reason for a paper, since readers share topics. A ranker keeps
    one per day index for all its batches; what it keeps is capped.
    """

    def __init__(self, index: DayIndex) -> None:
        self._index = index
        self._rarest = _rarest(index)
        self._idf: dict[str, float] = {}
        self._papers: dict[Topic, frozenset[int]] = {}
        self._terms: dict[Topic, TopicTerms] = {}
        self._reasons: dict[tuple[Topic, int], tuple[float, str] | None] = {}

    def idf(self, keys: Sequence[str]) -> list[float]:
        """IDF of each key (as ``_idf``), looked up once per key."""
        known = self._idf
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        if missing:
            known.update(zip(missing, _idf(self._index, missing), strict=True))
        return [known[k] for k in keys]

    def papers(self, topic: Topic) -> frozenset[int]:
        """Positions of the papers with any of the topic's features."""
        found = self._papers.get(topic)
        if found is None:
            if len(self._papers) >= TOPICS_KEPT:
                self._papers.clear()
            postings = self._index.postings
            found = frozenset().union(
                *(postings.get(f.key, ()) for f in cached_topic_features(topic))
            )
            self._papers[topic] = found
        return found

    def terms(self, topic: Topic) -> TopicTerms:
        """The topic's features with their evidence IDF and totals."""
        found = self._terms.get(topic)
        if found is None:
            if len(self._terms) >= TOPICS_KEPT:
                self._terms.clear()
            features = cached_topic_features(topic)
            idf = self.idf([f.key for f in features])
            found = self._terms[topic] = topic_terms(features, idf, self._rarest)
        return found

    def topic_reason(self, topic: Topic, position: int) -> tuple[float, str] | None:
        """The topic's evidence for the paper and how it is named; None without evidence."""
        if position not in self.papers(topic):
            return None  # none of its words: no evidence
        key = (topic, position)
        if key in self._reasons:
            return self._reasons[key]
        score, matched = _evidence(self._index.doc_weights[position], self.terms(topic))
        reason: tuple[float, str] | None = None
        if score > 0:
            if frozenset(_required_keys(topic)) <= {f.key for f in matched}:
                reason = (score, topic.text)
            else:
                reason = (score, f"{topic.text} ({', '.join(_shown(matched))})")
        if len(self._reasons) >= REASONS_KEPT:
            self._reasons.clear()
        self._reasons[key] = reason
        return reason

    def explain(
        self,
        interests: Interests,
        position: int,
        *,
        liked: Mapping[str, LikedQuery] | None = None,
    ) -> tuple[str, ...]:
        """Reasons, strongest first: matched topics (with their words), followed authors,
        likes; the same as ``explain``."""
        topic_reasons = [
            reason
            for reason in (self.topic_reason(t, position) for t in interests.topics)
            if reason is not None
        ]
        topic_reasons.sort(key=lambda pair: -pair[0])
        # The best topic always explains; others only when they matched more than in passing.
        reasons = [
            text
            for rank, (score, text) in enumerate(topic_reasons[:MAX_TOPIC_REASONS])
            if rank == 0 or score >= TOPIC_REASON_MIN
        ]
        if interests.authors:
            reasons += _author_reasons(interests, self._index, position)
        for paper_id in interests.likes:
            query = (liked or {}).get(paper_id)
            if query is None:
                continue
            weights = self._index.doc_weights[position]
            match = _match(weights, query.features, self.idf([f.key for f in query.features]))
            if query.scale * match[0] >= LIKE_MIN:
                reasons.append(f"similar to {paper_id}, a paper you liked")
        return tuple(reasons)
