"""The commands about digests: compose the due editions, send them, preview one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paperfeed.cli_base import err, open_database, out, parse_day, read_settings, utc_now
from paperfeed.errors import InputError
from paperfeed.store.choices import Frequency, SubscriberStatus

if TYPE_CHECKING:
    from paperfeed.mailer.preview import TestSend
    from paperfeed.outbox.summary import SendSummary
    from paperfeed.services import Services
    from paperfeed.store.models import Subscriber


def compose(
    day: Annotated[
        str | None, typer.Option("--date", help="Compose for this local date, due or not.")
    ] = None,
    subscriber: Annotated[str | None, typer.Option(help="Only this address.")] = None,
) -> None:
    """Create the editions (and their deliveries) that are due now."""
    from paperfeed.jobs.compose import compose as compose_due
    from paperfeed.logs import configure_logging
    from paperfeed.services import Services
    from paperfeed.store.db import session_scope
    from paperfeed.store.subscribers import find_by_email, normalise_email

    settings = read_settings()
    configure_logging(settings.log_level)
    email = normalise_email(subscriber) if subscriber else None
    local_date = parse_day(day, "--date") if day else None
    with Services.from_settings(settings) as services:
        if email is not None:
            with session_scope(services.engine) as session:
                _check_receiving(find_by_email(session, email), email)
        summary = compose_due(services, email=email, local_date=local_date)
    out.print(summary.line(), highlight=False, soft_wrap=True)


def _check_receiving(subscriber: Subscriber | None, email: str) -> None:
    """An InputError (exit 2) unless ``subscriber`` gets digests, saying why not."""
    if subscriber is None:
        raise InputError(f"{email} is not subscribed; `paperfeed subscribers list` shows who is")
    if subscriber.status != SubscriberStatus.ACTIVE:
        raise InputError(
            f"{email} is {subscriber.status}, not an active subscriber: nothing to compose"
        )
    if subscriber.paused or subscriber.frequency == Frequency.OFF:
        raise InputError(f"{email} has digests paused or off: nothing to compose")


def send(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render everything due, send and mark nothing.")
    ] = False,
    test_to: Annotated[
        str | None,
        typer.Option(
            help="Send the newest edition (of --only EMAIL, else of anyone) to this address; "
            "no delivery changes."
        ),
    ] = None,
    only: Annotated[str | None, typer.Option(help="Only this subscriber's deliveries.")] = None,
) -> None:
    """Send the pending deliveries in the outbox, in one pass."""
    from paperfeed.logs import configure_logging
    from paperfeed.services import Services

    settings = read_settings()
    configure_logging(settings.log_level)
    if test_to is not None and dry_run:
        raise InputError("--test-to sends one mail and --dry-run sends none; use one of them")
    with Services.from_settings(settings) as services:
        if test_to is not None:
            _send_test(services, test_to, only)
            return
        summary = _send_pass(services, dry_run=dry_run, only=only)
    out.print(summary.line(), highlight=False, soft_wrap=True)
    if summary.paused_reason:
        err.print(f"[bold red]paused:[/] {summary.paused_reason}", highlight=False, soft_wrap=True)
    if not summary.ok:
        raise typer.Exit(1)


def _send_pass(services: Services, *, dry_run: bool, only: str | None) -> SendSummary:
    from rich.progress import Progress

    from paperfeed.jobs.send import send

    # Off a terminal (cron, a pipe) a progress bar only leaves an empty line behind.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("dry run" if dry_run else "sending", total=None)

        def report(summary: SendSummary, total: int) -> None:
            bar.update(task, total=total, completed=summary.done)

        return send(services, only=only, dry_run=dry_run, progress=report)


def _send_test(services: Services, to: str, only: str | None) -> None:
    import asyncio

    from paperfeed.mailer.preview import send_test
    from paperfeed.mailer.transport import Outcome

    async def one() -> TestSend:
        transport = services.mail_transport()
        try:
            return await send_test(
                services.engine,
                services.settings,
                transport=transport,
                to=to,
                now=services.now(),
                email=only,
            )
        finally:
            await transport.aclose()

    sent = asyncio.run(one())
    what = f"{sent.edition.email}'s edition of {sent.edition.local_date}"
    if sent.result.outcome is not Outcome.ACCEPTED:
        err.print(
            f"[bold red]not sent:[/] {what} to {sent.to}: {sent.result.outcome} "
            f"{sent.result.code or ''} {sent.result.detail}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out.print(f"sent {what} to {sent.to} as {sent.message_id}", highlight=False, soft_wrap=True)


def preview(
    subscriber: Annotated[str, typer.Option(help="Address whose digest to render.")],
    date: Annotated[
        str | None, typer.Option(help="Local date of the edition (default: their newest).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the HTML and text.")] = Path(
        "."
    ),
    open_it: Annotated[
        bool, typer.Option("--open", help="Open the HTML in a browser afterwards.")
    ] = False,
) -> None:
    """Render a subscriber's digest to files without sending it.

    With no edition for the date (or none at all), it shows what compose would pick today,
    composed in a transaction that is rolled back.
    """
    from paperfeed.logs import configure_logging
    from paperfeed.mailer.preview import preview_digest, write_preview

    settings = read_settings()
    configure_logging(settings.log_level)
    with open_database() as engine:
        shown = preview_digest(
            engine,
            settings,
            email=subscriber,
            now=utc_now(),
            local_date=parse_day(date, "--date") if date else None,
        )
    html, text = write_preview(shown, out_dir)
    how = " (composed for this preview, not stored)" if shown.composed_for_preview else ""
    out.print(
        f"{shown.email}, {shown.local_date}: {shown.papers} papers{how}\n"
        f"wrote {html}\nwrote {text}",
        highlight=False,
        soft_wrap=True,
    )
    if open_it:
        typer.launch(str(html.resolve()))


def dkim_record() -> None:
    """Print the DNS TXT record that publishes the DKIM key mail is signed with."""
    from paperfeed.errors import ConfigError
    from paperfeed.mailer.dkim_sign import dkim_signer, txt_strings

    signer = dkim_signer(read_settings())
    if signer is None:
        raise ConfigError(
            "DKIM signing is off: set PAPERFEED_DKIM_PRIVATE_KEY_PATH and "
            "PAPERFEED_DKIM_SELECTOR (the record publishes that key's public half)"
        )
    name, value = signer.dns_record()
    # Plain for DNS providers' forms; a zone file needs strings of at most 255 characters.
    strings = " ".join(f'"{s}"' for s in txt_strings(value))
    out.print(
        f"name:  {name}\nvalue: {value}\nzone:  {name}. IN TXT ( {strings} )",
        highlight=False,
        soft_wrap=True,
    )
