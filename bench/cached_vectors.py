"""A ``VectorSource`` for benchmarks: encodes on first need and keeps vectors in an .npz file.

Papers are keyed by their text (title + abstract) and topics by their text, so a cache never
serves a vector for text that changed. The encoder is loaded only when something is missing,
so a threshold sweep over cached vectors never loads the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from paperfeed.ranking.encoder import DIMENSIONS, Encoder, paper_text
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.stats import FloatArray


class CachedVectors:
    """Vectors by text, computed once per text and optionally kept in ``path`` (.npz)."""

    def __init__(self, make_encoder: Callable[[], Encoder], path: Path | None = None) -> None:
        self._make_encoder = make_encoder
        self._encoder: Encoder | None = None
        self.path = path
        self._vectors: dict[str, FloatArray] = {}
        self._dirty = False
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as data:
                texts = [str(t) for t in data["texts"]]
                self._vectors = dict(zip(texts, data["vectors"].astype(np.float32), strict=True))

    def _lookup(self, texts: Sequence[str]) -> FloatArray:
        fresh = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if fresh:
            if self._encoder is None:
                self._encoder = self._make_encoder()
            self._vectors.update(zip(fresh, self._encoder.encode(fresh), strict=True))
            self._dirty = True
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32, copy=False)

    def paper_vectors(self, papers: Sequence[Document]) -> FloatArray:
        """One row per paper, in order."""
        return self._lookup([paper_text(p.title, p.abstract) for p in papers])

    def topic_vectors(self, texts: Sequence[str]) -> FloatArray:
        """One row per topic text, in order."""
        return self._lookup(list(texts))

    def save(self) -> None:
        """Write the cache file if anything was encoded since it was read."""
        if self.path is None or not self._dirty:
            return
        texts = list(self._vectors)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            self.path,
            texts=np.asarray(texts),
            vectors=np.stack([self._vectors[t] for t in texts]),
        )
        self._dirty = False
