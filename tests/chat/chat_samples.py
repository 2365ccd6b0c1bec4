"""Parcels and papers for the chat tests, built the way the outbox hands them over."""

from __future__ import annotations

from datetime import date

from paperfeed.config import Settings
from paperfeed.outbox.channel import Parcel
from paperfeed.store.deliveries import EditionContent, EditionItem, PaperRow, SubscriberRow

DAY = date(2026, 12, 4)
TOKEN = "tok-abc_123"


def paper(arxiv_id: str, title: str, *, upvotes: int = 5) -> PaperRow:
    return PaperRow(
        arxiv_id=arxiv_id,
        title=title,
        abstract="An abstract.",
        authors=("Ada Lovelace",),
        github_repo=None,
        github_stars=None,
        ai_summary=None,
        upvotes=upvotes,
        comments=0,
    )


PAPERS = {
    "2512.00001": paper("2512.00001", "Diffusion models for proteins", upvotes=42),
    "2512.00002": paper("2512.00002", "Sparse attention at scale", upvotes=1),
    "2512.00003": paper("2512.00003", "A trending benchmark", upvotes=99),
}
ITEMS = (
    EditionItem("2512.00001", "matched", 1, ('matches "diffusion models"',)),
    EditionItem("2512.00002", "matched", 2, ('matches "sparse attention"',)),
    EditionItem("2512.00003", "trending", 3, ()),
)


def parcel(
    url: str,
    *,
    delivery_id: int = 1,
    address_id: int = 7,
    edition_id: int = 11,
    items: tuple[EditionItem, ...] = ITEMS,
) -> Parcel:
    return Parcel(
        delivery_id=delivery_id,
        attempts=1,
        channel=f"chat:{address_id}",
        address_id=address_id,
        address=url,
        subscriber=SubscriberRow(
            id=3,
            email="ada@example.org",
            token=TOKEN,
            interests="diffusion models\nsparse attention",
            receiving=True,
            feed_token="feed-tok",
        ),
        edition_id=edition_id,
        content=EditionContent(DAY, items),
    )


def chat_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "public_url": "https://papers.example.org",
        "chat_timeout_seconds": 2.0,
        "chat_retry_seconds": 120,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
