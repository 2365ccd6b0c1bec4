"""The learned part of a profile: papers a reader rated "more like this" or "less like this".

Rocchio-style, next to the written interests: a paper close to one the reader liked gains
evidence (it can be picked with no word of their topics) and ranks higher; a paper closer to
one they disliked than to any they liked loses evidence and rank. Closeness is the lexical
match with the rated paper's most telling terms (the ``like:`` query, the rated paper itself
scoring 1) or, with the hybrid ranker, the cosine of the embeddings.

The written interests stay the anchor: dislikes multiply what the words say by at least
``FeedbackSettings.floor``, however many there are, so a paper that fully matches a typed
topic is still picked after any number of clicks, and likes only ever add. Ratings are data
(``paperfeed.store.ratings``); this module knows nothing of the database: callers attach a
``Feedback`` of ``Document``s to the parsed interests with ``with_feedback``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import numpy.typing as npt

from paperfeed.ranking.features import document_features
from paperfeed.ranking.index import DayIndex, doc_term_weights
from paperfeed.ranking.interests import Interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.query import LikedQuery, liked_paper_features, pack_rows
from paperfeed.ranking.scoring import SubscriberScores, query_matrix
from paperfeed.ranking.stats import FloatArray

IntArray = npt.NDArray[np.int64]

# The most recent ratings of each kind a profile learns from: bounds the cost per reader
# (each is one row of the per-subscriber maximum) and lets old tastes fade out.
MAX_RATED = 30


@dataclass(frozen=True, slots=True)
class FeedbackSettings:
    """How closeness to rated papers turns into evidence and rank (one set per ranker).

    The margin of a paper is its closeness to the reader's nearest liked paper minus that to
    their nearest disliked one (a reader with no likes yet counts ``dislike_start`` as the
    liked side: only papers nearer a disliked one than that lose). The written interests'
    evidence is multiplied by 1 + ``slope`` × (margin - ``offset``), bounded to
    [``floor``, ``cap``]: ``floor`` is the anchor, what five (or fifty) clicks can take at most.
    A paper nearer a liked paper than any disliked one also gains ``like_weight`` ×
    (closeness - ``like_start``) of evidence of its own, so it can be picked with none of the
    typed words.
    """

    slope: float
    offset: float
    floor: float
    cap: float
    like_start: float
    like_weight: float
    dislike_start: float


# Tuned on the dev days (bench/RANKING.md, "Learning from ratings"): closeness is the
# lexical like: match (0..1, mostly 0.05-0.3) for the lexical ranker and the cosine of
# MiniLM embeddings (mostly 0.3-0.75) for the hybrid.
LEXICAL_FEEDBACK = FeedbackSettings(
    slope=4.0, offset=0.0, floor=0.4, cap=1.0, like_start=0.3, like_weight=0.2, dislike_start=0.5
)
HYBRID_FEEDBACK = FeedbackSettings(
    slope=16.0, offset=0.05, floor=0.4, cap=1.0, like_start=0.65, like_weight=0.3, dislike_start=0.7
)


@dataclass(frozen=True, slots=True)
class Feedback:
    """What one reader rated, most recent first: the papers themselves, for their text."""

    liked: tuple[Document, ...] = ()
    disliked: tuple[Document, ...] = ()
    # The papers' ids, once: ranking a batch reads them for every reader.
    liked_ids: tuple[str, ...] = field(init=False, repr=False, compare=False)
    disliked_ids: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "liked_ids", tuple(d.paper_id for d in self.liked))
        object.__setattr__(self, "disliked_ids", tuple(d.paper_id for d in self.disliked))

    @property
    def empty(self) -> bool:
        """True when the reader rated nothing."""
        return not (self.liked or self.disliked)

    @property
    def paper_ids(self) -> frozenset[str]:
        """Every rated paper: never picked again, nor shown as trending."""
        return frozenset((*self.liked_ids, *self.disliked_ids))


NO_FEEDBACK = Feedback()


def with_feedback(interests: Interests, feedback: Feedback | None) -> Interests:
    """``interests`` (parsed and cached per text) with a reader's ratings attached.

    A shallow copy: the packed query plan is shared, not rebuilt, so attaching ratings to
    100,000 cached profiles costs a copy each.
    """
    if feedback is None or feedback.empty:
        return interests
    out = copy.copy(interests)
    object.__setattr__(
        out,
        "feedback",
        Feedback(feedback.liked[:MAX_RATED], feedback.disliked[:MAX_RATED]),
    )
    return out


@dataclass(frozen=True, slots=True)
class RatedTable:
    """Every distinct rated paper of a batch, and which of them each subscriber liked or
    disliked (``rows`` index ``docs``, one subscriber after the other; ``sizes`` per one).
    Subscribers who rated the same paper share its row, as topics share theirs."""

    docs: tuple[Document, ...]
    liked_rows: IntArray
    liked_sizes: IntArray
    disliked_rows: IntArray
    disliked_sizes: IntArray
    # Where each subscriber's rows start: reasons read one subscriber at a time.
    liked_starts: IntArray = field(init=False, repr=False, compare=False)
    disliked_starts: IntArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, sizes in (
            ("liked_starts", self.liked_sizes),
            ("disliked_starts", self.disliked_sizes),
        ):
            starts = np.zeros(sizes.size, dtype=np.int64)
            np.cumsum(sizes[:-1], out=starts[1:])
            object.__setattr__(self, name, starts)

    def liked_of(self, subscriber: int) -> IntArray:
        """Row indices of one subscriber's liked papers."""
        start = int(self.liked_starts[subscriber])
        return self.liked_rows[start : start + int(self.liked_sizes[subscriber])]

    def disliked_of(self, subscriber: int) -> IntArray:
        """Row indices of one subscriber's disliked papers."""
        start = int(self.disliked_starts[subscriber])
        return self.disliked_rows[start : start + int(self.disliked_sizes[subscriber])]


