"""The interest language: what a subscriber types and what the parser understands of it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.ranking.interests import (
    MAX_TEXT_CHARS,
    MAX_TOPICS,
    Interests,
    normalise_paper_id,
    parse_interests,
)

PIECES = st.sampled_from(
    [
        '"',
        "-",
        "author:",
        "like:",
        ",",
        ";",
        "\n",
        " ",
        "2312.00752",
        "Tri Dao",
        '-"',
        "state",
        "space",
        "models",
        "the",
        "«",
        "»",
        "\u200b",
        "\t",
        ":",
        "AUTHOR:",
        "like:https://x/",
    ]
)


def _plan_is_consistent(interests: Interests) -> bool:
    plan = interests.plan
    sizes = np.frombuffer(plan.topic_sizes, dtype="<i4")
    hashes = np.frombuffer(plan.topic_hashes, dtype="<i8")
    weights = np.frombuffer(plan.topic_weights, dtype="<f4")
    return sizes.size == len(interests.topics) and sizes.sum() == hashes.size == weights.size


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_without_raising(text: str) -> None:
    interests = parse_interests(text)
    assert isinstance(interests.describe(), tuple)
    assert _plan_is_consistent(interests)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_text_made_of_the_language_s_own_symbols_parses_without_raising(text: str) -> None:
    interests = parse_interests(text)
    assert all(topic.words for topic in interests.topics)
    assert _plan_is_consistent(interests)


def test_each_line_is_a_topic_and_commas_separate_topics_too() -> None:
    interests = parse_interests("state space models\nmamba, rwkv; xlstm\n\n")
    assert [t.text for t in interests.topics] == ["state space models", "mamba", "rwkv", "xlstm"]


def test_words_are_stemmed_and_stop_words_dropped() -> None:
    (topic,) = parse_interests("Pruning of the Networks").topics
    assert [(w.surface, w.stem) for w in topic.words] == [
        ("pruning", "prune"),
        ("networks", "network"),
    ]


def test_acronym_plurals_match_their_singular() -> None:
    (topic,) = parse_interests("LLMs").topics
    assert [w.stem for w in topic.words] == ["llm"]


def test_quoted_phrase_is_kept_as_a_phrase() -> None:
    (topic,) = parse_interests('"speculative decoding" for LLMs').topics
    assert [[w.surface for w in p] for p in topic.phrases] == [["speculative", "decoding"]]
    assert [[w.surface for w in r] for r in topic.runs] == [["llms"]]


def test_unbalanced_quote_is_closed_at_the_end_of_the_line_with_a_note() -> None:
    interests = parse_interests('"speculative decoding\nmamba')
    assert [[w.surface for w in p] for p in interests.topics[0].phrases] == [
        ["speculative", "decoding"]
    ]
    assert interests.topics[1].text == "mamba"
    assert any("closing quote" in note for note in interests.notes)


def test_typographic_quotes_count_as_quotes() -> None:
    (topic,) = parse_interests("“state space” models").topics
    assert [[w.surface for w in p] for p in topic.phrases] == [["state", "space"]]


def test_exclusions_take_a_word_or_a_quoted_phrase() -> None:
    interests = parse_interests('mamba -vision\n-"video generation"')
    assert [(e.text, e.stems) for e in interests.exclusions] == [
        ("vision", ("vision",)),
        ("video generation", ("video", "generat")),
    ]
    assert [t.text for t in interests.topics] == ["mamba"]


def test_author_accepts_quoted_or_rest_of_line_names() -> None:
    interests = parse_interests('author:"Tri Dao"\nauthor:Albert Gu\nAuthor:"T. Dao"')
    assert [(a.name, a.key) for a in interests.authors] == [
        ("Tri Dao", "author:tri dao"),
        ("Albert Gu", "author:albert gu"),
        ("T. Dao", "author~t dao"),
    ]
    assert interests.topics == ()


def test_surname_only_author_is_followed_with_a_note() -> None:
    interests = parse_interests("author:Dao")
    assert interests.authors[0].key == "author=dao"
    assert any("surname" in note for note in interests.notes)


def test_like_accepts_arxiv_ids_and_paper_urls_and_drops_the_version() -> None:
    interests = parse_interests(
        "like:2312.00752\nlike:https://huggingface.co/papers/2405.21060v2\n"
        "like:https://arxiv.org/pdf/2211.17192.pdf\nlike:2312.00752"
    )
    assert interests.likes == ("2312.00752", "2405.21060", "2211.17192")


def test_like_with_something_that_is_not_a_paper_id_is_noted_not_raised() -> None:
    interests = parse_interests("like:not-a-paper")
    assert interests.likes == ()
    assert any("not an arXiv id" in note for note in interests.notes)


def test_old_style_arxiv_ids_are_accepted() -> None:
    assert normalise_paper_id("hep-th/9901001v3") == "hep-th/9901001"


def test_a_plain_english_sentence_is_a_topic_without_the_asking_words() -> None:
    (topic,) = parse_interests("I want papers about making LLM inference faster").topics
    assert topic.sentence
    assert [w.surface for w in topic.words] == ["making", "llm", "inference", "faster"]


def test_a_topic_of_only_filler_words_keeps_them() -> None:
    (topic,) = parse_interests("new papers").topics
    assert [w.surface for w in topic.words] == ["new", "papers"]


def test_lines_without_searchable_words_are_noted_and_skipped() -> None:
    interests = parse_interests('the of and\n""\n-the')
    assert interests.topics == ()
    assert interests.exclusions == ()
    assert len(interests.notes) == 3
    assert interests.empty


def test_repeated_topics_are_kept_once() -> None:
    interests = parse_interests("Mamba\nmamba")
    assert len(interests.topics) == 1
    assert any("repeats" in note for note in interests.notes)


def test_absurdly_long_input_is_capped_with_notes() -> None:
    text = "\n".join(f"topic{i} words" for i in range(5000))
    interests = parse_interests(text)
    assert len(interests.topics) == MAX_TOPICS
    assert any(f"{MAX_TEXT_CHARS:,}" in note for note in interests.notes)
    assert any(f"more than {MAX_TOPICS} topics" in note for note in interests.notes)


def test_describe_says_what_was_understood() -> None:
    lines = parse_interests(
        'state space models\n"speculative decoding"\n-vision\nauthor:"Tri Dao"\nlike:2312.00752'
    ).describe()
    assert lines == (
        "topic: state space models (matches state, space, models)",
        'topic: "speculative decoding" (matches "speculative decoding")',
        "exclude: vision (drops papers mainly about it)",
        "author: Tri Dao",
        "like: 2312.00752 (papers similar to it)",
    )


def test_empty_interests_say_there_is_nothing_to_match() -> None:
    assert parse_interests("").describe() == (
        "note: nothing to match yet; add a topic, an author or a liked paper",
    )


def test_parsed_interests_compare_equal_and_hash_for_caching() -> None:
    text = "mamba\n-vision\nauthor:Tri Dao"
    assert parse_interests(text) == parse_interests(text)
    assert hash(parse_interests(text)) == hash(parse_interests(text))
