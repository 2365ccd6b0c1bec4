"""ledger key to its edition by (subscriber, edition): deleting a reader stops scanning the ledger

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:10:00.000000

The ledger (sentpaper) referenced edition.id with ON DELETE CASCADE but had no index on
edition_id, so deleting one edition scanned the whole ledger: deleting a reader (their data,
at their request) scanned it once per edition they ever had. 2.4 s for a reader with 30
editions beside 1.2 million ledger rows on PostgreSQL, hours after a year at 100,000 readers.
The key is now (subscriber_id, edition_id) -> edition (subscriber_id, id), found through the
ledger's primary key (subscriber first), and it replaces the ledger's own key to subscriber,
which it implies: one check per ledger row compose writes instead of two, and a row's
subscriber is now always its edition's. edition's index on subscriber_id alone goes: the
new unique index (subscriber_id, id) serves the same lookups.
SQLite cannot change a table's keys in place: the ledger is copied into a new table (nothing
references the ledger, so dropping the old one cascades nowhere).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import paperfeed.store.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_KEY = "fk_sentpaper_edition"


def _rebuild_ledger(*keys: sa.ForeignKeyConstraint) -> None:
    """SQLite: the ledger copied into a table with ``keys`` (and the paper key)."""
    op.create_table(
        "_sentpaper_new",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("created_at", paperfeed.store.types.UTCDateTime(timezone=True), nullable=False),
        *keys,
        sa.ForeignKeyConstraint(["paper_id"], ["paper.arxiv_id"]),
        sa.PrimaryKeyConstraint("subscriber_id", "paper_id"),
    )
    op.execute(
        "INSERT INTO _sentpaper_new (subscriber_id, paper_id, edition_id, created_at) "
        "SELECT subscriber_id, paper_id, edition_id, created_at FROM sentpaper"
    )
    op.drop_table("sentpaper")
    op.rename_table("_sentpaper_new", "sentpaper")


def upgrade() -> None:
    op.create_index("uq_edition_subscriber_id", "edition", ["subscriber_id", "id"], unique=True)
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_ledger(
            sa.ForeignKeyConstraint(
                ["subscriber_id", "edition_id"],
                ["edition.subscriber_id", "edition.id"],
                name=NEW_KEY,
                ondelete="CASCADE",
            )
        )
    else:
        op.drop_constraint("sentpaper_edition_id_fkey", "sentpaper", type_="foreignkey")
        op.drop_constraint("sentpaper_subscriber_id_fkey", "sentpaper", type_="foreignkey")
        op.create_foreign_key(
            NEW_KEY,
            "sentpaper",
            "edition",
            ["subscriber_id", "edition_id"],
            ["subscriber_id", "id"],
            ondelete="CASCADE",
        )
    op.drop_index("ix_edition_subscriber_id", table_name="edition")


def downgrade() -> None:
    op.create_index("ix_edition_subscriber_id", "edition", ["subscriber_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_ledger(
            sa.ForeignKeyConstraint(["edition_id"], ["edition.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        )
    else:
        op.drop_constraint(NEW_KEY, "sentpaper", type_="foreignkey")
        op.create_foreign_key(
            "sentpaper_edition_id_fkey",
            "sentpaper",
            "edition",
            ["edition_id"],
            ["id"],
            ondelete="CASCADE",
        )
        op.create_foreign_key(
            "sentpaper_subscriber_id_fkey",
            "sentpaper",
            "subscriber",
            ["subscriber_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.drop_index("uq_edition_subscriber_id", table_name="edition")
