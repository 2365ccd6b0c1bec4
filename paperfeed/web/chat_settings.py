"""The "Chat and push" part of the preferences page: add an address, remove one, and
choose whether the digest also comes by email.

An address is an apprise URL and holds the service's secret: it is taken once and from then
on only its redacted form is shown. The public page refuses what only the operator may add
(``json://`` and other any-host schemes, local or private hosts): a web form must not make
the server post to addresses inside its own network. Every form carries the CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.errors import InputError
from paperfeed.links import preferences_url
from paperfeed.store.channel_addresses import add_address, list_addresses, remove_address
from paperfeed.store.db import session_scope
from paperfeed.store.models import ChannelAddressStatus
from paperfeed.web.manage import _known, _preferences
from paperfeed.web.pages import check_form
from paperfeed.web.state import AppState, AppStateDep

router = APIRouter()


def _back(public_url: str, token: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"{preferences_url(public_url, token)}?chat={what}#chat", 303)


async def _apply(
    request: Request,
    state: AppState,
    token: str,
    change: Callable[[], None],
    *,
    done: str,
    refused: int = 400,
) -> Response:
    """Make ``change`` off the event loop, then back to the chat part of the preferences
    saying ``done``; what it refuses (InputError) shows the page with the reason."""
    try:
        await run_in_threadpool(change)
    except InputError as exc:
        error = str(exc)
        return await run_in_threadpool(
            lambda: _preferences(request, state, token, error=error, status=refused)
        )
    return _back(state.public_url, token, done)


@router.post("/u/{token}/chat")
async def add_chat_address(request: Request, token: str, state: AppStateDep) -> Response:
    """Keep a new chat or push address; an unusable one shows the page with the reason."""
    form = await request.form()
    check_form(request, state, form)
    raw = form.get("address")
    url = raw if isinstance(raw, str) else ""

    def add() -> None:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            add_address(session, subscriber.id or 0, url, now=state.clock(), public=True)

    return await _apply(request, state, token, add, done="added")


@router.post("/u/{token}/chat/{address_id}/remove")
async def remove_chat_address(
    request: Request, token: str, address_id: int, state: AppStateDep
) -> Response:
    """Remove one of the subscriber's addresses; mail comes back on if nothing else is left."""
    form = await request.form()
    check_form(request, state, form)

    def remove() -> None:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            remove_address(session, subscriber.id or 0, address_id)
            if not list_addresses(session, subscriber.id or 0) and subscriber.email:
                subscriber.email_digest = True
                session.add(subscriber)

    return await _apply(request, state, token, remove, done="removed", refused=404)


@router.post("/u/{token}/chat/email")
async def email_digest(request: Request, token: str, state: AppStateDep) -> Response:
    """The "also send by email" checkbox; turning it off needs a working chat address."""
    form = await request.form()
    check_form(request, state, form)
    wanted = form.get("email_digest") is not None

    def save() -> None:
        with session_scope(state.engine, write_lock=True) as session:
            subscriber = _known(session, token)
            working = [
                a
                for a in list_addresses(session, subscriber.id or 0)
                if a.status == ChannelAddressStatus.ACTIVE
            ]
            if not wanted and not working:
                raise InputError(
                    "Add a chat or push address that works before turning email off: "
                    "otherwise no digest would reach you."
                )
            subscriber.email_digest = wanted
            session.add(subscriber)

    return await _apply(request, state, token, save, done="saved")
