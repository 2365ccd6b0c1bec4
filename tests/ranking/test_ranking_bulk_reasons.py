"""Reasons built in bulk (one ``Explainer`` per day, shared by every batch) are exactly the
reasons ``explain`` gives one subscriber and one paper at a time."""

from __future__ import annotations

import pickle

from paperfeed.ranking.interests import parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker
from paperfeed.ranking.reasons import explain

PROFILES = (
    "state space models\nspeculative decoding\nvision",
    '"state space" models, attention\nauthor:"Tri Dao"',
    "mamba\nrecurrent neural networks\nquantization -vision",
    "large language models\ninference\nlike:2312.00752",
    "state space models\nvision",  # topics shared with the first profile
    "decoding\nbrain signals\ntransformers",
)


def test_batched_reasons_equal_one_at_a_time(
    ranker: LexicalRanker, day_papers: tuple[Document, ...]
) -> None:
    day = ranker.index_day(day_papers)
    interests = [parse_interests(text) for text in PROFILES]
    # Two batches against one day share the day's explainer, as compose's batches do.
    first = ranker.rank(day, interests[:3], top_k=len(day_papers))
    second = ranker.rank(day, interests[3:], top_k=len(day_papers))
    assert first.explainer is second.explainer
    liked = ranker.liked(day, interests)
    picked = 0
    for offset, batch in ((0, first), (3, second)):
        for row in range(len(batch)):
            for paper in batch.select(row):
                position = day.positions[paper.paper_id]
                expected = explain(interests[offset + row], day, position, liked=liked)
                assert paper.reasons == expected, (PROFILES[offset + row], paper.paper_id)
                picked += 1
    assert picked >= 6  # the profiles pick something, or the test checks nothing


def test_a_topic_hashes_the_same_after_pickling() -> None:
    topics = parse_interests('state space models\n"speculative decoding" llm').topics
    for topic in topics:
        copy = pickle.loads(pickle.dumps(topic))
        assert copy == topic
        assert hash(copy) == hash(topic)
        assert {topic: 1}[copy] == 1
