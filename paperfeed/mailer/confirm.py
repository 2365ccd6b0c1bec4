"""The double-opt-in mail: compiled once per list, filled per address.

Only the address and its confirmation link differ per mail; both are escaped. An address that
gets digests already is asked to apply the preferences typed in the form instead (a second
compiled variant), so its reader is not told "nothing is sent until you confirm". The link should
lead to a page whose button POSTs (link scanners prefetch GETs): that is the web's job.
Knows nothing of tokens, the database or SMTP.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import lru_cache

from paperfeed.errors import TemplateError
from paperfeed.mailer.message import (
    OutgoingMail,
    Sender,
    build_confirmation_message,
    flatten,
    make_message_id,
)
from paperfeed.mailer.slots import Slotted, escape_value, slotted
from paperfeed.mailer.templates import compile_mjml, html_env, text_env
from paperfeed.mailer.views import ConfirmationView, RenderedMail
from paperfeed.paper_view import one_line

_SLOTS = frozenset({"EMAIL", "CONFIRM_URL"})


@lru_cache(maxsize=8)
def _compiled(list_name: str, list_address: str, updates: bool) -> Slotted:
    source = (
        html_env()
        .get_template("confirm.mjml.j2")
        .render(list_name=list_name, list_address=list_address, updates=updates)
    )
    compiled = slotted(compile_mjml(source, name="confirm.mjml.j2"))
    if compiled.names != _SLOTS:
        raise TemplateError(
            f"confirm.mjml.j2 fills {sorted(compiled.names)}, expected {sorted(_SLOTS)}; "
            "keep the slot names confirm.py fills"
        )
    return compiled


def render_confirmation(view: ConfirmationView) -> RenderedMail:
    """The confirmation mail (subject, text, HTML) for one address."""
    list_name = one_line(view.list_name)
    updates = view.updates_preferences
    html = _compiled(list_name, view.list_address, updates).fill(
        {"EMAIL": escape_value(view.email), "CONFIRM_URL": escape_value(view.confirm_url)}
    )
    text = (
        text_env()
        .get_template("confirm.txt.j2")
        .render(
            list_name=list_name,
            list_address=view.list_address,
            email=view.email,
            confirm_url=view.confirm_url,
            updates=updates,
        )
    )
    subject = (
        f"Apply your new preferences for {list_name}"
        if updates
        else f"Confirm your subscription to {list_name}"
    )
    return RenderedMail(subject=subject, text=text, html=html)


def confirmation_mail(view: ConfirmationView, *, sender: Sender, now: datetime) -> OutgoingMail:
    """The confirmation mail for one address as the bytes any transport sends."""
    message = build_confirmation_message(
        render_confirmation(view),
        email=view.email,
        sender=sender,
        # Random part: each request is its own mail, and ids must not enumerate sign-ups.
        message_id=make_message_id("confirm", secrets.token_hex(12), domain=sender.domain),
        date=now,
    )
    return flatten(message, sender=sender)
