"""subscriber feed token

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 16:30:00.000000

The personal feed gets a key of its own: its URL used to carry the account token, which also
opens the preferences page (change interests, unsubscribe, delete). Every subscriber already
stored gets a new random feed token; their old feed URLs stop working, so a URL that leaked
into a cloud reader or an OPML file no longer opens the account either.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns as this revision knows them: later models may differ, this must not follow them.
_subscriber = sa.table(
    "subscriber", sa.column("id", sa.Integer), sa.column("feed_token", sa.String)
)
BATCH = 1_000


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("feed_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    connection = op.get_bind()
    ids = [row.id for row in connection.execute(sa.select(_subscriber.c.id))]
    fill = (
        sa.update(_subscriber)
        .where(_subscriber.c.id == sa.bindparam("subscriber_id"))
        .values(feed_token=sa.bindparam("new_token"))
    )
    for start in range(0, len(ids), BATCH):
        connection.execute(
            fill,
            [
                {"subscriber_id": i, "new_token": secrets.token_urlsafe(32)}
                for i in ids[start : start + BATCH]
            ],
        )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.alter_column(
            "feed_token",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
        )
        batch_op.create_index(batch_op.f("ix_subscriber_feed_token"), ["feed_token"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_feed_token"))
        batch_op.drop_column("feed_token")
