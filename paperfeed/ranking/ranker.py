"""The ranking entry point: the ``Ranker`` protocol, the lexical ranker, and ``ScoredPaper``.

Callers (digest, web, feeds) index a day once, rank any number of subscribers against it, and
get per subscriber the papers above the relevance threshold, best first, each with reasons.
Another ranker (e.g. embeddings behind an extra) only has to satisfy ``Ranker``. Knows
nothing of the database: the store maps its rows to ``Document`` and caches ``TermStats``.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, overload

import numpy as np
import numpy.typing as npt

from paperfeed.ranking.features import document_features
from paperfeed.ranking.feedback import (
    LEXICAL_FEEDBACK,
    FeedbackSettings,
    LearnedReasons,
    RatedQueries,
    feedback_scores,
    lexical_closeness,
    rated_positions,
    rated_table,
)
from paperfeed.ranking.index import DayIndex, build_day_index, doc_term_weights
from paperfeed.ranking.interests import Interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.query import LikedQuery, liked_paper_features, pack_rows
from paperfeed.ranking.reasons import Explainer
from paperfeed.ranking.scoring import (
    PackedRows,
    SubscriberScores,
    excluded_papers,
    score_subscribers,
    top_papers,
)
from paperfeed.ranking.stats import FloatArray, TermStats

# The threshold applies to a paper's evidence (``scoring.topic_evidence``: how much of a
# topic the paper covers, by rarity, times how prominently it uses the words; the best topic
# plus half of the others; a followed author is 0.5). 0.075 was read off the precision-recall
# curve of simulated digests on the dev days (bench/RANKING.md): precision 0.62, recall 0.81,
# 0.8 papers sent as matches on days with nothing relevant. No lexical match is never
# relevant, however popular.
DEFAULT_THRESHOLD = 0.075
DEFAULT_TOP_K = 20
# Subscribers scored per matrix product: bounds memory (rows × papers floats) at any scale.
CHUNK_SUBSCRIBERS = 8192
# Day indexes whose reasons a ranker keeps explaining (a pass reads one or two windows).
EXPLAINERS_KEPT = 4

DayT = TypeVar("DayT")


@dataclass(frozen=True, slots=True)
class ScoredPaper:
    """A paper picked for a subscriber: its score (higher is better) and why."""

    paper_id: str
    score: float
    reasons: tuple[str, ...]


class Ranking(Protocol):
    """What ranking a batch of subscribers gives back; compose reads it subscriber by subscriber."""

    def __len__(self) -> int: ...

    def select(
        self, item: int, *, allowed: Container[str] | None = None, limit: int | None = None
    ) -> tuple[ScoredPaper, ...]:
        """Subscriber ``item``'s papers, best first, only ``allowed`` ids, at most ``limit``."""
        ...

    def excluded(self, item: int) -> frozenset[str]:
        """Ids of the day's papers subscriber ``item`` must never be shown (not even trending)."""
        ...


class Ranker(Protocol[DayT]):
    """Ranks one day's papers for many subscribers; ``DayT`` is the ranker's day index."""

    threshold: float

    def index_day(self, papers: Sequence[Document]) -> DayT:
        """Build whatever the ranker needs over one day's papers, once per day."""
        ...

    def rank(
        self, day: DayT, subscribers: Sequence[Interests], *, top_k: int = DEFAULT_TOP_K
    ) -> Ranking:
        """Per subscriber, up to ``top_k`` papers scoring at least ``threshold``, best first."""
        ...


