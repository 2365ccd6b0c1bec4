"""The hybrid ranker's logic, with a small deterministic encoder instead of the model.

Runs without the semantic extra: fusion finds the paper that says it in other words, the
reason names the topic, exclusions stay lexical (in picks and in "also trending"), a paper
neither side supports is not picked, and the weights move the order. The real model is
tested in tests/semantic/ (marked ``semantic``).
"""

from __future__ import annotations

import numpy as np
import pytest

from paperfeed.ranking.encoder import from_blobs, to_blob
from paperfeed.ranking.hybrid import HybridRanker, HybridSettings
from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.semantic import topic_layout
from paperfeed.ranking.stats import TermStats
from paperfeed.ranking.vectors import MemoryVectors
from tests.support.fake_encoder import FakeEncoder

FLASH = Document(
    paper_id="2205.14135",
    title="FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
    abstract="Transformers are slow and memory-hungry on long sequences. We propose an "
    "IO-aware exact attention algorithm that uses tiling to reduce memory reads and writes.",
    upvotes=50,
)
HYENA = Document(
    paper_id="2302.10866",
    title="Hyena Hierarchy: Towards Larger Convolutional Language Models",
    abstract="We propose Hyena, a sub-quadratic sequence mixing operator built from long "
    "convolutions and data-controlled gating, matching Transformers at a fraction of the cost.",
    upvotes=5,
)
VISION = Document(
    paper_id="2401.10166",
    title="Vision Backbones with Sub-quadratic Sequence Mixing",
    abstract="We bring sub-quadratic sequence mixing to vision: image classification and "
    "detection with a backbone whose cost grows linearly with the number of patches.",
    upvotes=300,
)
PROTEIN = Document(
    paper_id="2310.01234",
    title="Protein Structure Generation with Diffusion Models",
    abstract="A diffusion model over backbone frames generates designable protein structures.",
    upvotes=90,
)
DAY = (FLASH, HYENA, VISION, PROTEIN)
INTERESTS = "efficient attention\n-vision"


def _rankers(
    settings: HybridSettings | None = None,
) -> tuple[LexicalRanker, HybridRanker, FakeEncoder]:
    encoder = FakeEncoder()
    lexical = LexicalRanker(TermStats.from_documents(DAY))
    return lexical, HybridRanker(lexical, MemoryVectors(encoder), settings), encoder


def test_the_paper_that_says_it_in_other_words_is_found_and_explained() -> None:
    lexical, hybrid, _ = _rankers()
    interests = [parse_interests(INTERESTS)]

    words_only = lexical.rank(lexical.index_day(DAY), interests).select(0)
    fused = hybrid.rank(hybrid.index_day(DAY), interests).select(0)

    assert [p.paper_id for p in words_only] == [FLASH.paper_id]
    assert [p.paper_id for p in fused] == [FLASH.paper_id, HYENA.paper_id]
    reasons = {p.paper_id: p.reasons for p in fused}
    assert reasons[HYENA.paper_id] == ("similar to: efficient attention",)
    # The words said it already ("Memory-Efficient Exact Attention": both words, apart).
    assert reasons[FLASH.paper_id] == ("efficient attention (efficient, attention)",)


def test_exclusions_stay_lexical_even_for_the_closest_paper() -> None:
    _, hybrid, _ = _rankers()
    ranked = hybrid.rank(hybrid.index_day(DAY), [parse_interests(INTERESTS)])

    assert VISION.paper_id not in {p.paper_id for p in ranked.select(0)}
    assert ranked.excluded(0) == frozenset({VISION.paper_id})


def test_a_paper_neither_words_nor_meaning_support_is_not_picked() -> None:
    # With meaning alone picking from a cosine of 0.55 (the fake encoder puts the vision
    # paper at 0.57 from "efficient attention", Hyena at 0.90, the protein paper below 0).
    _, hybrid, _ = _rankers(HybridSettings(semantic_threshold=0.55))
    picks = hybrid.rank(hybrid.index_day(DAY), [parse_interests("efficient attention")])

    assert PROTEIN.paper_id not in {p.paper_id for p in picks.select(0)}
    # Without the exclusion the vision paper is a semantic match like Hyena.
    assert VISION.paper_id in {p.paper_id for p in picks.select(0)}


def test_the_semantic_threshold_decides_what_meaning_alone_admits() -> None:
    _, strict, _ = _rankers(HybridSettings(semantic_threshold=0.99))
    picks = strict.rank(strict.index_day(DAY), [parse_interests(INTERESTS)]).select(0)

    assert [p.paper_id for p in picks] == [FLASH.paper_id]


