"""A subscriber's own pages: preferences with a live preview, deleting their data, leaving.

The token in the URL is the key (256 random bits, looked up in constant time); forms also
carry the CSRF token. The personal feed has its own read-only key, shown here; either key
can be reset from this page, and the old one stops working at once. Unsubscribing follows
RFC 8058: ``POST /unsubscribe/{token}`` with ``List-Unsubscribe=One-Click`` (form-urlencoded
or multipart) answers 200 with no redirect and needs no cookie; doing it twice is harmless.
Its GET only shows a button.
Knows nothing of sign-up or feeds beyond linking to them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from paperfeed.digest import EditionPolicy
from paperfeed.errors import InputError
from paperfeed.links import personal_feed_url, preferences_url
from paperfeed.mailer.files import remove_mail_to
from paperfeed.store.channel_addresses import list_addresses
from paperfeed.store.db import session_scope
from paperfeed.store.models import Frequency, Subscriber, SubscriberStatus
from paperfeed.store.preferences import (
    reactivate,
    rotate_feed_token,
    unsubscribe_now,
    update_preferences,
)
from paperfeed.store.subscribers import find_by_token, remove_subscriber, rotate_token
from paperfeed.web.cold_start import cold_start_papers
from paperfeed.web.forms import INTEREST_EXAMPLES, interests_field, read_preferences
from paperfeed.web.live_preview import preview_digest
from paperfeed.web.opml import FILENAME as OPML_FILENAME
from paperfeed.web.opml import MEDIA_TYPE as OPML_MEDIA_TYPE
from paperfeed.web.opml import OpmlFeed, render_opml
from paperfeed.web.pages import PageError, check_form, render
from paperfeed.web.past_editions import ON_PREFERENCES, past_editions
from paperfeed.web.rated_list import rated_rows
from paperfeed.web.state import AppState, AppStateDep
from paperfeed.web.zone_choices import zone_regions

router = APIRouter()
RATINGS_NOTICES = {  # after a "Your ratings" form (web/ratings_page.py)
    "undone": "That rating is forgotten: your picks are chosen as before it.",
    "reset": "All your ratings are forgotten: your picks follow your interests alone again.",
}
CHAT_NOTICES = {  # after a "Chat and push" form (web/chat_settings.py)
    "added": "Address added: your next digest goes there too.",
    "removed": "Address removed.",
    "saved": "Saved.",
}
TEAM_PAGE = (
    "This is a team digest: it is managed by whoever runs this paperfeed "
    "(paperfeed teams add, list and remove), not from this page."
)
NOT_FOUND = (
    "No subscription has this link. It may have been deleted, or the link was cut short: "
    "copy the whole link from one of our mails."
)


def _known(session: Session, token: str) -> Subscriber:
    """The subscriber whose pages ``token`` opens, or the 404 page."""
    subscriber = find_by_token(session, token)
    if subscriber is None or subscriber.status == SubscriberStatus.PENDING:
        # A pending sign-up has no pages yet: its token is only revealed by confirming.
        raise PageError(404, NOT_FOUND, title="Unknown link")
    if subscriber.name is not None:
        # A team digest's link is in every post to its channel (the edition page): anyone
        # there could change, move or delete it. Its operator manages it from the CLI.
        raise PageError(403, TEAM_PAGE, title="A team digest")
    return subscriber


def _subscriber(state: AppState, token: str) -> Subscriber:
    with session_scope(state.engine) as session:
        return _known(session, token)


def _preferences(
    request: Request,
    state: AppState,
    token: str,
    *,
    interests: str | None = None,
    error: str | None = None,
    status: int = 200,
    previewing: bool = False,
) -> HTMLResponse:
    with session_scope(state.engine) as session:
        subscriber = _known(session, token)
        editions = past_editions(
            session, state.public_url, token, subscriber.id or 0, offset=0, limit=ON_PREFERENCES
        )
        chat_addresses = list_addresses(session, subscriber.id or 0)
        ratings = rated_rows(session, subscriber.id or 0)
    text = subscriber.interests if interests is None else interests
    policy = EditionPolicy.from_settings(state.settings)
    # Right after confirming (and after each of its ratings): a few papers to rate.
    starting = (
        request.query_params.get("welcome") == "1" or request.query_params.get("start") == "1"
    )
    cold_start = (
        cold_start_papers(
            state.engine, state.corpus, subscriber=subscriber, now=state.clock(), policy=policy
        )
        if starting and interests is None
        else None
    )
    preview = preview_digest(
        state.engine,
        state.corpus,
        interests=text,
        now=state.clock(),
        policy=EditionPolicy.from_settings(state.settings),
        subscriber=subscriber,
    )
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "token": token,
        "interests": text,
        "preview": preview,
        "error": error,
        "previewing": previewing,
        "editions": editions,
        "chat_addresses": chat_addresses,
        "chat_notice": CHAT_NOTICES.get(request.query_params.get("chat", "")),
        "ratings": ratings,
        "cold_start": cold_start,
        "ratings_notice": RATINGS_NOTICES.get(request.query_params.get("ratings", "")),
        "saved": request.query_params.get("saved") == "1",
        "reset": request.query_params.get("reset"),
        "welcome": request.query_params.get("welcome") == "1",
        "time_zones": zone_regions(subscriber.timezone),
        "frequencies": (Frequency.DAILY, Frequency.WEEKLY, Frequency.OFF),
        "examples": INTEREST_EXAMPLES,
        "feed_rss": personal_feed_url(state.public_url, subscriber.feed_token, "rss"),
        "feed_atom": personal_feed_url(state.public_url, subscriber.feed_token, "atom"),
    }
    return render(request, state, "preferences.html.j2", context, status=status, forms=True)


@router.get("/u/{token}", response_class=HTMLResponse)
async def preferences(request: Request, token: str, state: AppStateDep) -> HTMLResponse:
    """The preferences page: interests as understood, a preview, schedule, feeds, delete."""
    return await run_in_threadpool(_preferences, request, state, token)


@router.get("/u/{token}/feeds.opml")
async def feeds_opml(token: str, state: AppStateDep) -> Response:
    """The reader's feeds as an OPML file to import: the personal feed (by its feed token)
    and the daily feed. Never names the account token; no cache keeps it."""
    subscriber = await run_in_threadpool(_subscriber, state, token)
    name = state.settings.list_name
    site = state.public_url + "/"
    body = render_opml(
        f"{name} feeds",
        [
            OpmlFeed(
                f"{name}: your papers",
                personal_feed_url(state.public_url, subscriber.feed_token, "atom"),
                site,
            ),
            OpmlFeed(f"{name}: trending papers", f"{state.public_url}/feeds/daily.atom", site),
        ],
    )
    return Response(
        body,
        media_type=OPML_MEDIA_TYPE,
        headers={
            "content-disposition": f'attachment; filename="{OPML_FILENAME}"',
            "cache-control": "no-store",
        },
    )


@router.get("/u/{token}/preview", response_class=HTMLResponse)
async def preview(request: Request, token: str, state: AppStateDep) -> HTMLResponse:
    """The preview for typed (unsaved) interests; ``fragment=1`` for the live update."""
    interests = interests_field(request.query_params)
    if request.query_params.get("fragment") != "1":
        return await run_in_threadpool(
            lambda: _preferences(request, state, token, interests=interests, previewing=True)
        )

    def fragment() -> HTMLResponse:
        subscriber = _subscriber(state, token)
        result = preview_digest(
            state.engine,
            state.corpus,
            interests=interests,
            now=state.clock(),
            policy=EditionPolicy.from_settings(state.settings),
            subscriber=subscriber,
        )
        return render(request, state, "_preview.html.j2", {"preview": result})

    return await run_in_threadpool(fragment)


@router.post("/u/{token}", response_class=HTMLResponse)
async def save_preferences(request: Request, token: str, state: AppStateDep) -> Response:
    """Save the preferences form; errors show the page again with the text kept."""
    form = await request.form()
    check_form(request, state, form)
    try:
        data = read_preferences(form)
    except InputError as exc:
        raw = form.get("interests")
        kept = raw if isinstance(raw, str) and "\x00" not in raw else None
        error = str(exc)
        return await run_in_threadpool(
            lambda: _preferences(request, state, token, interests=kept, error=error, status=400)
        )

    def save() -> None:
        # Read-then-write: on SQLite take the write lock at BEGIN, or simultaneous posts
        # fail with "database is locked" (a 500) instead of waiting their turn.
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            update_preferences(
                session,
                subscriber,
                interests=data.interests,
                timezone=data.timezone,
                send_hour=data.send_hour,
                frequency=data.frequency,
                paused=data.paused,
                now=state.clock(),
            )

    await run_in_threadpool(save)
    return RedirectResponse(preferences_url(state.public_url, token) + "?saved=1", 303)


@router.post("/u/{token}/resubscribe")
async def resubscribe(request: Request, token: str, state: AppStateDep) -> Response:
    """Start digests again after unsubscribing (the link proves the inbox is theirs)."""
    form = await request.form()
    check_form(request, state, form)

    def again() -> None:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            reactivate(session, subscriber, now=state.clock())

    await run_in_threadpool(again)
    return RedirectResponse(preferences_url(state.public_url, token) + "?saved=1", 303)


@router.post("/u/{token}/delete", response_class=HTMLResponse)
async def delete_data(request: Request, token: str, state: AppStateDep) -> HTMLResponse:
    """Delete the subscriber, their editions and ledger; needs the "I am sure" box ticked."""
    form = await request.form()
    check_form(request, state, form)
    if form.get("sure") != "yes":
        raise PageError(
            400,
            "Tick the box that says you are sure, then press Delete again. Nothing was deleted.",
        )

    def delete() -> str:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = find_by_token(session, token)
            if subscriber is None:
                raise PageError(404, NOT_FOUND, title="Unknown link")
            if subscriber.name is not None:
                raise PageError(403, TEAM_PAGE, title="A team digest")
            email, feed_token = subscriber.email, subscriber.feed_token
            remove_subscriber(session, subscriber)
        if state.settings.smtp_url is None:
            # The file outbox keeps copies of their mail (digests, confirmations): theirs too.
            remove_mail_to(state.settings.outbox_dir, email)
        return feed_token

    _forget_feed(state, await run_in_threadpool(delete))
    return render(request, state, "deleted.html.j2")


def _forget_feed(state: AppState, feed_token: str) -> None:
    """Drop a feed key's cached feeds, so its URL stops working now, not at the next check."""
    for fmt in ("rss", "atom"):
        state.feeds.cache.forget(("u", feed_token, fmt))


