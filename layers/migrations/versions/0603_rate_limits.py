"""The public rate limits' token buckets, shared by every worker process and machine on this database.

UNLOGGED: the buckets are worth nothing after a crash (they start full again), so they cost no WAL.

Revision ID: 0603
Revises: 0602
Create Date: 2026-12-05 12:00:00
"""

from alembic import op

revision = "0603"
down_revision = "0602"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE UNLOGGED TABLE rate_limits ("
        " bucket text PRIMARY KEY,"
        " tokens double precision NOT NULL,"
        " at timestamptz NOT NULL,"
        " granted boolean NOT NULL)"
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
