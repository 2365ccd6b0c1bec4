"""The hybrid ranker: lexical BM25F and sentence embeddings fused, behind ``Ranker``.

Finds the paper on "sub-quadratic sequence mixing" for the reader who wrote "efficient
attention", and weighs down words used by a paper about something else. Everything lexical
still holds: exclusions, followed authors, liked papers and popularity come from the lexical
scorer, and a paper the lexical side drops stays dropped; a paper close in meaning to an
exclusion is dropped as well.
Vectors come from a ``VectorSource`` (the database in the service, memory in benchmarks),
so this module never loads a model or touches the store itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from paperfeed.ranking.feedback import (
    HYBRID_FEEDBACK,
    FeedbackSettings,
    LearnedReasons,
    feedback_scores,
    rated_positions,
    rated_table,
    semantic_closeness,
)
from paperfeed.ranking.index import DayIndex
from paperfeed.ranking.interests import Interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.query import LikedQuery
from paperfeed.ranking.ranker import (
    DEFAULT_TOP_K,
    LexicalRanker,
    RankedBatch,
    Scoring,
    packed_likes,
    top_in_chunks,
)
from paperfeed.ranking.scoring import SubscriberScores, score_subscribers
from paperfeed.ranking.semantic import (
    EXCLUSION_COSINE,
    HYBRID_THRESHOLD,
    RRF_K,
    SEMANTIC_FLOOR,
    SEMANTIC_RAMP,
    SEMANTIC_THRESHOLD,
    TopicTable,
    excluded_by_meaning,
    exclusion_layout,
    fuse,
    reciprocal_ranks,
    semantic_scores,
    topic_layout,
    topic_weights,
)
from paperfeed.ranking.stats import FloatArray


class VectorSource(Protocol):
    """Unit-length embeddings for papers and topic texts, one row per item, in order."""

    def paper_vectors(self, papers: Sequence[Document]) -> FloatArray: ...

    def topic_vectors(self, texts: Sequence[str]) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class HybridDay:
    """One day for the hybrid ranker: the lexical index and a vector per paper, same order."""

    lexical: DayIndex
    vectors: FloatArray

    @property
    def n_docs(self) -> int:
        """How many papers the day holds."""
        return self.lexical.n_docs


@dataclass(frozen=True, slots=True)
class HybridSettings:
    """The fusion knobs (``PAPERFEED_HYBRID_*`` settings)."""

    lexical_weight: float = 1.0
    semantic_weight: float = 1.0
    semantic_threshold: float = SEMANTIC_THRESHOLD
    rrf_k: int = RRF_K
    threshold: float = HYBRID_THRESHOLD
    exclusion_cosine: float = EXCLUSION_COSINE
    # How ratings weigh, on the cosine with the rated papers (``feedback``).
    feedback: FeedbackSettings = HYBRID_FEEDBACK


class HybridBatch(RankedBatch):
    """Ranked papers of a batch; reasons add "similar to: <topic>" for semantic matches."""

    def __init__(
        self,
        day: HybridDay,
        subscribers: Sequence[Interests],
        ranked: tuple[npt.NDArray[np.int32], FloatArray],
        liked: Mapping[str, LikedQuery],
        *,
        topics: TopicTable,
        semantic_threshold: float,
        excluded_by_meaning: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        super().__init__(day.lexical, subscribers, ranked, liked)
        self._vectors = day.vectors
        self._topics = topics
        self._semantic_threshold = semantic_threshold
        self._by_meaning = excluded_by_meaning

    def excluded(self, item: int) -> frozenset[str]:
        """Papers excluded by subject (lexical) or by meaning, or liked already."""
        lexical = super().excluded(item)
        if self._by_meaning is None or not self._by_meaning[item].any():
            return lexical
        docs = self._index.docs
        return lexical | {docs[p].paper_id for p in np.flatnonzero(self._by_meaning[item])}

    def reasons(self, item: int, interests: Interests, position: int) -> tuple[str, ...]:
        """Lexical reasons, plus the closest topic when the embeddings made the match."""
        lexical = super().reasons(item, interests, position)
        rows = self._topics.of(item)
        if rows.size == 0:
            return lexical
        cosines = self._topics.vectors[rows] @ self._vectors[position]
        best = int(np.argmax(cosines))
        # Meaning is named when it added evidence of its own, or when nothing else explains.
        start = min(SEMANTIC_FLOOR, self._semantic_threshold - SEMANTIC_RAMP)
        if float(cosines[best]) <= start and lexical:
            return lexical
        topic = self._topics.texts[int(rows[best])]
        if any(reason.startswith(topic) or reason.startswith(f'"{topic}"') for reason in lexical):
            return lexical  # the words already say it
        similar = f"similar to: {topic}"
        # With no word in common the semantic match is the reason; otherwise it adds to them.
        return (*lexical, similar) if lexical else (similar,)


class HybridRanker:
    """Lexical and semantic rankings fused by reciprocal rank; ``Ranker[HybridDay]``."""

    def __init__(
        self,
        lexical: LexicalRanker,
        vectors: VectorSource,
        settings: HybridSettings | None = None,
    ) -> None:
        self.lexical = lexical
        self.vectors = vectors
        self.settings = settings or HybridSettings()
        self.threshold = self.settings.threshold

    def index_day(self, papers: Sequence[Document]) -> HybridDay:
        """The lexical index and the papers' vectors (stored ones, or computed now)."""
        index = self.lexical.index_day(papers)
        return HybridDay(index, self.vectors.paper_vectors(index.docs))

    def topic_table(self, subscribers: Sequence[Interests]) -> TopicTable:
        """Every distinct topic of the batch with its vector."""
        texts, rows, sizes = topic_layout(subscribers)
        return TopicTable(tuple(texts), self.vectors.topic_vectors(texts), rows, sizes)

    def exclusion_table(self, subscribers: Sequence[Interests]) -> TopicTable:
        """Every distinct exclusion of the batch with its vector (embedded as topics are)."""
        texts, rows, sizes = exclusion_layout(subscribers)
        return TopicTable(tuple(texts), self.vectors.topic_vectors(texts), rows, sizes)

    def rank(
        self, day: HybridDay, subscribers: Sequence[Interests], *, top_k: int = DEFAULT_TOP_K
    ) -> HybridBatch:
        """Per subscriber, up to ``top_k`` papers whose fused evidence reaches the threshold."""
        scoring, topics, by_meaning = self._scoring(day, subscribers)
        ranked = top_in_chunks(
            len(subscribers),
            self.lexical.chunk_size,
            scoring.score,
            top_k=min(top_k, day.n_docs),
            threshold=self.threshold,
        )
        batch = HybridBatch(
            day,
            subscribers,
            ranked,
            scoring.liked,
            topics=topics,
            semantic_threshold=self.settings.semantic_threshold,
            excluded_by_meaning=by_meaning,
        )
        batch.explainer = self.lexical.explainer(day.lexical)
        batch.learned_reasons = scoring.learned_reasons
        return batch

    def scores(self, day: HybridDay, subscribers: Sequence[Interests]) -> SubscriberScores:
        """Every paper's fused score and evidence for every subscriber, before the threshold
        (what ``rank`` keeps the top of; for analysis such as ``bench/feedback_ceiling.py``)."""
        scoring, _, _ = self._scoring(day, subscribers)
        return scoring.score(slice(0, len(subscribers)))

    def _scoring(
        self, day: HybridDay, subscribers: Sequence[Interests]
    ) -> tuple[Scoring, TopicTable, npt.NDArray[np.bool_]]:
        liked = self.lexical.liked(day.lexical, subscribers)
        like_rows = packed_likes(liked)
        topics = self.topic_table(subscribers)
        weights = topic_weights(topics, day.vectors)
        knobs = self.settings
        by_meaning = excluded_by_meaning(
            self.exclusion_table(subscribers), day.vectors, cosine=knobs.exclusion_cosine
        )

        def fused(chunk: slice) -> SubscriberScores:
            lexical = score_subscribers(day.lexical, subscribers[chunk], like_rows=like_rows)
            semantic = semantic_scores(weights, topics, chunk)
            return fuse(
                lexical,
                semantic,
                threshold=self.threshold,
                semantic_threshold=knobs.semantic_threshold,
                weights=(knobs.lexical_weight, knobs.semantic_weight),
                rrf_k=knobs.rrf_k,
                excluded=by_meaning[chunk],
            )

        table = rated_table(subscribers)
        if table is None:
            return Scoring(fused, liked), topics, by_meaning
        closeness = semantic_closeness(self.vectors.paper_vectors(table.docs), day.vectors)
        positions = rated_positions(day.lexical, table)

        def rank_bonus(preference: FloatArray) -> FloatArray:
            # Nearer a liked paper than a disliked one is a third ranking, fused as the other
            # two are and weighing as much as both: the reader's clicks order what words and
            # meaning agree on (one list alone moves a paper by a rank or two at most).
            weight = knobs.lexical_weight + knobs.semantic_weight
            return weight * reciprocal_ranks(preference, knobs.rrf_k)

        def score(chunk: slice) -> SubscriberScores:
            return feedback_scores(
                fused(chunk),
                table,
                closeness,
                chunk,
                knobs.feedback,
                positions=positions,
                rank_bonus=rank_bonus,
            )

        reasons = LearnedReasons(table, closeness, positions, minimum=knobs.feedback.like_start)
        return Scoring(score, liked, reasons), topics, by_meaning