def rated_table(subscribers: Sequence[Interests]) -> RatedTable | None:
    """The batch's rated papers, or None when nobody in it rated anything (the usual case)."""
    rated = [s.feedback for s in subscribers]
    if all(fb is None for fb in rated):
        return None
    feedback = [fb or NO_FEEDBACK for fb in rated]
    # Flattened with chain/zip/map, which loop in C: 100,000 readers rate ~1,000,000 papers.
    liked_ids = list(chain.from_iterable(fb.liked_ids for fb in feedback))
    disliked_ids = list(chain.from_iterable(fb.disliked_ids for fb in feedback))
    docs = dict(zip(liked_ids, chain.from_iterable(fb.liked for fb in feedback), strict=True))
    docs.update(zip(disliked_ids, chain.from_iterable(fb.disliked for fb in feedback), strict=True))
    row = {paper_id: i for i, paper_id in enumerate(docs)}
    liked = list(map(row.__getitem__, liked_ids))
    disliked = list(map(row.__getitem__, disliked_ids))
    return RatedTable(
        tuple(docs.values()),
        np.asarray(liked, dtype=np.int64),
        np.fromiter((len(fb.liked) for fb in feedback), dtype=np.int64, count=len(feedback)),
        np.asarray(disliked, dtype=np.int64),
        np.fromiter((len(fb.disliked) for fb in feedback), dtype=np.int64, count=len(feedback)),
    )


RatedQueries = dict[str, LikedQuery | None]


def lexical_closeness(
    day: DayIndex, docs: Sequence[Document], cache: RatedQueries | None = None
) -> FloatArray:
    """(rated papers, day's papers): how well each paper matches each rated paper's query.

    The query is the ``like:`` one (its 12 most telling terms and phrases, the rated paper
    itself scoring 1), so a rated paper is to the profile what a ``like:`` line is. Queries
    depend only on the statistics: ``cache`` (one per ranker, which holds one snapshot of
    them) keeps them across the batches of a compose pass.
    """
    queries: list[LikedQuery | None] = []
    for doc in docs:
        if cache is not None and doc.paper_id in cache:
            queries.append(cache[doc.paper_id])
            continue
        features = document_features(doc)
        query = liked_paper_features(features, doc_term_weights(features, day.stats), day.stats)
        if cache is not None:
            cache[doc.paper_id] = query
        queries.append(query)
    out = np.zeros((len(docs), day.n_docs), dtype=np.float32)
    usable = [(i, q) for i, q in enumerate(queries) if q is not None]
    if not usable or day.n_docs == 0:
        return out
    sizes, hashes, weights = pack_rows(q.features for _, q in usable)
    unpacked = (
        np.frombuffer(sizes, dtype="<i4").astype(np.int64),
        np.frombuffer(hashes, dtype="<i8").astype(np.int64),
        np.frombuffer(weights, dtype="<f4").astype(np.float32),
    )
    scale = np.asarray([q.scale for _, q in usable], dtype=np.float64)
    product = query_matrix(day, unpacked, row_scale=scale) @ day.weights
    dense = product.toarray() if hasattr(product, "toarray") else np.asarray(product)
    out[[i for i, _ in usable]] = np.minimum(dense, 1.0)
    return out


