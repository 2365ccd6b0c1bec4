"""The "Your ratings" card's rows: what the reader rated, which way, and when.

Read through ``store.ratings.list_ratings`` (newest first), the same rows the ranking
learns from, so the card shows exactly what shapes the picks. Knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from paperfeed.paper_view import PaperView, paper_view
from paperfeed.store.ratings import list_ratings


@dataclass(frozen=True, slots=True)
class RatedRow:
    """One rating on the card: the paper, "more like this" or not, and when it was clicked."""

    paper: PaperView
    more: bool
    rated_at: datetime

    @property
    def when(self) -> str:
        """The day it was clicked, e.g. "25 Sep 2026" (UTC)."""
        return f"{self.rated_at.day} {self.rated_at:%b %Y}"


def rated_rows(session: Session, subscriber_id: int) -> list[RatedRow]:
    """The subscriber's ratings for the card, most recent first."""
    return [
        RatedRow(paper_view(r.paper, upvotes=0), r.value > 0, r.created_at)
        for r in list_ratings(session, subscriber_id)
    ]
