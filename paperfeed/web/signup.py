"""The front page, signing up, and confirming by the mailed link (double opt-in).

Signing up answers the same "check your inbox" page whatever the address's state, so nobody
learns from the page whether an address is on the list. The mail, read only by the address's
owner, fits them: a new, pending or unsubscribed address is asked to confirm, one that gets
digests already to apply the interests typed; either link carries what the form asked for.
The link's page acts only when its button POSTs (link scanners prefetch GETs), and only once:
then it says "already confirmed" and shows nothing of the account. Rate limits per IP and
per address. Knows nothing of feeds or preferences beyond redirecting there.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
from paperfeed.store.preferences import reactivate, update_preferences
from paperfeed.store.subscribers import confirm, create_subscriber, find_by_email, link_state
from paperfeed.web.cards import paper_card
from paperfeed.web.confirmation import SignUp, send_confirmation
from paperfeed.web.forms import INTEREST_EXAMPLES, SubscribeForm, read_subscribe
from paperfeed.web.pages import PageError, check_form, render, sentence
from paperfeed.web.ratelimit import network_key
from paperfeed.web.signing import ConfirmationLink, LinkExpired, LinkInvalid, Preferences
from paperfeed.web.state import AppState, AppStateDep
from paperfeed.web.zone_choices import zone_regions

router = APIRouter()
HOME_PAPERS = 30
# The address typed, for the "check your inbox" page the sign-up redirects to.
INBOX_COOKIE = "pf_inbox"
INBOX_COOKIE_SECONDS = 15 * 60


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
        "time_zones": zone_regions(),
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
    if values and isinstance(values.get("timezone"), str):
        context["time_zones"] = zone_regions(values["timezone"])
    return render(request, state, "home.html.j2", context, status=status, forms=True)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, state: AppStateDep) -> HTMLResponse:
    """Today's trending papers and the sign-up form."""
    return await run_in_threadpool(home_page, request, state)


@router.get("/subscribe")
async def subscribe_form() -> Response:
    """The sign-up form lives on the front page; a typed or bookmarked /subscribe goes there."""
    return RedirectResponse("/#signup-title", 303)


@router.get("/subscribe/sent", response_class=HTMLResponse)
async def check_inbox(request: Request, state: AppStateDep) -> HTMLResponse:
    """The "check your inbox" page a sign-up redirects to, so a reload posts nothing again.

    The address comes from a short-lived cookie the redirect set (never the URL, which
    proxies log); without it the page speaks of "the address you typed".
    """
    email = request.cookies.get(INBOX_COOKIE, "")[:320] or None
    return render(request, state, "inbox.html.j2", {"email": email})


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request, state: AppStateDep) -> Response:
    """Take a sign-up: always 303 to "check your inbox", one confirmation mail in the background."""
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
    signup = await run_in_threadpool(_sign_up, state, data, client)
    # Redirect after POST: the answer is a GET page, so reloading it posts nothing again.
    response = RedirectResponse("/subscribe/sent", 303)
    response.set_cookie(
        INBOX_COOKIE,
        data.email,
        max_age=INBOX_COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=state.public_url.startswith("https://"),
        path="/subscribe",
    )
    response.background = BackgroundTask(send_confirmation, state, signup)
    return response


def _sign_up(state: AppState, data: SubscribeForm, client: str) -> SignUp:
    """What to mail: a new pending subscriber, or the address's row untouched and a link that
    applies the form's preferences when its owner confirms."""
    for _ in range(2):  # a concurrent sign-up of the same address wins the insert; reread
        try:
            # SQLite: take the write lock at BEGIN. A deferred transaction that reads, then
            # writes while another sign-up commits fails at once with "database is locked"
            # (the busy timeout cannot help a stale read snapshot), which was a 500.
            with session_scope(state.engine, write_lock=True) as session:
                existing = find_by_email(session, data.email)
                if existing is None:
                    created = create_subscriber(
                        session,
                        email=data.email,
                        interests=data.interests,
                        now=state.clock(),
                        timezone=data.timezone,
                        send_hour=data.send_hour,
                        frequency=data.frequency,
                        opt_in_ip=client[:64],
                    )
                    assert created.id is not None
                    return SignUp(data.email, created.id, link_state(created))
                # A stranger may have typed the address: nothing changes before its owner
                # confirms, and the link carries what was typed so confirming applies it.
                assert existing.id is not None
                return SignUp(
                    data.email,
                    existing.id,
                    link_state(existing),
                    Preferences(data.interests, data.timezone, data.send_hour, data.frequency),
                    active=existing.status == SubscriberStatus.ACTIVE,
                )
        except IntegrityError:
            continue
    raise PageError(409, "That address was being signed up twice at once; send the form again.")


