"""delivery claim indexes: pending and sending rows by (kind, id), so a claim reads a batch

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 22:30:00.000000

A send pass claims the oldest pending (or lapsed sending) rows of one kind above the last id
it took. With only the (status, created_at) index, SQLite, and PostgreSQL whose statistics
predate compose, read every pending row and sorted them for each batch of 500: at 100,000
deliveries that made a pass O(n^2). These partial indexes give the rows in id order, so a
claim stops after its batch, and hold no sent rows however many days the table keeps.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "sending")


def upgrade() -> None:
    for status in STATUSES:
        where = sa.text(f"status = '{status}'")
        op.create_index(
            f"ix_delivery_{status}_kind_id",
            "delivery",
            ["kind", "id"],
            sqlite_where=where,
            postgresql_where=where,
        )


def downgrade() -> None:
    for status in STATUSES:
        op.drop_index(f"ix_delivery_{status}_kind_id", table_name="delivery")
