"""One feed item per paper: its stable id, links, authors, date and the escaped HTML body.

Pure functions over stored papers; the HTML body is built here with every value escaped, so
a title or abstract from Hugging Face can never add markup to someone's feed reader.
Knows nothing of feed formats or HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from markupsafe import Markup, escape

from paperfeed.mailer.display import github_url, one_line, safe_url
from paperfeed.store.editions import ListedPaper
from paperfeed.store.models import Paper
from paperfeed.store.web_queries import EditionEntry

# The public pages, not PAPERFEED_HF_BASE_URL (which tests point at a fake server): a GUID
# must never change, and a feed reader must link where people can read the paper.
HF_PAPERS = "https://huggingface.co/papers/"
ARXIV_ABS = "https://arxiv.org/abs/"
ARXIV_PDF = "https://arxiv.org/pdf/"
# Characters XML 1.0 cannot hold at all; lxml refuses them, so they are dropped first.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """A paper as a feed shows it; all text still unescaped except ``html``."""

    paper_id: str
    title: str
    url: str
    authors: tuple[str, ...]
    published: datetime
    html: str


def xml_text(text: str) -> str:
    """``text`` without the characters XML cannot carry."""
    return _NOT_XML.sub("", text)


def paper_url(paper_id: str) -> str:
    """The paper's Hugging Face page: the item's link and its permanent GUID."""
    return HF_PAPERS + quote(paper_id, safe="./")


def paper_item(
    paper: Paper,
    *,
    published: datetime,
    upvotes: int,
    reasons: Sequence[str] = (),
    note: str | None = None,
) -> FeedItem:
    """The feed item of a stored paper, with why it was chosen when there is a reason."""
    if published.tzinfo is None:
        raise ValueError(f"published {published.isoformat()} has no time zone")
    return FeedItem(
        paper_id=paper.arxiv_id,
        title=xml_text(one_line(paper.title)) or paper.arxiv_id,
        url=paper_url(paper.arxiv_id),
        authors=tuple(xml_text(one_line(a)) for a in paper.authors if a.strip()),
        published=published,
        html=xml_text(item_html(paper, upvotes=upvotes, reasons=reasons, note=note)),
    )


def listed_item(listed: ListedPaper, *, reasons: Sequence[str] = ()) -> FeedItem:
    """A paper of a settled day; its date is when that day's list settled (entered the feed)."""
    return paper_item(
        listed.paper, published=listed.settled_at, upvotes=listed.upvotes, reasons=reasons
    )


def edition_item(entry: EditionEntry) -> FeedItem:
    """A paper of a subscriber's edition, dated when the edition was made."""
    note = "Also trending" if entry.section == "trending" else None
    reasons = () if entry.section == "trending" else entry.reasons
    return paper_item(
        entry.paper, published=entry.created_at, upvotes=entry.upvotes, reasons=reasons, note=note
    )


def item_html(
    paper: Paper, *, upvotes: int, reasons: Sequence[str] = (), note: str | None = None
) -> str:
    """The item body: why it was picked, the abstract, then links and upvotes, all escaped."""
    parts: list[Markup] = []
    if reasons:
        parts.append(Markup("<p><strong>Why:</strong> {}</p>").format("; ".join(reasons)))
    elif note:
        parts.append(Markup("<p><em>{}</em></p>").format(note))
    abstract = one_line(paper.abstract or paper.ai_summary or "")
    if abstract:
        parts.append(Markup("<p>{}</p>").format(abstract))
    links = [
        (ARXIV_ABS + quote(paper.arxiv_id, safe="./"), "arXiv"),
        (ARXIV_PDF + quote(paper.arxiv_id, safe="./"), "PDF"),
    ]
    github = github_url(paper.github_repo)
    if github:
        links.append((github, "GitHub"))
    project = safe_url(paper.project_page)
    if project:
        links.append((project, "Project page"))
    anchors = Markup(" · ").join(Markup('<a href="{}">{}</a>').format(u, t) for u, t in links)
    votes = f"{upvotes} upvote" + ("" if upvotes == 1 else "s")
    parts.append(Markup("<p>{} · {}</p>").format(anchors, votes))
    return str(escape("\n").join(parts))
