"""Run the Alembic migrations shipped inside the package, on an engine paperfeed built.

Checking a database before other work is ``schema.open_store``'s job, without Alembic.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from paperfeed.errors import StoreError
from paperfeed.store.db import check_connection

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest)."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "-1") -> None:
    """Take the schema down to ``revision`` (``base`` removes every table)."""
    _run(engine, "downgrade", revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of paperfeed."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def _run(engine: Engine, direction: str, revision: str) -> None:
    check_connection(engine)
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            if direction == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    except OperationalError as exc:
        raise StoreError(f"migration to {revision!r} failed: {exc.orig}") from exc
