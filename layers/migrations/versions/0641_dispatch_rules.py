"""Dispatch rules at the seams: the categories a 包街 unit takes, escalation receivers per level and area,
and the index of the dispatch queue.

Revision ID: 0641
Revises: 0611
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0641"
down_revision = "0611"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("street_responsibilities",
                  sa.Column("categories", postgresql.ARRAY(sa.String(length=50)), nullable=True))
    op.create_table(
        "escalation_receivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.String(length=50)), nullable=False,
                  server_default=sa.text("'{}'::varchar[]")),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("duty", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("level IN ('community', 'street', 'district')", name="ck_escalation_receivers_level"),
    )
    op.create_index("ix_escalation_receivers_level_area", "escalation_receivers", ["level", "area_code"])
    op.create_index("ix_escalation_receivers_person_id", "escalation_receivers", ["person_id"])
    # the dispatch queue (layers/incident_queue.py): open incidents with their sort keys, read from the index
    # alone; the few incidents handed to a unit, read by id
    op.execute("CREATE INDEX ix_incidents_queue_open ON incidents (due_at, created_at, id) "
               "INCLUDE (assignee_id, grid_code, category, state) WHERE state <> 'closed'")
    op.execute("CREATE INDEX ix_incident_details_with_unit ON incident_details (incident_id) "
               "WHERE assignee_unit IS NOT NULL AND assignee_unit <> ''")


def downgrade() -> None:
    op.drop_index("ix_incident_details_with_unit", table_name="incident_details")
    op.drop_index("ix_incidents_queue_open", table_name="incidents")
    op.drop_index("ix_escalation_receivers_person_id", table_name="escalation_receivers")
    op.drop_index("ix_escalation_receivers_level_area", table_name="escalation_receivers")
    op.drop_table("escalation_receivers")
    op.drop_column("street_responsibilities", "categories")
