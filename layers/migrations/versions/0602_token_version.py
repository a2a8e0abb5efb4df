"""Accounts carry a token version: disabling, deleting, changing roles, scope or password bumps it, and a
token signed for an older version is refused at once.

Revision ID: 0602
Revises: 0601
Create Date: 2026-12-05 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0602"
down_revision = "0662"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    op.drop_column("users", "token_version")
