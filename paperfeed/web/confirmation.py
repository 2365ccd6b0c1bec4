"""Sending the double-opt-in mail for a sign-up, after the page has answered.

The mail is the same for a new address and for one already on the list (it holds only the
address and a link), so neither the page nor the mail tells a third party whether an address
is subscribed. Sending runs as a background task; a failure is logged, never shown.
Knows nothing of routes or forms.
"""

from __future__ import annotations

import secrets

import structlog

from paperfeed.links import confirm_url
from paperfeed.mailer.confirm import render_confirmation
from paperfeed.mailer.message import build_confirmation_message, flatten, make_message_id
from paperfeed.mailer.transport import Outcome
from paperfeed.mailer.views import ConfirmationView
from paperfeed.web.state import AppState

log = structlog.get_logger("paperfeed.web")


async def send_confirmation(state: AppState, *, email: str, subscriber_id: int, token: str) -> bool:
    """Render and hand over one confirmation mail; True when the transport accepted it."""
    settings = state.settings
    signed = state.confirmations.sign(subscriber_id, token)
    view = ConfirmationView(
        list_name=settings.list_name,
        list_address=settings.list_address or state.sender.address.addr_spec,
        email=email,
        confirm_url=confirm_url(state.public_url, signed),
    )
    try:
        message = build_confirmation_message(
            render_confirmation(view),
            email=email,
            sender=state.sender,
            # Random part: each request is its own mail, and ids must not enumerate sign-ups.
            message_id=make_message_id(
                "confirm", secrets.token_hex(12), domain=state.sender.domain
            ),
            date=state.clock(),
        )
        transport = state.transport
        if transport.paused_reason is not None:
            # A pause stops a batch run; here every sign-up is a request of its own, and a
            # relay that failed one must not silence every confirmation until a restart.
            log.warning("confirmation.transport_resumed", reason=transport.paused_reason)
            transport.resume()
        results = await transport.send([flatten(message, sender=state.sender)])
    except Exception:  # the page has answered already: log, never lose the request silently
        log.exception("confirmation.failed", subscriber=subscriber_id)
        return False
    result = results[0]
    accepted = result.outcome == Outcome.ACCEPTED
    # Not sent is a warning: the reader waits for a mail that will not come unless they ask
    # again (signing up again sends a new one).
    (log.info if accepted else log.warning)(
        "confirmation.sent" if accepted else "confirmation.not_sent",
        subscriber=subscriber_id,
        outcome=str(result.outcome),
        detail=result.detail,
    )
    return accepted
