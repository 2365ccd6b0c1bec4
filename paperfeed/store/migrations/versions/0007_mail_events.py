"""mail events: bounces and complaints reported after the relay accepted a message

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 21:50:00.000000

One row per report (a provider's webhook call or a mail in the bounce mailbox), unique per
(source, event_key) so retries record nothing twice. Deleted with the subscriber.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import paperfeed.store.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("event_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("occurred_at", paperfeed.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", paperfeed.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_key", name="uq_mail_event_source_key"),
    )
    with op.batch_alter_table("mail_event", schema=None) as batch_op:
        batch_op.create_index("ix_mail_event_kind_occurred", ["kind", "occurred_at"], unique=False)
        batch_op.create_index(
            "ix_mail_event_subscriber_kind",
            ["subscriber_id", "kind", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("mail_event", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_event_subscriber_kind")
        batch_op.drop_index("ix_mail_event_kind_occurred")
    op.drop_table("mail_event")
