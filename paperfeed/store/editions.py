"""Queries and writes for composing editions: who is due, what they may get, the ledger.

Writing an edition, its papers, the never-twice ledger rows and its deliveries happens in
one transaction: one delivery per channel the subscriber reads on (``email`` when they have
an address and want email digests, ``chat:<id>`` for each active chat address). The ledger
insert has no ON CONFLICT: if another composer already sent one of these papers to this
subscriber, the whole transaction fails and nothing is written twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from psycopg import sql as psycopg_sql
from sqlalchemy import JSON, Date, Float, Integer, Table, any_, bindparam, func, insert, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from paperfeed.store.models import (
    ChannelAddress,
    ChannelAddressStatus,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionPaper,
    Frequency,
    Listing,
    ListingDay,
    Paper,
    SentPaper,
    Subscriber,
    SubscriberStatus,
)

CHUNK = 500
# Editions per multi-row INSERT ... RETURNING.
INSERT_PAGE = 1000
_LISTING: Table = Listing.__table__  # type: ignore[attr-defined]
_LISTING_DAY: Table = ListingDay.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ListedPaper:
    """A paper on a settled day's list, with the day, when it settled and its latest upvotes."""

    paper: Paper
    listing_date: date
    settled_at: datetime
    upvotes: int
    comments: int


@dataclass(frozen=True, slots=True)
class PlannedPaper:
    """One paper chosen for an edition."""

    paper_id: str
    section: str  # "matched" or "trending"
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlannedEdition:
    """An edition to write: who, for which local date, which papers, and whether to send it
    (on every channel the subscriber reads on when it is written)."""

    subscriber_id: int
    local_date: date
    papers: tuple[PlannedPaper, ...]
    deliver: bool


def _receiving(email: str | None) -> list[ColumnElement[bool]]:
    conditions = [
        col(Subscriber.status) == SubscriberStatus.ACTIVE,
        col(Subscriber.paused).is_(False),
        col(Subscriber.frequency) != Frequency.OFF,
    ]
    if email is not None:
        conditions.append(col(Subscriber.email) == email)
    return conditions


def receiving_subscribers(session: Session, *, email: str | None = None) -> Sequence[Subscriber]:
    """Confirmed subscribers who are not paused and have not switched digests off.

    Team digests (a name, no email) are among them: they receive through chat addresses.
    """
    query = select(Subscriber).where(*_receiving(email)).order_by(col(Subscriber.id))
    return session.exec(query).all()


@dataclass(frozen=True, slots=True)
class Reader:
    """What composing reads of a receiving subscriber: a plain row, no ORM object."""

    id: int
    email: str | None
    name: str | None
    interests: str
    timezone: str
    send_hour: int
    frequency: str
    max_papers: int


def receiving_readers(session: Session, *, email: str | None = None) -> list[Reader]:
    """``receiving_subscribers`` as ``Reader`` rows (100,000 of them load in a second)."""
    columns = [
        col(Subscriber.id),
        col(Subscriber.email),
        col(Subscriber.name),
        col(Subscriber.interests),
        col(Subscriber.timezone),
        col(Subscriber.send_hour),
        col(Subscriber.frequency),
        col(Subscriber.max_papers),
    ]
    query = sa_select(*columns).where(*_receiving(email)).order_by(col(Subscriber.id))
    rows = session.execute(query).all()
    return [Reader(*row) for row in rows]


def prefer_indexes(session: Session) -> None:
    """On PostgreSQL, have this transaction's lookups use the indexes whatever the statistics.

    Compose reads editions and the ledger by subscriber, in batches, while it adds 100,000
    editions and ten times as many ledger rows. Statistics lag far behind such growth (the
    first pass after an import starts from empty tables; autovacuum analyzes now and then,
    or never when it is off), and a planner that believes the tables are small, or cannot
    tell how selective a list of ids is, scans them whole for every batch: compose then slows
    down with every batch it writes. Every lookup here has an index, so scans are ruled out
    for the transaction (SET LOCAL ends with it).
    """
    if _dialect(session) == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))


def editions_on(session: Session, pairs: Iterable[tuple[int, date]]) -> set[tuple[int, date]]:
    """Which of these (subscriber, local date) pairs have an edition already."""
    by_date: dict[date, list[int]] = defaultdict(list)
    for subscriber_id, local_date in pairs:
        by_date[local_date].append(subscriber_id)
    found: set[tuple[int, date]] = set()
    for local_date, ids in by_date.items():
        # One date at a time: the unique (subscriber, date) index answers each chunk.
        for start in range(0, len(ids), CHUNK):
            rows = session.exec(
                select(col(Edition.subscriber_id)).where(
                    _among(session, col(Edition.subscriber_id), ids[start : start + CHUNK]),
                    col(Edition.local_date) == local_date,
                )
            ).all()
            found.update((int(s), local_date) for s in rows)
    return found


