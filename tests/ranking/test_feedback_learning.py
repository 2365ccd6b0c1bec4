"""The learned profile: "less like this" lowers papers very like the rated one, "more like
this" picks papers like it with a truthful reason, the written interests stay the anchor, and
rated papers never come back. Lexical ranker, and the hybrid with a deterministic encoder."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from paperfeed.ranking.feedback import (
    HYBRID_FEEDBACK,
    LEXICAL_FEEDBACK,
    Feedback,
    with_feedback,
)
from paperfeed.ranking.hybrid import HybridRanker
from paperfeed.ranking.interests import Interests, parse_interests
from paperfeed.ranking.paper_record import Document
from paperfeed.ranking.ranker import LexicalRanker, Ranker
from paperfeed.ranking.stats import TermStats
from paperfeed.ranking.vectors import MemoryVectors
from tests.support.fake_encoder import FakeEncoder

MOLECULES = (
    "molecular property prediction for drug discovery: ligand binding affinity, molecule "
    "toxicity and solubility from chemical structure"
)
TRAFFIC = (
    "traffic forecasting on road networks: sensor readings, congestion and travel time "
    "prediction for city transport"
)
LIKED = Document(
    "old-m",
    "Message passing graph neural networks for molecular property prediction",
    f"We use graph neural networks for {MOLECULES}. Atoms are nodes and bonds edges; the "
    "ligand binding affinity of each molecule is predicted.",
)
DISLIKED = Document(
    "old-t",
    "Graph neural networks for traffic forecasting",
    f"We use graph neural networks for {TRAFFIC}. Road sensors are nodes.",
)
MORE_TRAFFIC = tuple(
    Document(
        f"old-t{i}",
        f"Spatio-temporal graph neural networks for traffic speed {i}",
        f"Graph neural networks for {TRAFFIC}, variant {i} with congestion sensors.",
    )
    for i in range(5)
)
FILLER = tuple(
    Document(f"f{i}", f"Filler paper {w}", f"A study of {w} methods and {w} benchmarks.")
    for i, w in enumerate(("robotics", "speech", "compilers", "databases", "economics", "poetry"))
)
NEW_MOLECULES = Document(
    "new-m",
    "Equivariant graph neural networks for molecules",
    f"Graph neural networks for {MOLECULES}.",
)
NEW_TRAFFIC = Document(
    "new-t", "Graph neural networks for city traffic", f"Graph neural networks for {TRAFFIC}."
)
# None of the typed words: only a liked paper can pick it (the liked one's own study, with
# message passing instead of graph neural networks).
NO_WORDS = Document(
    "new-c",
    "Message passing for molecular property prediction",
    f"We use message passing for {MOLECULES}. Atoms are nodes and bonds edges; the "
    "ligand binding affinity of each molecule is predicted.",
)
# The typed topic in the title and the abstract, again and again.
FULL_MATCH = Document(
    "new-full",
    "Graph neural networks: graph neural networks for traffic",
    f"Graph neural networks. Graph neural networks for {TRAFFIC}.",
)
TODAY = (NEW_MOLECULES, NEW_TRAFFIC, NO_WORDS, FULL_MATCH)
STORED = (LIKED, DISLIKED, *MORE_TRAFFIC, *FILLER, *TODAY)
WRITTEN = parse_interests("graph neural networks")


def _lexical() -> LexicalRanker:
    return LexicalRanker(TermStats.from_documents(STORED))


def _hybrid() -> HybridRanker:
    return HybridRanker(_lexical(), MemoryVectors(FakeEncoder()))


RANKERS = [pytest.param(_lexical, id="lexical"), pytest.param(_hybrid, id="hybrid")]


def _picks(
    ranker: Ranker[object], interests: Interests, day: Sequence[Document] = TODAY
) -> list[str]:
    index = ranker.index_day(day)
    return [p.paper_id for p in ranker.rank(index, [interests], top_k=10).select(0)]


@pytest.mark.parametrize("make", RANKERS)
def test_less_like_this_lowers_the_papers_very_like_it_and_not_the_others(make: object) -> None:
    ranker = make()  # type: ignore[operator]
    before = _picks(ranker, WRITTEN)
    assert before.index("new-t") < before.index("new-m")
    after = _picks(ranker, with_feedback(WRITTEN, Feedback(disliked=(DISLIKED,))))
    # The traffic paper falls behind the molecules paper (or out); the molecules one stays.
    assert "new-m" in after
    assert "new-t" not in after or after.index("new-t") > after.index("new-m")


@pytest.mark.parametrize("make", RANKERS)
def test_five_dislikes_cannot_erase_the_written_interests(make: object) -> None:
    ranker = make()  # type: ignore[operator]
    five = Feedback(disliked=(DISLIKED, *MORE_TRAFFIC[:4]))
    after = _picks(ranker, with_feedback(WRITTEN, five))
    # A paper that fully matches the typed topic is still sent, however close it is to
    # everything disliked: dislikes take at most (1 - floor) of what the words say.
    assert "new-full" in after
    assert LEXICAL_FEEDBACK.floor > 0
    assert HYBRID_FEEDBACK.floor > 0


@pytest.mark.parametrize("make", RANKERS)
def test_more_like_this_picks_a_close_paper_and_says_why(make: object) -> None:
    ranker = make()  # type: ignore[operator]
    assert "new-c" not in _picks(ranker, WRITTEN)
    learned = with_feedback(WRITTEN, Feedback(liked=(LIKED,)))
    index = ranker.index_day(TODAY)
    picks = {p.paper_id: p for p in ranker.rank(index, [learned], top_k=10).select(0)}
    assert "new-c" in picks
    assert f"because you liked: {LIKED.title}" in picks["new-c"].reasons
    # Truthful: the traffic paper has nothing of the liked one, and does not claim it.
    assert not any("because you liked" in r for r in picks["new-t"].reasons)
    # The molecules paper now ranks above the traffic one.
    order = list(picks)
    assert order.index("new-m") < order.index("new-t")


@pytest.mark.parametrize("make", RANKERS)
def test_rated_papers_are_never_picked_nor_trending_again(make: object) -> None:
    ranker = make()  # type: ignore[operator]
    day = (*TODAY, LIKED, DISLIKED)
    learned = with_feedback(WRITTEN, Feedback(liked=(LIKED,), disliked=(DISLIKED,)))
    ranked = ranker.rank(ranker.index_day(day), [learned], top_k=10)  # type: ignore[attr-defined]
    picked = {p.paper_id for p in ranked.select(0)}
    assert not picked & {"old-m", "old-t"}
    assert {"old-m", "old-t"} <= ranked.excluded(0)


def test_no_ratings_changes_nothing_and_ratings_do_not_reparse() -> None:
    assert with_feedback(WRITTEN, None) is WRITTEN
    assert with_feedback(WRITTEN, Feedback()) is WRITTEN
    learned = with_feedback(WRITTEN, Feedback(liked=(LIKED,)))
    assert learned.plan is WRITTEN.plan  # the packed query is shared, not rebuilt
    assert learned.topics == WRITTEN.topics
    assert WRITTEN.feedback is None
    # Only liked papers make a profile able to pick something without words.
    assert not with_feedback(parse_interests(""), Feedback(liked=(LIKED,))).empty
    assert with_feedback(parse_interests(""), Feedback(disliked=(DISLIKED,))).empty


def test_only_the_most_recent_ratings_are_used() -> None:
    many = tuple(Document(f"x{i}", f"Paper {i}", "text") for i in range(100))
    learned = with_feedback(WRITTEN, Feedback(liked=many, disliked=many))
    assert learned.feedback is not None
    assert len(learned.feedback.liked) == len(learned.feedback.disliked) == 30
    assert learned.feedback.liked[0].paper_id == "x0"  # most recent first, kept


@pytest.mark.parametrize("make", RANKERS)
def test_each_reader_in_a_batch_gets_their_own_ratings(make: object) -> None:
    ranker = make()  # type: ignore[operator]
    readers = [
        WRITTEN,  # rated nothing
        with_feedback(WRITTEN, Feedback(disliked=(DISLIKED,))),
        with_feedback(WRITTEN, Feedback(liked=(LIKED,), disliked=(DISLIKED,))),
        WRITTEN,
    ]
    ranked = ranker.rank(ranker.index_day(TODAY), readers, top_k=10)  # type: ignore[attr-defined]
    picks = [[p.paper_id for p in ranked.select(i)] for i in range(len(readers))]
    assert picks[0] == picks[3] == _picks(ranker, WRITTEN)
    assert "new-c" not in picks[1]
    assert "new-c" in picks[2]
    reasons = {p.paper_id: p.reasons for p in ranked.select(2)}
    assert f"because you liked: {LIKED.title}" in reasons["new-c"]
    assert not any("because you liked" in r for p in ranked.select(1) for r in p.reasons)


@pytest.mark.parametrize("make", RANKERS)
@pytest.mark.parametrize(
    "feedback",
    [None, Feedback(liked=(LIKED,), disliked=(DISLIKED,))],
    ids=["written", "rated"],
)
def test_scores_are_what_rank_keeps_the_top_of(make: object, feedback: Feedback | None) -> None:
    # ``scores`` (bench/feedback_ceiling.py reads it) is the same scoring ``rank`` thresholds.
    ranker = make()  # type: ignore[operator]
    interests = with_feedback(WRITTEN, feedback)
    day = (*TODAY, *MORE_TRAFFIC[:2], *FILLER)
    index = ranker.index_day(day)
    scores = ranker.scores(index, [interests])
    kept = [
        (float(scores.score[0, i]), day[i].paper_id)
        for i in range(len(day))
        if scores.evidence[0, i] >= ranker.threshold and scores.score[0, i] > 0
    ]
    expected = [paper_id for _, paper_id in sorted(kept, key=lambda k: -k[0])]
    assert expected, "nothing passes the threshold: the test would prove nothing"
    assert _picks(ranker, interests, day) == expected
