"""The store check the commands run first reads the schema revision without Alembic."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from paperfeed.errors import StoreError
from paperfeed.store import migrate, schema
from paperfeed.store.db import make_engine


def test_the_shipped_head_is_alembics_head() -> None:
    assert schema.shipped_head() == migrate.head_revision()


def test_the_stored_revision_is_alembics_current_revision(engine: Engine) -> None:
    assert schema.stored_revision(engine) == migrate.current_revision(engine)
    assert schema.stored_revision(engine) == schema.shipped_head()


def test_open_store_accepts_a_migrated_database(engine: Engine) -> None:
    opened = schema.open_store(engine.url.render_as_string(hide_password=False))
    opened.dispose()


def test_open_store_names_the_fix_for_an_empty_or_older_database(
    unmigrated_database_url: str,
) -> None:
    with pytest.raises(StoreError, match=r"no paperfeed tables.*run `paperfeed db upgrade`"):
        schema.open_store(unmigrated_database_url)
    engine = make_engine(unmigrated_database_url)
    try:
        migrate.upgrade(engine, "0001")
        with pytest.raises(StoreError, match="has schema revision 0001, this paperfeed needs"):
            schema.open_store(unmigrated_database_url)
    finally:
        engine.dispose()


def test_several_heads_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, revision in (("a.py", "a"), ("b.py", "b")):
        (tmp_path / name).write_text(
            f'revision: str = "{revision}"\ndown_revision: str | None = None\n', encoding="utf-8"
        )
    monkeypatch.setattr(schema, "VERSIONS", tmp_path)
    schema.shipped_head.cache_clear()
    try:
        with pytest.raises(StoreError, match=r"several heads \['a', 'b'\]"):
            schema.shipped_head()
    finally:
        schema.shipped_head.cache_clear()
