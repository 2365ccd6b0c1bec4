"""Digest rendering: compile an edition day once, then fill it per subscriber.

``compile_day`` renders the day's shared content (every paper's card, the footer, the
"also trending" frame) through Jinja into one MJML document and compiles it once; markers
cut the HTML into pieces. ``render_digest`` then assembles one subscriber's mail from those
pieces in their order, filling their escaped values, and cuts it to stay under Gmail's clip
size. MJML never runs per subscriber. The plain-text part comes from its own template.
Knows nothing of the database, headers or SMTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from paperfeed.errors import TemplateError, UnknownPaper
from paperfeed.headline import date_label, subject_line
from paperfeed.mailer.slots import Slotted, ascii_html, cut_at_markers, slotted
from paperfeed.mailer.slots import escape_value as _escape_any
from paperfeed.mailer.templates import compile_mjml, html_env, text_env
from paperfeed.mailer.views import DayView, Pick, RenderedMail, SubscriberDigest
from paperfeed.paper_view import PaperView, one_line

# Gmail clips a message whose HTML passes 102 KB; stay clear of it (DESIGN: "under 100 KB").
MAX_HTML_BYTES = 100_000
_SENTINEL = "\x00"
# Rating links' tails for the first positions of an edition, made once (no int formatting
# per link).
_POSITIONS = 64
_MORE = tuple(f"/{n}/more" for n in range(_POSITIONS))
_LESS = tuple(f"/{n}/less" for n in range(_POSITIONS))
# What slots.escape_value changes: markup characters (markupsafe) and non-ASCII (references).
_ESCAPED = re.compile("[&<>\"'\u0080-\U0010ffff]")
_PER_SUBSCRIBER = frozenset(
    {"PREVIEW", "GREETING_NAME", "INTRO", "EMAIL", "INTERESTS"}
    | {"PREFERENCES_URL", "FEED_URL", "UNSUBSCRIBE_URL"}
)


@dataclass(frozen=True, slots=True)
class _Parts:
    """Markup pieces that do not depend on the day, rendered once per process."""

    reasons: tuple[str, str]
    rate: tuple[str, str, str]
    interests: tuple[str, str]
    intro_picks: str
    intro_none: str


@dataclass(frozen=True, slots=True)
class CompiledDay:
    """One edition day, compiled: the pieces every subscriber's digest is assembled from."""

    day: DayView
    date_label: str
    papers: Mapping[str, PaperView]
    head: Slotted
    # "View in your browser": only in a mail of a stored edition (it has a page).
    view: Slotted
    greeting: Slotted
    cards: Mapping[str, Slotted]
    trending: Slotted
    trending_rows: Mapping[str, str]
    see_all: Slotted
    footer: Slotted
    text_blocks: Mapping[str, str]
    text_rows: Mapping[str, str]


def escape_value(value: str) -> str:
    """``slots.escape_value``, returning an ASCII value with nothing to escape as it is.

    Addresses and URLs, most of a mail's values, are such: escaping each through markupsafe
    and back to ASCII was a tenth of a digest's CPU.
    """
    if _ESCAPED.search(value) is None:
        return value
    return _escape_any(value)


@lru_cache(maxsize=8192)
def _reasons_html(reasons: tuple[str, ...]) -> str:
    # Readers of one day share many reasons (the same topics, the same authors).
    open_, close = _parts().reasons
    return open_ + escape_value("; ".join(reasons)) + close


@cache
def _parts() -> _Parts:
    module: Any = html_env().get_template("parts.html.j2").module
    reasons = ascii_html(str(module.reasons(_SENTINEL))).split(_SENTINEL)
    interests = ascii_html(str(module.interests(_SENTINEL))).split(_SENTINEL)
    rate = ascii_html(str(module.rate(_SENTINEL, _SENTINEL))).split(_SENTINEL)
    return _Parts(
        reasons=(reasons[0], reasons[1]),
        rate=(rate[0], rate[1], rate[2]),
        interests=(interests[0], interests[1]),
        intro_picks=ascii_html(str(module.intro(1))),
        intro_none=ascii_html(str(module.intro(0))),
    )