class RankedBatch(Sequence[tuple[ScoredPaper, ...]]):
    """Results for a batch of subscribers; ``ScoredPaper`` and reasons are built when read."""

    def __init__(
        self,
        index: DayIndex,
        subscribers: Sequence[Interests],
        ranked: tuple[npt.NDArray[np.int32], FloatArray],
        liked: Mapping[str, LikedQuery],
    ) -> None:
        self._index = index
        self._subscribers = subscribers
        self.positions, self.scores = ranked
        self._liked = liked
        # Shared by the ranker's batches of one day (``LexicalRanker.explainer``).
        self.explainer: Explainer | None = None
        self._excluded: npt.NDArray[np.bool_] | None = None
        # "because you liked: <title>", when the batch has ratings (``feedback``).
        self.learned_reasons: LearnedReasons | None = None

    def __len__(self) -> int:
        return len(self._subscribers)

    @overload
    def __getitem__(self, item: int) -> tuple[ScoredPaper, ...]: ...

    @overload
    def __getitem__(self, item: slice) -> list[tuple[ScoredPaper, ...]]: ...

    def __getitem__(
        self, item: int | slice
    ) -> tuple[ScoredPaper, ...] | list[tuple[ScoredPaper, ...]]:
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        return self.select(item)

    def select(
        self, item: int, *, allowed: Container[str] | None = None, limit: int | None = None
    ) -> tuple[ScoredPaper, ...]:
        """One subscriber's papers, best first, only ``allowed`` ids, at most ``limit``.

        Reasons are built only for the papers returned, so filtering here (e.g. papers
        already sent) is much cheaper than reading everything and filtering afterwards.
        """
        interests = self._subscribers[item]
        docs = self._index.docs
        out: list[ScoredPaper] = []
        # Plain Python numbers: reading numpy scalars one by one costs more than the list.
        positions = self.positions[item].tolist()
        scores = self.scores[item].tolist()
        for position, score in zip(positions, scores, strict=True):
            if position < 0 or (limit is not None and len(out) >= limit):
                break
            paper_id = docs[position].paper_id
            if allowed is not None and paper_id not in allowed:
                continue
            reasons = self.reasons(item, interests, position)
            out.append(ScoredPaper(paper_id, score, reasons))
        return tuple(out)

    def reasons(self, item: int, interests: Interests, position: int) -> tuple[str, ...]:
        """Why the paper at ``position`` was picked for subscriber ``item``."""
        if self.explainer is None:
            self.explainer = Explainer(self._index)
        reasons = self.explainer.explain(interests, position, liked=self._liked)
        if self.learned_reasons is not None:
            liked = self.learned_reasons.reason(item, position)
            if liked is not None:
                reasons = (*reasons, liked)
        return reasons

    def excluded(self, item: int) -> frozenset[str]:
        """Ids of the day's papers this subscriber excluded (or liked already)."""
        if self._excluded is None:  # one pass for the whole batch, on first use
            self._excluded = excluded_papers(self._index, self._subscribers)
        docs = self._index.docs
        positions = np.flatnonzero(self._excluded[item])
        if self.learned_reasons is not None:  # rated papers, "more" or "less" alike
            positions = np.union1d(positions, self.learned_reasons.rated(item))
        return frozenset(docs[p].paper_id for p in positions)

    def paper_ids(self, item: int) -> tuple[str, ...]:
        """The picked papers' ids for one subscriber, without building reasons."""
        return tuple(self._index.docs[p].paper_id for p in self.positions[item] if p >= 0)


