"""A digest as one chat message in markdown, within the service's size limit.

Per paper: the title as a link to its page, why it matched (the edition's own reasons, the
ones the mail shows), its votes; then the "also trending" papers; then a link to the
edition's page. When the message would pass the service's limit, whole papers are dropped
from the end and the last line says how many, with the edition link: a paper is never cut
in half.

Text from Hugging Face (titles) and from interests (reasons) is hostile until escaped:
``chat_text`` makes it inert in markdown (no link, emphasis or code syntax), in Slack's
``<!channel>``/``<@U…>``/``<url|text>`` syntax (angle brackets become look-alikes) and for
mentions (``@everyone`` gets a zero-width space after the ``@``, so it never pings), and
breaks bare URLs so a title cannot become a link. Links are only the paper's page, the
edition page and a matched paper's "more like this" / "less like this" (under the edition's
``rating_links.edition_rating_base``, when given), all built from ids and the public URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from paperfeed.headline import subject_line, visible_text
from paperfeed.paper_view import PaperView, shorten
from paperfeed.store.deliveries import EditionItem

MATCHED = "matched"
MAX_REASONS = 3
MAX_TITLE_CHARS = 300
MAX_REASON_CHARS = 120
ZWSP = "\u200b"

# Markdown's inline syntax that can open mid-line (CommonMark backslash escapes): links (no
# link without its [ ]), emphasis, code, strike-through, Discord's spoiler bars. Parentheses
# stay as they are (common in titles; harmless without brackets). Line-start syntax (#, -,
# 1.) cannot trigger: hostile text never starts a line.
_MARKDOWN = re.compile(r"([\\`*_\[\]~|])")
_URL_START = re.compile(r"(?i)(https?|ftp|javascript|data|mailto|www)(:|\.)")


def chat_text(text: str) -> str:
    """``text`` on one line, inert in markdown and chat syntax (see the module docstring)."""
    line = visible_text(text)
    line = line.replace("<", "\u2039").replace(">", "\u203a")  # ‹ › never open Slack syntax
    line = _URL_START.sub(lambda m: f"{m.group(1)}{ZWSP}{m.group(2)}", line)
    line = _MARKDOWN.sub(r"\\\1", line)
    # After escaping, so the zero-width space is not escaped: "@everyone" -> "@\u200beveryone".
    return line.replace("@", "@" + ZWSP)


def chat_title(text: str, limit: int) -> str:
    """A message title of at most ``limit`` characters, escaped as ``chat_text``: some services
    show it as plain text, others (Discord) put it in front of the markdown body."""
    cut = shorten(visible_text(text), limit)
    while len(chat_text(cut)) > limit and len(cut) > 1:
        cut = shorten(cut, len(cut) - max(1, len(chat_text(cut)) - limit))
    return chat_text(cut)


def link_target(url: str) -> str:
    """A URL safe inside ``[text](url)``: the characters that would end it are encoded."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """A service's message limits: ``body_maxlen`` as ``measure`` counts it, and the title.

    ``title_maxlen`` 0 means the service has no title: the headline opens the body. With a
    title, the body keeps room for it within ``body_maxlen``.
    ``measure`` counts a markdown body the way the service will (apprise converts markdown
    to HTML for some services, which makes it longer).
    """

    body_maxlen: int
    title_maxlen: int
    measure: Callable[[str], int] = len


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One digest for chat: its title (may be empty), markdown body, and what was cut."""

    title: str
    body: str
    papers_shown: int
    papers_cut: int


def _votes(view: PaperView) -> str:
    return f"▲ {view.upvotes} vote{'s' if view.upvotes != 1 else ''}"


def _paper_block(
    number: int, view: PaperView, reasons: Sequence[str], rate: str | None = None
) -> str:
    title = chat_text(shorten(view.title, MAX_TITLE_CHARS))
    lines = [f"{number}. [{title}]({link_target(view.url)}) · {_votes(view)}"]
    shown = [chat_text(shorten(r, MAX_REASON_CHARS)) for r in reasons[:MAX_REASONS] if r.strip()]
    if shown:
        lines.append(f"    Why: {'; '.join(shown)}")
    if rate is not None:
        more, less = link_target(f"{rate}/more"), link_target(f"{rate}/less")
        lines.append(f"    [More like this]({more}) · [Less like this]({less})")
    return "\n".join(lines)


def _trending_block(view: PaperView) -> str:
    title = chat_text(shorten(view.title, MAX_TITLE_CHARS))
    return f"• [{title}]({link_target(view.url)}) · {_votes(view)}"


def render_chat(
    *,
    list_name: str,
    local_date: date,
    items: Sequence[EditionItem],
    papers: Mapping[str, PaperView],
    edition_link: str,
    limits: ChatLimits,
    rating_base: str | None = None,
) -> ChatMessage:
    """One subscriber's edition as a chat message that fits ``limits``.

    ``items`` are the edition's papers (matched ones carry their reasons); an item whose
    paper is missing from ``papers`` is skipped. With ``rating_base`` each matched paper
    gets its rating links (its position among ``items`` in rank order, as the server reads
    it). A limit too small for even the headline and the edition link gives the shortest
    message that says where the edition is.
    """
    ordered = sorted(items, key=lambda i: i.rank)
    matched = [i for i in ordered if i.section == MATCHED and i.paper_id in papers]
    trending = [i for i in ordered if i.section != MATCHED and i.paper_id in papers]
    top = papers[matched[0].paper_id] if matched else None
    if top is None and trending:
        top = papers[trending[0].paper_id]
    headline = subject_line(
        list_name,
        local_date,
        top.title if top else None,
        more=len(matched) - 1 if matched else len(trending) - 1,
        trending_only=not matched,
    )
    title = ""
    head: list[str] = []
    if limits.title_maxlen > 0:
        title = chat_title(headline, limits.title_maxlen)
    else:
        head.append(f"**{chat_text(headline)}**")
    position = {id(i): n for n, i in enumerate(ordered)}
    blocks: list[tuple[str, str]] = [
        (
            "matched",
            _paper_block(
                n,
                papers[i.paper_id],
                i.reasons,
                f"{rating_base}/{position[id(i)]}" if rating_base else None,
            ),
        )
        for n, i in enumerate(matched, 1)
    ]
    blocks += [("trending", _trending_block(papers[i.paper_id])) for i in trending]
    target = link_target(edition_link)
    total = len(blocks)
    # Some services send the title inside the body's field (Discord: "title\r\nbody" in
    # one 2,000-character content): leave room for it everywhere.
    room = limits.body_maxlen - (len(title) + 2 if title else 0)
    for keep in range(total, -1, -1):
        body = _assemble(head, blocks[:keep], total - keep, target)
        if limits.measure(body) <= room:
            return ChatMessage(title, body, keep, total - keep)
    # Not even the headline fits: the link alone, so the reader still finds the edition.
    return ChatMessage(title, f"{total} papers: {target}", 0, total)


def _assemble(head: list[str], blocks: Sequence[tuple[str, str]], cut: int, target: str) -> str:
    parts = list(head)
    mine = [text for section, text in blocks if section == "matched"]
    others = [text for section, text in blocks if section != "matched"]
    if mine:
        parts.append("**Your papers**\n" + "\n".join(mine))
    if others:
        parts.append("**Also trending**\n" + "\n".join(others))
    if cut:
        parts.append(f"… and {cut} more: [read the whole edition]({target})")
    else:
        parts.append(f"[Read this edition on the web]({target})")
    return "\n\n".join(parts)
