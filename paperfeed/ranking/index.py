"""The index over one day's papers: BM25F-weighted feature × paper matrices, built once a day.

Owns field weighting (title up, then AI keywords, then abstract), length normalisation and tf
saturation, what counts as a paper's main subject (for exclusions), and the bounded
popularity prior. IDF is not stored here: it comes from ``TermStats`` at query time, so one
index serves every subscriber. Knows nothing of subscribers or the database.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from paperfeed.ranking.features import DocFeatures, Field, document_features
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.stats import FloatArray, HashArray, TermStats
from paperfeed.ranking.text import feature_hashes

# BM25F: a field's counts are weighted and length-normalised, summed, then saturated once.
K1 = 1.2
FIELD_WEIGHTS: dict[Field, float] = {"title": 3.0, "keywords": 2.0, "abstract": 1.0}
FIELD_LENGTH_B: dict[Field, float] = {"title": 0.3, "keywords": 0.5, "abstract": 0.75}
# A paper is "mainly about" a term when the title or an AI keyword has it, or the abstract
# repeats it this often; a passing mention or two deep in the abstract is not its subject.
MAIN_SUBJECT_ABSTRACT_COUNT = 3
# Popularity: log-scaled, full at these counts, upvotes weigh three times as much as stars.
UPVOTES_FULL = 100
STARS_FULL = 1000
# Above this many matrix cells the weights stay sparse instead of dense.
DENSE_CELLS_MAX = 1 << 25
# How prominently a paper uses a feature, for the evidence: its saturated term frequency to
# this power. A word in the title (0.75-0.9) keeps 0.4-0.7, one passing mention in the
# abstract (0.45) keeps 0.09: a paper must use a topic's words prominently to be about it.
FOCUS_POWER = 3

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class DayIndex:
    """One day's papers as matrices over the features they contain (rows) and papers (columns).

    ``weights[f, p]`` is the saturated BM25F term frequency of feature ``f`` in paper ``p`` (in
    0..1; author keys are 1), ``main[f, p]`` is 1 where ``f`` is the paper's main subject.
    For the evidence: ``focus`` is ``weights ** FOCUS_POWER`` (how prominently the paper uses
    the feature) and ``present`` is 1 where the paper has the feature at all.
    """

    docs: tuple[Document, ...]
    stats: TermStats
    features: tuple[DocFeatures, ...]
    hashes: HashArray
    weights: FloatArray | sp.csr_matrix
    main: sp.csr_matrix
    focus: FloatArray | sp.csr_matrix
    present: FloatArray | sp.csr_matrix
    popularity: FloatArray
    doc_weights: tuple[dict[str, float], ...]
    positions: dict[str, int]
    # The papers each term or phrase occurs in (``doc_weights`` inverted): explaining a topic
    # skips at once the papers that have none of its words.
    postings: dict[str, frozenset[int]] = dataclasses.field(default_factory=dict)

    @property
    def n_docs(self) -> int:
        """How many papers the index holds."""
        return len(self.docs)

    def columns(self, hashes: HashArray) -> IntArray:
        """Feature row of each hash in this index, or -1 where no paper of the day has it."""
        if self.hashes.size == 0:
            return np.full(hashes.shape, -1, dtype=np.intp)
        pos = np.searchsorted(self.hashes, hashes)
        pos[pos >= self.hashes.size] = 0
        return np.where(self.hashes[pos] == hashes, pos, -1)


def doc_term_weights(features: DocFeatures, stats: TermStats) -> dict[str, float]:
    """Saturated BM25F term frequency (0..1) of every term and phrase of one paper."""
    norms = {
        name: 1.0
        - FIELD_LENGTH_B[name]
        + FIELD_LENGTH_B[name] * field.length / stats.average_length(name)
        for name, field in features.fields.items()
    }
    pseudo: dict[str, float] = {}
    for name, field in features.fields.items():
        scale = FIELD_WEIGHTS[name] / norms[name]
        for key, count in field.counts.items():
            pseudo[key] = pseudo.get(key, 0.0) + scale * count
    return {key: tf / (K1 + tf) for key, tf in pseudo.items()}


def _main_keys(features: DocFeatures) -> set[str]:
    keys = set(features.fields["title"].counts) | set(features.fields["keywords"].counts)
    abstract = features.fields["abstract"].counts
    keys.update(k for k, n in abstract.items() if n >= MAIN_SUBJECT_ABSTRACT_COUNT)
    return keys


def popularity(doc: Document) -> float:
    """How popular a paper is, in 0..1 (log scale, saturating): the prior, not relevance."""
    votes = min(1.0, math.log1p(max(doc.upvotes, 0)) / math.log1p(UPVOTES_FULL))
    stars = min(1.0, math.log1p(max(doc.github_stars or 0, 0)) / math.log1p(STARS_FULL))
    return 0.75 * votes + 0.25 * stars


def build_day_index(docs: Sequence[Document], stats: TermStats) -> DayIndex:
    """Index one day's papers; papers the statistics miss are counted into a copy of them."""
    unique: dict[str, Document] = {}
    for doc in docs:
        unique.setdefault(doc.paper_id, doc)
    day = tuple(unique.values())
    features = tuple(document_features(d) for d in day)
    missing = [i for i, d in enumerate(day) if d.paper_id not in stats]
    if missing:  # IDF must know today's terms; never mutate the caller's statistics
        stats = stats.copy()
        for i in missing:
            stats.add_features(day[i].paper_id, features[i])
    doc_weights = tuple(doc_term_weights(f, stats) for f in features)
    keys = sorted({k for w in doc_weights for k in w} | {a for f in features for a in f.authors})
    key_hashes = np.asarray(feature_hashes(keys), dtype=np.int64)
    order = np.argsort(key_hashes, kind="stable")
    hashes = key_hashes[order]
    row_of = {keys[i]: r for r, i in enumerate(order.tolist())}

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    main_rows: list[int] = []
    main_cols: list[int] = []
    for p, (feats, weights) in enumerate(zip(features, doc_weights, strict=True)):
        for key, value in weights.items():
            rows.append(row_of[key])
            cols.append(p)
            vals.append(value)
        for author in feats.authors:
            rows.append(row_of[author])
            cols.append(p)
            vals.append(1.0)
        for key in _main_keys(feats):
            main_rows.append(row_of[key])
            main_cols.append(p)
    shape = (len(keys), len(day))
    matrix = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=shape, dtype=np.float32
    )
    main = sp.csr_matrix(
        (np.ones(len(main_rows), dtype=np.float32), (main_rows, main_cols)),
        shape=shape,
        dtype=np.float32,
    )
    focus = matrix.power(FOCUS_POWER).astype(np.float32)
    present = matrix.copy()
    present.data[:] = 1.0
    weights_out: FloatArray | sp.csr_matrix = matrix
    focus_out: FloatArray | sp.csr_matrix = focus
    present_out: FloatArray | sp.csr_matrix = present
    if shape[0] * shape[1] <= DENSE_CELLS_MAX:
        weights_out = np.ascontiguousarray(matrix.toarray(), dtype=np.float32)
        focus_out = np.ascontiguousarray(focus.toarray(), dtype=np.float32)
        present_out = np.ascontiguousarray(present.toarray(), dtype=np.float32)
    return DayIndex(
        docs=day,
        stats=stats,
        features=features,
        hashes=hashes,
        weights=weights_out,
        main=main,
        focus=focus_out,
        present=present_out,
        popularity=np.asarray([popularity(d) for d in day], dtype=np.float32),
        doc_weights=doc_weights,
        positions={d.paper_id: i for i, d in enumerate(day)},
        postings=_postings(doc_weights),
    )


def _postings(doc_weights: Sequence[dict[str, float]]) -> dict[str, frozenset[int]]:
    found: dict[str, list[int]] = {}
    for position, weights in enumerate(doc_weights):
        for key in weights:
            found.setdefault(key, []).append(position)
    return {key: frozenset(positions) for key, positions in found.items()}
