"""``paperfeed subscribers``: add, list, remove and import subscribers.

Adding goes through the web form's checks (``subscriber_input``) and, unless --confirmed,
mails each new address its confirmation link the way the web sign-up does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from paperfeed.cli_base import command_group, err, open_database, out, read_settings, utc_now
from paperfeed.errors import InputError
from paperfeed.store.choices import Frequency, SubscriberStatus
from paperfeed.terminal import terminal_text

if TYPE_CHECKING:
    from paperfeed.config import Settings
    from paperfeed.web.confirmation import ConfirmationMailer, SignUp

subscribers_app = command_group("Add, list, remove and import subscribers.")


@subscribers_app.command("add")
def subscribers_add(
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    interests: Annotated[
        str, typer.Option(help="Interests, one topic per line (type \\n for a new line).")
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")] = "UTC",
    hour: Annotated[int, typer.Option(min=0, max=23, help="Local hour to send at.")] = 7,
    frequency: Annotated[Frequency, typer.Option(help="How often to send.")] = Frequency.DAILY,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Skip double opt-in (you have their consent).")
    ] = False,
) -> None:
    """Add one subscriber and mail them the confirmation link, or add them --confirmed.

    Unconfirmed sign-ups are deleted after PAPERFEED_CONFIRM_HOURS. Adding a pending
    address again mails a new link (or, with --confirmed, makes it active) and changes
    nothing else.
    """
    from paperfeed.store.db import session_scope
    from paperfeed.store.subscribers import confirm, create_subscriber, find_by_email, link_state
    from paperfeed.subscriber_input import read_subscriber
    from paperfeed.web.confirmation import SignUp

    # The web form's checks, the web form's reasons (one model for every way in).
    wanted = read_subscriber(
        {
            "email": email,
            "interests": interests,
            "timezone": timezone,
            "send_hour": hour,
            "frequency": str(frequency),
        }
    )
    address = wanted.email
    mailer = None if confirmed else _confirmation_mailer(read_settings())
    with open_database() as engine, session_scope(engine) as session:
        known = find_by_email(session, address)
        if known is not None and known.status == SubscriberStatus.PENDING and confirmed:
            # Their consent came another way: the pending sign-up becomes active as it is.
            subscriber = confirm(session, known, now=utc_now())
            what = f"confirmed {address} (active; interests, zone and hour unchanged)"
        elif known is not None and known.status == SubscriberStatus.PENDING:
            subscriber, what = known, f"{address} is waiting for confirmation already (unchanged)"
        else:
            subscriber = create_subscriber(
                session,
                email=address,
                interests=wanted.interests,
                now=utc_now(),
                timezone=wanted.timezone,
                send_hour=wanted.send_hour,
                frequency=wanted.frequency,
                confirmed=confirmed,
            )
            what = f"added {subscriber.email} ({subscriber.status})"
        assert subscriber.id is not None  # flushed
        signup = SignUp(address, subscriber.id, link_state(subscriber))
    out.print(what, highlight=False, soft_wrap=True)
    if mailer is not None and not _mail_confirmations(mailer, [signup]):
        raise typer.Exit(1)


def _confirmation_mailer(settings: Settings) -> ConfirmationMailer:
    """The mail side of sign-ups, built before anything is stored.

    Mail settings that cannot work (a From without a domain, a bad SMTP URL, an unwritable
    outbox) then stop the command while it has changed nothing (exit 2). Building opens no
    connection and holds nothing that needs closing.
    """
    from paperfeed.mailer.transport_choice import transport_for
    from paperfeed.web.confirmation import ConfirmationMailer

    return ConfirmationMailer.from_settings(
        settings, transport=transport_for(settings), clock=utc_now
    )


def _mail_confirmations(mailer: ConfirmationMailer, signups: list[SignUp]) -> bool:
    """Mail each sign-up its confirmation link, the web form's way; say where each went."""
    import asyncio

    from paperfeed.mailer.transport import Outcome, SendResult
    from paperfeed.startup import public_address
    from paperfeed.web.confirmation import mail_confirmations

    settings = mailer.settings
    if not signups:
        return True
    # The links carry the public URL the web app would use; a loopback one with real mail
    # reaches people who cannot open it (the same warning `paperfeed run` gives).
    warning = public_address(settings, host=None, port=None).warning
    if warning:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)

    async def send_all() -> list[SendResult]:
        try:
            return await mail_confirmations(mailer, signups)
        finally:
            await mailer.transport.aclose()

    results = asyncio.run(send_all())
    failed = [
        (signup, result)
        for signup, result in zip(signups, results, strict=True)
        if result.outcome is not Outcome.ACCEPTED
    ]
    sent = len(signups) - len(failed)
    hours = settings.confirm_hours
    link = f"links to {settings.public_url}, valid {hours} h"
    if sent and settings.smtp_url:
        out.print(f"mailed {sent} confirmation link(s) ({link})", highlight=False, soft_wrap=True)
    elif sent:
        where = next(r.detail for r in results if r.outcome is Outcome.ACCEPTED)
        shown = where if sent == 1 else str(settings.outbox_dir)
        out.print(
            f"no PAPERFEED_SMTP_URL is set: wrote {sent} confirmation mail(s) to {shown} "
            f"({link}); set PAPERFEED_SMTP_URL to mail them",
            highlight=False,
            soft_wrap=True,
        )
    for signup, result in failed:
        reason = " ".join(
            str(part) for part in (result.outcome, result.code, result.detail) if part
        )
        err.print(
            f"[bold red]not sent:[/] the confirmation mail to {signup.email}: {escape(reason)}",
            highlight=False,
            soft_wrap=True,
        )
    if failed:
        err.print(
            f"the address(es) stay pending and are deleted after {hours} h unless confirmed; "
            "run `paperfeed subscribers add EMAIL --interests …` again to send a new link",
            highlight=False,
            soft_wrap=True,
        )
    return not failed


