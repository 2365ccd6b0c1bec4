"""The ``paperfeed`` command: a thin layer that builds Settings, opens the store, calls a function.

Exit codes: 0 done; 1 the work ran but part of it failed (a day errored, a row was bad);
2 it could not run (configuration, database, usage). Errors are one line; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from paperfeed import __version__, daemon
from paperfeed.config import Settings, load_settings
from paperfeed.corpus import CorpusCache, to_document
from paperfeed.crawl_job import crawl_days, due_days, pacer_for, policy_for
from paperfeed.crawler.client import make_client
from paperfeed.crawler.fetch import describe
from paperfeed.crawler.records import DayResult
from paperfeed.crawler.window import backfill_days, crawl_window
from paperfeed.digest import EditionPolicy, compose_due
from paperfeed.embeddings import embed_pending
from paperfeed.errors import AlreadySubscribed, InputError, PaperfeedError
from paperfeed.feeds.export import export_feeds
from paperfeed.logs import configure_logging
from paperfeed.mailer.outbox import SendSummary
from paperfeed.mailer.preview import TestSend, preview_digest, send_test, write_preview
from paperfeed.mailer.transport import Outcome
from paperfeed.mailer.worker import run_worker, send_once, transport_for
from paperfeed.ranking.encoder import require_semantic, shared_encoder
from paperfeed.ranking.interests import parse_interests
from paperfeed.scheduler import Jobs
from paperfeed.scheduler import tick as run_tick
from paperfeed.store import migrate
from paperfeed.store.db import (
    database_error_reason,
    database_unavailable,
    make_engine,
    session_scope,
)
from paperfeed.store.models import Frequency
from paperfeed.store.papers import latest_listing_day, papers_on
from paperfeed.store.subscribers import (
    create_subscriber,
    find_by_email,
    list_subscribers,
    normalise_email,
    remove_subscriber,
)

out = Console()
err = Console(stderr=True)


class _Group(TyperGroup):
    """Turns the library's deliberate errors into one line and an exit code at the edge."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (PaperfeedError, SQLAlchemyError) as exc:
            if isinstance(ctx.obj, State) and ctx.obj.debug:
                raise
            if isinstance(exc, SQLAlchemyError):
                if not database_unavailable(exc):
                    raise  # a bug, not the database being away: keep the traceback
                # The database went away mid-command (restart, network). Every step is its
                # own idempotent transaction, so running the command again resumes it.
                message = (
                    f"the database stopped answering: {database_error_reason(exc)}; "
                    "what was done so far is kept: run the command again when it is back"
                )
            else:
                message = str(exc)
            # escape(): a message may hold brackets ('paperfeed[semantic]') that are not markup.
            err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1 if isinstance(exc, InputError) else 2) from exc


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
    return load_settings()


@contextmanager
def _store(*, migrated: bool = True) -> Iterator[Engine]:
    """The configured database (checked to be at the newest schema), closed afterwards."""
    url = _settings().database_url
    engine = migrate.open_store(url) if migrated else make_engine(url)
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
    settings = _settings()
    configure_logging(settings.log_level)
    with _store() as engine:
        err.print(
            f"paperfeed {__version__}: web on http://{host}:{port}, scheduler on "
            f"{engine.url.get_backend_name()}; stop with Ctrl-C or SIGTERM",
            highlight=False,
        )
        daemon.serve(settings, engine, host=host, port=port, jobs=Jobs(settings, engine))
    out.print("paperfeed stopped", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web app only: subscribe, preferences, archive, feeds."""
    settings = _settings()
    configure_logging(settings.log_level)
    with _store() as engine:
        err.print(f"paperfeed {__version__}: web on http://{host}:{port}", highlight=False)
        daemon.serve(settings, engine, host=host, port=port)


@app.command()
def worker(
    idle: Annotated[
        float, typer.Option(min=0.1, help="Seconds to sleep when the outbox is empty.")
    ] = 5.0,
) -> None:
    """Drain the outbox until stopped; run several on PostgreSQL for more throughput."""
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
    settings = _settings()
    configure_logging(settings.log_level)
    with _store() as engine:
        summary = run_tick(Jobs(settings, engine), housekeeping=housekeeping)
    out.print(summary.line(), highlight=False)


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
                out.print(describe(result), highlight=False, soft_wrap=True)
                for paper in result.papers:
                    out.print(f"  {paper.arxiv_id}  {paper.title}", highlight=False, soft_wrap=True)

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
        summary.line() + (" (dry run: nothing written)" if dry_run else ""),
        highlight=False,
        soft_wrap=True,
    )
    for message in summary.error_messages:
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if summary.errors:
        raise typer.Exit(1)


@app.command()
def embed() -> None:
    """Embed stored papers and subscribers' topics that have no vector yet (semantic extra)."""
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
    settings = _settings()
    configure_logging(settings.log_level)
    email = normalise_email(subscriber) if subscriber else None
    with _store() as engine:
        summary = compose_due(
            engine,
            now=_now(),
            policy=EditionPolicy.from_settings(settings),
            corpus=CorpusCache.for_settings(settings),
            email=email,
            local_date=_day(day, "--date") if day else None,
        )
    out.print(summary.line(), highlight=False, soft_wrap=True)


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
    with Progress(console=err, transient=True) as bar:
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
    interests: Annotated[str, typer.Option(help="Interests, one topic per line.")],
    day: Annotated[
        str | None, typer.Option("--date", help="Listing day (default: the newest stored).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many papers to show.")] = 10,
) -> None:
    """Rank a day's papers for some interests and explain each score."""
    parsed = parse_interests(interests.replace("\\n", "\n"))
    for line in parsed.describe():
        out.print(f"understood {line}", highlight=False, soft_wrap=True)
    with _store() as engine:
        with session_scope(engine) as session:
            listing_day = _day(day, "--date") if day else latest_listing_day(session)
            if listing_day is None:
                raise InputError("no papers are stored yet: run `paperfeed crawl` first")
            rows = papers_on(session, listing_day)
        ranker = CorpusCache.for_settings(_settings()).ranker(engine)
        docs = [to_document(paper, upvotes=listing.upvotes) for paper, listing in rows]
        picked = (
            ranker.rank(ranker.index_day(docs), [parsed], top_k=limit).select(0) if docs else ()
        )
    titles = {paper.arxiv_id: paper.title for paper, _ in rows}
    table = Table("score", "paper", "title", "why")
    for scored in picked:
        table.add_row(
            f"{scored.score:.3f}",
            scored.paper_id,
            titles[scored.paper_id],
            "; ".join(scored.reasons),
        )
    out.print(table)
    out.print(
        f"{len(picked)} of {len(rows)} papers of {listing_day} match "
        f"(threshold {ranker.threshold})",
        highlight=False,
    )


