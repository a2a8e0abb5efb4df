"""Watch ``people``: the public contacts a locate answers with (name, public phone) are kept per process
(:data:`layers.locate._CONTACTS`) and must be rebuilt when a person changes, in any process.

Revision ID: 0711
Revises: 0731
"""

from alembic import op

revision = "0711"
down_revision = "0731"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT data_version_watch('people')")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS data_version_mark ON people")
    op.execute("DELETE FROM data_versions WHERE table_name = 'people'")
