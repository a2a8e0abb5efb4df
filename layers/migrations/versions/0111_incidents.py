"""Incidents: one incident_details row per incident (dispatch, privacy, Open311 token, idempotency hash).

Revision ID: 0111
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0111"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_details",
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("token", sa.String(36), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("community_code", sa.String(12), nullable=True),
        sa.Column("street_code", sa.String(12), nullable=True),
        sa.Column("assignee_role", sa.String(32), nullable=True),
        sa.Column("assignee_unit", sa.String(200), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("public_lon", sa.Float(), nullable=False),
        sa.Column("public_lat", sa.Float(), nullable=False),
        sa.Column("private", JSONB(), nullable=False),
        sa.Column("extra", JSONB(), nullable=False),
        sa.Column("response", JSONB(), nullable=False),
    )
    op.create_index("ix_incident_details_community_code", "incident_details", ["community_code"])
    op.create_index("ix_incident_details_street_code", "incident_details", ["street_code"])
    op.create_index("ix_incident_details_duplicate_of", "incident_details", ["duplicate_of"])
    op.create_index("ix_incident_events_incident_at", "incident_events", ["incident_id", "at"])
    op.create_index("ix_incidents_due_open", "incidents", ["due_at"], postgresql_where=sa.text("state <> 'closed'"))


def downgrade() -> None:
    op.drop_index("ix_incidents_due_open", table_name="incidents")
    op.drop_index("ix_incident_events_incident_at", table_name="incident_events")
    op.drop_table("incident_details")
