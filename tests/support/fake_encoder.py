"""A tiny deterministic sentence encoder for tests of the hybrid path without the extra.

Texts that mention a concept's cue words share that concept's direction, so "efficient
attention" and "sub-quadratic sequence mixing" come out close although they share no word;
every other word adds a hashed direction of its own, so unrelated texts are near orthogonal.
It satisfies ``paperfeed.ranking.encoder.Encoder`` and counts what it was asked to encode.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date

import numpy as np

from paperfeed.crawler.records import PaperRecord
from paperfeed.ranking.stats import FloatArray

DIMENSIONS = 384
CONCEPTS: dict[str, tuple[str, ...]] = {
    "efficient-sequence-models": (
        "efficient attention",
        "sequence mixing",
        "sub-quadratic",
        "linear-time",
    ),
    "vision": ("vision", "image", "pixel"),
}
CONCEPT_WEIGHT = 4.0


# Three papers the concepts above tell apart: FlashAttention and Hyena share "efficient
# sequence models" without sharing words; the protein paper shares neither.
SAMPLE_DAY = date(2026, 9, 28)
SAMPLE_PAPERS = (
    PaperRecord(
        arxiv_id="2205.14135",
        title="FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
        abstract="An IO-aware exact attention algorithm that uses tiling.",
    ),
    PaperRecord(
        arxiv_id="2302.10866",
        title="Hyena Hierarchy: Towards Larger Convolutional Language Models",
        abstract="Hyena is a sub-quadratic sequence mixing operator built from long "
        "convolutions and gating, matching Transformers at a fraction of the cost.",
    ),
    PaperRecord(
        arxiv_id="2310.01234",
        title="Protein Structure Generation with Diffusion Models",
        abstract="A diffusion model over backbone frames generates protein structures.",
    ),
)


def _direction(name: str) -> FloatArray:
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DIMENSIONS).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeEncoder:
    """Concept cue words weigh heavily; other words add a little noise of their own."""

    model = "fake-concepts-v1"
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.encoded.extend(texts)
        rows = []
        for text in texts:
            lowered = text.lower()
            vector = np.zeros(DIMENSIONS, dtype=np.float32)
            for concept, cues in CONCEPTS.items():
                if any(cue in lowered for cue in cues):
                    vector += CONCEPT_WEIGHT * _direction(concept)
            for word in re.findall(r"[a-z]+", lowered):
                vector += 0.3 * _direction(word)
            norm = float(np.linalg.norm(vector))
            rows.append(vector / norm if norm else vector)
        return np.stack(rows) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)
