"""PostgreSQL databases for the tests: one migrated database per run, emptied between tests.

Creating, migrating and dropping a database took about 0.7 s a test. ``RunDatabase`` is one
migrated database for the whole run, named after the pytest process (and its xdist worker, if
any) so runs side by side never share one, and dropped when the run ends. Before each test
every app table is emptied and every sequence restarted (``alembic_version`` kept): the same
end as ``TRUNCATE ... RESTART IDENTITY CASCADE``, but with ``DELETE`` in foreign-key order,
since TRUNCATE makes new files for all 14 tables each time (0.5 s here) while deleting the few
rows a test leaves takes milliseconds. ``private_database`` is the old way, a fresh empty
database for one test, kept for the tests that migrate from nothing.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from paperfeed.store import migrate

# A leftover connection from an earlier test (a daemon process still exiting) can hold a lock
# the emptying waits for; after this long its backends are ended and the emptying tried again.
LOCK_TIMEOUT = "3s"

_SCHEMA = text(
    "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
    " WHERE table_schema = current_schema() ORDER BY table_name, column_name"
)
_REVISION = text("SELECT version_num FROM alembic_version")
_TABLES = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    " AND tablename <> 'alembic_version' ORDER BY tablename"
)
_REFERENCES = text(
    "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
    " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
)
_SEQUENCES = text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'S' AND n.nspname = current_schema() ORDER BY c.relname"
)


def _database_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _create(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def private_database(admin_url: str) -> Iterator[str]:
    """A fresh, empty database (never migrated) for one test, dropped afterwards."""
    name = f"paperfeed_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    _create(admin, name)
    try:
        yield _database_url(admin_url, name)
    finally:
        _drop(admin, name)
        admin.dispose()


def _schema(connection: Connection) -> tuple[tuple[object, ...], ...]:
    columns = tuple(tuple(row) for row in connection.execute(_SCHEMA))
    return (*columns, ("alembic_version", *connection.execute(_REVISION).scalars()))


def _emptying(connection: Connection) -> list[str]:
    """The statements that empty every app table and restart every sequence."""
    tables = list(connection.execute(_TABLES).scalars())
    sequences = list(connection.execute(_SEQUENCES).scalars())
    restart = "SELECT " + ", ".join(f"setval('\"{s}\"', 1, false)" for s in sequences)
    # A referencing table before the one it references, so no row is left pointing nowhere.
    graph: TopologicalSorter[str] = TopologicalSorter({t: () for t in tables})
    for referencing, referenced in connection.execute(_REFERENCES):
        if referencing != referenced:
            graph.add(referenced, referencing)
    try:
        order = list(graph.static_order())
    except CycleError:  # tables that reference each other: only TRUNCATE empties them at once
        listed = ", ".join(f'"{t}"' for t in tables)
        return [f"TRUNCATE {listed} RESTART IDENTITY CASCADE"]
    return [f'DELETE FROM "{t}"' for t in order] + ([restart] if sequences else [])


@dataclass
class RunDatabase:
    """The run's migrated database; ``empty_tables`` before each test that uses it."""

    admin_url: str
    name: str
    url: str
    admin: Engine
    engine: Engine
    emptying: tuple[str, ...] = ()
    schema: tuple[tuple[object, ...], ...] = ()

    @classmethod
    def create(cls, admin_url: str) -> RunDatabase:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        name = f"paperfeed_test_run_{os.getpid()}{f'_{worker}' if worker else ''}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        url = _database_url(admin_url, name)
        database = cls(admin_url, name, url, admin, create_engine(url, poolclass=NullPool))
        database.build()
        return database

    def build(self) -> None:
        """Create the database afresh and migrate it to head."""
        self.engine.dispose()
        _create(self.admin, self.name)
        migrate.upgrade(self.engine)
        with self.engine.connect() as connection:
            self.schema = _schema(connection)
            self.emptying = tuple(_emptying(connection))

    def empty_tables(self) -> None:
        """Every app table emptied and its ids restarted; the schema and revision stay."""
        try:
            self._run_emptying(lock_timeout=LOCK_TIMEOUT)
        except OperationalError:
            self._end_other_connections()
            self._run_emptying(lock_timeout="0")

    def _run_emptying(self, *, lock_timeout: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
            for statement in self.emptying:
                connection.execute(text(statement))

    def check_schema_unchanged(self) -> None:
        """Fail the test that changed the shared schema, and rebuild it for the next ones."""
        with self.engine.connect() as connection:
            unchanged = _schema(connection) == self.schema
        if not unchanged:
            self.build()
            pytest.fail(
                "this test changed the shared PostgreSQL database's schema (tables, columns or "
                "alembic revision); ask for private_postgres_url or unmigrated_database_url"
            )

    def _end_other_connections(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            )

    def drop(self) -> None:
        self.engine.dispose()
        _drop(self.admin, self.name)
        self.admin.dispose()
