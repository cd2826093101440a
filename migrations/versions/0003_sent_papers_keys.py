"""sent_papers: one foreign key (its delivery's), indexed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 15:40:00.000000

The subscriber and paper keys cost every sent digest ~20 row locks (the papers' shared by every sender) and
kept nothing: rows go with their delivery, which goes with its subscriber, and papers are never deleted.
Without an index on delivery_id, pruning the ledger scanned the table once per deleted delivery (1,000
deliveries out of 1.8 M sent papers: about two minutes; at 100,000 subscribers, days).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sent_papers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sent_papers_subscriber_id_subscribers", type_="foreignkey")
        batch_op.drop_constraint("fk_sent_papers_paper_id_papers", type_="foreignkey")
        batch_op.create_index(batch_op.f("ix_sent_papers_delivery_id"), ["delivery_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sent_papers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sent_papers_delivery_id"))
        batch_op.create_foreign_key(
            "fk_sent_papers_paper_id_papers", "papers", ["paper_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            "fk_sent_papers_subscriber_id_subscribers", "subscribers", ["subscriber_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip
