"""Reading in the browser: one day's list (the archive) and one edition of a subscriber.

``/archive/{date}`` is public; ``/e/{token}/{edition}`` shows an edition only to the link's
owner (it is the "see all N papers" target of a clipped mail). Read-only.
Knows nothing of forms or feeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.links import archive_url, preferences_url
from paperfeed.rating_links import rating_url
from paperfeed.store.db import session_scope
from paperfeed.store.edition_entries import edition_entries
from paperfeed.store.feed_pools import listing_days
from paperfeed.store.models import SubscriberStatus
from paperfeed.store.papers import latest_listing_day, papers_on
from paperfeed.store.subscribers import find_by_token
from paperfeed.web.cards import paper_card
from paperfeed.web.pages import PageError, render
from paperfeed.web.rating_buttons import rating_signer
from paperfeed.web.state import AppState, AppStateDep

router = APIRouter()


@router.get("/archive")
async def latest_archive(state: AppStateDep) -> Response:
    """The newest day's list."""

    def newest() -> date | None:
        with session_scope(state.engine) as session:
            return latest_listing_day(session)

    day = await run_in_threadpool(newest)
    if day is None:
        raise PageError(404, "No day has been crawled yet; come back tomorrow.")
    return RedirectResponse(archive_url(state.public_url, day), 307)


@router.get("/archive/{day}", response_class=HTMLResponse)
async def archive(request: Request, day: str, state: AppStateDep) -> HTMLResponse:
    """One day's papers, most upvoted first, with links to the days around it."""
    try:
        wanted = date.fromisoformat(day)
    except ValueError as exc:
        raise PageError(400, f"{day[:40]!r} is not a date; use YYYY-MM-DD.") from exc
    return await run_in_threadpool(_archive, request, state, wanted)


def _archive(request: Request, state: AppState, day: date) -> HTMLResponse:
    with session_scope(state.engine) as session:
        rows = papers_on(session, day)
        days = listing_days(session)
    if not rows:
        raise PageError(404, missing_day(day, days, today=state.clock().date()))
    rows.sort(key=lambda pair: (-pair[1].upvotes, pair[1].rank))
    older = [d for d in days if d < day]
    newer = [d for d in days if d > day]
    return render(
        request,
        state,
        "archive.html.j2",
        {
            "day": day,
            "papers": [paper_card(p, upvotes=li.upvotes, comments=li.comments) for p, li in rows],
            "older": archive_url(state.public_url, older[0]) if older else None,
            "newer": archive_url(state.public_url, newer[-1]) if newer else None,
        },
    )


def missing_day(day: date, days: Sequence[date], *, today: date) -> str:
    """Why ``day`` has no list, from the days that have one (newest first): the future, not
    crawled yet, before the archive starts, a weekend, or a weekday nothing was stored for."""
    label = f"{day.strftime('%A')} {day.isoformat()}"
    if not days:
        return f"There is no list for {label}: no day has been crawled yet."
    newest, oldest = days[0], days[-1]
    if day > today:
        return f"{label} is still to come. The newest list is of {newest.isoformat()}."
    if day > newest:
        return f"The list for {label} is not crawled yet. The newest is of {newest.isoformat()}."
    if day < oldest:
        return f"The archive starts on {oldest.isoformat()}, after {label}."
    if day.weekday() >= 5:
        return f"There is no list for {label}: Hugging Face lists no papers on weekends."
    return f"There is no list for {label}: none was stored for that day."


@router.get("/e/{token}/{edition_id}", response_class=HTMLResponse)
async def edition(
    request: Request, token: str, edition_id: int, state: AppStateDep
) -> HTMLResponse:
    """One edition with every paper, reasons included."""
    return await run_in_threadpool(_edition, request, state, token, edition_id)


def _edition(request: Request, state: AppState, token: str, edition_id: int) -> HTMLResponse:
    with session_scope(state.engine) as session:
        subscriber = find_by_token(session, token)
        if subscriber is None or subscriber.status == SubscriberStatus.PENDING:
            entries = []
        else:
            entries = edition_entries(session, subscriber.id or 0, edition_id=edition_id)
        # A team digest's preferences page answers 403 (web/manage.py): link none.
        team = subscriber is not None and subscriber.name is not None
        reader = subscriber.id if subscriber is not None and not team else None
    if not entries:
        raise PageError(404, "There is no such edition for this link.", title="Unknown edition")
    signer = rating_signer(state)

    def rate(paper_id: str) -> tuple[str, str] | None:
        # A person's page only: a team's is read by everyone in its channel.
        if reader is None:
            return None
        return (
            rating_url(state.public_url, signer, reader, paper_id, more=True),
            rating_url(state.public_url, signer, reader, paper_id, more=False),
        )

    cards = [
        paper_card(
            e.paper,
            upvotes=e.upvotes,
            reasons=e.reasons,
            section=e.section,
            rate=rate(e.paper.arxiv_id),
        )
        for e in entries
    ]
    return render(
        request,
        state,
        "edition.html.j2",
        {
            "day": entries[0].local_date,
            "matched": [c for c in cards if c.section != "trending"],
            "trending": [c for c in cards if c.section == "trending"],
            "preferences": None if team else preferences_url(state.public_url, token),
            "editions": preferences_url(state.public_url, token) + "/editions",
        },
    )