@feeds_app.command("export")
def feeds_export(directory: Annotated[Path, typer.Argument(help="Folder to write to.")]) -> None:
    """Write the public feeds (daily RSS and Atom) as static files."""
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
    with _store(migrated=False) as engine:
        migrate.upgrade(engine, revision)
        out.print(f"database at revision {migrate.current_revision(engine)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; `base` drops every table.")],
) -> None:
    """Migrate the schema down to REVISION."""
    with _store(migrated=False) as engine:
        migrate.downgrade(engine, revision)
        out.print(f"database at revision {migrate.current_revision(engine) or 'base'}")


# --- subscribers -------------------------------------------------------------------------


@subscribers_app.command("add")
def subscribers_add(
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    interests: Annotated[str, typer.Option(help="Interests, one topic per line.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")] = "UTC",
    hour: Annotated[int, typer.Option(min=0, max=23, help="Local hour to send at.")] = 7,
    frequency: Annotated[Frequency, typer.Option(help="How often to send.")] = Frequency.DAILY,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Skip double opt-in (you have their consent).")
    ] = False,
) -> None:
    """Add one subscriber (pending until they confirm, unless --confirmed)."""
    with _store() as engine, session_scope(engine) as session:
        subscriber = create_subscriber(
            session,
            email=email,
            interests=interests,
            now=_now(),
            timezone=timezone,
            send_hour=hour,
            frequency=frequency,
            confirmed=confirmed,
        )
        out.print(f"added {subscriber.email} ({subscriber.status})", highlight=False)


@subscribers_app.command("list")
def subscribers_list(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
) -> None:
    """List subscribers with their status, zone, hour and interests."""
    with _store() as engine, session_scope(engine) as session:
        rows = list_subscribers(session, status=status)
        table = Table("email", "status", "timezone", "hour", "frequency", "interests")
        for s in rows:
            first = s.interests.strip().splitlines()[0] if s.interests.strip() else ""
            table.add_row(s.email, s.status, s.timezone, str(s.send_hour), s.frequency, first)
        out.print(table)
        out.print(f"{len(rows)} subscribers")


@subscribers_app.command("remove")
def subscribers_remove(
    email: Annotated[str, typer.Argument(help="The address to remove with all its data.")],
) -> None:
    """Remove a subscriber and everything kept about them."""
    address = normalise_email(email)
    with _store() as engine, session_scope(engine) as session:
        subscriber = find_by_email(session, address)
        if subscriber is None:
            raise InputError(f"{address} is not subscribed")
        remove_subscriber(session, subscriber)
    out.print(f"removed {address}", highlight=False)


CSV_COLUMNS = ("email", "interests", "timezone", "hour", "frequency")


@subscribers_app.command("import")
def subscribers_import(
    file: Annotated[Path, typer.Argument(help=f"CSV with a header: {', '.join(CSV_COLUMNS)}.")],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Mark them confirmed (you have their consent).")
    ] = False,
) -> None:
    """Import subscribers from CSV: all rows or none; known addresses are skipped."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {file}: {exc}") from exc
    if rows and "email" not in rows[0]:
        raise InputError(f"{file} has no `email` column; the header must name {CSV_COLUMNS}")
    added = skipped = 0
    problems: list[str] = []
    now = _now()
    with _store() as engine, session_scope(engine) as session:
        for line, row in enumerate(rows, start=2):
            try:
                hour_text = (row.get("hour") or "7").strip()
                if not hour_text.isdigit():
                    raise InputError(f"hour {hour_text!r} is not a whole number from 0 to 23")
                create_subscriber(
                    session,
                    email=row.get("email") or "",
                    interests=row.get("interests") or "",
                    now=now,
                    timezone=(row.get("timezone") or "UTC").strip(),
                    send_hour=int(hour_text),
                    frequency=(row.get("frequency") or "daily").strip().lower(),
                    confirmed=confirmed,
                )
                added += 1
            except AlreadySubscribed:
                skipped += 1
            except InputError as exc:
                problems.append(f"{file}:{line}: {exc}")
        if problems:
            session.rollback()
            for problem in problems:
                err.print(problem, highlight=False, soft_wrap=True)
            raise InputError(f"{len(problems)} bad rows; nothing was imported, fix them and rerun")
    out.print(f"imported {added}, skipped {skipped} already subscribed", highlight=False)
