"""``paperfeed db``: create, migrate and roll back the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from paperfeed.cli_base import command_group, open_database, out

db_app = command_group("Create and migrate the database schema.")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the schema to the newest revision (or REVISION)."""
    from paperfeed.store import migrate

    with open_database(migrated=False) as engine:
        migrate.upgrade(engine, revision)
        out.print(f"database at revision {migrate.current_revision(engine)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; `base` drops every table.")],
) -> None:
    """Migrate the schema down to REVISION."""
    from paperfeed.store import migrate

    with open_database(migrated=False) as engine:
        migrate.downgrade(engine, revision)
        out.print(f"database at revision {migrate.current_revision(engine) or 'base'}")