def semantic_closeness(rated: FloatArray, papers: FloatArray) -> FloatArray:
    """(rated papers, day's papers): cosine of unit embeddings, negatives read as 0."""
    if rated.shape[0] == 0 or papers.shape[0] == 0:
        return np.zeros((rated.shape[0], papers.shape[0]), dtype=np.float32)
    out: FloatArray = np.clip(np.asarray(rated @ papers.T, dtype=np.float32), 0.0, 1.0)
    return out


def nearest(closeness: FloatArray, rows: IntArray, sizes: IntArray, chunk: slice) -> FloatArray:
    """(subscribers in ``chunk``, papers): closeness to each one's nearest rated paper.

    Subscribers' rows are laid out padded to the longest (at most ``MAX_RATED``) and the
    maximum taken one slot at a time, so memory stays (subscribers × papers) at any scale.
    """
    part = sizes[chunk]
    n_subs, n_docs = part.size, closeness.shape[1]
    out = np.zeros((n_subs, n_docs), dtype=np.float32)
    width = int(part.max(initial=0))
    if width == 0:
        return out
    start = int(sizes[: chunk.start].sum())
    mine = rows[start : start + int(part.sum())]
    padded = np.vstack([closeness, np.zeros((1, n_docs), dtype=np.float32)])
    blank = closeness.shape[0]
    offsets = np.zeros(n_subs, dtype=np.int64)
    np.cumsum(part[:-1], out=offsets[1:])
    slots = np.full((n_subs, width), blank, dtype=np.int64)
    owner = np.repeat(np.arange(n_subs), part)
    slots[owner, np.arange(mine.size) - offsets[owner]] = mine
    for j in range(width):
        np.maximum(out, padded[slots[:, j]], out=out)
    return out


@dataclass(frozen=True, slots=True)
class Learned:
    """What ratings do to a chunk's scores: the evidence liked papers add, the factor
    dislikes multiply by (``floor``..1), and how much nearer a liked paper is (for rank)."""

    added: FloatArray
    factor: FloatArray
    preference: FloatArray


def learned(
    pos: FloatArray,
    neg: FloatArray,
    settings: FeedbackSettings,
    *,
    has_liked: npt.NDArray[np.bool_],
    has_disliked: npt.NDArray[np.bool_],
) -> Learned:
    """Closeness to the nearest liked (``pos``) and disliked (``neg``) papers -> ``Learned``.

    ``has_liked``/``has_disliked`` (one per subscriber) say which side a reader has rated.
    """
    liked_side = np.where(has_liked[:, None], pos, settings.dislike_start)
    disliked_side = np.where(has_disliked[:, None], neg, 0.0)
    margin = liked_side - disliked_side
    factor = np.clip(
        1.0 + settings.slope * (margin - settings.offset), settings.floor, settings.cap
    )
    added = np.where(
        pos > disliked_side,
        settings.like_weight * np.clip(pos - settings.like_start, 0.0, None),
        0.0,
    )
    return Learned(
        added=added.astype(np.float32),
        factor=factor.astype(np.float32),
        preference=np.clip(pos - disliked_side, 0.0, None).astype(np.float32),
    )


def apply_learned(
    scores: SubscriberScores,
    learn: Learned,
    *,
    score_bonus: FloatArray,
    rated: npt.NDArray[np.bool_] | None = None,
) -> SubscriberScores:
    """The chunk's scores with ratings applied: the words' evidence × factor + what likes add,
    the score × factor + ``score_bonus``. Followed authors and ``like:`` lines are untouched
    when the scores keep them apart (``personal``: the lexical scorer; the hybrid's fused
    evidence holds them in one number). Dropped papers (excluded, rated already) stay dropped.
    """
    topics = scores.topics if scores.topics is not None else scores.evidence
    personal = scores.personal if scores.personal is not None else np.zeros_like(topics)
    new_topics = topics * learn.factor + learn.added
    evidence = np.maximum(new_topics, personal)
    score = scores.score * learn.factor + score_bonus
    dropped = scores.dropped if rated is None else scores.dropped | rated
    evidence[dropped] = 0.0
    score[dropped] = 0.0
    new_topics[dropped] = 0.0
    return SubscriberScores(
        score=score.astype(np.float32, copy=False),
        evidence=evidence.astype(np.float32, copy=False),
        dropped=dropped,
        topics=new_topics.astype(np.float32, copy=False),
        personal=personal,
    )