@router.post("/u/{token}/reset-feed")
async def reset_feed(request: Request, token: str, state: AppStateDep) -> Response:
    """Give the personal feed a new address; the old feed URL stops working at once."""
    form = await request.form()
    check_form(request, state, form)

    def reset() -> str:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            return rotate_feed_token(session, subscriber, now=state.clock())

    _forget_feed(state, await run_in_threadpool(reset))
    return RedirectResponse(preferences_url(state.public_url, token) + "?reset=feed", 303)


@router.post("/u/{token}/reset-link")
async def reset_link(request: Request, token: str, state: AppStateDep) -> Response:
    """Give this page (and the unsubscribe and edition links) a new address; see rotate_token."""
    form = await request.form()
    check_form(request, state, form)

    def reset() -> str:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            return rotate_token(session, subscriber, now=state.clock()).token

    new_token = await run_in_threadpool(reset)
    return RedirectResponse(preferences_url(state.public_url, new_token) + "?reset=link", 303)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: str, state: AppStateDep) -> HTMLResponse:
    """A page with one button; this GET changes nothing (mail scanners fetch links)."""
    subscriber = await run_in_threadpool(_subscriber, state, token)
    done = subscriber.status == SubscriberStatus.UNSUBSCRIBED
    return render(
        request,
        state,
        "unsubscribe.html.j2",
        {"email": subscriber.email, "token": token, "done": done},
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_one_click(request: Request, token: str, state: AppStateDep) -> HTMLResponse:
    """RFC 8058 one-click: 200, no redirect, no cookie needed, idempotent."""
    form = await request.form()
    if form.get("List-Unsubscribe") != "One-Click":
        raise PageError(
            400,
            "An unsubscribe request must carry List-Unsubscribe=One-Click (RFC 8058); "
            "use the button on this page.",
        )

    def leave() -> str:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            unsubscribe_now(session, subscriber, now=state.clock())
            return subscriber.email or ""

    email = await run_in_threadpool(leave)
    return render(request, state, "unsubscribed.html.j2", {"email": email, "token": token})
