"""The front page, signing up, and confirming by the mailed link (double opt-in).

Signing up answers "check your inbox" whatever the address's state, and mails the same
confirmation to a new, pending, subscribed or unsubscribed address alike, so nobody learns
from the page or the mail whether an address is on the list. The link's page confirms only
when its button POSTs: link scanners prefetch GETs. Rate limits per IP and per address.
Knows nothing of feeds or preferences beyond redirecting there.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from paperfeed.errors import InputError
from paperfeed.links import archive_url, preferences_url
from paperfeed.store.db import session_scope
from paperfeed.store.models import Subscriber, SubscriberStatus
from paperfeed.store.papers import latest_listing_day, papers_on
from paperfeed.store.subscribers import confirm, create_subscriber, find_by_email
from paperfeed.store.web_queries import reactivate
from paperfeed.web.cards import paper_card
from paperfeed.web.confirmation import send_confirmation
from paperfeed.web.forms import INTEREST_EXAMPLES, SubscribeForm, read_subscribe
from paperfeed.web.pages import PageError, check_form, render, sentence
from paperfeed.web.ratelimit import network_key
from paperfeed.web.signing import LinkExpired, LinkInvalid
from paperfeed.web.state import AppState, AppStateDep

router = APIRouter()
HOME_PAPERS = 30


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name Python knows, sorted, for the form's list."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def _home_context(state: AppState) -> dict[str, Any]:
    with session_scope(state.engine) as session:
        day = latest_listing_day(session)
        rows = papers_on(session, day) if day else []
    rows.sort(key=lambda pair: (-pair[1].upvotes, pair[1].rank))
    return {
        "day": day,
        "day_url": archive_url(state.public_url, day) if day else None,
        "papers": [
            paper_card(p, upvotes=listing.upvotes, comments=listing.comments)
            for p, listing in rows[:HOME_PAPERS]
        ],
        "total": len(rows),
        "time_zones": time_zones(),
        "examples": INTEREST_EXAMPLES,
    }


def home_page(
    request: Request,
    state: AppState,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The front page, optionally with the form's values and an error to fix."""
    context = _home_context(state)
    context.update(values=values or {}, error=error)
    return render(request, state, "home.html.j2", context, status=status, forms=True)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, state: AppStateDep) -> HTMLResponse:
    """Today's trending papers and the sign-up form."""
    return await run_in_threadpool(home_page, request, state)


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request, state: AppStateDep) -> Response:
    """Take a sign-up: always "check your inbox", one confirmation mail in the background."""
    form = await request.form()
    check_form(request, state, form)
    # The peer, or the client a trusted proxy names (PAPERFEED_TRUSTED_PROXIES): the address
    # the limit counts and the consent record keeps.
    client = request.client.host if request.client else "unknown"
    try:
        data = read_subscribe(form)
    except InputError as exc:
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        error = str(exc)
        return await run_in_threadpool(
            lambda: home_page(request, state, values=values, error=error, status=400)
        )
    if not state.per_ip.hit(network_key(client), data.email):
        raise PageError(
            429,
            "There have been too many sign-ups from your network in the last hour. "
            "Nothing was changed; try again later.",
        )
    if not state.per_address.hit(data.email):
        raise PageError(
            429,
            "We have sent several confirmation mails to this address in the last hour. "
            "Look for them (and in the spam folder), or try again later.",
        )
    subscriber_id, token = await run_in_threadpool(_sign_up, state, data, client)
    response = render(
        request,
        state,
        "inbox.html.j2",
        {"email": data.email, "hours": state.settings.confirm_hours},
    )
    response.background = BackgroundTask(
        send_confirmation, state, email=data.email, subscriber_id=subscriber_id, token=token
    )
    return response


def _sign_up(state: AppState, data: SubscribeForm, client: str) -> tuple[int, str]:
    """The subscriber to confirm: a new pending one, or the address's existing row untouched."""
    for _ in range(2):  # a concurrent sign-up of the same address wins the insert; reread
        try:
            # SQLite: take the write lock at BEGIN. A deferred transaction that reads, then
            # writes while another sign-up commits fails at once with "database is locked"
            # (the busy timeout cannot help a stale read snapshot), which was a 500.
            with session_scope(state.engine, write_lock=True) as session:
                existing = find_by_email(session, data.email)
                if existing is None:
                    existing = create_subscriber(
                        session,
                        email=data.email,
                        interests=data.interests,
                        now=state.clock(),
                        timezone=data.timezone,
                        send_hour=data.send_hour,
                        frequency=data.frequency,
                        opt_in_ip=client[:64],
                    )
                assert existing.id is not None
                return existing.id, existing.token
        except IntegrityError:
            continue
    raise PageError(409, "That address was being signed up twice at once; send the form again.")


def _subscriber_for_link(state: AppState, signed: str) -> Subscriber:
    try:
        subscriber_id, fingerprint = state.confirmations.read(signed)
    except LinkExpired as exc:
        raise PageError(410, sentence(str(exc))) from exc
    except LinkInvalid as exc:
        raise PageError(400, sentence(str(exc)), title="This link is not valid") from exc
    with session_scope(state.engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not state.confirmations.matches(fingerprint, subscriber.token):
        raise PageError(
            410,
            "This sign-up is no longer waiting: unconfirmed sign-ups are removed after "
            f"{state.settings.confirm_hours} hours, and deleted data is gone. Subscribe again.",
        )
    return subscriber


@router.get("/confirm/{signed}", response_class=HTMLResponse)
async def confirm_page(request: Request, signed: str, state: AppStateDep) -> HTMLResponse:
    """The confirmation link's page: a button that confirms (this GET changes nothing)."""
    subscriber = await run_in_threadpool(_subscriber_for_link, state, signed)
    return render(request, state, "confirm.html.j2", {"email": subscriber.email}, forms=True)


@router.post("/confirm/{signed}")
async def confirm_subscription(request: Request, signed: str, state: AppStateDep) -> Response:
    """Confirm (or re-activate) the subscription, then show the preferences."""
    form = await request.form()
    check_form(request, state, form)
    token = await run_in_threadpool(_confirm, state, signed)
    return RedirectResponse(preferences_url(state.public_url, token) + "?welcome=1", 303)


def _confirm(state: AppState, signed: str) -> str:
    found = _subscriber_for_link(state, signed)
    with session_scope(state.engine, write_lock=True) as session:  # see _sign_up
        subscriber = session.get(Subscriber, found.id)
        if subscriber is None:
            raise PageError(410, "This sign-up was removed meanwhile. Subscribe again.")
        if subscriber.status == SubscriberStatus.PENDING:
            confirm(session, subscriber, now=state.clock())
        else:
            reactivate(session, subscriber, now=state.clock())
        return subscriber.token
