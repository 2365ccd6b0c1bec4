"""``paperfeed subscribers chat``: a subscriber's chat and push addresses, and whether they
also get their digest by email.

Addresses are apprise URLs (``slack://…``, ``discord://…``, ``tgram://…``, ``ntfy://…``);
they hold the service's secret, so after entry only the redacted form is ever printed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from paperfeed.cli_base import command_group, open_database, out, utc_now
from paperfeed.cli_teams import ChannelKind, read_url
from paperfeed.errors import InputError
from paperfeed.terminal import terminal_text

if TYPE_CHECKING:
    from sqlmodel import Session

    from paperfeed.store.models import Subscriber


class Switch(StrEnum):
    ON = "on"
    OFF = "off"


chat_app = command_group("A subscriber's chat and push addresses (apprise URLs).")


def _subscriber(session: Session, email: str) -> Subscriber:
    from paperfeed.store.subscribers import find_by_email, lookup_address

    subscriber = find_by_email(session, lookup_address(email))
    if subscriber is None or subscriber.id is None:
        raise InputError(f"no subscriber {email!r}; `paperfeed subscribers list` shows them")
    return subscriber


def _say(text: str) -> None:
    out.print(terminal_text(text), highlight=False, soft_wrap=True)


@chat_app.command("add")
def chat_add(
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    url: Annotated[
        str,
        typer.Argument(
            help="An apprise URL (slack://…, discord://…, msteams://…, mmost://…, matrix://…, "
            "tgram://…, ntfy://…, json://…); '-' reads it from standard input."
        ),
    ],
    no_email: Annotated[
        bool, typer.Option("--no-email", help="Send their digest only to chat from now on.")
    ] = False,
    kind: ChannelKind = "chat",
) -> None:
    """Add a chat or push address; digests go there beside (or, --no-email, instead of) mail."""
    from paperfeed.store.channel_addresses import add_address
    from paperfeed.store.db import session_scope

    with open_database() as engine, session_scope(engine) as session:
        subscriber = _subscriber(session, email)
        assert subscriber.id is not None
        address = add_address(session, subscriber.id, read_url(url), now=utc_now(), kind=kind)
        if no_email:
            subscriber.email_digest = False
            session.add(subscriber)
        by_mail = "and by email" if subscriber.email_digest else "only (no email)"
        where = f"{address.shown} (id {address.id}) for {subscriber.email}"
        _say(f"added {where}: digests go there {by_mail}")


@chat_app.command("list")
def chat_list(email: Annotated[str, typer.Argument(help="The subscriber's address.")]) -> None:
    """List a subscriber's chat addresses (redacted), their status and last error."""
    from rich.table import Table

    from paperfeed.store.channel_addresses import list_addresses
    from paperfeed.store.db import session_scope

    with open_database() as engine, session_scope(engine) as session:
        subscriber = _subscriber(session, email)
        assert subscriber.id is not None
        addresses = list_addresses(session, subscriber.id)
        table = Table("id", "service", "address", "status", "last error")
        for a in addresses:
            cells = (str(a.id), a.service, a.shown, a.status, a.last_error or "")
            table.add_row(*(terminal_text(cell) for cell in cells))
        out.print(table)
        state = "on" if subscriber.email_digest else "off"
        _say(f"{len(addresses)} chat addresses; email digest {state}")


@chat_app.command("remove")
def chat_remove(
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    address_id: Annotated[int, typer.Argument(help="The id `chat list` shows.")],
) -> None:
    """Remove one chat address (and its delivery history)."""
    from paperfeed.store.channel_addresses import list_addresses, remove_address
    from paperfeed.store.db import session_scope

    with open_database() as engine, session_scope(engine) as session:
        subscriber = _subscriber(session, email)
        assert subscriber.id is not None
        removed = remove_address(session, subscriber.id, address_id)
        left = list_addresses(session, subscriber.id)
        if not left and not subscriber.email_digest:
            # Nothing else would reach them: mail comes back on rather than silence.
            subscriber.email_digest = True
            session.add(subscriber)
            _say(f"removed {removed.shown}; no chat address is left, so email is on again")
        else:
            _say(f"removed {removed.shown}")


@chat_app.command("email")
def chat_email(
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    on_off: Annotated[
        Switch, typer.Argument(metavar="on|off", help="on: also send the digest by email.")
    ],
) -> None:
    """Turn the email digest on or off (off needs a working chat address)."""
    from paperfeed.store.channel_addresses import list_addresses
    from paperfeed.store.db import session_scope
    from paperfeed.store.models import ChannelAddressStatus

    on = on_off is Switch.ON
    with open_database() as engine, session_scope(engine) as session:
        subscriber = _subscriber(session, email)
        assert subscriber.id is not None
        addresses = list_addresses(session, subscriber.id)
        active = [a for a in addresses if a.status == ChannelAddressStatus.ACTIVE]
        if not on and not active:
            raise InputError(
                f"{subscriber.email} has no working chat address: add one with "
                "`paperfeed subscribers chat add` before turning email off"
            )
        subscriber.email_digest = on
        session.add(subscriber)
    _say(f"email digest {'on' if on else 'off'} for {subscriber.email}")
