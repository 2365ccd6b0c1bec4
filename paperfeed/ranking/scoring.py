"""Vectorised scoring of many subscribers against one day's index, with sparse matrix products.

Owns how the parts of a score combine: each topic's BM25F match normalised to 0..1 (so five
topics are not drowned by the broadest: none can weigh more than a full match), topics merged
as the best one plus a weighted sum of the others, followed authors and liked papers added,
exclusions and already-liked papers masked, popularity as a bounded multiplier, and the
strongest single match kept as the evidence the threshold is applied to. Never loops over
subscribers × papers in Python. Knows nothing of the database or of how results are shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from paperfeed.ranking.index import DayIndex
from paperfeed.ranking.interests import Interests
from paperfeed.ranking.stats import FloatArray

# Topics after a subscriber's best-matching one add this share of their score. 1.0 lets a
# paper serving several topics rank first; damping (0.3-0.7) lost nDCG on the dev split.
OTHER_TOPICS_WEIGHT = 1.0
# In the evidence, topics after the best one add this share: a paper partly about two of a
# reader's topics is better evidence than a paper partly about one.
EVIDENCE_OTHER_TOPICS = 0.5
# A liked paper's match (0..1, the liked paper itself is 1) counts this much as evidence:
# a match of 0.2, the old threshold, is evidence 0.08, the new one.
LIKE_EVIDENCE_WEIGHT = 0.4
# Each followed author on a paper adds this much (a full topic match is about 0.6-0.9).
AUTHOR_BOOST = 0.5
AUTHOR_CAP = 1.0
# Popularity multiplies relevance by at most 1 + this: it reorders, it cannot make relevant.
POPULARITY_WEIGHT = 0.15
# Topic rows per subscriber reduced in one block; more are folded in one by one.
_SLOTS = 8
# An exclusion row sums to 1 when all its features are the paper's main subject.
_EXCLUSION_HIT = 1.0 - 1e-3

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PackedRows:
    """Query rows as packed by ``query.pack_rows``: int32 sizes, int64 hashes, float32 weights."""

    sizes: bytes
    hashes: bytes
    weights: bytes
    scale: float = 1.0

    @property
    def count(self) -> int:
        """How many rows are packed."""
        return len(self.sizes) // 4


def _unpack(sizes: bytes, hashes: bytes, weights: bytes) -> tuple[IntArray, IntArray, FloatArray]:
    return (
        np.frombuffer(sizes, dtype="<i4").astype(np.int64),
        np.frombuffer(hashes, dtype="<i8").astype(np.int64, copy=False),
        np.frombuffer(weights, dtype="<f4").astype(np.float32),
    )


def query_matrix(
    index: DayIndex,
    rows: tuple[IntArray, IntArray, FloatArray],
    *,
    idf_normalised: bool = True,
    row_scale: npt.NDArray[np.float64] | None = None,
) -> sp.csr_matrix:
    """Sparse rows × day-features matrix of packed query rows.

    With ``idf_normalised`` each feature weighs weight × IDF, divided by its row's total over
    every feature (those absent today included), so a row that fully matches scores near 1;
    ``row_scale`` then multiplies each row (a liked paper's row is scaled so it would score 1).
    """
    sizes, hashes, weights = rows
    n_rows = sizes.size
    row_of = np.repeat(np.arange(n_rows), sizes)
    values = weights
    if idf_normalised and hashes.size:
        values = weights * index.stats.idf_table()[index.stats.buckets(hashes)]
    cols = index.columns(hashes)
    keep = (cols >= 0) & (values > 0)
    kept_rows = row_of[keep]
    data = values[keep]
    if idf_normalised and data.size:
        totals = np.bincount(row_of, weights=values, minlength=n_rows).astype(np.float64)
        if row_scale is not None:
            totals /= row_scale
        data = (data / totals[kept_rows]).astype(np.float32)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(kept_rows, minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix(
        (data.astype(np.float32, copy=False), cols[keep], indptr),
        shape=(n_rows, index.hashes.size),
    )


def _times_weights(index: DayIndex, matrix: sp.csr_matrix) -> FloatArray:
    return _times(matrix, index.weights)


def _times(matrix: sp.csr_matrix, day: FloatArray | sp.csr_matrix) -> FloatArray:
    product = matrix @ day
    if sp.issparse(product):
        product = product.toarray()
    return np.asarray(product, dtype=np.float32)


def evidence_idf(index: DayIndex, hashes: IntArray) -> FloatArray:
    """IDF of each feature for the evidence: a feature no stored paper has is as rare as can be.

    Ranking gives such a feature IDF 0 (a typo should not dilute its topic's score); the
    evidence must not: a quoted phrase or a word nobody has written yet is exactly what a
    paper fails to cover, and dropping it would let the topic's other words carry it.
    """
    idf = index.stats.idf_table()[index.stats.buckets(hashes)]
    n = max(index.stats.n_docs, 1)
    rarest = np.float32(np.log1p((n - 1 + 0.5) / 1.5))
    return np.where(idf > 0, idf, rarest).astype(np.float32)


def topic_evidence(
    index: DayIndex,
    rows: tuple[IntArray, IntArray, FloatArray, FloatArray],
) -> FloatArray:
    """How well each paper covers each topic row, in 0..1: (rows, papers).

    ``rows`` are sizes, hashes, evidence weights and required flags (``QueryPlan``). The
    evidence is focus × coverage:
    - coverage: the IDF-weighted share of the topic's required features (its typed words,
      a quoted phrase's adjacent pairs) that the paper contains at all. A generic word
      covers little of a three-word topic; a quoted phrase is covered only by the phrase;
    - focus: the IDF- and evidence-weighted mean, over every feature of the topic (pairs of
      words typed side by side included), of how prominently the paper uses it
      (``DayIndex.focus``: title and repeated use count, a passing mention hardly).
    """
    sizes, hashes, weights, required = rows
    n_rows = sizes.size
    if n_rows == 0:
        return np.zeros((0, index.n_docs), dtype=np.float32)
    row_of = np.repeat(np.arange(n_rows), sizes)
    idf = evidence_idf(index, hashes)
    cols = index.columns(hashes)
    focus = _row_normalised(index, row_of, cols, weights * idf, n_rows)
    coverage = _row_normalised(index, row_of, cols, required * idf, n_rows)
    out = _times(focus, index.focus)
    out *= _times(coverage, index.present)
    return out


def _row_normalised(
    index: DayIndex, row_of: IntArray, cols: IntArray, values: FloatArray, n_rows: int
) -> sp.csr_matrix:
    """Rows × day-features matrix of ``values``, each row divided by its total (absent too)."""
    totals = np.bincount(row_of, weights=values, minlength=n_rows)
    keep = (cols >= 0) & (values > 0)
    kept_rows = row_of[keep]
    data = (values[keep] / totals[kept_rows]).astype(np.float32)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(kept_rows, minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix((data, cols[keep], indptr), shape=(n_rows, index.hashes.size))


def best_and_total(scores: FloatArray, rows_per_sub: IntArray) -> tuple[FloatArray, FloatArray]:
    """Per subscriber, the best row's score and the sum of all rows (0 without rows).

    Rows are laid into a (subscribers, slots, papers) block and reduced over the slots, which
    is several times faster than ``reduceat`` over thousands of short segments; the rare
    subscriber with more rows than slots has the rest folded in with ``ufunc.at``.
    """
    n_subs, n_docs = rows_per_sub.size, scores.shape[1]
    width = int(min(rows_per_sub.max(initial=0), _SLOTS))
    if width == 0:
        empty = np.zeros((n_subs, n_docs), dtype=np.float32)
        return empty, empty.copy()
    starts = np.zeros(n_subs, dtype=np.int64)
    np.cumsum(rows_per_sub[:-1], out=starts[1:])
    owner = np.repeat(np.arange(n_subs), rows_per_sub)
    slot = np.arange(owner.size) - starts[owner]
    fits = slot < width
    block = np.zeros((n_subs, width, n_docs), dtype=np.float32)
    block[owner[fits], slot[fits]] = scores[fits]
    best = block.max(axis=1)  # scores are >= 0, so empty slots never win
    total = block.sum(axis=1)
    if not fits.all():
        np.maximum.at(best, owner[~fits], scores[~fits])
        np.add.at(total, owner[~fits], scores[~fits])
    return best, total


def _add_likes(
    index: DayIndex,
    interests: Sequence[Interests],
    like_rows: Mapping[str, PackedRows],
    best_total: tuple[FloatArray, FloatArray],
    evidence: FloatArray,
) -> None:
    """Fold liked-paper rows into the per-subscriber best, total and evidence arrays."""
    best, total = best_total
    owners: list[int] = []
    packed: list[PackedRows] = []
    for i, item in enumerate(interests):
        for paper_id in item.likes:
            row = like_rows.get(paper_id)
            if row is not None and row.count:
                owners.extend([i] * row.count)
                packed.append(row)
    if not packed:
        return
    rows = _unpack(
        b"".join(p.sizes for p in packed),
        b"".join(p.hashes for p in packed),
        b"".join(p.weights for p in packed),
    )
    scale = np.asarray([p.scale for p in packed], dtype=np.float64)
    scores = _times_weights(index, query_matrix(index, rows, row_scale=scale))
    np.minimum(scores, 1.0, out=scores)  # no paper is more like it than the paper itself
    owner = np.asarray(owners, dtype=np.int64)
    np.maximum.at(best, owner, scores)
    np.add.at(total, owner, scores)
    np.maximum.at(evidence, owner, LIKE_EVIDENCE_WEIGHT * scores)


def _excluded_by_topic(index: DayIndex, interests: Sequence[Interests]) -> npt.NDArray[np.bool_]:
    plans = [i.plan for i in interests]
    rows = _unpack(
        b"".join(p.exclusion_sizes for p in plans),
        b"".join(p.exclusion_hashes for p in plans),
        b"".join(p.exclusion_weights for p in plans),
    )
    out = np.zeros((len(plans), index.n_docs), dtype=np.bool_)
    if rows[0].size == 0:
        return out
    matrix = query_matrix(index, rows, idf_normalised=False)
    hits = (matrix @ index.main).toarray() >= _EXCLUSION_HIT
    per_sub = np.asarray([len(p.exclusion_sizes) // 4 for p in plans], dtype=np.int64)
    owner = np.repeat(np.arange(len(plans)), per_sub)
    np.logical_or.at(out, owner, hits)
    return out


def excluded_papers(index: DayIndex, interests: Sequence[Interests]) -> npt.NDArray[np.bool_]:
    """(subscribers, papers) mask of papers never to show: excluded subject, or liked already
    (papers rated "more/less like this" are dropped by ``feedback``).

    A paper is excluded when an exclusion is its main subject (title, AI keywords, or repeated
    in the abstract; a phrase needs all its adjacent pairs there), not for a passing mention.
    """
    out = _excluded_by_topic(index, interests)
    for sub, item in enumerate(interests):
        for paper_id in item.likes:
            position = index.positions.get(paper_id)
            if position is not None:
                out[sub, position] = True
    return out


def _author_scores(index: DayIndex, interests: Sequence[Interests]) -> FloatArray | None:
    plans = [i.plan for i in interests]
    blob = b"".join(p.author_hashes for p in plans)
    if not blob:
        return None
    sizes = np.asarray([len(p.author_hashes) // 8 for p in plans], dtype=np.int64)
    hashes = np.frombuffer(blob, dtype="<i8").astype(np.int64, copy=False)
    weights = np.full(hashes.size, AUTHOR_BOOST, dtype=np.float32)
    matrix = query_matrix(index, (sizes, hashes, weights), idf_normalised=False)
    return np.minimum(_times_weights(index, matrix), AUTHOR_CAP)


@dataclass(frozen=True, slots=True)
class SubscriberScores:
    """Scores of a batch, shape (subscribers, papers); 0 is no relevance.

    ``score`` ranks: topics (each normalised to 0..1) add up, followed authors and liked
    papers add, popularity multiplies. ``evidence`` gates, compared with the relevance
    threshold: how well the paper covers the reader's topics (the best topic's
    ``topic_evidence`` plus half of the others'), or a liked paper's match, or the followed
    authors, whichever is strongest.
    """

    score: FloatArray
    evidence: FloatArray
    # Papers never to show (an excluded subject, or liked already), whatever the score.
    dropped: npt.NDArray[np.bool_]
    # The parts of ``evidence``: the topics' coverage, and the strongest liked paper or
    # followed authors (``evidence`` is their maximum); the hybrid ranker reweighs the first.
    topics: FloatArray | None = None
    personal: FloatArray | None = None


def score_subscribers(
    index: DayIndex,
    interests: Sequence[Interests],
    *,
    like_rows: Mapping[str, PackedRows] | None = None,
) -> SubscriberScores:
    """Score every paper of the day for each subscriber, with sparse products and no loops."""
    plans = [i.plan for i in interests]
    rows = _unpack(
        b"".join(p.topic_sizes for p in plans),
        b"".join(p.topic_hashes for p in plans),
        b"".join(p.topic_weights for p in plans),
    )
    rows_per_sub = np.asarray([len(p.topic_sizes) // 4 for p in plans], dtype=np.int64)
    best, total = best_and_total(_times_weights(index, query_matrix(index, rows)), rows_per_sub)
    evidence_rows = (
        rows[0],
        rows[1],
        np.frombuffer(b"".join(p.topic_evidence for p in plans), dtype="<f4"),
        np.frombuffer(b"".join(p.topic_required for p in plans), dtype="<f4"),
    )
    ev_best, ev_total = best_and_total(topic_evidence(index, evidence_rows), rows_per_sub)
    topics = ev_best + EVIDENCE_OTHER_TOPICS * (ev_total - ev_best)
    personal = np.zeros_like(topics)
    if any(i.likes for i in interests):
        # Likes are rare: they join as extra topic rows through a slower, exact path.
        _add_likes(index, interests, like_rows or {}, (best, total), personal)
    lexical = best + OTHER_TOPICS_WEIGHT * (total - best)
    authors = _author_scores(index, interests)
    if authors is not None:
        lexical += authors
        np.maximum(personal, authors, out=personal)
    score = lexical * (1.0 + POPULARITY_WEIGHT * index.popularity)[None, :]
    dropped = excluded_papers(index, interests)
    score[dropped] = 0.0
    topics[dropped] = 0.0
    personal[dropped] = 0.0
    return SubscriberScores(
        score=score.astype(np.float32, copy=False),
        evidence=np.maximum(topics, personal).astype(np.float32, copy=False),
        dropped=dropped,
        topics=topics.astype(np.float32, copy=False),
        personal=personal.astype(np.float32, copy=False),
    )


def top_papers(
    scores: SubscriberScores, *, top_k: int, threshold: float
) -> tuple[npt.NDArray[np.int32], FloatArray]:
    """Per subscriber, the ``top_k`` best papers whose evidence reaches ``threshold``.

    Positions past a row's last qualifying paper are -1 (score 0).
    """
    eligible = (scores.evidence >= threshold) & (scores.score > 0)
    ranked = np.where(eligible, scores.score, 0.0).astype(np.float32, copy=False)
    n_rows, n_docs = ranked.shape
    k = max(0, min(top_k, n_docs))
    if k == 0 or n_rows == 0:
        return np.full((n_rows, k), -1, dtype=np.int32), np.zeros((n_rows, k), dtype=np.float32)
    if k < n_docs:
        part = np.argpartition(-ranked, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_docs), (n_rows, n_docs))
    values = np.take_along_axis(ranked, part, axis=1)
    # Ties broken by position (stable), so the order never depends on the partition.
    order = np.lexsort((part, -values), axis=1)
    positions = np.take_along_axis(part, order, axis=1).astype(np.int32)
    values = np.take_along_axis(values, order, axis=1)
    keep = values > 0
    positions[~keep] = -1
    values[~keep] = 0.0
    return positions, values.astype(np.float32, copy=False)
