"""Accounts can be linked to the person they act as (a party member who takes 三单 orders); one head again.

Revision ID: 0601
Revises: 0101, 0111, 0301, 0401, 0501
Create Date: 2026-12-05 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0601"
down_revision = ("0101", "0111", "0301", "0401", "0501")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("person_id", sa.Integer(), nullable=True))
    op.create_foreign_key("users_person_id_fkey", "users", "people", ["person_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_users_person_id", "users", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_users_person_id", table_name="users")
    op.drop_constraint("users_person_id_fkey", "users", type_="foreignkey")
    op.drop_column("users", "person_id")
