"""The shipped migrations build the models' schema and can be undone."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from paperfeed.store import migrate
from paperfeed.store.db import make_engine

TABLES = {
    "paper",
    "listing",
    "listingday",
    "crawlrun",
    "subscriber",
    "edition",
    "editionpaper",
    "sentpaper",
    "delivery",
}


def test_upgrade_head_then_downgrade_base_works(unmigrated_database_url: str) -> None:
    engine = make_engine(unmigrated_database_url)
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert migrate.current_revision(engine) == migrate.head_revision()

    migrate.downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    assert migrate.current_revision(engine) is None

    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_migrations_match_the_models_so_autogenerate_has_nothing_to_add(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
