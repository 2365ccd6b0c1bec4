"""``paperfeed feeds``: the public feeds written as static files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paperfeed.cli_base import command_group, open_database, out, read_settings

feeds_app = command_group("Write the public RSS/Atom feeds.")


@feeds_app.command("export")
def feeds_export(directory: Annotated[Path, typer.Argument(help="Folder to write to.")]) -> None:
    """Write the public feeds (daily RSS and Atom) as static files."""
    from paperfeed.feeds.export import export_feeds

    settings = read_settings()
    with open_database() as engine:
        written = export_feeds(settings, directory, engine=engine)
    out.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True)
