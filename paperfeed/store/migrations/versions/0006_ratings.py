"""ratings: a reader's "more like this" / "less like this" per paper

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 19:10:00.000000

One row per (subscriber, paper), value +1 or -1; the learned profile reads them
(``paperfeed.ranking.feedback``). Deleted with the subscriber or the paper.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import paperfeed.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", paperfeed.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["paper.arxiv_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscriber_id", "paper_id", name="uq_rating_paper"),
    )
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rating_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rating_subscriber_id"))
    op.drop_table("rating")
