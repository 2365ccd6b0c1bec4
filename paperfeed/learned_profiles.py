"""Stored ratings as the learned part of a profile: the bridge from the store to ranking.

Compose, previews and ``paperfeed rank`` attach what each reader rated (``store.ratings``) to
their parsed interests here, so every path ranks with the same learned profile.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from paperfeed.corpus import to_document
from paperfeed.ranking.feedback import MAX_RATED, Feedback
from paperfeed.store.ratings import MORE, ratings_of


def feedback_of(session: Session, subscriber_ids: Sequence[int]) -> dict[int, Feedback]:
    """Each subscriber's ratings as ``Feedback`` (the most recent ``MAX_RATED`` of each kind);
    subscribers who rated nothing are absent."""
    out: dict[int, Feedback] = {}
    for subscriber_id, rated in ratings_of(session, subscriber_ids).items():
        liked = tuple(to_document(r.paper) for r in rated if r.value == MORE)[:MAX_RATED]
        disliked = tuple(to_document(r.paper) for r in rated if r.value != MORE)[:MAX_RATED]
        out[subscriber_id] = Feedback(liked, disliked)
    return out
