"""channels: chat addresses, team digests, deliveries per edition and channel

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 18:45:00.000000

A delivery used to be unique per edition (one mail). Now an edition has one delivery per
channel it goes to: ``email``, and ``chat:<address id>`` for each chat or push address
(``channel_address``, apprise URLs). A team digest is a subscriber with a ``name`` and no
email, so ``subscriber.email`` may be null. Existing deliveries become email deliveries.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import paperfeed.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0001 created ``UNIQUE (edition_id)`` without a name: PostgreSQL calls it this, and on
# SQLite the batch copy names reflected unnamed constraints by this convention.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _edition_unique_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "delivery_edition_id_key"
    return "uq_delivery_edition_id"


def upgrade() -> None:
    op.create_table(
        "channel_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("shown", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", paperfeed.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", paperfeed.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("channel_address", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_address_subscriber_id"), ["subscriber_id"], unique=False
        )

    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.alter_column(
            "email", existing_type=sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True
        )
        batch_op.add_column(
            sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("email_digest", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.create_unique_constraint("uq_subscriber_name", ["name"])

    with op.batch_alter_table("delivery", schema=None, naming_convention=_NAMING) as batch_op:
        batch_op.drop_constraint(_edition_unique_name(), type_="unique")
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="email",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "channel",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                server_default="email",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("address_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("not_before", paperfeed.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_delivery_address_id_channel_address",
            "channel_address",
            ["address_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_delivery_edition_id"), ["edition_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_address_id"), ["address_id"], unique=False)
        batch_op.create_unique_constraint("uq_delivery_edition_channel", ["edition_id", "channel"])


def downgrade() -> None:
    connection = op.get_bind()
    # An edition keeps only its email delivery: the old schema has room for one.
    connection.execute(sa.text("DELETE FROM delivery WHERE channel <> 'email'"))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint("uq_delivery_edition_channel", type_="unique")
        batch_op.drop_index(batch_op.f("ix_delivery_address_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_edition_id"))
        batch_op.drop_constraint("fk_delivery_address_id_channel_address", type_="foreignkey")
        batch_op.drop_column("not_before")
        batch_op.drop_column("address_id")
        batch_op.drop_column("channel")
        batch_op.drop_column("kind")
        batch_op.create_unique_constraint(_edition_unique_name(), ["edition_id"])
    # Team digests have no email and cannot exist in the old schema.
    connection.execute(sa.text("DELETE FROM subscriber WHERE email IS NULL"))
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subscriber_name", type_="unique")
        batch_op.drop_column("email_digest")
        batch_op.drop_column("name")
        batch_op.alter_column(
            "email", existing_type=sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False
        )
    with op.batch_alter_table("channel_address", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_address_subscriber_id"))
    op.drop_table("channel_address")