class LexicalRanker:
    """BM25F over title, AI keywords and abstract, with phrases, authors, likes, popularity."""

    def __init__(
        self,
        stats: TermStats,
        *,
        known: Mapping[str, Document] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        chunk_size: int = CHUNK_SUBSCRIBERS,
        feedback: FeedbackSettings = LEXICAL_FEEDBACK,
    ) -> None:
        self.stats = stats
        self.known: Mapping[str, Document] = known or {}
        self.threshold = threshold
        self.chunk_size = max(1, chunk_size)
        # How ratings (``Interests.feedback``) weigh: tuned on the dev days.
        self.feedback = feedback
        # Rated papers' queries depend only on ``stats``: kept for this ranker's lifetime
        # (one compose pass ranks its batches with one ranker).
        self._rated_queries: RatedQueries = {}
        self._explainers: dict[int, tuple[DayIndex, Explainer]] = {}

    def index_day(self, papers: Sequence[Document]) -> DayIndex:
        """Index one day's papers against the stored statistics."""
        return build_day_index(papers, self.stats)

    def _liked_queries(self, day: DayIndex, paper_ids: Iterable[str]) -> dict[str, LikedQuery]:
        out: dict[str, LikedQuery] = {}
        for paper_id in paper_ids:
            position = day.positions.get(paper_id)
            doc = day.docs[position] if position is not None else self.known.get(paper_id)
            if doc is not None:
                features = document_features(doc)
                own = doc_term_weights(features, day.stats)
                query = liked_paper_features(features, own, day.stats)
                if query is not None:
                    out[paper_id] = query
        return out

    def explainer(self, day: DayIndex) -> Explainer:
        """The reasons of ``day``'s papers, shared by every batch ranked against it (readers
        of one pass share topics); the last few days' are kept."""
        found = self._explainers.get(id(day))
        if found is None or found[0] is not day:
            if len(self._explainers) >= EXPLAINERS_KEPT:
                self._explainers.clear()
            found = self._explainers[id(day)] = (day, Explainer(day))
        return found[1]

    def liked(self, day: DayIndex, subscribers: Sequence[Interests]) -> dict[str, LikedQuery]:
        """The query of every paper the batch liked (those the store knows)."""
        return self._liked_queries(day, {p for s in subscribers for p in s.likes})

    def rank(
        self, day: DayIndex, subscribers: Sequence[Interests], *, top_k: int = DEFAULT_TOP_K
    ) -> RankedBatch:
        """Per subscriber, up to ``top_k`` papers scoring at least the threshold, best first."""
        scoring = self._scoring(day, subscribers)
        ranked = top_in_chunks(
            len(subscribers),
            self.chunk_size,
            scoring.score,
            top_k=min(top_k, day.n_docs),
            threshold=self.threshold,
        )
        batch = RankedBatch(day, subscribers, ranked, scoring.liked)
        batch.explainer = self.explainer(day)
        batch.learned_reasons = scoring.learned_reasons
        return batch

    def scores(self, day: DayIndex, subscribers: Sequence[Interests]) -> SubscriberScores:
        """Every paper's score and evidence for every subscriber, before the threshold (what
        ``rank`` keeps the top of; for analysis such as ``bench/feedback_ceiling.py``)."""
        return self._scoring(day, subscribers).score(slice(0, len(subscribers)))

    def _scoring(self, day: DayIndex, subscribers: Sequence[Interests]) -> Scoring:
        liked = self.liked(day, subscribers)
        like_rows = packed_likes(liked)
        table = rated_table(subscribers)
        if table is None:
            return Scoring(
                lambda chunk: score_subscribers(day, subscribers[chunk], like_rows=like_rows),
                liked,
            )
        closeness = lexical_closeness(day, table.docs, self._rated_queries)
        positions = rated_positions(day, table)

        def score(chunk: slice) -> SubscriberScores:
            scores = score_subscribers(day, subscribers[chunk], like_rows=like_rows)
            return feedback_scores(
                scores, table, closeness, chunk, self.feedback, positions=positions
            )

        reasons = LearnedReasons(table, closeness, positions, minimum=self.feedback.like_start)
        return Scoring(score, liked, reasons)


@dataclass(frozen=True, slots=True)
class Scoring:
    """How a ranker scores one batch: chunk by chunk (``score``), with what ``rank`` also
    hands its batch (the liked papers' queries, the reasons ratings give)."""

    score: Callable[[slice], SubscriberScores]
    liked: dict[str, LikedQuery]
    learned_reasons: LearnedReasons | None = None


def packed_likes(liked: Mapping[str, LikedQuery]) -> dict[str, PackedRows]:
    """Liked-paper queries packed as the scorer reads them."""
    return {pid: PackedRows(*pack_rows([q.features]), scale=q.scale) for pid, q in liked.items()}


def top_in_chunks(
    n_subscribers: int,
    chunk_size: int,
    score: Callable[[slice], SubscriberScores],
    *,
    top_k: int,
    threshold: float,
) -> tuple[npt.NDArray[np.int32], FloatArray]:
    """Score subscribers a chunk at a time (bounded memory) and keep each one's top papers."""
    positions: list[npt.NDArray[np.int32]] = []
    scores: list[FloatArray] = []
    for start in range(0, n_subscribers, chunk_size):
        chunk = slice(start, min(start + chunk_size, n_subscribers))
        chunk_positions, chunk_scores = top_papers(score(chunk), top_k=top_k, threshold=threshold)
        positions.append(chunk_positions)
        scores.append(chunk_scores)
    k = max(0, top_k)
    return (
        np.concatenate(positions) if positions else np.zeros((0, k), dtype=np.int32),
        np.concatenate(scores) if scores else np.zeros((0, k), dtype=np.float32),
    )


def rank_papers(
    interests: Interests,
    papers: Sequence[Document],
    *,
    stats: TermStats,
    known: Mapping[str, Document] | None = None,
    top_k: int = DEFAULT_TOP_K,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[ScoredPaper, ...]:
    """One subscriber's picks among ``papers`` (a preview; batch callers use ``LexicalRanker``)."""
    ranker = LexicalRanker(stats, known=known, threshold=threshold)
    return ranker.rank(ranker.index_day(papers), [interests], top_k=top_k)[0]
