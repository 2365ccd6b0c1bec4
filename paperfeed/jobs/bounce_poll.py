"""The bounce poll job: read the bounce mailbox's new reports into subscriber state.

When it runs: every ``bounce_poll_minutes`` in the daemon, and in ``paperfeed tick``, when
``bounce_mailbox_url`` is set; by hand with ``paperfeed bounces poll``. Idempotent: each
report is stored once under its own key, so a mail read twice changes nothing twice.
"""

from __future__ import annotations

import ssl

from paperfeed.bounces.events import policy_of
from paperfeed.bounces.imap_poll import PollSummary, mailbox_address, poll_mailbox
from paperfeed.errors import ConfigError
from paperfeed.services import Services


def bounce_poll(services: Services, *, context: ssl.SSLContext | None = None) -> PollSummary:
    """One poll of the configured bounce mailbox; ConfigError when there is none."""
    settings = services.settings
    if settings.bounce_mailbox_url is None:
        raise ConfigError(
            "no bounce mailbox: set PAPERFEED_BOUNCE_MAILBOX_URL "
            "(imaps://user:password@host:993/INBOX)"
        )
    address = mailbox_address(settings.bounce_mailbox_url.get_secret_value())
    return poll_mailbox(
        services.engine,
        address,
        now=services.now(),
        policy=policy_of(settings.soft_bounce_limit, settings.soft_bounce_days),
        context=context,
    )
