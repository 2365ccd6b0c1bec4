"""The ledger's key to its edition (migration 0009): (subscriber, edition) -> edition.

Upgrading keeps every ledger row; deleting a reader deletes their ledger rows through the
key and no one else's; a ledger row naming another reader's edition is refused. SQLite and
PostgreSQL, from a database at 0008 holding data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from paperfeed.store import migrate
from paperfeed.store.db import make_engine

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _seed(engine: Engine) -> None:
    """Two readers with two editions each, their papers and ledger, written as 0008 has it."""
    with engine.begin() as db:
        for n in (1, 2, 3):
            db.execute(
                text(
                    "INSERT INTO paper (arxiv_id, title, abstract, authors, ai_keywords, raw,"
                    " first_seen_at, updated_at, stats_counted)"
                    " VALUES (:id, 't', 'a', '[]', '[]', '{}', :now, :now, false)"
                ),
                {"id": f"2612.0000{n}", "now": NOW},
            )
        for reader in (1, 2):
            db.execute(
                text(
                    "INSERT INTO subscriber (id, email, email_digest, status, interests, timezone,"
                    " send_hour, frequency, max_papers, paused, token, feed_token, created_at,"
                    " updated_at) VALUES (:id, :email, true, 'active', 'x', 'UTC', 8, 'daily',"
                    " 10, false, :token, :feed, :now, :now)"
                ),
                {
                    "id": reader,
                    "email": f"r{reader}@example.org",
                    "token": f"t{reader}",
                    "feed": f"f{reader}",
                    "now": NOW,
                },
            )
            for day in (1, 2):
                edition = reader * 10 + day
                db.execute(
                    text(
                        "INSERT INTO edition (id, subscriber_id, local_date, created_at)"
                        " VALUES (:id, :reader, :day, :now)"
                    ),
                    {"id": edition, "reader": reader, "day": date(2026, 12, day), "now": NOW},
                )
                db.execute(
                    text(
                        "INSERT INTO sentpaper (subscriber_id, paper_id, edition_id, created_at)"
                        " VALUES (:reader, :paper, :edition, :now)"
                    ),
                    {"reader": reader, "paper": f"2612.0000{day}", "edition": edition, "now": NOW},
                )


def _ledger(engine: Engine) -> set[tuple[int, str, int]]:
    with engine.connect() as db:
        rows = db.execute(text("SELECT subscriber_id, paper_id, edition_id FROM sentpaper"))
        return {(int(r[0]), str(r[1]), int(r[2])) for r in rows}


@pytest.fixture
def upgraded(unmigrated_database_url: str) -> Engine:
    engine = make_engine(unmigrated_database_url)
    migrate.upgrade(engine, "0008")
    _seed(engine)
    migrate.upgrade(engine)
    return engine


def test_upgrading_keeps_every_ledger_row(upgraded: Engine) -> None:
    assert migrate.current_revision(upgraded) == migrate.head_revision()
    assert _ledger(upgraded) == {
        (1, "2612.00001", 11),
        (1, "2612.00002", 12),
        (2, "2612.00001", 21),
        (2, "2612.00002", 22),
    }
    upgraded.dispose()


def test_deleting_a_reader_deletes_their_ledger_through_the_key(upgraded: Engine) -> None:
    with upgraded.begin() as db:
        db.execute(text("DELETE FROM subscriber WHERE id = 1"))
    assert _ledger(upgraded) == {(2, "2612.00001", 21), (2, "2612.00002", 22)}
    with upgraded.begin() as db:  # and an edition deleted alone takes its ledger rows
        db.execute(text("DELETE FROM edition WHERE id = 21"))
    assert _ledger(upgraded) == {(2, "2612.00002", 22)}
    upgraded.dispose()


def test_a_ledger_row_naming_another_readers_edition_is_refused(upgraded: Engine) -> None:
    with pytest.raises(IntegrityError), upgraded.begin() as db:
        db.execute(
            text(
                "INSERT INTO sentpaper (subscriber_id, paper_id, edition_id, created_at)"
                " VALUES (1, '2612.00003', 21, :now)"
            ),
            {"now": NOW},
        )
    assert (1, "2612.00003", 21) not in _ledger(upgraded)
    upgraded.dispose()


def test_downgrading_keeps_the_ledger_too(upgraded: Engine) -> None:
    before = _ledger(upgraded)
    migrate.downgrade(upgraded, "0008")
    assert _ledger(upgraded) == before
    with upgraded.begin() as db:  # the old keys are back: the reader's rows still cascade
        db.execute(text("DELETE FROM subscriber WHERE id = 2"))
    assert {row[0] for row in _ledger(upgraded)} == {1}
    upgraded.dispose()
