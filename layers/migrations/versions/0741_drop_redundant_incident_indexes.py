"""Intake writes every index of a new incident and its first event; two of them only repeated another.

- ``ix_incident_events_incident_id`` (``incident_id``) is the leading column of ``ix_incident_events_incident_at``
  (``incident_id, at``), which serves every lookup by incident (an incident's events, the cascade of a delete).
- ``ix_incidents_due_open`` (``due_at`` of the open incidents) has the same predicate and leading column as
  ``ix_incidents_queue_open`` (``due_at, created_at, id`` of the open incidents, 0641), which serves the same
  scans (overdue counts, the queue's order).

Dropping them leaves 18 indexes on the three tables intake writes (from 20).

Revision ID: 0741
Revises: 0711
"""

import sqlalchemy as sa
from alembic import op

revision = "0741"
down_revision = "0711"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_incident_events_incident_id", table_name="incident_events")
    op.drop_index("ix_incidents_due_open", table_name="incidents")


def downgrade() -> None:
    op.create_index("ix_incidents_due_open", "incidents", ["due_at"], postgresql_where=sa.text("state <> 'closed'"))
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id"])