def compile_day(day: DayView) -> CompiledDay:
    """Render the day's shared content and compile its MJML once, cut into pieces."""
    label = date_label(day.local_date)
    shown = {p.arxiv_id: p for p in day.papers}
    if len(shown) != len(day.papers):
        raise TemplateError(f"the day {day.local_date} lists a paper twice; give each one once")
    ordered = list(shown.values())
    source = (
        html_env()
        .get_template("digest.mjml.j2")
        .render(
            list_name=day.list_name,
            list_address=day.list_address,
            date_label=label,
            papers=ordered,
        )
    )
    cut = cut_at_markers(compile_mjml(source, name="digest.mjml.j2"))
    html_parts: Any = html_env().get_template("parts.html.j2").module
    text_parts: Any = text_env().get_template("parts.txt.j2").module
    compiled = CompiledDay(
        day=day,
        date_label=label,
        papers=shown,
        head=slotted(cut[""]),
        view=slotted(cut["view"]),
        greeting=slotted(cut["greeting"] + cut["papers"]),
        cards={p.arxiv_id: slotted(cut[f"card:{i}"]) for i, p in enumerate(ordered)},
        trending=slotted(cut["trending"]),
        trending_rows={p.arxiv_id: ascii_html(str(html_parts.trending_row(p))) for p in ordered},
        see_all=slotted(cut["see-all"]),
        footer=slotted(cut["footer"]),
        text_blocks={p.arxiv_id: str(text_parts.paper_block(p)).rstrip() for p in ordered},
        text_rows={p.arxiv_id: str(text_parts.trending_row(p)) for p in ordered},
    )
    _check_slots(compiled)
    return compiled


def _check_slots(compiled: CompiledDay) -> None:
    # A template edit that renames a slot must fail here, at compile time, not per subscriber.
    expected = {
        "head and footer": compiled.head.names | compiled.greeting.names | compiled.footer.names
        == _PER_SUBSCRIBER,
        "view": compiled.view.names == {"VIEW_URL"},
        "trending": compiled.trending.names == {"TRENDING_ROWS"},
        "see-all": compiled.see_all.names == {"ARCHIVE_URL", "TOTAL"},
        "cards": all(c.names == {"REASONS", "RATE"} for c in compiled.cards.values()),
    }
    broken = [name for name, ok in expected.items() if not ok]
    if broken:
        raise TemplateError(
            f"digest.mjml.j2 has unexpected %%PF_ slots in {', '.join(broken)}; "
            "keep the slot names render.py fills"
        )


def _values(digest: SubscriberDigest, top_title: str) -> dict[str, str]:
    r = digest.recipient
    parts = _parts()
    name = one_line(r.name or "")
    interests = one_line(r.interests)
    return {
        "PREVIEW": escape_value(top_title),
        "GREETING_NAME": " " + escape_value(name) if name else "",
        "INTRO": parts.intro_picks if digest.picks else parts.intro_none,
        "EMAIL": escape_value(r.email),
        "INTERESTS": (
            parts.interests[0] + escape_value(interests) + parts.interests[1] if interests else ""
        ),
        "PREFERENCES_URL": escape_value(r.preferences_url),
        "FEED_URL": escape_value(r.feed_url),
        "UNSUBSCRIBE_URL": escape_value(r.unsubscribe_url),
    }


def _size(html: str) -> int:
    # Every piece is ASCII (see slots.py), so characters are bytes.
    return len(html)