def test_with_no_semantic_weight_lexical_matches_lead_in_lexical_order() -> None:
    lexical, hybrid, _ = _rankers(HybridSettings(semantic_weight=0.0))
    interests = [parse_interests("efficient attention\nconvolutional language models")]

    words = [p.paper_id for p in lexical.rank(lexical.index_day(DAY), interests).select(0)]
    fused = [p.paper_id for p in hybrid.rank(hybrid.index_day(DAY), interests).select(0)]

    assert fused[: len(words)] == words


def test_subscribers_without_topics_get_only_what_the_lexical_side_gives() -> None:
    _, hybrid, _ = _rankers()
    interests = [parse_interests('author:"Nobody Known"'), parse_interests(INTERESTS)]

    ranked = hybrid.rank(hybrid.index_day(DAY), interests)

    assert ranked.select(0) == ()
    assert [p.paper_id for p in ranked.select(1)] == [FLASH.paper_id, HYENA.paper_id]


def test_a_topic_typed_by_many_subscribers_is_embedded_once() -> None:
    _, hybrid, encoder = _rankers()
    many = [parse_interests("efficient attention\nprotein design")] * 50
    hybrid.rank(hybrid.index_day(DAY), many)

    texts, rows, sizes = topic_layout(many)
    assert sorted(texts) == ["efficient attention", "protein design"]
    assert rows.size == 100
    assert sizes.tolist() == [2] * 50
    topics_encoded = [t for t in encoder.encoded if t in texts]
    assert sorted(topics_encoded) == sorted(texts)


def test_vectors_survive_the_float16_round_trip() -> None:
    vectors = FakeEncoder().encode([HYENA.title, FLASH.title, PROTEIN.title])
    back = from_blobs(to_blob(vectors), vectors.shape[1])

    assert back.shape == vectors.shape
    assert np.allclose(back, vectors, atol=1e-3)
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-2)


def test_a_corrupt_stored_vector_is_an_error_not_a_wrong_score() -> None:
    with pytest.raises(ValueError, match="reshape"):
        from_blobs([b"\x00" * 10], 384)


IMAGES = Document(
    paper_id="2402.00001",
    title="Sub-quadratic Sequence Mixing for Image Classification",
    abstract="We replace attention with sub-quadratic sequence mixing over image patches and "
    "match the accuracy of attention at a fraction of the cost on ImageNet.",
    upvotes=500,
)


def test_a_paper_close_in_meaning_to_an_exclusion_is_dropped_from_picks_and_trending() -> None:
    day = (*DAY, IMAGES)
    encoder = FakeEncoder()
    lexical = LexicalRanker(TermStats.from_documents(day))
    hybrid = HybridRanker(lexical, MemoryVectors(encoder))
    interests = [parse_interests(INTERESTS), parse_interests("efficient attention")]

    ranked = hybrid.rank(hybrid.index_day(day), interests)

    # "vision" is nowhere in its text (no lexical exclusion), but it is about images.
    assert not lexical.rank(lexical.index_day(day), interests[:1]).excluded(0) & {IMAGES.paper_id}
    assert IMAGES.paper_id not in {p.paper_id for p in ranked.select(0)}
    assert IMAGES.paper_id in ranked.excluded(0)  # so not "also trending" either
    assert IMAGES.paper_id in {p.paper_id for p in ranked.select(1)}  # no exclusion: picked
    assert "vision" in encoder.encoded  # the exclusion was embedded like a topic


def test_meaning_alone_picks_from_the_semantic_threshold_and_weighs_the_words() -> None:
    _, hybrid, _ = _rankers()
    day = hybrid.index_day(DAY)
    topics = hybrid.topic_table([parse_interests("efficient attention")])
    cosines = topics.vectors @ day.vectors.T
    hyena = day.lexical.positions[HYENA.paper_id]
    # Hyena shares no word with the topic; its cosine (0.90 with the fake encoder) is above
    # the default semantic threshold (0.65), so meaning alone picks it.
    assert cosines[0, hyena] > HybridSettings().semantic_threshold
    picks = hybrid.rank(day, [parse_interests("efficient attention")]).select(0)
    assert HYENA.paper_id in {p.paper_id for p in picks}
    # Raised above its cosine, meaning alone no longer does.
    _, strict, _ = _rankers(HybridSettings(semantic_threshold=0.95))
    picks = strict.rank(strict.index_day(DAY), [parse_interests("efficient attention")]).select(0)
    assert HYENA.paper_id not in {p.paper_id for p in picks}