def last_edition_at(session: Session, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
    """When each subscriber's newest edition was created (absent: never)."""
    out: dict[int, datetime] = {}
    for start in range(0, len(subscriber_ids), CHUNK):
        chunk = subscriber_ids[start : start + CHUNK]
        rows = session.exec(
            select(col(Edition.subscriber_id), func.max(Edition.created_at))
            .where(_among(session, col(Edition.subscriber_id), chunk))
            .group_by(col(Edition.subscriber_id))
        ).all()
        for subscriber_id, created in rows:
            if created is not None:
                # func.max bypasses the column type on SQLite: re-read it as UTC.
                out[int(subscriber_id)] = _aware(created)
    return out


def settled_papers(session: Session, *, since: date, until: date) -> list[ListedPaper]:
    """Papers listed on settled daily lists from ``since`` to ``until``, first listing kept."""
    rows = session.execute(
        sa_select(
            Paper,
            _LISTING.c.listing_date,
            _LISTING_DAY.c.settled_at,
            _LISTING.c.upvotes,
            _LISTING.c.comments,
        )
        .join(Listing, col(Listing.paper_id) == col(Paper.arxiv_id))
        .join(
            ListingDay,
            (col(ListingDay.kind) == col(Listing.kind))
            & (col(ListingDay.listing_date) == col(Listing.listing_date)),
        )
        .where(
            col(Listing.kind) == "daily",
            col(Listing.listing_date) >= since,
            col(Listing.listing_date) <= until,
            col(ListingDay.settled_at).is_not(None),
        )
        .order_by(col(Listing.listing_date), col(Listing.rank))
    ).all()
    # A paper listed again on a later day keeps its first day; its votes are the newest.
    first: dict[str, ListedPaper] = {}
    for paper, listing_date, settled_at, upvotes, comments in rows:
        assert settled_at is not None
        previous = first.get(paper.arxiv_id)
        if previous is None:
            first[paper.arxiv_id] = ListedPaper(paper, listing_date, settled_at, upvotes, comments)
        else:
            first[paper.arxiv_id] = ListedPaper(
                paper,
                previous.listing_date,
                previous.settled_at,
                max(upvotes, previous.upvotes),
                max(comments, previous.comments),
            )
    return list(first.values())


def sent_papers(
    session: Session, subscriber_ids: Sequence[int], paper_ids: Sequence[str]
) -> dict[int, set[str]]:
    """Which of ``paper_ids`` each subscriber has already been sent."""
    out: dict[int, set[str]] = defaultdict(set)
    if not paper_ids:
        return out
    for start in range(0, len(subscriber_ids), CHUNK):
        chunk = subscriber_ids[start : start + CHUNK]
        rows = session.exec(
            select(col(SentPaper.subscriber_id), col(SentPaper.paper_id)).where(
                # IN lists, not arrays (_among): psycopg prepares a statement run five
                # times, and a generic plan, guessing ten elements an array, probed the
                # key for every subscriber and paper pair (70 ms a chunk instead of 2).
                col(SentPaper.subscriber_id).in_(chunk),
                col(SentPaper.paper_id).in_(paper_ids),
            )
        ).all()
        for subscriber_id, paper_id in rows:
            out[int(subscriber_id)].add(paper_id)
    return out


def write_editions(session: Session, plans: Sequence[PlannedEdition], *, now: datetime) -> int:
    """Insert editions (skipping any that exist), their papers, ledger rows and deliveries.

    In bulk: the editions in multi-row inserts that return their ids, then every paper,
    ledger row and delivery in one stream per table (COPY on PostgreSQL, executemany on
    SQLite), so a batch costs a few statements however many editions it holds.
    """
    if not plans:
        return 0
    channels = delivery_channels(session, [p.subscriber_id for p in plans if p.deliver])
    written = _insert_editions(session, plans, now=now)
    papers: list[tuple[object, ...]] = []
    ledger: list[tuple[object, ...]] = []
    deliveries: list[tuple[object, ...]] = []
    pending = DeliveryStatus.PENDING.value
    for plan in plans:
        edition_id = written.get((plan.subscriber_id, plan.local_date))
        if edition_id is None:  # another composer wrote it first: theirs stands
            continue
        subscriber_id = plan.subscriber_id
        for rank, planned in enumerate(plan.papers, start=1):
            papers.append(
                (
                    edition_id,
                    planned.paper_id,
                    planned.section,
                    rank,
                    planned.score,
                    planned.reasons,  # a tuple: JSON writes it as the list it reads back
                )
            )
            ledger.append((subscriber_id, planned.paper_id, edition_id, now))
        if plan.deliver:
            for kind, channel, address_id in channels.get(subscriber_id, ()):
                deliveries.append(
                    (edition_id, subscriber_id, kind, channel, address_id, pending, 0, now, now)
                )
    bulk_insert(session, _EDITION_PAPER, _PAPER_COLUMNS, papers)
    bulk_insert(session, _SENT_PAPER, _LEDGER_COLUMNS, ledger)
    bulk_insert(session, _DELIVERY, _DELIVERY_COLUMNS, deliveries)
    return len(written)


_EDITION: Table = Edition.__table__  # type: ignore[attr-defined]
_EDITION_PAPER: Table = EditionPaper.__table__  # type: ignore[attr-defined]
_SENT_PAPER: Table = SentPaper.__table__  # type: ignore[attr-defined]
_DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]
_PAPER_COLUMNS = ("edition_id", "paper_id", "section", "rank", "score", "reasons")
_LEDGER_COLUMNS = ("subscriber_id", "paper_id", "edition_id", "created_at")
_DELIVERY_COLUMNS = (
    "edition_id",
    "subscriber_id",
    "kind",
    "channel",
    "address_id",
    "status",
    "attempts",
    "created_at",
    "updated_at",
)


