"""Mailing a sign-up its double-opt-in link: one path for the web form and the command line.

The page that answers a sign-up is the same for every address. The mail goes to the address
alone, so it may be right for its reader: a new, pending or unsubscribed address gets "confirm
your subscription"; an address already getting digests gets "apply these preferences",
since its reader typed new interests. Either link works once (see ``web.signing``). The web
sends it as a background task after the page has answered (a failure
is logged, never shown); ``paperfeed subscribers add``/``import`` send it and say what
became of it. Imports no FastAPI, so the command line's quick commands stay quick.
Knows nothing of routes or forms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from paperfeed.config import Settings, secret_key
from paperfeed.links import confirm_url
from paperfeed.mailer.confirm import confirmation_mail
from paperfeed.mailer.edition_mail import mail_setup
from paperfeed.mailer.message import Sender
from paperfeed.mailer.transport import Outcome, SendResult, Transport
from paperfeed.mailer.views import ConfirmationView
from paperfeed.web.signing import ConfirmationSigner, Preferences

if TYPE_CHECKING:
    from paperfeed.web.state import AppState

log = structlog.get_logger("paperfeed.web")


@dataclass(frozen=True, slots=True)
class SignUp:
    """A subscriber waiting for their confirmation mail.

    ``state`` is their ``link_state`` when the link is made; ``preferences`` what the form
    asked for (applied on confirming), and ``active`` says they get digests already.
    """

    email: str
    subscriber_id: int
    state: str
    preferences: Preferences | None = None
    active: bool = False


@dataclass(frozen=True, slots=True)
class ConfirmationMailer:
    """What mailing confirmations needs: built from the web app's state or from settings."""

    settings: Settings
    public_url: str
    sender: Sender
    signer: ConfirmationSigner
    transport: Transport
    clock: Callable[[], datetime]

    @classmethod
    def for_app(cls, state: AppState) -> ConfirmationMailer:
        """The web app's: its transport, signer, sender and clock."""
        return cls(
            settings=state.settings,
            public_url=state.public_url,
            sender=state.sender,
            signer=state.confirmations,
            transport=state.transport,
            clock=state.clock,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: Transport, clock: Callable[[], datetime]
    ) -> ConfirmationMailer:
        """One outside the web app (the command line), signing with the app's key."""
        return cls(
            settings=settings,
            public_url=settings.public_url,
            sender=mail_setup(settings).sender,
            signer=ConfirmationSigner(
                secret_key(settings), clock=clock, max_age_seconds=settings.confirm_hours * 3600
            ),
            transport=transport,
            clock=clock,
        )


# Past this a link risks the request-line limits of servers and proxies (8 KiB is common).
MAX_SIGNED_CHARS = 6_000


def _signed_link(mailer: ConfirmationMailer, signup: SignUp) -> str:
    """The link's signed part; without the typed preferences when they would make it too long.

    Only interests of thousands of non-Latin characters get there. The link then confirms
    (or, for an active subscriber, opens their preferences page) and the reader types them
    there; the answer page is the same either way.
    """
    signed = mailer.signer.sign(signup.subscriber_id, signup.state, signup.preferences)
    if len(signed) <= MAX_SIGNED_CHARS or signup.preferences is None:
        return signed
    log.warning("confirmation.preferences_dropped", subscriber=signup.subscriber_id)
    return mailer.signer.sign(signup.subscriber_id, signup.state)


async def mail_confirmations(
    mailer: ConfirmationMailer, signups: Sequence[SignUp]
) -> list[SendResult]:
    """Render and hand over one confirmation mail per sign-up; one result each, in order."""
    settings = mailer.settings
    messages = [
        confirmation_mail(
            ConfirmationView(
                list_name=settings.list_name,
                list_address=settings.list_address or mailer.sender.address.addr_spec,
                email=signup.email,
                confirm_url=confirm_url(mailer.public_url, _signed_link(mailer, signup)),
                updates_preferences=signup.active,
            ),
            sender=mailer.sender,
            now=mailer.clock(),
        )
        for signup in signups
    ]
    transport = mailer.transport
    if transport.paused_reason is not None:
        # A pause stops a batch run; here every sign-up is a request of its own, and a
        # relay that failed one must not silence every confirmation until a restart.
        log.warning("confirmation.transport_resumed", reason=transport.paused_reason)
        transport.resume()
    return await transport.send(messages)


async def send_confirmation(state: AppState, signup: SignUp) -> bool:
    """The web's background task: mail one confirmation; True when the transport took it."""
    subscriber_id = signup.subscriber_id
    try:
        results = await mail_confirmations(ConfirmationMailer.for_app(state), [signup])
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
