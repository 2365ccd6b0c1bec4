"""A subscriber's past editions: the newest few on the preferences page, all of them by page.

Every edition composed for a subscriber stays readable at ``/e/{token}/{id}`` (the digest's
"view in your browser" link); this lists them newest first, dated, with how many papers each
held. ``/u/{token}/editions?page=N`` pages through all of them. Read-only; the token is the
key, as on the preferences page. Knows nothing of forms or feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from paperfeed.links import edition_url, preferences_url
from paperfeed.store.db import session_scope
from paperfeed.store.models import Edition, EditionPaper, SubscriberStatus
from paperfeed.store.subscribers import find_by_token
from paperfeed.web.pages import PageError, render
from paperfeed.web.state import AppState, AppStateDep

router = APIRouter()
# The preferences page shows this many; the rest are a link away, PER_PAGE to a page.
ON_PREFERENCES = 5
PER_PAGE = 30


@dataclass(frozen=True, slots=True)
class PastEdition:
    """One edition as listed: its date, how many papers it held, and its page."""

    local_date: date
    papers: int
    url: str


@dataclass(frozen=True, slots=True)
class EditionList:
    """One slice of a subscriber's editions, newest first, and how many there are in all."""

    editions: tuple[PastEdition, ...]
    total: int


def past_editions(
    session: Session, public_url: str, token: str, subscriber_id: int, *, offset: int, limit: int
) -> EditionList:
    """The subscriber's editions from ``offset``, newest first: two queries, whatever the page."""
    total = session.exec(
        select(func.count(col(Edition.id))).where(col(Edition.subscriber_id) == subscriber_id)
    ).one()
    rows = session.exec(
        select(col(Edition.id), col(Edition.local_date), func.count(col(EditionPaper.id)))
        .outerjoin(EditionPaper, col(EditionPaper.edition_id) == col(Edition.id))
        .where(col(Edition.subscriber_id) == subscriber_id)
        .group_by(col(Edition.id), col(Edition.local_date))
        .order_by(col(Edition.local_date).desc(), col(Edition.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return EditionList(
        tuple(
            PastEdition(
                local_date, int(papers), edition_url(public_url, token, int(edition_id or 0))
            )
            for edition_id, local_date, papers in rows
        ),
        int(total),
    )


@router.get("/u/{token}/editions", response_class=HTMLResponse)
async def editions_page(
    request: Request, token: str, state: AppStateDep, page: int = 1
) -> HTMLResponse:
    """All past editions, PER_PAGE to a page, newest first."""
    return await run_in_threadpool(_editions_page, request, state, token, max(page, 1))


def _editions_page(request: Request, state: AppState, token: str, page: int) -> HTMLResponse:
    with session_scope(state.engine) as session:
        subscriber = find_by_token(session, token)
        if subscriber is None or subscriber.status == SubscriberStatus.PENDING:
            raise PageError(
                404, "No subscription has this link; copy the whole link from one of our mails."
            )
        listed = past_editions(
            session,
            state.public_url,
            token,
            subscriber.id or 0,
            offset=(page - 1) * PER_PAGE,
            limit=PER_PAGE,
        )
    pages = max(1, -(-listed.total // PER_PAGE))
    if page > pages:
        raise PageError(404, f"There are {pages} pages of editions; page {page} is past the end.")
    here = f"/u/{token}/editions"
    return render(
        request,
        state,
        "editions.html.j2",
        {
            "listed": listed,
            "page": page,
            "pages": pages,
            "newer": f"{here}?page={page - 1}" if page > 1 else None,
            "older": f"{here}?page={page + 1}" if page < pages else None,
            # A team digest's preferences page answers 403 (web/manage.py): link none.
            "preferences": None
            if subscriber.name is not None
            else preferences_url(state.public_url, token),
        },
    )
