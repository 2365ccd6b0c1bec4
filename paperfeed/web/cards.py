"""Papers as the pages list them: the paper's ``PaperView`` and why it is on the list.

A paper reads the same on a page as in a mail, a chat message or a feed: the view holds its
tidy title, author line, blurb and safe links; a card adds only what the list says about it
(the reasons it matched, its section). Values stay unescaped: the templates escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paperfeed.paper_view import PaperView, paper_view
from paperfeed.store.models import Paper


@dataclass(frozen=True, slots=True)
class PaperCard:
    """One paper on a page: its view, why it matched, and its section."""

    paper: PaperView
    reasons: tuple[str, ...] = ()
    section: str = "matched"
    # A reader's own page: their (more like this, less like this) links for this paper.
    rate: tuple[str, str] | None = None


def paper_card(
    paper: Paper,
    *,
    upvotes: int,
    comments: int = 0,
    reasons: Sequence[str] = (),
    section: str = "matched",
    rate: tuple[str, str] | None = None,
) -> PaperCard:
    """The card of a stored paper."""
    return PaperCard(
        paper=paper_view(paper, upvotes=upvotes, comments=comments),
        reasons=tuple(reasons),
        section=section,
        rate=rate,
    )
