"""subscribers: cadence (daily, weekdays, weekly:<day>) and papers per digest

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:00:00.000000

Follows 0004 (the instance secret key), which landed alongside.
Existing subscribers stay daily (the server default) with the configured digest size (papers NULL).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CADENCES = ("daily", "weekdays", *(f"weekly:{d}" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")))


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cadence", sa.String(length=16), server_default="daily", nullable=False)
        )
        batch_op.add_column(sa.Column("papers", sa.Integer(), nullable=True))
        cadences = "cadence IN (" + ", ".join(f"'{c}'" for c in CADENCES) + ")"
        batch_op.create_check_constraint(op.f("ck_subscribers_cadence"), cadences)
        batch_op.create_check_constraint(
            op.f("ck_subscribers_papers"), "papers IS NULL OR (papers >= 1 AND papers <= 50)"
        )


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_subscribers_papers"), type_="check")
        batch_op.drop_constraint(op.f("ck_subscribers_cadence"), type_="check")
        batch_op.drop_column("papers")
        batch_op.drop_column("cadence")
