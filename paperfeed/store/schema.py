"""Opening the store for work: is the database at the schema this paperfeed ships?

Answered without Alembic, whose import costs more than a quick command (``subscribers
list``) does in all: the stored revision is one row of ``alembic_version``, and the shipped
head is read from the ``revision``/``down_revision`` lines every migration script carries
(Alembic's own template writes them; a test keeps the answer equal to Alembic's).
Migrating is ``migrate``'s job.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from paperfeed.errors import StoreError
from paperfeed.store.db import check_connection, make_engine

VERSIONS = Path(__file__).with_name("migrations") / "versions"
_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]*)?=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


@lru_cache(maxsize=1)
def shipped_head() -> str | None:
    """The newest migration shipped with this paperfeed (None when there are none)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            raise StoreError(f"{script} names no revision; every migration needs `revision = …`")
        revisions.add(found.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None:  # None, one revision, or a tuple of them after a merge
            parents.update(_QUOTED.findall(down.group(1)))
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise StoreError(f"the migrations have several heads {heads}; merge them (alembic merge)")
    return heads[0] if heads else None


def stored_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def open_store(url: str) -> Engine:
    """An engine on a reachable database whose schema matches this version of paperfeed."""
    engine = make_engine(url)
    try:
        check_connection(engine)
        current, head = stored_revision(engine), shipped_head()
    except BaseException:
        engine.dispose()
        raise
    if current != head:
        engine.dispose()
        found = "no paperfeed tables" if current is None else f"schema revision {current}"
        raise StoreError(
            f"the database has {found}, this paperfeed needs {head}: run `paperfeed db upgrade`"
        )
    return engine
