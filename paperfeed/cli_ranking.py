"""``paperfeed rank``: a day's papers ranked for some interests, each score explained."""

from __future__ import annotations

from typing import Annotated

import typer

from paperfeed.cli_base import out, parse_day, read_settings
from paperfeed.errors import InputError
from paperfeed.terminal import terminal_text


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
    from paperfeed.digest import listed_on, pick_papers
    from paperfeed.services import Services
    from paperfeed.store.db import session_scope
    from paperfeed.store.papers import latest_listing_day

    # Every input is checked before anything is said about it.
    wanted_day = parse_day(day, "--date") if day else None
    text, parsed = usable_interests(interests)
    settings = read_settings()
    with Services.from_settings(settings) as services:
        engine = services.engine
        with session_scope(engine) as session:
            listing_day = wanted_day or latest_listing_day(session)
            if listing_day is None:
                raise InputError("no papers are stored yet: run `paperfeed crawl` first")
        for line in parsed.describe():
            out.print(f"understood {terminal_text(line)}", highlight=False, soft_wrap=True)
        # Compose's own choice (pick_papers) among the day's list, matches only.
        policy = replace(services.policy, also_trending=0)
        picks = pick_papers(
            engine,
            services.corpus,
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