@subscribers_app.command("list")
def subscribers_list(
    status: Annotated[SubscriberStatus | None, typer.Option(help="Only this status.")] = None,
) -> None:
    """List subscribers with their status, zone, hour and interests."""
    from rich.table import Table

    from paperfeed.store.db import session_scope
    from paperfeed.store.subscribers import list_subscribers

    with open_database() as engine, session_scope(engine) as session:
        rows = list_subscribers(session, status=status)
        table = Table("email", "status", "timezone", "hour", "frequency", "interests")
        for s in rows:
            lines = [line.strip() for line in s.interests.strip().splitlines() if line.strip()]
            # The first line stands for all; "…" says there are more.
            first = (lines[0] + (" …" if len(lines) > 1 else "")) if lines else ""
            cells = (
                s.email or f"team {s.name}",
                s.status,
                s.timezone,
                str(s.send_hour),
                s.frequency,
                first,
            )
            table.add_row(*(terminal_text(cell) for cell in cells))
        out.print(table)
        out.print(f"{len(rows)} subscribers")


@subscribers_app.command("remove")
def subscribers_remove(
    email: Annotated[str, typer.Argument(help="The address to remove with all its data.")],
) -> None:
    """Remove a subscriber and everything kept about them."""
    from paperfeed.store.db import session_scope
    from paperfeed.store.subscribers import find_by_email, lookup_address, remove_subscriber

    address = lookup_address(email)  # also finds a row no sign-up would take any more
    with open_database() as engine, session_scope(engine) as session:
        subscriber = find_by_email(session, address)
        if subscriber is None:
            raise InputError(f"{address} is not subscribed")
        remove_subscriber(session, subscriber)
    settings = read_settings()
    if settings.smtp_url is None:
        from paperfeed.mailer.files import remove_mail_to

        # Mail waiting in the file outbox is theirs too: nothing of them stays behind.
        remove_mail_to(settings.outbox_dir, subscriber.email)
    out.print(f"removed {address}", highlight=False)


CSV_COLUMNS = ("email", "interests", "timezone", "hour", "frequency")
# The subscriber model's field for each optional column; empty cells take its default.
CSV_OPTIONAL = {"timezone": "timezone", "send_hour": "hour", "frequency": "frequency"}


def _csv_values(row: dict[str | Any, str | Any]) -> dict[str, object]:
    """One CSV row as the subscriber model's fields (a short row's cells read as None)."""
    values: dict[str, object] = {
        "email": row.get("email") or "",
        "interests": row.get("interests") or "",
    }
    for field, column in CSV_OPTIONAL.items():
        cell = row.get(column)
        if isinstance(cell, str) and cell.strip():
            values[field] = cell
    return values


@subscribers_app.command("import")
def subscribers_import(
    file: Annotated[Path, typer.Argument(help=f"CSV with a header: {', '.join(CSV_COLUMNS)}.")],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Mark them confirmed (you have their consent).")
    ] = False,
) -> None:
    """Import subscribers from a CSV file: all rows or none; known addresses are skipped.

    The header names the columns: email, interests, timezone, hour, frequency. Without
    --confirmed each new address is mailed its confirmation link. In the interests column,
    \\n starts a new line.
    """
    import csv

    from paperfeed.errors import AlreadySubscribed
    from paperfeed.store.db import session_scope
    from paperfeed.store.subscribers import create_subscriber, link_state
    from paperfeed.subscriber_input import read_subscriber
    from paperfeed.web.confirmation import SignUp

    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {file}: {exc}") from exc
    if rows and "email" not in rows[0]:
        raise InputError(f"{file} has no `email` column; the header must name {CSV_COLUMNS}")
    mailer = None if confirmed else _confirmation_mailer(read_settings())
    signups: list[SignUp] = []
    skipped = 0
    problems: list[str] = []
    now = utc_now()
    with open_database() as engine, session_scope(engine) as session:
        for line, row in enumerate(rows, start=2):
            try:
                wanted = read_subscriber(_csv_values(row))
                subscriber = create_subscriber(
                    session,
                    email=wanted.email,
                    interests=wanted.interests,
                    now=now,
                    timezone=wanted.timezone,
                    send_hour=wanted.send_hour,
                    frequency=wanted.frequency,
                    confirmed=confirmed,
                )
                assert subscriber.id is not None  # flushed
                signups.append(SignUp(wanted.email, subscriber.id, link_state(subscriber)))
            except AlreadySubscribed:
                skipped += 1
            except InputError as exc:
                problems.append(f"{file}:{line}: {exc}")
        if problems:
            session.rollback()
            for problem in problems:
                err.print(problem, highlight=False, soft_wrap=True)
            raise InputError(f"{len(problems)} bad rows; nothing was imported, fix them and rerun")
    out.print(f"imported {len(signups)}, skipped {skipped} already subscribed", highlight=False)
    if mailer is not None and not _mail_confirmations(mailer, signups):
        raise typer.Exit(1)
