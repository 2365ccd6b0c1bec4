"""Papers as the pages show them: tidy title, author line, short abstract, safe links.

Pure functions over stored rows, reusing the mailer's display rules so a paper reads the same
in a mail, a feed and a page. Values stay unescaped: the templates escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from paperfeed.feeds.items import ARXIV_ABS, ARXIV_PDF, paper_url
from paperfeed.mailer.display import authors_line, github_url, one_line, safe_url, shorten
from paperfeed.store.models import Paper

MAX_ABSTRACT_CHARS = 600


@dataclass(frozen=True, slots=True)
class PaperCard:
    """One paper on a page."""

    paper_id: str
    title: str
    url: str
    authors: str
    abstract: str
    upvotes: int
    comments: int
    arxiv_url: str
    pdf_url: str
    github_url: str | None
    project_url: str | None
    reasons: tuple[str, ...] = ()
    section: str = "matched"


def paper_card(
    paper: Paper,
    *,
    upvotes: int,
    comments: int = 0,
    reasons: Sequence[str] = (),
    section: str = "matched",
) -> PaperCard:
    """The card of a stored paper."""
    quoted = quote(paper.arxiv_id, safe="./")
    return PaperCard(
        paper_id=paper.arxiv_id,
        title=one_line(paper.title) or paper.arxiv_id,
        url=paper_url(paper.arxiv_id),
        authors=authors_line(tuple(paper.authors)),
        abstract=shorten(one_line(paper.ai_summary or paper.abstract or ""), MAX_ABSTRACT_CHARS),
        upvotes=upvotes,
        comments=comments,
        arxiv_url=ARXIV_ABS + quoted,
        pdf_url=ARXIV_PDF + quoted,
        github_url=github_url(paper.github_repo),
        project_url=safe_url(paper.project_page),
        reasons=tuple(reasons),
        section=section,
    )
