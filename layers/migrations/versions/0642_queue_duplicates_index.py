"""The dispatch queue leaves linked duplicates out by their ids alone: a partial index of them, read without
touching the (wide) incident_details rows.

Revision ID: 0642
Revises: 0661
"""

from alembic import op

revision = "0642"
down_revision = "0661"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_incident_details_duplicates ON incident_details (incident_id) "
               "WHERE duplicate_of IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_incident_details_duplicates", table_name="incident_details")
