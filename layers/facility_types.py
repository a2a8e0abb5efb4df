"""Keep ``facility_types`` equal to :data:`gis.domain.FACILITY_TYPES` (idempotent upsert).

The first migration seeds the table; this brings a database up to date when a type is added to or renamed in
``gis/domain.py`` without a new migration. Importers call it before writing facilities, so a type code that
the classifier or a file may use always exists. Types no longer declared are left alone (facilities may still
refer to them).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.domain import FACILITY_TYPES


def seed_facility_types(session: Session) -> int:
    """Insert missing types and refresh the names and groups of existing ones; returns the number declared.

    The caller commits.
    """
    session.execute(
        text("""
        INSERT INTO facility_types (code, group_code, name_zh, name_en)
        VALUES (:code, :group_code, :name_zh, :name_en)
        ON CONFLICT (code) DO UPDATE SET group_code = EXCLUDED.group_code, name_zh = EXCLUDED.name_zh,
            name_en = EXCLUDED.name_en
        WHERE (facility_types.group_code, facility_types.name_zh, facility_types.name_en)
              IS DISTINCT FROM (EXCLUDED.group_code, EXCLUDED.name_zh, EXCLUDED.name_en)
        """),
        [{"code": c, "group_code": g.value, "name_zh": zh, "name_en": en} for c, g, zh, en in FACILITY_TYPES],
    )
    return len(FACILITY_TYPES)
