"""One paper as every reader sees it: mail, chat, feeds and pages all show a ``PaperView``.

Build it with ``paper_view(row, upvotes=..., comments=...)`` from any stored paper row (the
store's ``Paper``, the mailer's ``PaperRow``: anything shaped like ``StoredPaper``), once per
paper, and hand it to a template or a message builder. Every field is ready to show:

- ``title``: one line (upstream titles carry line breaks), never empty (the id stands in);
- ``url``: the paper's Hugging Face page, the link a title carries everywhere;
  ``arxiv_url`` and ``pdf_url``: its arXiv abstract page and PDF;
- ``authors``: each name on one line, empty ones dropped (feeds list them all);
  ``authors_line``: the short form (all names when four or fewer, else the first three
  "and N others");
- ``blurb``: the AI summary when there is one, else the abstract, cut to about 320
  characters at a word; ``abstract``: the whole abstract on one line (feeds show it);
- ``upvotes``, ``comments``: the counts given; ``github_url`` (https to GitHub only),
  ``github_stars`` and ``stars_label`` (``1.2k``); ``project_url`` (http or https only).

Links from upstream data are kept only when they are absolute http(s) URLs (the GitHub one
only when it leads to GitHub), so no channel ever gets a ``javascript:`` link. Text is NOT
escaped: each channel escapes for its own markup (Jinja autoescape, markdown, XML). All
text holds only characters XML can carry.

Paper ids go into URLs through one encoder, ``id_path``: old-style ids such as
``hep-th/9901001`` keep their slash, the way arXiv (``arxiv.org/abs/hep-th/9901001``) and
Hugging Face (``huggingface.co/papers/<arXiv id>``) write them, and the way
``ranking.interests.normalise_paper_id`` reads a pasted link back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlsplit

# The public pages, not PAPERFEED_HF_BASE_URL (which tests point at a fake server): readers
# follow these links to read the paper.
HF_PAPERS = "https://huggingface.co/papers/"
ARXIV_ABS = "https://arxiv.org/abs/"
ARXIV_PDF = "https://arxiv.org/pdf/"
MAX_AUTHORS_SHOWN = 4
MAX_BLURB_CHARS = 320
GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})

_SPACE = re.compile(r"\s+")
# Characters XML 1.0 cannot hold: MJML's parser and lxml refuse them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class StoredPaper(Protocol):
    """What ``paper_view`` reads of a stored paper (``store.models.Paper``, ``PaperRow``).

    A row may also carry ``project_page``; the mailer's ``PaperRow`` does not.
    """

    @property
    def arxiv_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str | None: ...
    @property
    def authors(self) -> Sequence[str]: ...
    @property
    def ai_summary(self) -> str | None: ...
    @property
    def github_repo(self) -> str | None: ...
    @property
    def github_stars(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PaperView:
    """One paper ready to show (unescaped); see the module docstring for each field."""

    arxiv_id: str
    title: str
    url: str
    arxiv_url: str
    pdf_url: str
    authors: tuple[str, ...]
    authors_line: str
    blurb: str
    abstract: str
    upvotes: int
    comments: int
    github_url: str | None
    github_stars: int | None
    stars_label: str | None
    project_url: str | None


def paper_view(paper: StoredPaper, *, upvotes: int, comments: int = 0) -> PaperView:
    """The view of a stored paper with its upvote and comment counts."""
    authors = tuple(name for name in map(one_line, paper.authors) if name)
    abstract = paper.abstract or ""
    project_page: str | None = getattr(paper, "project_page", None)
    return PaperView(
        arxiv_id=paper.arxiv_id,
        title=one_line(paper.title) or paper.arxiv_id,
        url=paper_url(paper.arxiv_id),
        arxiv_url=ARXIV_ABS + id_path(paper.arxiv_id),
        pdf_url=ARXIV_PDF + id_path(paper.arxiv_id),
        authors=authors,
        authors_line=authors_line(authors),
        blurb=blurb(abstract, paper.ai_summary),
        abstract=one_line(abstract or paper.ai_summary or ""),
        upvotes=upvotes,
        comments=comments,
        github_url=github_url(paper.github_repo),
        github_stars=paper.github_stars,
        stars_label=stars_label(paper.github_stars),
        project_url=safe_url(project_page),
    )


def id_path(arxiv_id: str) -> str:
    """A paper id as a URL path: ``2501.00001`` as is, ``hep-th/9901001`` with its slash.

    Every other character is percent-encoded, and a ``.`` or ``..`` segment too, so an odd
    id can never walk the link to another page of the site.
    """
    return "/".join(
        quote(part, safe="") if part not in (".", "..") else part.replace(".", "%2E")
        for part in arxiv_id.split("/")
    )


def paper_url(arxiv_id: str) -> str:
    """The paper's Hugging Face page."""
    return HF_PAPERS + id_path(arxiv_id)


def xml_text(text: str) -> str:
    """``text`` without the characters XML cannot carry (U+0001, U+FFFE…).

    MJML's parser and lxml refuse them: one such title upstream would otherwise stop a whole
    digest or feed.
    """
    return _NOT_XML.sub("", text)


def one_line(text: str) -> str:
    """``text`` on one line: runs of whitespace (titles from Hugging Face carry line breaks)
    become one space, and characters XML cannot carry are dropped (see ``xml_text``)."""
    return _SPACE.sub(" ", xml_text(text)).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def authors_line(authors: Sequence[str]) -> str:
    """All names when few; else the first three and how many others."""
    names = [name for name in map(one_line, authors) if name]
    if len(names) <= MAX_AUTHORS_SHOWN:
        return ", ".join(names)
    shown = MAX_AUTHORS_SHOWN - 1
    return f"{', '.join(names[:shown])} and {len(names) - shown} others"


def blurb(abstract: str, ai_summary: str | None) -> str:
    """The AI summary when there is one, else the abstract, shortened."""
    source = ai_summary if ai_summary and ai_summary.strip() else abstract
    return shorten(one_line(source), MAX_BLURB_CHARS)


def stars_label(stars: int | None) -> str | None:
    """GitHub stars the way GitHub shows them: 987, 1.2k, 15k."""
    if stars is None or stars < 0:
        return None
    if stars < 1000:
        return str(stars)
    if stars < 10_000:
        return f"{stars / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return f"{stars // 1000}k"


def safe_url(url: str | None) -> str | None:
    """The URL if it is absolute http(s), else None: upstream data never gets a javascript: link."""
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or ch in "\"'<>\x7f" or ch < " " for ch in url) or _NOT_XML.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1" (an unclosed IPv6 host) cannot be split
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url


def github_url(url: str | None) -> str | None:
    """A repository link only when it leads to GitHub (https), else None.

    Upstream's ``githubRepo`` is shown as "GitHub": a link labelled so must not lead to any
    other host (a look-alike page, a download).
    """
    checked = safe_url(url)
    if checked is None:
        return None
    parts = urlsplit(checked)
    try:
        port = parts.port
    except ValueError:  # https://github.com:x/ has no port number
        return None
    if parts.scheme != "https" or (parts.hostname or "") not in GITHUB_HOSTS or port:
        return None
    if parts.username or parts.password:  # https://github.com@evil.example/ names evil
        return None
    return checked
