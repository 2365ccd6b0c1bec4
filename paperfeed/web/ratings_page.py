"""The preferences page's "Your ratings" forms: undo one rating, or reset them all.

And the cold start's buttons (``web/cold_start.py``): rate one paper, back to the list.
All are POST forms with the page's CSRF token (as every form of the page), keyed by the
account token in the URL like the page itself, and change only that subscriber's rows
(``store.ratings.undo`` / ``reset``); then back to the card, which says what was done
(``manage.RATINGS_NOTICES``). The list itself is ``web/rated_list.py``; the live preview
re-ranks with whatever is left, since it picks through ``digest.pick_papers``, which reads
the ratings.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.links import preferences_url
from paperfeed.store.db import session_scope
from paperfeed.store.models import Paper
from paperfeed.store.ratings import LESS, MORE, record, reset, undo
from paperfeed.web.manage import _known
from paperfeed.web.pages import PageError, check_form
from paperfeed.web.state import AppStateDep

router = APIRouter()


def _back(public_url: str, token: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"{preferences_url(public_url, token)}?ratings={what}#ratings", 303)


# ``path``: an old-style arXiv id has a slash (hep-th/9901001).
@router.post("/u/{token}/ratings/{paper_id:path}/undo")
async def undo_rating(request: Request, token: str, paper_id: str, state: AppStateDep) -> Response:
    """Forget the reader's rating of one paper (nothing happens if there is none)."""
    form = await request.form()
    check_form(request, state, form)

    def forget() -> None:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            undo(session, subscriber.id or 0, paper_id)

    await run_in_threadpool(forget)
    return _back(state.public_url, token, "undone")


@router.post("/u/{token}/ratings/reset")
async def reset_ratings(request: Request, token: str, state: AppStateDep) -> Response:
    """Forget every rating of the reader."""
    form = await request.form()
    check_form(request, state, form)

    def forget_all() -> None:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            reset(session, subscriber.id or 0)

    await run_in_threadpool(forget_all)
    return _back(state.public_url, token, "reset")


@router.post("/u/{token}/ratings/rate")
async def rate_paper(request: Request, token: str, state: AppStateDep) -> Response:
    """Record a cold-start rating (``paper``, ``value`` more or less), then the next ones."""
    form = await request.form()
    check_form(request, state, form)
    paper_id, way = form.get("paper"), form.get("value")
    if not isinstance(paper_id, str) or way not in ("more", "less"):
        raise PageError(400, "Choose more or less like a paper we showed you.")

    def rate() -> None:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            if session.get(Paper, paper_id) is None:
                raise PageError(404, "This paper is no longer stored, so nothing was recorded.")
            value = MORE if way == "more" else LESS
            record(session, subscriber.id or 0, paper_id, value, now=state.clock())

    await run_in_threadpool(rate)
    return RedirectResponse(f"{preferences_url(state.public_url, token)}?start=1#cold-start", 303)
