"""Fixtures shared by every test: a clean environment, an empty database per test.

PostgreSQL tests run when PAPERFEED_TEST_POSTGRES_URL names a server whose user may create
databases (CI always sets it, and fails rather than skip without it). One database is created
and migrated per pytest run (``tests.support.postgres_run``) and every test that asks for
PostgreSQL starts on it with every table emptied: creating, migrating and dropping a database
for each test cost over two minutes of the suite. Tests that migrate up and down from scratch
ask for ``unmigrated_database_url`` and get a private database of their own. SQLite tests get
their own file in tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paperfeed.config import Settings
from paperfeed.store import migrate
from paperfeed.store.db import make_engine, normalise_url
from tests.support.postgres_run import RunDatabase, private_database

POSTGRES_ENV = "PAPERFEED_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PAPERFEED_* variable or .env from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("PAPERFEED_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url and os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the PostgreSQL tests: set {POSTGRES_ENV} (see .ci/run)")
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return normalise_url(url)


@pytest.fixture(scope="session")
def postgres_run_database() -> Iterator[RunDatabase]:
    """This run's migrated PostgreSQL database, dropped when the run ends."""
    database = RunDatabase.create(_postgres_admin_url())
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def postgres_url(postgres_run_database: RunDatabase) -> Iterator[str]:
    """The run's migrated PostgreSQL database with every table empty (ids from 1 again).

    After the test, a schema the test changed (a table, a column or the migration revision)
    fails the test and the database is built again, so no later test inherits it.
    """
    postgres_run_database.empty_tables()
    yield postgres_run_database.url
    postgres_run_database.check_schema_unchanged()


@pytest.fixture
def private_postgres_url() -> Iterator[str]:
    """A new, never-migrated PostgreSQL database for this test alone, dropped afterwards.

    For tests that migrate from nothing and down again (tests/store/test_migrations.py,
    test_migration_feed_token.py, the "empty or older database" schema check): a shared
    database is migrated already and must stay at head for the tests after them.
    """
    with private_database(_postgres_admin_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no rows, once SQLite and once PostgreSQL.

    The SQLite file does not exist yet; the PostgreSQL database is the run's, migrated, so
    a test that needs the schema should take ``engine`` (which migrates SQLite too).
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def unmigrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database no migration has touched, once SQLite and once PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'paperfeed.db'}"
    return str(request.getfixturevalue("private_postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database engine (SQLite and PostgreSQL)."""
    engine = make_engine(database_url)
    if engine.dialect.name == "sqlite":  # the run's PostgreSQL database is at head already
        migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings pointing at this test's database and folder."""
    return Settings(var_dir=tmp_path / "var", database_url=database_url)
