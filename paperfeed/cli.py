"""The ``paperfeed`` command: a thin layer that builds Settings, opens the store, calls a function.

Exit codes: 0 done; 1 the work ran but part of it failed (a day errored, a mail was not
sent); 2 nothing was done: bad input (an address, a date, interests, a CSV row), the
configuration, the database, or the command line itself. Errors are one line; ``--debug``
shows the traceback.

Each command imports what it uses inside its body: ``--help``, ``--version`` and the
``subscribers`` commands must not pay for numpy, scipy, FastAPI, uvicorn, Alembic or
APScheduler (a test runs them in a fresh interpreter and looks at ``sys.modules``).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from paperfeed import __version__
from paperfeed.errors import InputError, PaperfeedError
from paperfeed.store.choices import Frequency, SubscriberStatus
from paperfeed.terminal import terminal_text

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from paperfeed.config import Settings
    from paperfeed.crawl_job import CrawlSummary
    from paperfeed.crawler.records import DayResult
    from paperfeed.mailer.outbox import SendSummary
    from paperfeed.mailer.preview import TestSend
    from paperfeed.store.models import Subscriber
    from paperfeed.web.confirmation import ConfirmationMailer, SignUp

out = Console()
err = Console(stderr=True)


class _Group(TyperGroup):
    """Turns the library's deliberate errors into one line and an exit code at the edge."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = _error_line(exc)
            if message is None or (isinstance(ctx.obj, State) and ctx.obj.debug):
                raise
            # escape(): a message may hold brackets ('paperfeed[semantic]') that are not markup.
            err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            # Every deliberate error stops a command before it did its work (input is checked
            # first, imports are all or nothing), so it is 2; 1 is said by the commands whose
            # work ran in part (a crawl day, a mail).
            raise typer.Exit(2) from exc


def _error_line(exc: Exception) -> str | None:
    """The one line a deliberate error is shown as, or None for a bug (keeps its traceback)."""
    if isinstance(exc, PaperfeedError):
        return str(exc)
    # Only commands that opened the database have SQLAlchemy loaded; before that no error
    # can be one of its errors, and --help need not import it to find out.
    if "sqlalchemy.exc" in sys.modules:
        from sqlalchemy.exc import SQLAlchemyError

        from paperfeed.store.db import database_error_reason, database_unavailable

        if isinstance(exc, SQLAlchemyError) and database_unavailable(exc):
            # The database went away mid-command (restart, network). Every step is its
            # own idempotent transaction, so running the command again resumes it.
            return (
                f"the database stopped answering: {database_error_reason(exc)}; "
                "what was done so far is kept: run the command again when it is back"
            )
    return None


@dataclass
class State:
    debug: bool = False


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=_Group,
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        add_completion=False,
    )


app = _typer("paperfeed: the day's trending research papers, ranked for you, by email and feed.")
subscribers_app = _typer("Add, list, remove and import subscribers.")
db_app = _typer("Create and migrate the database schema.")
feeds_app = _typer("Write the public RSS/Atom feeds.")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(db_app, name="db")
app.add_typer(feeds_app, name="feeds")


