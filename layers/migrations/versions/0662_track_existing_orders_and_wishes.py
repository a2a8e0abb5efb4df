"""Tracking codes for the orders and wishes stored before residents had them: each gets a short code, and an
order's old long rating token keeps finding it (``layers.tracking.find``).

Revision ID: 0662
Revises: 0642, 0671 (and joins them: one head again)
Create Date: 2026-12-05 14:00:00
"""

from alembic import op

revision = "0662"
down_revision = ("0642", "0671")
branch_labels = None
depends_on = None

# ten characters of Crockford's base 32, as gis.services.new_track_token draws them
CODE = ("(SELECT string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1), '') "
        "FROM generate_series(1, 10) WHERE t.id IS NOT NULL)")


def upgrade() -> None:
    for kind, table in (("order", "service_orders"), ("wish", "wishes")):
        op.execute(f"""
            INSERT INTO resident_tracks (token, kind, object_id, created_at)
            SELECT {CODE}, '{kind}', t.id, now() FROM {table} t
            WHERE NOT EXISTS (SELECT 1 FROM resident_tracks r WHERE r.kind = '{kind}' AND r.object_id = t.id)
        """)


def downgrade() -> None:
    """Codes given to older rows cannot be told from new ones; they stay (harmless without their rows' use)."""