def _insert_editions(
    session: Session, plans: Sequence[PlannedEdition], *, now: datetime
) -> dict[tuple[int, date], int]:
    """Insert the editions, skipping those that exist; the id of each one written, by
    (subscriber, local date)."""
    if _dialect(session) == "postgresql":
        return _insert_editions_unnest(session, plans, now=now)
    # Multi-row VALUES with RETURNING (SQLAlchemy's "insertmanyvalues"): a skipped row
    # returns nothing, so rows are matched by their key, not by their order.
    stmt = (
        sqlite.insert(_EDITION)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "local_date"])
        .returning(_EDITION.c.id, _EDITION.c.subscriber_id, _EDITION.c.local_date)
    )
    rows = [
        {"subscriber_id": p.subscriber_id, "local_date": p.local_date, "created_at": now}
        for p in plans
    ]
    written: dict[tuple[int, date], int] = {}
    for start in range(0, len(rows), INSERT_PAGE):
        result = session.execute(stmt, rows[start : start + INSERT_PAGE])
        for edition_id, subscriber_id, local_date in result:
            written[(int(subscriber_id), local_date)] = int(edition_id)
    return written


# PostgreSQL: the editions as two arrays, one statement of three parameters (as _among).
_INSERT_EDITIONS = text(
    "INSERT INTO edition (subscriber_id, local_date, created_at) "
    "SELECT subscriber_id, local_date, :now FROM unnest(:ids, :dates) "
    "AS planned(subscriber_id, local_date) "
    "ON CONFLICT (subscriber_id, local_date) DO NOTHING "
    "RETURNING id, subscriber_id, local_date"
).bindparams(
    bindparam("now", type_=_EDITION.c.created_at.type),
    bindparam("ids", type_=postgresql.ARRAY(Integer)),
    bindparam("dates", type_=postgresql.ARRAY(Date)),
)


def _insert_editions_unnest(
    session: Session, plans: Sequence[PlannedEdition], *, now: datetime
) -> dict[tuple[int, date], int]:
    """``_insert_editions`` on PostgreSQL: a skipped row returns nothing, so rows are matched
    by their key."""
    written: dict[tuple[int, date], int] = {}
    for start in range(0, len(plans), INSERT_PAGE):
        page = plans[start : start + INSERT_PAGE]
        result = session.execute(
            _INSERT_EDITIONS,
            {
                "now": now,
                "ids": [p.subscriber_id for p in page],
                "dates": [p.local_date for p in page],
            },
        )
        for edition_id, subscriber_id, local_date in result:
            written[(int(subscriber_id), local_date)] = int(edition_id)
    return written


def bulk_insert(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``) in the session's transaction.

    Through the driver, not row by row through SQLAlchemy: PostgreSQL takes one COPY (psycopg
    3), the fastest way in by far; SQLite one executemany of a prepared INSERT. Values are
    converted as the columns' types would (timestamps, JSON), so the rows read back the same.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    raw = session.connection().connection.driver_connection
    assert raw is not None
    error = dialect.loaded_dbapi.Error
    try:
        if dialect.name == "postgresql":
            _copy(raw, table, columns, rows)
        else:
            _executemany(raw, dialect, table, columns, rows)
    except error as exc:
        # As SQLAlchemy would raise it (IntegrityError, OperationalError, ...), so callers
        # that tell a conflict from an outage see the same exceptions as before.
        raise DBAPIError.instance(
            f"bulk insert into {table.name}",
            None,
            exc,
            error,
            connection_invalidated=dialect.is_disconnect(exc, raw, None),
            dialect=dialect,
        ) from exc


