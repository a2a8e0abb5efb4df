"""三单 with an explicit 党员接单 (an order is offered to one party member, who accepts or refuses it), the moves of
each order, and the short tokens residents follow their reports, orders and wishes with.

Revision ID: 0661
Revises: 0641
Create Date: 2026-12-05 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0661"
down_revision = "0641"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("service_orders", sa.Column("offered_to_id", sa.Integer(), nullable=True))
    op.create_foreign_key("service_orders_offered_to_id_fkey", "service_orders", "people", ["offered_to_id"], ["id"])
    op.create_index("ix_service_orders_offered_to_id", "service_orders", ["offered_to_id"])
    op.create_table(
        "service_order_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("service_orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_service_order_events_order_id", "service_order_events", ["order_id"])
    op.create_table(
        "resident_tracks",
        sa.Column("token", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('report', 'order', 'wish')", name="kind_valid"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_1_to_5"),
        sa.UniqueConstraint("kind", "object_id", name="uq_resident_tracks_kind_object"),
    )


def downgrade() -> None:
    op.drop_table("resident_tracks")
    op.drop_index("ix_service_order_events_order_id", table_name="service_order_events")
    op.drop_table("service_order_events")
    op.drop_index("ix_service_orders_offered_to_id", table_name="service_orders")
    op.drop_constraint("service_orders_offered_to_id_fkey", "service_orders", type_="foreignkey")
    op.drop_column("service_orders", "offered_to_id")
