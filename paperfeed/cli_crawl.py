"""The commands that fill the paper store: crawl Hugging Face's lists, embed what is new."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated

import typer

from paperfeed.cli_base import err, open_database, out, parse_day, read_settings, utc_now
from paperfeed.errors import InputError
from paperfeed.terminal import terminal_text

if TYPE_CHECKING:
    from paperfeed.crawler.records import DayResult
    from paperfeed.jobs.crawl import CrawlSummary


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

    from paperfeed.crawler.client import make_client
    from paperfeed.crawler.fetch import describe
    from paperfeed.crawler.window import backfill_days, crawl_window
    from paperfeed.jobs.crawl import crawl_days, due_days, pacer_for, policy_for
    from paperfeed.logs import configure_logging

    settings = read_settings()
    configure_logging(settings.log_level)
    if day and since:
        raise InputError("--date and --since cannot be combined; use one")
    if until and not since:
        raise InputError("--until needs --since")
    today = utc_now().date()
    backfill = bool(since)
    with ExitStack() as stack:
        engine = None if dry_run else stack.enter_context(open_database())
        if day:
            days = [parse_day(day, "--date")]
        elif since:
            days = list(
                backfill_days(
                    parse_day(since, "--since"), parse_day(until, "--until") if until else today
                )
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


def embed() -> None:
    """Embed stored papers and subscribers' topics that have no vector yet (semantic extra)."""
    from rich.progress import Progress

    from paperfeed.jobs.embed import embed_pending
    from paperfeed.logs import configure_logging
    from paperfeed.ranking.encoder import require_semantic, shared_encoder

    settings = read_settings()
    configure_logging(settings.log_level)
    require_semantic()
    with open_database() as engine, Progress(console=err, transient=True) as bar:
        task = bar.add_task("loading the model", total=None)
        encoder = shared_encoder()

        def report(what: str, count: int) -> None:
            bar.update(task, description=f"embedding {what}", advance=count)

        summary = embed_pending(engine, encoder, progress=report)
    if settings.ranker != "hybrid":
        err.print("note: PAPERFEED_RANKER is lexical, so these vectors are not used yet")
    out.print(summary.line(), highlight=False)