def _version(value: bool) -> None:
    if value:
        out.print(f"paperfeed {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Crawl Hugging Face Daily Papers, rank them per subscriber, send digests and feeds."""
    ctx.obj = State(debug=debug)


def _now() -> datetime:
    return datetime.now(UTC)


def _settings() -> Settings:
    from paperfeed.config import load_settings

    return load_settings()


@contextmanager
def _store(*, migrated: bool = True) -> Iterator[Engine]:
    """The configured database (checked to be at the newest schema), closed afterwards."""
    from paperfeed.store.db import make_engine
    from paperfeed.store.schema import open_store

    url = _settings().database_url
    engine = open_store(url) if migrated else make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


# --- the service -------------------------------------------------------------------------


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address the web app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the web app listens on.")] = 8000,
) -> None:
    """Run the daemon: the scheduler (crawl, compose, send) and the web app in one process."""
    from paperfeed import daemon
    from paperfeed.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    with _store() as engine:  # the daemon logs where it listens and what mails link to
        daemon.serve(settings, engine, host=host, port=port, scheduler=True)
    out.print(daemon.STOPPED_LINE, highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web app only: subscribe, preferences, archive, feeds."""
    from paperfeed import daemon
    from paperfeed.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    with _store() as engine:
        daemon.serve(settings, engine, host=host, port=port)


@app.command()
def worker(
    idle: Annotated[
        float, typer.Option(min=0.1, help="Seconds to sleep when the outbox is empty.")
    ] = 5.0,
) -> None:
    """Drain the outbox until stopped; run several on PostgreSQL for more throughput."""
    import asyncio
    import signal

    from paperfeed.logs import configure_logging
    from paperfeed.mailer.worker import run_worker, transport_for

    settings = _settings()
    configure_logging(settings.log_level)

    async def drain(engine: Engine) -> SendSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # SIGTERM (systemd, docker stop) and SIGINT finish the batch in flight, then exit 0.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await run_worker(
            engine,
            settings,
            transport_factory=lambda: transport_for(settings),
            now=_now,
            worker=_worker_name(),
            stop=stop,
            idle_seconds=idle,
        )

    with _store() as engine:
        totals = asyncio.run(drain(engine))
    out.print(f"worker stopped: {totals.line()}", highlight=False, soft_wrap=True)


@app.command()
def tick(
    housekeeping: Annotated[
        bool, typer.Option("--housekeeping", help="Also prune logs and refresh statistics.")
    ] = False,
) -> None:
    """Run every due job once (crawl, compose, send), for cron or systemd timers."""
    from paperfeed.logs import configure_logging
    from paperfeed.scheduler import Jobs
    from paperfeed.scheduler import tick as run_tick

    settings = _settings()
    configure_logging(settings.log_level)
    with _store() as engine:
        summary = run_tick(Jobs(settings, engine), housekeeping=housekeeping)
    # One line per tick for cron's mail and logs: each job with what it did.
    out.print(summary.line(), highlight=False, soft_wrap=True)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{option} {value!r} is not a date; use YYYY-MM-DD") from exc


@app.command()
def crawl(
    day: Annotated[
        str | None, typer.Option("--date", help="Crawl this day only (YYYY-MM-DD).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Backfill from this day (YYYY-MM-DD).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day of the backfill (default today).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print, write nothing.")] = False,
) -> None:
    """Crawl today and the re-crawl window, one day (--date), or a backfill (--since)."""
    from rich.progress import Progress

    from paperfeed.crawl_job import crawl_days, due_days, pacer_for, policy_for
    from paperfeed.crawler.client import make_client
    from paperfeed.crawler.fetch import describe
    from paperfeed.crawler.window import backfill_days, crawl_window
    from paperfeed.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    if day and since:
        raise InputError("--date and --since cannot be combined; use one")
    if until and not since:
        raise InputError("--until needs --since")
    today = _now().date()
    backfill = bool(since)
    with ExitStack() as stack:
        engine = None if dry_run else stack.enter_context(_store())
        if day:
            days = [_day(day, "--date")]
        elif since:
            days = list(
                backfill_days(_day(since, "--since"), _day(until, "--until") if until else today)
            )
        elif engine is not None:
            days = due_days(engine, today=today, recrawl_days=settings.recrawl_days)
        else:
            days = list(crawl_window(today, recrawl_days=settings.recrawl_days))
        client = stack.enter_context(make_client(settings))
        progress = stack.enter_context(Progress(console=err, transient=True, disable=not backfill))
        task = progress.add_task("crawling", total=len(days))

        def report(result: DayResult) -> None:
            progress.advance(task)
            if dry_run:
                # Upstream text: escape sequences stripped, rich markup escaped.
                out.print(terminal_text(describe(result)), highlight=False, soft_wrap=True)
                for paper in result.papers:
                    line = f"  {terminal_text(paper.arxiv_id)}  {terminal_text(paper.title)}"
                    out.print(line, highlight=False, soft_wrap=True)

        summary = crawl_days(
            engine,
            client,
            days,
            settle_hours=settings.settle_hours,
            pacer=pacer_for(settings),
            policy=policy_for(settings),
            trending=not (day or since),
            on_result=report,
        )
    out.print(
        _dry_run_line(summary) if dry_run else summary.line(), highlight=False, soft_wrap=True
    )
    for message in summary.error_messages:
        err.print(f"[bold red]error:[/] {terminal_text(message)}", highlight=False, soft_wrap=True)
    if summary.errors:
        raise typer.Exit(1)


def _dry_run_line(summary: CrawlSummary) -> str:
    """What a crawl would store; no "0 new": a dry run reads no database to compare with."""
    lists = f"{summary.days} list{'' if summary.days == 1 else 's'}"
    text = (
        f"would store {summary.papers} papers from {lists} ({summary.ok} ok, "
        f"{summary.errors} errors, {summary.skipped} warnings); dry run: nothing written"
    )
    if summary.unreachable is not None:
        text += f"; stopped early: {summary.unreachable}"
    return text


@app.command()
def embed() -> None:
    """Embed stored papers and subscribers' topics that have no vector yet (semantic extra)."""
    from rich.progress import Progress

    from paperfeed.embeddings import embed_pending
    from paperfeed.logs import configure_logging
    from paperfeed.ranking.encoder import require_semantic, shared_encoder

    settings = _settings()
    configure_logging(settings.log_level)
    require_semantic()
    with _store() as engine, Progress(console=err, transient=True) as bar:
        task = bar.add_task("loading the model", total=None)
        encoder = shared_encoder()

        def report(what: str, count: int) -> None:
            bar.update(task, description=f"embedding {what}", advance=count)

        summary = embed_pending(engine, encoder, progress=report)
    if settings.ranker != "hybrid":
        err.print("note: PAPERFEED_RANKER is lexical, so these vectors are not used yet")
    out.print(summary.line(), highlight=False)


@app.command()
def compose(
    day: Annotated[
        str | None, typer.Option("--date", help="Compose for this local date, due or not.")
    ] = None,
    subscriber: Annotated[str | None, typer.Option(help="Only this address.")] = None,
) -> None:
    """Create the editions (and their deliveries) that are due now."""
    from paperfeed.corpus import CorpusCache
    from paperfeed.digest import EditionPolicy, compose_due
    from paperfeed.logs import configure_logging
    from paperfeed.store.db import session_scope
    from paperfeed.store.subscribers import find_by_email, normalise_email

    settings = _settings()
    configure_logging(settings.log_level)
    email = normalise_email(subscriber) if subscriber else None
    local_date = _day(day, "--date") if day else None
    with _store() as engine:
        if email is not None:
            with session_scope(engine) as session:
                _check_receiving(find_by_email(session, email), email)
        summary = compose_due(
            engine,
            now=_now(),
            policy=EditionPolicy.from_settings(settings),
            corpus=CorpusCache.for_settings(settings),
            email=email,
            local_date=local_date,
        )
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


@app.command()
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

    settings = _settings()
    configure_logging(settings.log_level)
    if test_to is not None and dry_run:
        raise InputError("--test-to sends one mail and --dry-run sends none; use one of them")
    with _store() as engine:
        if test_to is not None:
            _send_test(engine, settings, test_to, only)
            return
        summary = _send_pass(engine, settings, dry_run=dry_run, only=only)
    out.print(summary.line(), highlight=False, soft_wrap=True)
    if summary.paused_reason:
        err.print(f"[bold red]paused:[/] {summary.paused_reason}", highlight=False, soft_wrap=True)
    if not summary.ok:
        raise typer.Exit(1)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[-64:]


def _send_pass(
    engine: Engine, settings: Settings, *, dry_run: bool, only: str | None
) -> SendSummary:
    from rich.progress import Progress

    from paperfeed.mailer.worker import send_once

    # Off a terminal (cron, a pipe) a progress bar only leaves an empty line behind.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("dry run" if dry_run else "sending", total=None)

        def report(summary: SendSummary, total: int) -> None:
            bar.update(task, total=total, completed=summary.done)

        return send_once(
            engine,
            settings,
            now=_now,
            worker=_worker_name(),
            only=only,
            dry_run=dry_run,
            progress=report,
        )


def _send_test(engine: Engine, settings: Settings, to: str, only: str | None) -> None:
    import asyncio

    from paperfeed.mailer.preview import send_test
    from paperfeed.mailer.transport import Outcome
    from paperfeed.mailer.worker import transport_for

    async def one() -> TestSend:
        transport = transport_for(settings)
        try:
            return await send_test(
                engine, settings, transport=transport, to=to, now=_now(), email=only
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


@app.command()
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

    settings = _settings()
    configure_logging(settings.log_level)
    with _store() as engine:
        shown = preview_digest(
            engine,
            settings,
            email=subscriber,
            now=_now(),
            local_date=_day(date, "--date") if date else None,
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


@app.command()
def rank(
    interests: Annotated[
        str, typer.Option(help="Interests, one topic per line (type \\n for a new line).")
    ],
    day: Annotated[
        str | None, typer.Option("--date", help="Listing day (default: the newest stored).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many papers to show.")] = 10,
) -> None:
    """Rank a day's papers for some interests and explain each score."""
    from dataclasses import replace

    from rich.table import Table

    from paperfeed.cli_interests import usable_interests
    from paperfeed.corpus import CorpusCache
    from paperfeed.digest import EditionPolicy, listed_on, pick_papers
    from paperfeed.store.db import session_scope
    from paperfeed.store.papers import latest_listing_day

    # Every input is checked before anything is said about it.
    wanted_day = _day(day, "--date") if day else None
    text, parsed = usable_interests(interests)
    settings = _settings()
    with _store() as engine:
        with session_scope(engine) as session:
            listing_day = wanted_day or latest_listing_day(session)
            if listing_day is None:
                raise InputError("no papers are stored yet: run `paperfeed crawl` first")
        for line in parsed.describe():
            out.print(f"understood {terminal_text(line)}", highlight=False, soft_wrap=True)
        # Compose's own choice (pick_papers) among the day's list, matches only.
        policy = replace(EditionPolicy.from_settings(settings), also_trending=0)
        picks = pick_papers(
            engine,
            CorpusCache.for_settings(settings),
            interests=text,
            local_date=listing_day,
            policy=policy,
            max_papers=limit,
            listed=listed_on(engine, listing_day),
        )
    rows = picks.listed
    picked = picks.selection.matched
    titles = {p.paper.arxiv_id: p.paper.title for p in rows}
    table = Table("score", "paper", "title", "why")
    for scored in picked:
        table.add_row(  # cells are rich markup: upstream titles and reasons are escaped
            f"{scored.score:.3f}",
            terminal_text(scored.paper_id),
            terminal_text(titles[scored.paper_id]),
            terminal_text("; ".join(scored.reasons)),
        )
    out.print(table)
    out.print(
        f"{len(picked)} of {len(rows)} papers of {listing_day} match (threshold {picks.threshold})",
        highlight=False,
    )


@feeds_app.command("export")
def feeds_export(directory: Annotated[Path, typer.Argument(help="Folder to write to.")]) -> None:
    """Write the public feeds (daily RSS and Atom) as static files."""
    from paperfeed.feeds.export import export_feeds

    settings = _settings()
    with _store() as engine:
        written = export_feeds(settings, directory, engine=engine)
    out.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True)


# --- database ----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the schema to the newest revision (or REVISION)."""
    from paperfeed.store import migrate

    with _store(migrated=False) as engine:
        migrate.upgrade(engine, revision)
        out.print(f"database at revision {migrate.current_revision(engine)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; `base` drops every table.")],
) -> None:
    """Migrate the schema down to REVISION."""
    from paperfeed.store import migrate

    with _store(migrated=False) as engine:
        migrate.downgrade(engine, revision)
        out.print(f"database at revision {migrate.current_revision(engine) or 'base'}")


