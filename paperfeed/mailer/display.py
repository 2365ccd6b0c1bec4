"""How a paper's raw values read in a mail: tidy title, short author line, blurb, safe links.

Pure functions over ``DigestPaper``; both the HTML and the plain-text part use them, so the
two parts always say the same thing. Escaping is not done here (templates do it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from paperfeed.mailer.views import DigestPaper

MAX_AUTHORS_SHOWN = 4
MAX_BLURB_CHARS = 320
MAX_SUBJECT_TITLE_CHARS = 90

_SPACE = re.compile(r"\s+")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Control, format (bidi overrides and isolates, zero-width and joiner marks, BOM), private-use
# and unassigned characters, line and paragraph separators: a subject line shows none of
# them, and bidi controls can make an inbox show a title (or a file name) reversed.
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})
GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})


@dataclass(frozen=True, slots=True)
class PaperDisplay:
    """A paper's values ready for a template (still unescaped)."""

    paper_id: str
    title: str
    url: str
    authors_line: str
    upvotes: int
    comments: int
    github_url: str | None
    stars_label: str | None
    blurb: str


def one_line(text: str) -> str:
    """Collapse runs of whitespace (titles from Hugging Face carry line breaks) to one space.

    Characters XML cannot carry (U+0001, U+FFFE…) are dropped: MJML's parser refuses them,
    and one such title upstream would otherwise stop the whole day's digest.
    """
    return _SPACE.sub(" ", _NOT_XML.sub("", text)).strip()


def visible_text(text: str) -> str:
    """``text`` on one line with only characters that show (see ``_INVISIBLE``)."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE or ch in "\t\n")
    return one_line(kept)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def authors_line(authors: tuple[str, ...]) -> str:
    """All names when few; else the first three and how many others."""
    names = [one_line(a) for a in authors if a.strip()]
    if len(names) <= MAX_AUTHORS_SHOWN:
        return ", ".join(names)
    shown = MAX_AUTHORS_SHOWN - 1
    return f"{', '.join(names[:shown])} and {len(names) - shown} others"


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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if any(ch.isspace() or ch in "\"'<>" for ch in url):
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
    if parts.scheme != "https" or (parts.hostname or "") not in GITHUB_HOSTS or parts.port:
        return None
    if parts.username or parts.password:  # https://github.com@evil.example/ names evil
        return None
    return checked


def blurb(paper: DigestPaper) -> str:
    """The AI summary when there is one, else the abstract's first sentences, shortened."""
    source = paper.ai_summary if paper.ai_summary and paper.ai_summary.strip() else paper.abstract
    return shorten(one_line(source), MAX_BLURB_CHARS)


def display(paper: DigestPaper, *, fallback_url: str) -> PaperDisplay:
    """Everything a template shows of one paper."""
    return PaperDisplay(
        paper_id=paper.paper_id,
        title=one_line(paper.title) or paper.paper_id,
        url=safe_url(paper.url) or fallback_url,
        authors_line=authors_line(paper.authors),
        upvotes=paper.upvotes,
        comments=paper.comments,
        github_url=github_url(paper.github_url),
        stars_label=stars_label(paper.github_stars),
        blurb=blurb(paper),
    )


def date_label(day: date) -> str:
    """A day as people read it in English: ``Tuesday, 3 June 2025``."""
    return f"{day:%A}, {day.day} {day:%B %Y}"


def subject_line(
    list_name: str, day: date, top_title: str | None, *, more: int, trending_only: bool
) -> str:
    """``paperfeed · Tue 3 Jun: <top paper> (+4 more)``: the date and the top paper."""
    head = f"{visible_text(list_name)} · {day:%a} {day.day} {day:%b}"
    if top_title is None:
        return head
    title = shorten(visible_text(top_title), MAX_SUBJECT_TITLE_CHARS)
    lead = "Trending: " if trending_only else ""
    tail = f" (+{more} more)" if more > 0 else ""
    return f"{head}: {lead}{title}{tail}"
