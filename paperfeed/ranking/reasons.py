"""Why a paper was picked for a subscriber: the topics, words, phrases and authors that matched.

Recomputes, for one subscriber and one paper, the same per-topic evidence the vectorised
scorer gated on, and turns it into short human strings for the email and the feed: a topic
is named only when it gave evidence (a quoted phrase whose words stand apart gave none), the
topic that gave most first. Built only for the papers a subscriber actually gets, so it may
loop in Python. Knows nothing of layout or escaping (the templates escape).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from paperfeed.ranking.index import FOCUS_POWER, DayIndex
from paperfeed.ranking.interests import Interests, Topic
from paperfeed.ranking.query import LikedQuery, QueryFeature, topic_features
from paperfeed.ranking.text import author_keys, feature_hashes, phrase_keys

MAX_TOPIC_REASONS = 3
# A topic other than the best one is named only when its evidence is at least this strong
# (a quarter of the default threshold: it helped, not merely shared a word).
TOPIC_REASON_MIN = 0.02
# A liked paper is named as a reason only when the match is more than incidental.
LIKE_MIN = 0.1


def _idf(index: DayIndex, keys: Sequence[str]) -> list[float]:
    if not keys:
        return []
    hashes = np.asarray(feature_hashes(keys), dtype=np.int64)
    return [float(v) for v in index.stats.idf_table()[index.stats.buckets(hashes)]]


def feature_match(
    index: DayIndex, position: int, features: Sequence[QueryFeature]
) -> tuple[float, list[QueryFeature]]:
    """A query row's normalised match with one paper, and the features that matched."""
    weights = index.doc_weights[position]
    idf = _idf(index, [f.key for f in features])
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


def topic_evidence_of(
    index: DayIndex, position: int, features: Sequence[QueryFeature]
) -> tuple[float, list[QueryFeature]]:
    """One topic's evidence for one paper (as ``scoring.topic_evidence``), and what matched."""
    weights = index.doc_weights[position]
    idf = _idf(index, [f.key for f in features])
    n = max(index.stats.n_docs, 1)
    rarest = float(np.log1p((n - 1 + 0.5) / 1.5))
    idf = [w if w > 0 else rarest for w in idf]
    focus_total = sum(f.evidence * w for f, w in zip(features, idf, strict=True))
    cover_total = sum(w for f, w in zip(features, idf, strict=True) if f.required)
    if focus_total <= 0 or cover_total <= 0:
        return 0.0, []
    focus = covered = 0.0
    matched: list[QueryFeature] = []
    for feature, w in zip(features, idf, strict=True):
        tf = weights.get(feature.key, 0.0)
        if tf <= 0:
            continue
        focus += feature.evidence * w * tf**FOCUS_POWER
        covered += w if feature.required else 0.0
        matched.append(feature)
    return (focus / focus_total) * (covered / cover_total), matched


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
    topic_reasons: list[tuple[float, str]] = []
    for topic in interests.topics:
        score, matched = topic_evidence_of(index, position, topic_features(topic))
        if score <= 0:
            continue
        if _required_keys(topic) <= {f.key for f in matched}:
            topic_reasons.append((score, topic.text))
        else:
            topic_reasons.append((score, f"{topic.text} ({', '.join(_shown(matched))})"))
    topic_reasons.sort(key=lambda pair: -pair[0])
    # The best topic always explains; others only when they matched more than in passing.
    reasons = [
        text
        for rank, (score, text) in enumerate(topic_reasons[:MAX_TOPIC_REASONS])
        if rank == 0 or score >= TOPIC_REASON_MIN
    ]
    reasons += _author_reasons(interests, index, position)
    for paper_id in interests.likes:
        query = (liked or {}).get(paper_id)
        if query and query.scale * feature_match(index, position, query.features)[0] >= LIKE_MIN:
            reasons.append(f"similar to {paper_id}, a paper you liked")
    return tuple(reasons)