def _copy(
    raw: Any, table: Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    # psycopg adapts numbers, text and aware timestamps itself; JSON goes as its text.
    json_columns = [i for i, n in enumerate(columns) if isinstance(table.c[n].type, JSON)]
    copy = psycopg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        psycopg_sql.Identifier(table.name),
        psycopg_sql.SQL(", ").join(map(psycopg_sql.Identifier, columns)),
    )
    encoded: dict[tuple[object, ...], str] = {}
    with raw.cursor() as cursor, cursor.copy(copy) as out:
        for row in rows:
            if json_columns:
                values = list(row)
                for i in json_columns:
                    values[i] = _json_text(values[i], encoded)
                row = tuple(values)
            out.write_row(row)


def _json_text(value: object, encoded: dict[tuple[object, ...], str]) -> str:
    """``value`` as JSON; a tuple is encoded once per ``encoded`` (editions share reasons:
    "12 upvotes", a topic), other values every time."""
    if not isinstance(value, tuple):
        return json.dumps(value)
    cached = encoded.get(value)
    if cached is None:
        cached = encoded[value] = json.dumps(value)
    return cached


def _executemany(
    raw: Any,
    dialect: Dialect,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
) -> None:
    statement = insert(table).values({name: bindparam(name) for name in columns})
    compiled = statement.compile(dialect=dialect)
    if list(compiled.positiontup or []) != list(columns):
        raise AssertionError(f"unexpected parameter order {compiled.positiontup} for {columns}")
    cursor = raw.cursor()
    try:
        cursor.executemany(str(compiled), _bound_rows(dialect, table, columns, rows))
    finally:
        cursor.close()


def _bound_rows(
    dialect: Dialect, table: Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> list[tuple[object, ...]]:
    """``rows`` with each value as the column's type binds it (SQLAlchemy's own processors)."""
    processors = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in columns]
    # Numbers and text go as they are; a timestamp (the same moment on every row) is
    # converted once.
    converting = [
        (i, processor)
        for i, processor in enumerate(processors)
        if processor is not None and not isinstance(table.c[columns[i]].type, Integer | Float)
    ]
    if not converting:
        return list(rows)
    out: list[tuple[object, ...]] = []
    last: dict[int, tuple[object, object]] = {}
    for row in rows:
        values = list(row)
        for i, processor in converting:
            value = values[i]
            seen = last.get(i)
            if seen is not None and seen[0] is value:
                values[i] = seen[1]
            else:
                values[i] = processor(value)
                last[i] = (value, values[i])
        out.append(tuple(values))
    return out


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _among(session: Session, column: Mapped[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(array)``, one parameter.

    An IN list binds one parameter per value, so each chunk is a statement of its own that
    SQLAlchemy expands and psycopg re-parses on the client, a few ms each for 500 ids, ten
    such lookups a batch; the array form is one statement whatever the count, parsed once.
    For lookups by this one list only: a prepared statement's generic plan guesses ten
    elements an array, harmless for one key, not for two lists crossed (``sent_papers``).
    """
    if _dialect(session) == "postgresql":
        array = postgresql.ARRAY(cast(ColumnElement[Any], column).type)
        return column == any_(bindparam(None, list(values), type_=array))
    return column.in_(values)


Channel = tuple[str, str, int | None]  # kind, channel, chat address id


def delivery_channels(session: Session, subscriber_ids: Sequence[int]) -> dict[int, list[Channel]]:
    """Where each subscriber's edition goes: ``email`` when they have an address and want
    email digests, and ``chat:<id>`` for each of their active chat addresses."""
    ids = sorted(set(subscriber_ids))
    out: dict[int, list[Channel]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for sid in session.exec(
            select(col(Subscriber.id)).where(
                _among(session, col(Subscriber.id), chunk),
                col(Subscriber.email).is_not(None),
                col(Subscriber.email_digest).is_(True),
            )
        ).all():
            out[int(sid)].append(("email", "email", None))  # type: ignore[arg-type]
        for address_id, sid, kind in session.exec(
            select(
                col(ChannelAddress.id), col(ChannelAddress.subscriber_id), col(ChannelAddress.kind)
            )
            .where(
                _among(session, col(ChannelAddress.subscriber_id), chunk),
                col(ChannelAddress.status) == ChannelAddressStatus.ACTIVE,
            )
            .order_by(col(ChannelAddress.id))
        ).all():
            out[int(sid)].append((kind, f"{kind}:{address_id}", int(address_id)))  # type: ignore[arg-type]
    return out


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