USED_LINK = (
    "This link has done its work already: each confirmation link works once. Nothing was "
    "changed now. Every digest links to your preferences; to sign up again, use the form on "
    "the front page."
)


def _read_link(state: AppState, signed: str) -> ConfirmationLink:
    try:
        return state.confirmations.read(signed)
    except LinkExpired as exc:
        raise PageError(410, sentence(str(exc))) from exc
    except LinkInvalid as exc:
        raise PageError(400, sentence(str(exc)), title="This link is not valid") from exc


def _unused(state: AppState, link: ConfirmationLink, subscriber: Subscriber | None) -> Subscriber:
    # Used, superseded (an unsubscribe, a token reset) or deleted: one page for all, which
    # names neither the address nor the account, whoever holds the link now.
    if subscriber is None or not state.confirmations.matches(link, link_state(subscriber)):
        raise PageError(410, USED_LINK, title="Already confirmed")
    return subscriber


def _subscriber_for_link(state: AppState, signed: str) -> tuple[Subscriber, ConfirmationLink]:
    link = _read_link(state, signed)
    with session_scope(state.engine) as session:
        subscriber = session.get(Subscriber, link.subscriber_id)
    return _unused(state, link, subscriber), link


@router.get("/confirm/{signed}", response_class=HTMLResponse)
async def confirm_page(request: Request, signed: str, state: AppStateDep) -> HTMLResponse:
    """The confirmation link's page: a button that confirms (this GET changes nothing)."""
    subscriber, link = await run_in_threadpool(_subscriber_for_link, state, signed)
    context = {
        "email": subscriber.email,
        "updates": subscriber.status == SubscriberStatus.ACTIVE,
        "preferences": link.preferences,
    }
    return render(request, state, "confirm.html.j2", context, forms=True)


@router.post("/confirm/{signed}")
async def confirm_subscription(request: Request, signed: str, state: AppStateDep) -> Response:
    """Confirm (or re-activate) the subscription, apply the form's preferences, then show them."""
    form = await request.form()
    check_form(request, state, form)
    token = await run_in_threadpool(_confirm, state, signed)
    return RedirectResponse(preferences_url(state.public_url, token) + "?welcome=1", 303)


def _confirm(state: AppState, signed: str) -> str:
    # Read and act in one write-locked transaction (see _sign_up): two clicks at once must
    # not both find the link unused.
    link = _read_link(state, signed)
    with session_scope(state.engine, write_lock=True) as session:
        found = session.get(Subscriber, link.subscriber_id, with_for_update=True)
        subscriber = _unused(state, link, found)
        now = state.clock()
        wanted = link.preferences
        if wanted is not None:
            update_preferences(
                session,
                subscriber,
                interests=wanted.interests,
                timezone=wanted.timezone,
                send_hour=wanted.send_hour,
                frequency=wanted.frequency,
                paused=subscriber.paused,
                now=now,
            )
        if subscriber.status == SubscriberStatus.PENDING:
            confirm(session, subscriber, now=now)
        else:
            reactivate(session, subscriber, now=now)
        if link_state(subscriber) == link.state:
            # Nothing above changed a value (the same preferences again, within the same
            # second): move the change time on, so the link is spent all the same.
            subscriber.updated_at += timedelta(seconds=1)
            session.add(subscriber)
        return subscriber.token