def render_digest(
    compiled: CompiledDay,
    digest: SubscriberDigest,
    *,
    max_html_bytes: int = MAX_HTML_BYTES,
    view_url: str | None = None,
) -> RenderedMail:
    """One subscriber's digest (subject, text, HTML) from a compiled day; no MJML runs here.

    ``view_url`` is the edition's page (``links.edition_url``): both parts link to it.
    """
    papers = compiled.papers
    picks = digest.picks
    for pick in picks:
        if pick.paper_id not in papers:
            raise UnknownPaper(
                f"paper {pick.paper_id!r} is not in the day {compiled.day.local_date} that was "
                "compiled; put every paper a subscriber may get into DayView.papers"
            )
    picked = {p.paper_id for p in picks}
    trending = [pid for pid in dict.fromkeys(digest.also_trending) if pid not in picked]
    for pid in trending:
        if pid not in papers:
            raise UnknownPaper(
                f"also-trending paper {pid!r} is not in the day {compiled.day.local_date}; "
                "put it into DayView.papers"
            )
    top = picks[0].paper_id if picks else (trending[0] if trending else None)
    top_title = papers[top].title if top else ""
    values = _values(digest, top_title)
    base = digest.rating_base
    text_rates = _rating_urls(base, digest)
    # The base is a URL: escaping changes it only if the public URL has & " < > in it.
    html_base = escape_value(base) if base else None
    rates = text_rates if html_base == base else _rating_urls(html_base, digest)
    rate_open, rate_mid, rate_close = _parts().rate
    # The base is escaped once; positions and directions are plain ASCII.
    rate_html = {
        pid: rate_open + more + rate_mid + less + rate_close for pid, (more, less) in rates.items()
    }
    cards = [
        _fill_card(
            compiled.cards[p.paper_id],
            _reasons_html(p.reasons) if p.reasons else "",
            rate_html.get(p.paper_id, ""),
        )
        for p in picks
    ]
    rows = [compiled.trending_rows[pid] for pid in trending]
    head = compiled.head.fill(values)
    if view_url:
        head += compiled.view.fill({"VIEW_URL": escape_value(view_url)})
    head += compiled.greeting.fill(values)
    footer = compiled.footer.fill(values)
    total = len(cards) + len(rows)
    html = _assemble(compiled, head, cards, rows, footer, see_all=None)
    if _size(html) > max_html_bytes:
        see_all = compiled.see_all.fill(
            {"ARCHIVE_URL": escape_value(compiled.day.archive_url), "TOTAL": str(total)}
        )
        cards, rows = _fit(compiled, head, cards, rows, footer, see_all, max_html_bytes)
        html = _assemble(compiled, head, cards, rows, footer, see_all=see_all)
    shown_picks, shown_trending = picks[: len(cards)], trending[: len(rows)]
    text = _render_text(
        compiled,
        digest,
        shown_picks,
        shown_trending,
        total=total,
        view_url=view_url,
        rates=text_rates,
    )
    subject = subject_line(
        compiled.day.list_name,
        compiled.day.local_date,
        top_title or None,
        more=(len(picks) - 1) if picks else (len(trending) - 1),
        trending_only=not picks,
    )
    shown = len(cards) + len(rows)
    return RenderedMail(
        subject=subject, text=text, html=html, papers_shown=shown, papers_cut=total - shown
    )


def _fill_card(card: Slotted, reasons: str, rate: str) -> str:
    """``card.fill`` without a dict per card: ``_check_slots`` holds cards to these two."""
    parts = card.parts
    out = list(parts)
    for i in range(1, len(parts), 2):
        out[i] = reasons if parts[i] == "REASONS" else rate
    return "".join(out)


def _rating_urls(base: str | None, digest: SubscriberDigest) -> dict[str, tuple[str, str]]:
    """Each positioned pick's (more, less) links under ``base``: string joins only, the one
    signature per mail is in the base (the mail path renders thousands a second)."""
    if not base:
        return {}
    return {
        p.paper_id: (base + _MORE[p.position], base + _LESS[p.position])
        if p.position < _POSITIONS
        else (f"{base}/{p.position}/more", f"{base}/{p.position}/less")
        for p in digest.picks
        if p.position is not None
    }


def _assemble(
    compiled: CompiledDay,
    head: str,
    cards: list[str],
    rows: list[str],
    footer: str,
    *,
    see_all: str | None,
) -> str:
    pieces = [head, *cards]
    if rows:
        pieces.append(compiled.trending.fill({"TRENDING_ROWS": "\n".join(rows)}))
    if see_all is not None:
        pieces.append(see_all)
    pieces.append(footer)
    return "".join(pieces)


