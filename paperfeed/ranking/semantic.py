"""Semantic scores and their fusion with lexical ones, vectorised over many subscribers.

A subscriber's semantic score for a paper is a soft maximum over their topics of the cosine
between topic and paper embeddings: close to the best topic, nudged up when several topics
agree (a temperature of 0.1; on the dev judgments 0.05-0.2 all beat the hard maximum and the
mean). For the order it is fused with the lexical score by reciprocal rank (each
subscriber's two rankings of the day, 1 / (k + rank)), which needs no calibration between a
BM25F score and a cosine. For the evidence the threshold applies to, meaning counts in
three ways: it scales the lexical topic evidence (words used in a paper about something
else count less), it adds evidence of its own above a high cosine, and a paper close in
meaning to one of the reader's exclusions is dropped. Knows nothing of the database or of
the model that made the vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from paperfeed.ranking.interests import Interests, Topic
from paperfeed.ranking.scoring import SubscriberScores, best_and_total
from paperfeed.ranking.stats import FloatArray

IntArray = npt.NDArray[np.int64]

TEMPERATURE = 0.1
# The usual reciprocal-rank constant; 20-60 gave the same nDCG on the dev split.
RRF_K = 60
# The hybrid's relevance threshold, on the evidence ``fuse`` computes (bench/RANKING.md has
# the precision-recall curve it was read from, on the dev days).
HYBRID_THRESHOLD = 0.075
# The soft-maximum cosine at which lexical topic evidence counts fully: it is multiplied by
# sqrt(cosine / this), more than 1 above it. Below ``SEMANTIC_SCALE_MIN`` the cosine is read as
# that much, so meaning takes at most 30% off what the words say: a topic the model does not
# know (a new acronym) cannot veto a paper that uses its words. On the dev judgments the
# median relevant pair has 0.45, irrelevant ones 0.21.
SEMANTIC_REFERENCE = 0.5
SEMANTIC_SCALE_MIN = 0.25
# Above this soft-maximum cosine meaning adds evidence of its own, rising linearly to the
# threshold at ``SEMANTIC_THRESHOLD``: that cosine picks a paper with no word in common. A
# semantic threshold set lower moves the start of the ramp down with it (it starts
# ``SEMANTIC_RAMP`` below the threshold, never above ``SEMANTIC_FLOOR``).
SEMANTIC_FLOOR = 0.5
SEMANTIC_THRESHOLD = 0.65
SEMANTIC_RAMP = 0.15
# A paper whose cosine with one of the reader's exclusions reaches this is dropped, as a
# paper whose main subject is the excluded word is: "-vision" then also drops the Mamba
# paper on object detection that never writes "vision". On the dev judgments no relevant
# paper is above 0.16 with its profile's exclusions, and 10% of the irrelevant ones above 0.27.
EXCLUSION_COSINE = 0.25


def topic_text(topic: Topic) -> str:
    """What a topic's embedding is computed from: the words as typed, without quote marks."""
    return topic.plain


@dataclass(frozen=True, slots=True)
class TopicTable:
    """Every topic of a batch of subscribers: unique texts, their vectors, who has which.

    ``rows`` lists each subscriber's topics (indices into ``texts``/``vectors``) one
    subscriber after the other; ``sizes`` says how many each has. Subscribers sharing a
    topic share its row, so 100,000 subscribers typing "large language models" cost one.
    """

    texts: tuple[str, ...]
    vectors: FloatArray
    rows: IntArray
    sizes: IntArray

    @property
    def starts(self) -> IntArray:
        """Where each subscriber's topics start in ``rows``."""
        out = np.zeros(self.sizes.size, dtype=np.int64)
        np.cumsum(self.sizes[:-1], out=out[1:])
        return out

    def of(self, subscriber: int) -> IntArray:
        """Row indices of one subscriber's topics."""
        start = int(self.starts[subscriber])
        return self.rows[start : start + int(self.sizes[subscriber])]


def exclusion_layout(subscribers: Sequence[Interests]) -> tuple[list[str], IntArray, IntArray]:
    """The unique exclusion texts of a batch, and each subscriber's rows into them."""
    unique: dict[str, int] = {}
    rows: list[int] = []
    sizes: list[int] = []
    for interests in subscribers:
        sizes.append(len(interests.exclusions))
        rows.extend([unique.setdefault(e.text, len(unique)) for e in interests.exclusions])
    return list(unique), np.asarray(rows, dtype=np.int64), np.asarray(sizes, dtype=np.int64)


def excluded_by_meaning(
    table: TopicTable, papers: FloatArray, *, cosine: float = EXCLUSION_COSINE
) -> npt.NDArray[np.bool_]:
    """(subscribers, papers): papers whose cosine with one of the subscriber's exclusions
    reaches ``cosine``. ``table`` lists the batch's exclusions as ``TopicTable`` lists topics.
    """
    n_subs, n_docs = table.sizes.size, papers.shape[0]
    if table.rows.size == 0 or n_docs == 0:
        return np.zeros((n_subs, n_docs), dtype=np.bool_)
    close = np.asarray(table.vectors @ papers.T, dtype=np.float32) >= cosine
    owner = np.repeat(np.arange(n_subs), table.sizes)
    out = np.zeros((n_subs, n_docs), dtype=np.bool_)
    np.logical_or.at(out, owner, close[table.rows])
    return out


