"""Vectors computed on demand and kept in memory: for benchmarks, previews and tests.

The service keeps vectors in the database (``paperfeed.stored_vectors``); this source serves the
same ``VectorSource`` interface from an encoder and a per-process cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paperfeed.ranking.encoder import Encoder, paper_text
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.stats import FloatArray


class MemoryVectors:
    """Encodes what it has not seen yet and remembers it (papers by id, topics by text)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._papers: dict[str, FloatArray] = {}
        self._topics: dict[str, FloatArray] = {}

    def paper_vectors(self, papers: Sequence[Document]) -> FloatArray:
        """One row per paper, in order."""
        fresh = {p.paper_id: p for p in papers if p.paper_id not in self._papers}
        if fresh:
            texts = [paper_text(p.title, p.abstract) for p in fresh.values()]
            self._papers.update(zip(fresh, self.encoder.encode(texts), strict=True))
        return _stack([self._papers[p.paper_id] for p in papers], self.encoder.dimensions)

    def topic_vectors(self, texts: Sequence[str]) -> FloatArray:
        """One row per topic text, in order."""
        fresh = list(dict.fromkeys(t for t in texts if t not in self._topics))
        if fresh:
            self._topics.update(zip(fresh, self.encoder.encode(fresh), strict=True))
        return _stack([self._topics[t] for t in texts], self.encoder.dimensions)


def _stack(rows: list[FloatArray], dimensions: int) -> FloatArray:
    if not rows:
        return np.zeros((0, dimensions), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)
