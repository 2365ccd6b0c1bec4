"""Fixed sample data for the mail benchmarks: one day of 100 papers, personal digests.

Seeded, so every run renders the same mails: each subscriber gets 10 of the day's papers in
their own order with reasons, plus the 5 most upvoted others as "also trending".
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from paperfeed.mailer.views import DayView, Pick, Recipient, SubscriberDigest
from paperfeed.paper_view import paper_view
from paperfeed.store.deliveries import PaperRow

DAY = date(2026, 9, 28)
NOW = datetime(2026, 9, 28, 5, 0, tzinfo=UTC)
PICKS = 10
TRENDING = 5
FIRST_NAMES = ["Ada", "Grace", "Alan", "Søren", "Zoë", "Jürgen", "Li", "Ngozi", "Émile", "Kai"]


def sample_rows(papers: int = 100) -> tuple[PaperRow, ...]:
    """The day's papers as the store gives them to the mailer."""
    rng = random.Random(28)
    rows = []
    for i in range(papers):
        # Drawn in this order since the first run, so every run has the same papers.
        title = (
            f"Scaling {rng.choice(['Sparse', 'Dense', 'Latent'])} Diffusion "
            f"Transformers for Long-Context Video Generation, part {i}"
        )
        authors = tuple(f"Author{j} Surname{i}" for j in range(rng.randint(1, 12)))
        upvotes, comments = rng.randint(0, 300), rng.randint(0, 20)
        rows.append(
            PaperRow(
                arxiv_id=f"2609.{i:05d}",
                title=title,
                abstract="We propose a method that improves sample quality and speed. " * 12,
                authors=authors,
                github_repo=f"https://github.com/lab/repo{i}" if i % 2 else None,
                github_stars=rng.randint(0, 20000) if i % 2 else None,
                ai_summary="A shorter way to train video models." if i % 3 == 0 else None,
                upvotes=upvotes,
                comments=comments,
            )
        )
    return tuple(rows)


def sample_day(papers: int = 100) -> DayView:
    return DayView(
        list_name="paperfeed",
        local_date=DAY,
        papers=tuple(
            paper_view(row, upvotes=row.upvotes, comments=row.comments)
            for row in sample_rows(papers)
        ),
        archive_url="https://paperfeed.example/archive/2026-09-28",
        list_address="paperfeed@example.org",
    )


def sample_digests(
    day: DayView, count: int, *, domain: str = "example.com"
) -> list[SubscriberDigest]:
    rng = random.Random(7)
    ids = [p.arxiv_id for p in day.papers]
    by_upvotes = [p.arxiv_id for p in sorted(day.papers, key=lambda p: -p.upvotes)]
    digests = []
    for n in range(count):
        picked = rng.sample(ids, PICKS)
        trending = [pid for pid in by_upvotes if pid not in picked][:TRENDING]
        digests.append(
            SubscriberDigest(
                recipient=Recipient(
                    email=f"reader{n}@{domain}",
                    name=f"{FIRST_NAMES[n % len(FIRST_NAMES)]} Reader{n}",
                    interests="video diffusion, long context, mixture of experts",
                    preferences_url=f"https://paperfeed.example/preferences/tok{n:08d}",
                    feed_url=f"https://paperfeed.example/feeds/tok{n:08d}.atom",
                    unsubscribe_url=f"https://paperfeed.example/unsubscribe/tok{n:08d}",
                    unsubscribe_mailto=(
                        f"mailto:unsubscribe@example.org?subject=unsubscribe%20tok{n:08d}"
                    ),
                ),
                picks=tuple(Pick(pid, (f'matches "video" ({n % 3 + 1} terms)',)) for pid in picked),
                also_trending=tuple(trending),
            )
        )
    return digests