def rated_positions(day: DayIndex, table: RatedTable) -> IntArray:
    """Each rated paper's position in the day (-1 when it is not one of the day's papers)."""
    return np.fromiter(
        (day.positions.get(d.paper_id, -1) for d in table.docs),
        dtype=np.int64,
        count=len(table.docs),
    )


def rated_mask(
    table: RatedTable, positions: IntArray, chunk: slice, n_docs: int
) -> npt.NDArray[np.bool_]:
    """(subscribers in ``chunk``, papers): the day's papers each of them rated already."""
    out = np.zeros((len(range(*chunk.indices(table.liked_sizes.size))), n_docs), dtype=np.bool_)
    for rows, sizes in (
        (table.liked_rows, table.liked_sizes),
        (table.disliked_rows, table.disliked_sizes),
    ):
        part = sizes[chunk]
        start = int(sizes[: chunk.start].sum())
        mine = positions[rows[start : start + int(part.sum())]]
        owner = np.repeat(np.arange(part.size), part)
        keep = mine >= 0
        out[owner[keep], mine[keep]] = True
    return out


class LearnedReasons:
    """Reasons "because you liked: <title>" for papers close to a paper the reader liked, and
    which of the day's papers a reader rated (never shown again, not even as trending)."""

    def __init__(
        self, table: RatedTable, closeness: FloatArray, positions: IntArray, *, minimum: float
    ) -> None:
        self._table = table
        self._closeness = closeness
        self._positions = positions
        # Named only when the like added evidence (``FeedbackSettings.like_start``).
        self._minimum = minimum

    def reason(self, subscriber: int, position: int) -> str | None:
        """The liked paper nearest the paper at ``position``, named, if near enough."""
        rows = self._table.liked_of(subscriber)
        if rows.size == 0:
            return None
        values = self._closeness[rows, position]
        best = int(np.argmax(values))
        if float(values[best]) <= self._minimum:
            return None
        return f"because you liked: {self._table.docs[int(rows[best])].title}"

    def rated(self, subscriber: int) -> IntArray:
        """Positions in the day of the papers ``subscriber`` rated."""
        table = self._table
        rows = np.concatenate(
            [
                table.liked_of(subscriber),
                table.disliked_of(subscriber),
            ]
        )
        found: IntArray = self._positions[rows]
        return found[found >= 0]


def feedback_scores(
    scores: SubscriberScores,
    table: RatedTable,
    closeness: FloatArray,
    chunk: slice,
    settings: FeedbackSettings,
    *,
    positions: IntArray,
    rank_bonus: Callable[[FloatArray], FloatArray] | None = None,
) -> SubscriberScores:
    """A chunk's scores with its subscribers' ratings applied (``learned``, ``apply_learned``).

    ``closeness`` is (``table.docs``, day's papers), ``positions`` the rated papers' places in
    the day (``rated_positions``): a paper the reader rated is dropped. The score gains
    ``rank_bonus`` of how much nearer a liked paper is than a disliked one: that preference
    itself by default (the lexical score adds a liked paper's match as it adds a ``like:``
    line's), its reciprocal rank in the hybrid's fusion.
    """
    pos = nearest(closeness, table.liked_rows, table.liked_sizes, chunk)
    neg = nearest(closeness, table.disliked_rows, table.disliked_sizes, chunk)
    learn = learned(
        pos,
        neg,
        settings,
        has_liked=table.liked_sizes[chunk] > 0,
        has_disliked=table.disliked_sizes[chunk] > 0,
    )
    bonus = learn.preference if rank_bonus is None else rank_bonus(learn.preference)
    rated = rated_mask(table, positions, chunk, closeness.shape[1])
    return apply_learned(scores, learn, score_bonus=bonus, rated=rated)