def topic_layout(subscribers: Sequence[Interests]) -> tuple[list[str], IntArray, IntArray]:
    """The unique topic texts of a batch, and each subscriber's rows into them."""
    unique: dict[str, int] = {}
    rows: list[int] = []
    sizes: list[int] = []
    for interests in subscribers:
        # Parsing already dropped repeated topics; two spellings of one text ("a b" and
        # a b) share a vector and weigh a little more in the soft maximum, which is fine.
        sizes.append(len(interests.topics))
        rows.extend([unique.setdefault(t.plain, len(unique)) for t in interests.topics])
    return list(unique), np.asarray(rows, dtype=np.int64), np.asarray(sizes, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class SemanticScores:
    """Per (subscriber, paper): the soft maximum over topics and the best single cosine."""

    soft: FloatArray
    best: FloatArray


def topic_weights(
    table: TopicTable, papers: FloatArray, *, temperature: float = TEMPERATURE
) -> FloatArray:
    """exp(cosine / temperature) of every distinct topic with every paper, (topics, papers).

    Computed once per batch on distinct topics, so each subscriber's soft maximum is a sum
    and its best topic a maximum of these rows, and the logarithm is taken once at the end.
    A cosine is at most 1, so the largest weight is e**10 at 0.1: no overflow in float32.
    """
    if table.vectors.shape[0] == 0 or papers.shape[0] == 0:
        return np.zeros((table.vectors.shape[0], papers.shape[0]), dtype=np.float32)
    cosines = np.asarray(table.vectors @ papers.T, dtype=np.float32)
    cosines /= temperature
    return np.exp(cosines, out=cosines)


def semantic_scores(
    weights: FloatArray,
    table: TopicTable,
    subscribers: slice,
    *,
    temperature: float = TEMPERATURE,
) -> SemanticScores:
    """Soft and hard maxima over each subscriber's topics, for a slice of the batch."""
    sizes = table.sizes[subscribers]
    start = int(table.starts[subscribers.start]) if sizes.size else 0
    rows = table.rows[start : start + int(sizes.sum())]
    best_weight, total_weight = best_and_total(weights[rows], sizes)
    # Subscribers without topics have weight 0: they score 0, not log(0).
    with np.errstate(divide="ignore"):
        best = np.where(best_weight > 0, temperature * np.log(best_weight), 0.0)
        soft = np.where(total_weight > 0, temperature * np.log(total_weight), 0.0)
    return SemanticScores(soft=soft.astype(np.float32), best=best.astype(np.float32))


def reciprocal_ranks(scores: FloatArray, k: int) -> FloatArray:
    """1 / (k + rank) of each paper in each row's ranking (rank 1 is the best score).

    A paper scoring 0 is not in that ranking at all and gets 0: otherwise the order of
    papers with no lexical match would be decided by their position in the day.
    """
    # Not a stable sort (twice as fast here): exact ties among positive scores are rare,
    # and the order is still the same for the same input.
    order = np.argsort(-scores, axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :], axis=1)
    return np.where(scores > 0, 1.0 / (k + ranks), 0.0).astype(np.float32)


def semantic_evidence(
    soft: FloatArray, *, threshold: float, semantic_threshold: float = SEMANTIC_THRESHOLD
) -> FloatArray:
    """Evidence meaning adds on its own: 0 up to the ramp's start (``SEMANTIC_FLOOR`` by
    default), ``threshold`` at ``semantic_threshold`` (so that cosine alone picks a paper),
    linear in between and above.
    """
    start = min(SEMANTIC_FLOOR, semantic_threshold - SEMANTIC_RAMP)
    slope = threshold / max(semantic_threshold - start, 1e-6)
    out: FloatArray = (slope * np.clip(soft - start, 0.0, None)).astype(np.float32)
    return out


def fuse(
    lexical: SubscriberScores,
    semantic: SemanticScores,
    *,
    threshold: float = HYBRID_THRESHOLD,
    semantic_threshold: float = SEMANTIC_THRESHOLD,
    weights: tuple[float, float] = (1.0, 1.0),
    rrf_k: int = RRF_K,
    excluded: npt.NDArray[np.bool_] | None = None,
) -> SubscriberScores:
    """Reciprocal-rank fusion of the two scores, and the evidence the threshold applies to.

    Evidence: the lexical topic evidence × sqrt(max(soft cosine, ``SEMANTIC_SCALE_MIN``) /
    ``SEMANTIC_REFERENCE``), plus
    ``semantic_evidence``; a liked paper or followed authors count as in the lexical ranker.
    Papers the lexical scorer dropped (excluded subjects, liked already) stay dropped, and so
    do papers ``excluded`` by meaning (``excluded_by_meaning``).
    """
    lexical_weight, semantic_weight = weights
    score = lexical_weight * reciprocal_ranks(lexical.score, rrf_k)
    score += semantic_weight * reciprocal_ranks(semantic.soft, rrf_k)
    topics = lexical.topics if lexical.topics is not None else lexical.evidence
    scale = np.sqrt(np.maximum(semantic.soft, SEMANTIC_SCALE_MIN) / SEMANTIC_REFERENCE)
    evidence = topics * scale + semantic_evidence(
        semantic.soft, threshold=threshold, semantic_threshold=semantic_threshold
    )
    if lexical.personal is not None:
        np.maximum(evidence, lexical.personal, out=evidence)
    dropped = lexical.dropped if excluded is None else lexical.dropped | excluded
    score[dropped] = 0.0
    evidence[dropped] = 0.0
    return SubscriberScores(score=score, evidence=evidence.astype(np.float32), dropped=dropped)
