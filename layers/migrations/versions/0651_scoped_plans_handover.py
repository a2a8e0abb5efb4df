"""Scoped plans and staff handover: a draft's scope and base, the reason of a forced publish and what publishing
did (kept with the generation), the handover edited before publishing, and where a staff assignment came from.

Revision ID: 0651
Revises: 0603
Create Date: 2026-12-05 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0651"
down_revision = "0603"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("grid_plans", sa.Column("scope", postgresql.JSONB(), nullable=True))
    op.add_column("grid_plans", sa.Column("base_plan_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_grid_plans_base_plan_id", "grid_plans", "grid_plans", ["base_plan_id"], ["id"],
                          ondelete="SET NULL")
    op.add_column("grid_plans", sa.Column("handover", postgresql.JSONB(), nullable=True))
    op.add_column("grid_plans", sa.Column("publish_reason", sa.Text(), nullable=True))
    op.add_column("grid_plans", sa.Column("publish_report", postgresql.JSONB(), nullable=True))
    op.add_column("staff_assignments", sa.Column("source", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("staff_assignments", "source")
    op.drop_column("grid_plans", "publish_report")
    op.drop_column("grid_plans", "publish_reason")
    op.drop_column("grid_plans", "handover")
    op.drop_constraint("fk_grid_plans_base_plan_id", "grid_plans", type_="foreignkey")
    op.drop_column("grid_plans", "base_plan_id")
    op.drop_column("grid_plans", "scope")
