"""``paperfeed feeds export DIR``: the public feeds written as static files.

Writes ``daily.rss`` and ``daily.atom`` (the same bytes the web app serves at
``/feeds/daily.*``) atomically, so a web server can serve DIR while it is rewritten. Personal
and topic feeds are not exported: one is private, the other depends on the query.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.errors import ConfigError
from paperfeed.feeds.rss_atom import FORMATS
from paperfeed.feeds.service import FeedOptions, FeedService
from paperfeed.store.db import make_engine


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_feeds(
    settings: Settings, directory: Path, *, engine: Engine | None = None
) -> list[Path]:
    """Write the daily feed as RSS and Atom into ``directory``; returns the files written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create {directory}: {exc.strerror}; pass a writable folder to "
            "`paperfeed feeds export`"
        ) from exc
    owned = engine is None
    engine = engine or make_engine(settings.database_url)
    try:
        service = FeedService(engine, FeedOptions.from_settings(settings))
        written = []
        for fmt in FORMATS:
            path = directory / f"daily.{fmt}"
            write_atomically(path, service.daily(fmt).body)
            written.append(path)
        return written
    finally:
        if owned:
            engine.dispose()
