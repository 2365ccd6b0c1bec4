"""A small fixed day of papers and statistics over them, shared by the ranking tests."""

from __future__ import annotations

import pytest

from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.stats import TermStats

MAMBA = Document(
    paper_id="2312.00752",
    title="Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
    abstract=(
        "Foundation models are almost universally based on the Transformer architecture. "
        "We identify that a key weakness of structured state space models (SSMs) is their "
        "inability to perform content-based reasoning, and let the SSM parameters be "
        "functions of the input. SSMs with selection give Mamba, a simple architecture."
    ),
    authors=("Albert Gu", "Tri Dao"),
    ai_keywords=("state space models", "selective scan"),
    upvotes=120,
)
DUALITY = Document(
    paper_id="2405.21060",
    title="Transformers are SSMs: Generalized Models and Efficient Algorithms",
    abstract=(
        "While Transformers have been the main architecture behind deep learning's success, "
        "state space models (SSMs) such as Mamba have recently been shown to match or "
        "outperform Transformers. We show that SSMs and attention variants are closely "
        "related through structured state space duality."
    ),
    authors=("Tri Dao", "Albert Gu"),
    upvotes=40,
)
VISION_MAMBA = Document(
    paper_id="2401.09417",
    title="Vision Mamba: Efficient Visual Representation Learning with State Space Models",
    abstract=(
        "State space models with efficient hardware-aware designs, such as Mamba, have shown "
        "great potential. We bring them to vision: image classification, detection and "
        "segmentation with a vision backbone."
    ),
    authors=("Lianghui Zhu",),
    upvotes=300,
)
RECURRENT = Document(
    paper_id="2402.19427",
    title="Griffin: Mixing Gated Linear Recurrences with Local Attention",
    abstract=(
        "Recurrent neural networks have fast inference and scale efficiently on long "
        "sequences. We propose a gated linear recurrent layer. Unlike vision models, we "
        "study language modelling; state space models are related."
    ),
    authors=("Soham De",),
    upvotes=10,
)
SPECULATIVE = Document(
    paper_id="2211.17192",
    title="Fast Inference from Transformers via Speculative Decoding",
    abstract=(
        "Inference from large autoregressive models is slow. We introduce speculative "
        "decoding, an algorithm to sample from autoregressive models faster by computing "
        "several tokens in parallel with a small draft model."
    ),
    authors=("Yaniv Leviathan", "Matan Kalman"),
    upvotes=15,
)
DECODING_APART = Document(
    paper_id="2405.00001",
    title="Decoding Brain Signals",
    abstract=(
        "We study neural decoding of brain signals. In a speculative section at the end we "
        "discuss future clinical uses."
    ),
    authors=("Ada Brain",),
    upvotes=2000,
)
QUANTIZATION = Document(
    paper_id="2306.00978",
    title="AWQ: Activation-aware Weight Quantization for LLM Compression",
    abstract=(
        "Large language models have high memory cost. We propose activation-aware weight "
        "quantization, a hardware-friendly approach for low-bit weight-only quantization."
    ),
    authors=("Ji Lin", "Song Han"),
    upvotes=50,
)
COOKING = Document(
    paper_id="2401.99999",
    title="Sourdough at Scale: A Baker's Guide",
    abstract="We bake bread with wild yeast and measure crumb, crust and oven spring.",
    authors=("Paul Hollywood",),
    upvotes=5000,
    github_stars=90000,
)

DAY = (MAMBA, DUALITY, VISION_MAMBA, RECURRENT, SPECULATIVE, DECODING_APART, QUANTIZATION, COOKING)


@pytest.fixture
def day_papers() -> tuple[Document, ...]:
    """One day's papers (each test gets the same fixed tuple)."""
    return DAY


@pytest.fixture
def stats() -> TermStats:
    """Term statistics over the day's papers."""
    return TermStats.from_documents(DAY)


@pytest.fixture
def ranker(stats: TermStats) -> LexicalRanker:
    """A lexical ranker that knows the day's papers for ``like:`` lookups."""
    return LexicalRanker(stats, known={d.paper_id: d for d in DAY})
