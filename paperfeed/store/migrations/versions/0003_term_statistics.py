"""term statistics kept in the store

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 16:10:00.000000

Ranking's term statistics move from a rebuild over every paper in each process to one row,
updated when papers are stored. This fills the row from the papers already stored, with the
tokeniser of the paperfeed running it (a later tokeniser rebuilds the row on its own).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import paperfeed.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns as this revision knows them: later models may differ, this must not follow them.
_paper = sa.table(
    "paper",
    sa.column("arxiv_id", sa.String),
    sa.column("title", sa.Text),
    sa.column("abstract", sa.Text),
    sa.column("ai_summary", sa.Text),
    sa.column("ai_keywords", sa.JSON),
    sa.column("stats_counted", sa.Boolean),
    sa.column("counted_in", sa.Integer),
)
_termcounts = sa.table(
    "termcounts",
    sa.column("id", sa.Integer),
    sa.column("features_version", sa.Integer),
    sa.column("bucket_bits", sa.Integer),
    sa.column("n_docs", sa.Integer),
    sa.column("field_terms", sa.JSON),
    sa.column("df", sa.LargeBinary),
    sa.column("revision", sa.Integer),
    sa.column("updated_at", paperfeed.store.types.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("paper", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stats_counted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("counted_in", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_paper_stats_counted"), ["stats_counted"], unique=False)
    op.create_table(
        "termcounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("features_version", sa.Integer(), nullable=False),
        sa.Column("bucket_bits", sa.Integer(), nullable=False),
        sa.Column("n_docs", sa.Integer(), nullable=False),
        sa.Column("field_terms", sa.JSON(), nullable=False),
        sa.Column("df", sa.LargeBinary(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", paperfeed.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "countedtext",
        sa.Column("paper_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("ai_summary", sa.Text(), nullable=True),
        sa.Column("ai_keywords", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["paper.arxiv_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("paper_id"),
    )
    _count_stored_papers()


def _count_stored_papers() -> None:
    # Imported here: only this step needs ranking (and numpy), not the schema changes.
    from paperfeed.ranking.paper_record import Document
    from paperfeed.ranking.stats import TermStats
    from paperfeed.ranking.text import FEATURES_VERSION

    connection = op.get_bind()
    stats = TermStats()
    rows = connection.execute(
        sa.select(
            _paper.c.arxiv_id,
            _paper.c.title,
            _paper.c.abstract,
            _paper.c.ai_summary,
            _paper.c.ai_keywords,
        )
    )
    for arxiv_id, title, abstract, ai_summary, ai_keywords in rows:
        stats.add(
            [
                Document(
                    paper_id=arxiv_id,
                    title=title,
                    abstract=abstract or ai_summary or "",
                    ai_keywords=tuple(ai_keywords or ()),
                )
            ]
        )
    connection.execute(
        _termcounts.insert().values(
            id=1,
            features_version=FEATURES_VERSION,
            bucket_bits=stats.bucket_bits,
            n_docs=stats.n_docs,
            field_terms=dict(stats.field_terms),
            df=stats.packed_df(),
            revision=1,
            updated_at=datetime.now(UTC),
        )
    )
    connection.execute(_paper.update().values(stats_counted=True, counted_in=1))


def downgrade() -> None:
    op.drop_table("countedtext")
    op.drop_table("termcounts")
    with op.batch_alter_table("paper", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_stats_counted"))
        batch_op.drop_column("counted_in")
        batch_op.drop_column("stats_counted")
