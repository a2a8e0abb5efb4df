"""Point → grid lookup: subdivided copies of grids (grid_subdivided) and their refresh state.

Revision ID: 0101
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0101"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grid_subdivided",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("grid_plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("grid_id", sa.Integer(), sa.ForeignKey("grids.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(15), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("geom", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_grid_subdivided_plan_id", "grid_subdivided", ["plan_id"])
    op.create_index("ix_grid_subdivided_grid_id", "grid_subdivided", ["grid_id"])
    op.create_index("ix_grid_subdivided_geom", "grid_subdivided", ["geom"], postgresql_using="gist")
    op.create_table(
        "grid_subdivided_state",
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("grid_plans.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("pieces", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("grid_subdivided_state")
    op.drop_index("ix_grid_subdivided_geom", table_name="grid_subdivided")
    op.drop_index("ix_grid_subdivided_grid_id", table_name="grid_subdivided")
    op.drop_index("ix_grid_subdivided_plan_id", table_name="grid_subdivided")
    op.drop_table("grid_subdivided")
