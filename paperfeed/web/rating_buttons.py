"""The "more like this" / "less like this" links: a one-button page, then record, then undo.

Link scanners and mail security gateways fetch every link of a mail, so the GET records
nothing: it shows the paper and one button, and only that form's POST (CSRF-checked, as
every form here) records the rating through ``store.ratings.record``, the function the
benchmark calls too. The answer page offers an undo (another POST). Links are signed per
subscriber and paper (``paperfeed.rating_links``): a forged or altered one is a 400 and
stores nothing; one whose subscriber or paper is gone is a 410 / 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from paperfeed.config import secret_key
from paperfeed.rating_links import (
    EditionRatingSigner,
    RatingLink,
    RatingLinkInvalid,
    RatingSigner,
)
from paperfeed.store.db import session_scope
from paperfeed.store.deliveries import edition_contents
from paperfeed.store.models import Edition, Paper, Subscriber
from paperfeed.store.ratings import record, undo
from paperfeed.web.pages import PageError, check_form, render, sentence
from paperfeed.web.state import AppState, AppStateDep

router = APIRouter()

GONE = "This rating link belongs to a subscription that no longer exists, so nothing was recorded."


def rating_signer(state: AppState) -> RatingSigner:
    """The app's rating signer: its secret key and clock."""
    return RatingSigner(secret_key(state.settings), clock=state.clock)


def edition_rating_signer(state: AppState) -> EditionRatingSigner:
    """The app's signer of a mail's per-edition rating links."""
    return EditionRatingSigner(secret_key(state.settings), clock=state.clock)


def _resolve_edition_link(state: AppState, signed: str, position: int, direction: str) -> str:
    """The per-paper signed link an edition link (``/r/e/…/<n>/<more|less>``) stands for."""
    if direction not in ("more", "less"):
        raise PageError(404, "This rating link is not one we sent.")
    try:
        edition_id = edition_rating_signer(state).read(signed)
    except RatingLinkInvalid as exc:
        raise PageError(400, sentence(str(exc)), title="This link is not valid") from exc
    with session_scope(state.engine) as session:
        edition = session.get(Edition, edition_id)
        if edition is None:
            raise PageError(410, GONE, title="No longer subscribed")
        items = edition_contents(session, [edition_id])[edition_id].items
        if not 0 <= position < len(items):
            raise PageError(404, "This edition has no such paper, so nothing was recorded.")
        subscriber_id = edition.subscriber_id
    return rating_signer(state).sign(
        subscriber_id, items[position].paper_id, more=direction == "more"
    )


@router.get("/r/e/{signed}/{position}/{direction}")
async def edition_rating_page(
    signed: str, position: int, direction: str, state: AppStateDep
) -> RedirectResponse:
    """A mail's rating link: on to that paper's own rating page (this GET records nothing)."""
    paper_link = await run_in_threadpool(_resolve_edition_link, state, signed, position, direction)
    return RedirectResponse(f"/r/{paper_link}", status_code=303)


def _read(state: AppState, signed: str) -> tuple[RatingLink, str]:
    """The link and its paper's title, or the page that says why not."""
    try:
        link = rating_signer(state).read(signed)
    except RatingLinkInvalid as exc:
        raise PageError(400, sentence(str(exc)), title="This link is not valid") from exc
    with session_scope(state.engine) as session:
        subscriber = session.get(Subscriber, link.subscriber_id)
        paper = session.get(Paper, link.paper_id)
        if subscriber is None:
            raise PageError(410, GONE, title="No longer subscribed")
        if paper is None:
            raise PageError(404, "This paper is no longer stored, so nothing was recorded.")
        return link, paper.title


def _context(link: RatingLink, title: str, signed: str, step: str) -> dict[str, object]:
    return {
        "step": step,
        "more": link.more,
        "title": title,
        "paper_id": link.paper_id,
        "action": f"/r/{signed}",
        "undo_action": f"/r/{signed}/undo",
    }


@router.get("/r/{signed}", response_class=HTMLResponse)
async def rating_page(request: Request, signed: str, state: AppStateDep) -> HTMLResponse:
    """The link's page: the paper and one button (this GET records nothing)."""
    link, title = await run_in_threadpool(_read, state, signed)
    return render(request, state, "rate.html.j2", _context(link, title, signed, "ask"), forms=True)


def _record(state: AppState, signed: str) -> tuple[RatingLink, str]:
    link, title = _read(state, signed)
    with session_scope(state.engine) as session:
        record(session, link.subscriber_id, link.paper_id, link.value, now=state.clock())
    return link, title


@router.post("/r/{signed}", response_class=HTMLResponse)
async def rate(request: Request, signed: str, state: AppStateDep) -> HTMLResponse:
    """Record the rating (the latest click wins) and offer to undo it."""
    form = await request.form()
    check_form(request, state, form)
    link, title = await run_in_threadpool(_record, state, signed)
    return render(request, state, "rate.html.j2", _context(link, title, signed, "done"), forms=True)


def _undo(state: AppState, signed: str) -> tuple[RatingLink, str]:
    link, title = _read(state, signed)
    with session_scope(state.engine) as session:
        undo(session, link.subscriber_id, link.paper_id)
    return link, title


@router.post("/r/{signed}/undo", response_class=HTMLResponse)
async def undo_rating(request: Request, signed: str, state: AppStateDep) -> HTMLResponse:
    """Forget this subscriber's rating of this paper, whichever way it went."""
    form = await request.form()
    check_form(request, state, form)
    link, title = await run_in_threadpool(_undo, state, signed)
    return render(request, state, "rate.html.j2", _context(link, title, signed, "undone"))