# --- subscribers -------------------------------------------------------------------------


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
    mailer = None if confirmed else _confirmation_mailer(_settings())
    with _store() as engine, session_scope(engine) as session:
        known = find_by_email(session, address)
        if known is not None and known.status == SubscriberStatus.PENDING and confirmed:
            # Their consent came another way: the pending sign-up becomes active as it is.
            subscriber = confirm(session, known, now=_now())
            what = f"confirmed {address} (active; interests, zone and hour unchanged)"
        elif known is not None and known.status == SubscriberStatus.PENDING:
            subscriber, what = known, f"{address} is waiting for confirmation already (unchanged)"
        else:
            subscriber = create_subscriber(
                session,
                email=address,
                interests=wanted.interests,
                now=_now(),
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
    from paperfeed.mailer.worker import transport_for
    from paperfeed.web.confirmation import ConfirmationMailer

    return ConfirmationMailer.from_settings(settings, transport=transport_for(settings), clock=_now)


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

    with _store() as engine, session_scope(engine) as session:
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
    with _store() as engine, session_scope(engine) as session:
        subscriber = find_by_email(session, address)
        if subscriber is None:
            raise InputError(f"{address} is not subscribed")
        remove_subscriber(session, subscriber)
    settings = _settings()
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
    mailer = None if confirmed else _confirmation_mailer(_settings())
    signups: list[SignUp] = []
    skipped = 0
    problems: list[str] = []
    now = _now()
    with _store() as engine, session_scope(engine) as session:
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
