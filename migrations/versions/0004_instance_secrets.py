"""instance_secrets: the generated link-signing key

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00.000000

When [web] secret_key is not configured, the first command that signs or checks a link generates a random
256-bit key and stores it here, so `digest send` and `digest serve` (and every host sharing a PostgreSQL
database) sign with the same key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )


def downgrade() -> None:
    op.drop_table("instance_secrets")
