"""Editions: who is due when, what they get, and never the same paper twice."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from paperfeed.corpus import CorpusCache
from paperfeed.digest import EditionPolicy, compose_due, find_due, send_time
from paperfeed.store.db import session_scope
from paperfeed.store.models import (
    Delivery,
    Edition,
    EditionPaper,
    Frequency,
    Paper,
    SentPaper,
    Subscriber,
)
from paperfeed.store.subscribers import create_subscriber
from tests.support.corpus_days import corpus, store_corpus_days
from tests.support.data_paths import DAYS, PROFILES, QRELS

POLICY = EditionPolicy()


def _add(engine: Engine, email: str, interests: str, **kwargs: object) -> int:
    with session_scope(engine) as session:
        s = create_subscriber(
            session,
            email=email,
            interests=interests,
            now=datetime(2026, 9, 1, tzinfo=UTC),
            confirmed=True,
            **kwargs,
        )  # type: ignore[arg-type]
        assert s.id is not None
        return s.id


def _edition_papers(engine: Engine, subscriber_id: int) -> list[tuple[date, str, str]]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Edition.local_date, EditionPaper.paper_id, EditionPaper.section)
            .join(EditionPaper, EditionPaper.edition_id == Edition.id)
            .where(Edition.subscriber_id == subscriber_id)
        ).all()
        return [(d, p, s) for d, p, s in rows]


def test_three_consecutive_editions_and_a_rerun_never_repeat_a_paper(engine: Engine) -> None:
    store_corpus_days(engine, date(2026, 9, 21), days=5, per_day=60)
    reader = _add(engine, "reader@example.com", "large language models\nreasoning", send_hour=8)
    corpus = CorpusCache()
    for day in (24, 25, 26):
        now = datetime(2026, 9, day, 9, 0, tzinfo=UTC)
        first = compose_due(engine, now=now, policy=POLICY, corpus=corpus)
        rerun = compose_due(engine, now=now + timedelta(minutes=5), policy=POLICY, corpus=corpus)
        assert first.editions == 1
        assert rerun.editions == 0
        assert rerun.due == 0

    papers = _edition_papers(engine, reader)
    ids = [p for _, p, _ in papers]
    assert len(ids) == len(set(ids)), "a paper was chosen twice"
    assert {d for d, _, _ in papers} <= {date(2026, 9, 24), date(2026, 9, 25), date(2026, 9, 26)}
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Edition)).one() == 3
        ledger = session.exec(select(func.count()).select_from(SentPaper)).one()
        assert ledger == len(ids)
        deliveries = session.exec(select(func.count()).select_from(Delivery)).one()
        assert deliveries == 3


def test_an_edition_holds_matches_then_also_trending_with_reasons(engine: Engine) -> None:
    store_corpus_days(engine, date(2026, 9, 21), days=2, per_day=80)
    reader = _add(engine, "r@example.com", '"language models"', send_hour=7)
    compose_due(
        engine, now=datetime(2026, 9, 23, 8, tzinfo=UTC), policy=POLICY, corpus=CorpusCache()
    )
    with session_scope(engine) as session:
        rows = session.exec(
            select(EditionPaper)
            .join(Edition, EditionPaper.edition_id == Edition.id)
            .where(Edition.subscriber_id == reader)
            .order_by(EditionPaper.rank)
        ).all()
    matched = [r for r in rows if r.section == "matched"]
    trending = [r for r in rows if r.section == "trending"]
    assert 1 <= len(matched) <= 10
    assert len(trending) == POLICY.also_trending
    assert all(r.reasons for r in matched)
    assert rows[-1].section == "trending"
    assert all(a.score >= b.score for a, b in pairwise(matched))


def test_nothing_matching_gives_trending_only_or_nothing_per_policy(engine: Engine) -> None:
    store_corpus_days(engine, date(2026, 9, 21), days=2, per_day=40)
    a = _add(engine, "a@example.com", "zzyzx quokka husbandry", send_hour=7)
    now = datetime(2026, 9, 23, 8, tzinfo=UTC)
    summary = compose_due(engine, now=now, policy=POLICY, corpus=CorpusCache())
    assert summary.trending_only == 1
    assert [s for _, _, s in _edition_papers(engine, a)] == ["trending"] * 3

    b = _add(engine, "b@example.com", "zzyzx quokka husbandry", send_hour=7)
    skip = EditionPolicy(when_nothing_matches="skip")
    summary = compose_due(engine, now=now, policy=skip, corpus=CorpusCache())
    assert summary.editions == 1
    assert summary.deliveries == 0
    assert _edition_papers(engine, b) == []


def test_a_day_with_nothing_relevant_sends_no_matched_paper(engine: Engine) -> None:
    """The judged day 2026-01-05 holds nothing the speculative-decoding profile (P02) wants,
    but plenty that shares a word with it ("dynamic", "layer", "depth", "decoding"). Compose
    sends no match: the reader gets "nothing matched" with trending papers, or no mail."""
    profile = next(p for p in _jsonl(PROFILES) if p["profile_id"] == "P02")
    relevant = {r["doc_id"] for r in _jsonl(QRELS) if r["profile_id"] == "P02" and r["grade"]}
    day = next(d for d in _jsonl(DAYS) if d["day"] == "2026-01-05")
    by_id = {d["doc_id"]: d for d in corpus()}
    papers = [by_id[i] for i in day["doc_ids"]]
    assert not relevant & set(day["doc_ids"]), "the fixture day must hold nothing relevant"
    store_corpus_days(engine, date(2026, 9, 21), days=1, per_day=len(papers), chunks=[papers])
    interests = "\n".join(profile["interests"])
    reader = _add(engine, "p02@example.com", interests, send_hour=7)
    now = datetime(2026, 9, 22, 8, tzinfo=UTC)

    summary = compose_due(engine, now=now, policy=POLICY, corpus=CorpusCache())
    assert summary.trending_only == 1
    assert [s for _, _, s in _edition_papers(engine, reader)] == ["trending"] * 3

    skipping = _add(engine, "p02-skip@example.com", interests, send_hour=7)
    skip = EditionPolicy(when_nothing_matches="skip")
    summary = compose_due(engine, now=now, policy=skip, corpus=CorpusCache())
    assert (summary.editions, summary.deliveries) == (1, 0)
    assert _edition_papers(engine, skipping) == []


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_unsettled_days_are_not_used(engine: Engine) -> None:
    store_corpus_days(engine, date(2026, 9, 21), days=2, per_day=40, settled=False)
    reader = _add(engine, "r@example.com", "language models", send_hour=7)
    summary = compose_due(
        engine, now=datetime(2026, 9, 23, 8, tzinfo=UTC), policy=POLICY, corpus=CorpusCache()
    )
    assert summary.deliveries == 0
    assert _edition_papers(engine, reader) == []


def test_weekly_subscribers_get_one_edition_covering_the_week(engine: Engine) -> None:
    store_corpus_days(engine, date(2026, 9, 14), days=7, per_day=30)  # Mon 14 .. Sun 20
    weekly = _add(
        engine,
        "w@example.com",
        "language models\nreasoning",
        send_hour=7,
        frequency=Frequency.WEEKLY,
    )
    corpus = CorpusCache()
    for day in range(15, 22):  # Tue 15 .. Mon 21
        compose_due(engine, now=datetime(2026, 9, day, 8, tzinfo=UTC), policy=POLICY, corpus=corpus)
    papers = _edition_papers(engine, weekly)
    assert {d for d, _, _ in papers} == {date(2026, 9, 21)}
    with session_scope(engine) as session:
        editions = session.exec(select(Edition).where(Edition.subscriber_id == weekly)).all()
        assert len(editions) == 1
    listed_days = {int(p[5:7]) for _, p, _ in papers}
    assert len(listed_days) >= 3, "a weekly edition should draw on several days of the week"


def test_exclusions_keep_papers_out_of_matches_and_trending(engine: Engine) -> None:
    store_corpus_days(engine, date(2026, 9, 21), days=2, per_day=80)
    plain = _add(engine, "a@example.com", "language models", send_hour=7)
    excluding = _add(engine, "b@example.com", "language models\n-reasoning", send_hour=7)
    compose_due(
        engine, now=datetime(2026, 9, 23, 8, tzinfo=UTC), policy=POLICY, corpus=CorpusCache()
    )

    def titles(subscriber_id: int) -> list[str]:
        with session_scope(engine) as session:
            return [
                session.exec(select(Paper.title).where(Paper.arxiv_id == p)).one().lower()
                for _, p, _ in _edition_papers(engine, subscriber_id)
            ]

    assert any("reasoning" in t for t in titles(plain)), "the fixture should hold such papers"
    assert titles(excluding)
    assert not any("reasoning" in t for t in titles(excluding))


@pytest.mark.parametrize(
    ("zone", "local_date", "hour", "expected_utc"),
    [
        # 02:00 does not exist (spring forward): read with the old offset, just past the gap.
        ("Europe/Berlin", date(2026, 3, 29), 2, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("America/New_York", date(2026, 3, 8), 2, datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        # 02:00 in Berlin and 01:00 in New York happen twice (fall back): the first one counts.
        ("Europe/Berlin", date(2026, 10, 25), 2, datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
        ("America/New_York", date(2026, 11, 1), 1, datetime(2026, 11, 1, 5, 0, tzinfo=UTC)),
    ],
)
def test_a_send_hour_in_a_dst_change_is_one_moment(
    zone: str, local_date: date, hour: int, expected_utc: datetime
) -> None:
    subscriber = Subscriber(id=1, email="x@example.com", token="t", timezone=zone, send_hour=hour)
    assert send_time(subscriber, local_date) == expected_utc


def test_an_outage_is_caught_up_once_and_a_too_late_edition_is_not_sent() -> None:
    tokyo = Subscriber(id=1, email="t@example.com", token="t", timezone="Asia/Tokyo", send_hour=23)
    # 01:00 in Tokyo: yesterday's 23:00 edition is two hours late, still within 20 h.
    now = datetime(2026, 9, 23, 16, tzinfo=UTC)
    due = find_due([tokyo], now=now, policy=POLICY)
    assert [d.local_date for d in due] == [date(2026, 9, 23)]
    late = find_due([tokyo], now=datetime(2026, 9, 25, 12, tzinfo=UTC), policy=POLICY)
    assert late == []