def _fit(
    compiled: CompiledDay,
    head: str,
    cards: list[str],
    rows: list[str],
    footer: str,
    see_all: str,
    max_html_bytes: int,
) -> tuple[list[str], list[str]]:
    """Drop trending rows, then cards, from the end until the HTML fits with the notice."""
    budget = max_html_bytes - _size(head) - _size(footer) - _size(see_all)
    frame = _size(compiled.trending.fill({"TRENDING_ROWS": ""}))
    kept_cards: list[str] = []
    for card in cards:
        size = _size(card)
        if size > budget:
            return kept_cards, []
        budget -= size
        kept_cards.append(card)
    kept_rows: list[str] = []
    budget -= frame
    for row in rows:
        size = _size(row)
        if size > budget:
            break
        budget -= size
        kept_rows.append(row)
    return kept_cards, kept_rows


def _text_pick(block: str, pick: Pick, rates: Mapping[str, tuple[str, str]]) -> str:
    """A pick in the text part: its block, why it matched, its rating links."""
    if pick.reasons:
        block += "\n   Why: " + "; ".join(pick.reasons)
    rate = rates.get(pick.paper_id)
    if rate is not None:
        block += f"\n   More like this: {rate[0]}\n   Less like this: {rate[1]}"
    return block


# The text part's single values, in the order of ``_render_text``'s list; lists follow them.
_TEXT_SCALARS = (
    "list_name",
    "list_address",
    "date_label",
    "view_url",
    "greeting_name",
    "total",
    "archive_url",
    "email",
    "preferences_url",
    "feed_url",
    "unsubscribe_url",
)
_MARK = "\x00"


@lru_cache(maxsize=2048)
def _text_frame(
    view: bool, picks: int, trending: int, cut: bool, interests: int
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """digest.txt.j2 rendered once per shape of digest, its values left as numbered holes.

    Which lines the template writes depends only on these counts and flags; every value is
    printed as it is (no filters, no escaping). So each shape renders through Jinja once,
    with markers for values, and a mail fills the holes: the literals, and between each two
    the index of its value in ``_render_text``'s list. A mail's text is the same as
    rendering it.
    """
    marks = iter(f"{_MARK}{n}{_MARK}" for n in range(1_000_000))
    fields = {name: next(marks) for name in _TEXT_SCALARS}
    if not view:
        fields["view_url"] = ""
    text = (
        text_env()
        .get_template("digest.txt.j2")
        .render(
            **fields,
            picks=[next(marks) for _ in range(picks)],
            trending=[next(marks) for _ in range(trending)],
            cut=cut,
            interests=[next(marks) for _ in range(interests)],
        )
    )
    parts = text.split(_MARK)
    return tuple(parts[::2]), tuple(int(n) for n in parts[1::2])


def _render_text(
    compiled: CompiledDay,
    digest: SubscriberDigest,
    picks: tuple[Pick, ...],
    trending: list[str],
    *,
    total: int,
    view_url: str | None,
    rates: Mapping[str, tuple[str, str]],
) -> str:
    r = digest.recipient
    name = one_line(r.name or "")
    # One entry per line the reader wrote (the footer keeps their lines).
    interests = [line for line in map(one_line, r.interests.splitlines()) if line]
    values = [
        compiled.day.list_name,
        compiled.day.list_address,
        compiled.date_label,
        view_url or "",
        f" {name}" if name else "",
        str(total),
        compiled.day.archive_url,
        r.email,
        r.preferences_url,
        r.feed_url,
        r.unsubscribe_url,
    ]
    blocks, rows = compiled.text_blocks, compiled.text_rows
    values.extend(_text_pick(blocks[p.paper_id], p, rates) for p in picks)
    values.extend(rows[pid] for pid in trending)
    values.extend(interests)
    frame = _text_frame(
        bool(view_url),
        len(picks),
        len(trending),
        len(picks) + len(trending) < total,
        len(interests),
    )
    literals, holes = frame
    out = [literals[0]]
    for literal, hole in zip(literals[1:], holes, strict=True):
        out.append(values[hole])
        out.append(literal)
    return "".join(out)
