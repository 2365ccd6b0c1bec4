"""The ``paperfeed`` command: a thin layer that builds Settings, opens the store, calls a function.

This module is the entry point (``paperfeed.cli:app``): the root callback and where each
command and command group is registered, in the order ``--help`` lists them. The commands
live in modules named after what they hold (``cli_service``, ``cli_crawl``, ``cli_mail``,
``cli_ranking``, ``cli_subscribers``, ``cli_db``, ``cli_feeds``); the error edge, the
consoles and the store they share are in ``cli_base``, the exit codes in its docstring.

Each command imports what it uses inside its body: ``--help``, ``--version`` and the
``subscribers`` commands must not pay for numpy, scipy, FastAPI, uvicorn, Alembic or
APScheduler (a test runs them in a fresh interpreter and looks at ``sys.modules``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from paperfeed import __version__, cli_crawl, cli_mail, cli_ranking, cli_service, cli_status
from paperfeed.cli_base import State, command_group, out
from paperfeed.cli_bounces import bounces_app
from paperfeed.cli_chat import chat_app
from paperfeed.cli_db import db_app
from paperfeed.cli_feeds import feeds_app
from paperfeed.cli_subscribers import subscribers_app
from paperfeed.cli_teams import teams_app

app = command_group(
    "paperfeed: the day's trending research papers, ranked for you, by email and feed."
)

# --- commands, in the order --help lists them --------------------------------------------
for command in (
    cli_service.run,
    cli_service.serve,
    cli_service.worker,
    cli_service.tick,
    cli_crawl.crawl,
    cli_crawl.embed,
    cli_mail.compose,
    cli_mail.send,
    cli_mail.preview,
    cli_mail.dkim_record,
    cli_ranking.rank,
    cli_status.status,
):
    app.command()(command)

# --- command groups: one module each, one line here ----------------------------------------
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(db_app, name="db")
app.add_typer(feeds_app, name="feeds")
app.add_typer(teams_app, name="teams")
app.add_typer(bounces_app, name="bounces")
subscribers_app.add_typer(chat_app, name="chat")


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
