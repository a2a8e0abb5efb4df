"""Coverage and gaps: building_access (walking distance per building and service type), coverage_runs,
site_suggestions.

Revision ID: 0301
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0301"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "building_access",
        sa.Column("building_id", sa.Integer(), sa.ForeignKey("buildings.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("type_code", sa.String(50), sa.ForeignKey("facility_types.code"), primary_key=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("nearest_facility_id", sa.Integer(), sa.ForeignKey("facilities.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.CheckConstraint("method IN ('network', 'euclidean')", name="method_valid"),
    )
    op.create_index("ix_building_access_type_code", "building_access", ["type_code"])
    op.create_table(
        "coverage_runs",
        sa.Column("type_code", sa.String(50), sa.ForeignKey("facility_types.code"), primary_key=True),
        sa.Column("network", sa.String(100), nullable=True),
        sa.Column("inputs_hash", sa.String(40), nullable=False),
        sa.Column("limit_m", sa.Float(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("counts", JSONB(), nullable=False),
    )
    op.create_table(
        "site_suggestions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("type_code", sa.String(50), sa.ForeignKey("facility_types.code"), nullable=False),
        sa.Column("budget_m", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=True),
        sa.Column("households_added", sa.Integer(), nullable=False),
        sa.Column("residents_added", sa.Integer(), nullable=False),
        sa.Column("buildings_added", sa.Integer(), nullable=False),
        sa.Column("cumulative_households", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(100), nullable=True),
        sa.Column("params", JSONB(), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
    )
    op.create_index("ix_site_suggestions_type_code", "site_suggestions", ["type_code"])
    op.create_index("ix_site_suggestions_geom", "site_suggestions", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("site_suggestions")
    op.drop_table("coverage_runs")
    op.drop_table("building_access")
