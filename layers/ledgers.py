"""五彩台账 in PostGIS: building-level counts that feed households and residents, and person-level entries.

Building counts are aggregates and may feed planning. Person-level entries are personal data: the API lets
only the grid's and higher levels' staff call :func:`read_entries`, and every read and change is audited by
the caller passing ``audit`` (``audit(action, kind, object_id, details)``).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services import LEDGER_KINDS, POPULATION_KINDS
from layers import models
from layers.services_models import BuildingLedger, LedgerEntry

Audit = Callable[[str, str, str | int | None, dict], None]


def _kind(kind: str) -> str:
    if kind not in LEDGER_KINDS:
        raise InvalidInput(
            f"未知台账类别 {kind!r}；可用：{', '.join(LEDGER_KINDS)} (unknown ledger kind)",
            detail={"accepted": list(LEDGER_KINDS)},
        )
    return kind


def set_building_counts(
    session: Session,
    building_id: int,
    counts: dict[str, dict[str, int]],
    *,
    source: str,
) -> None:
    """Upsert a building's ledger counts: ``{"resident": {"persons": 95, "households": 36}, ...}``."""
    if session.get(models.Building, building_id) is None:
        raise NotFound(f"没有楼栋 {building_id} (no building {building_id})")
    for kind, values in counts.items():
        _kind(kind)
        row = {k: int(values.get(k, 0)) for k in ("persons", "households", "units")}
        if any(v < 0 for v in row.values()):
            raise InvalidInput(f"台账数量不能为负 (ledger counts must not be negative): {kind} {row}")
        stmt = insert(BuildingLedger).values(building_id=building_id, kind=kind, source=source, **row)
        session.execute(
            stmt.on_conflict_do_update(
                constraint="uq_building_ledgers_building_kind",
                set_={**row, "source": source, "updated_at": text("now()")},
            )
        )
    session.flush()


def building_counts(session: Session, *, grid_code: str | None = None) -> pd.DataFrame:
    """Ledger counts per building and kind, with the Chinese name and colour of each kind."""
    q = text(
        """
        SELECT l.building_id, b.name AS building, l.kind, l.persons, l.households, l.units, l.updated_at
        FROM building_ledgers l JOIN buildings b ON b.id = l.building_id
        WHERE (:grid IS NULL OR EXISTS (
            SELECT 1 FROM grids g WHERE g.code = :grid
              AND g.plan_id = (SELECT id FROM grid_plans WHERE status='published' ORDER BY generation DESC LIMIT 1)
              AND g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))))
        ORDER BY l.building_id, l.kind
        """
    )
    df = pd.DataFrame(session.execute(q, {"grid": grid_code}).mappings().all())
    if df.empty:
        return pd.DataFrame(columns=["building_id", "building", "kind", "kind_zh", "colour", "persons",
                                     "households", "units", "updated_at"])
    df.insert(3, "kind_zh", df["kind"].map(lambda k: LEDGER_KINDS[k]["zh"]))
    df.insert(4, "colour", df["kind"].map(lambda k: LEDGER_KINDS[k]["colour"]))
    return df


def refresh_population(session: Session) -> dict[str, int]:
    """Feed the ledgers into planning: buildings with ledger counts get households and residents from the
    population kinds (常住 + 流动), and every grid of every plan is re-summed from its buildings.
    """
    updated = session.execute(
        text(
            """
            UPDATE buildings b SET households = s.households, residents = s.persons
            FROM (SELECT building_id, sum(households) AS households, sum(persons) AS persons
                  FROM building_ledgers WHERE kind = ANY(:kinds) GROUP BY building_id) s
            WHERE b.id = s.building_id AND (b.households, b.residents) IS DISTINCT FROM (s.households, s.persons)
            """
        ),
        {"kinds": list(POPULATION_KINDS)},
    ).rowcount
    grids = session.execute(
        text(
            """
            UPDATE grids g SET households = s.households, residents = s.residents
            FROM (SELECT g2.id, coalesce(sum(b.households), 0) AS households,
                         coalesce(sum(b.residents), 0) AS residents
                  FROM grids g2 LEFT JOIN buildings b
                    ON g2.geom && b.geom AND ST_Covers(g2.geom, ST_PointOnSurface(b.geom))
                  WHERE g2.kind = 'comprehensive' GROUP BY g2.id) s
            WHERE g.id = s.id AND (g.households, g.residents) IS DISTINCT FROM (s.households, s.residents)
            """
        )
    ).rowcount
    session.flush()
    return {"buildings_updated": int(updated or 0), "grids_updated": int(grids or 0)}


def add_entry(
    session: Session,
    *,
    building_id: int,
    kind: str,
    person_name: str,
    phone: str | None = None,
    notes: str | None = None,
    stairwell_id: int | None = None,
    source: str,
    audit: Audit,
) -> LedgerEntry:
    """Record a person-level ledger entry in the grid its building lies in; the change is audited."""
    _kind(kind)
    if not person_name or not person_name.strip():
        raise InvalidInput("姓名不能为空 (person_name must not be empty)")
    grid_code = grid_of_building(session, building_id)
    entry = LedgerEntry(
        building_id=building_id, stairwell_id=stairwell_id, grid_code=grid_code, kind=kind,
        person_name=person_name.strip(), phone=phone, notes=notes, source=source,
    )
    session.add(entry)
    session.flush()
    audit("create", "ledger_entry", entry.id, {"building_id": building_id, "kind": kind, "grid_code": grid_code})
    return entry


def grid_of_building(session: Session, building_id: int) -> str:
    """The code of the comprehensive grid (plan in force) that holds the building."""
    if session.get(models.Building, building_id) is None:
        raise NotFound(f"没有楼栋 {building_id} (no building {building_id})")
    code = session.scalar(
        text(
            """
            SELECT g.code FROM grids g JOIN buildings b ON b.id = :b
            WHERE g.kind = 'comprehensive' AND g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
              AND g.plan_id = (SELECT id FROM grid_plans WHERE status='published' ORDER BY generation DESC LIMIT 1)
            ORDER BY g.code LIMIT 1
            """
        ),
        {"b": building_id},
    )
    if code is None:
        raise InvalidInput(f"楼栋 {building_id} 不在任何现行网格内 (building {building_id} is in no grid)")
    return code


def read_entries(session: Session, *, grid_code: str, audit: Audit) -> list[dict]:
    """Person-level entries of a grid (or of every grid under a code prefix); the read is audited."""
    rows = session.scalars(
        select(LedgerEntry).where(LedgerEntry.grid_code.startswith(grid_code)).order_by(LedgerEntry.id)
    ).all()
    audit("read", "ledger_entry", grid_code, {"count": len(rows)})
    return [
        {"id": e.id, "building_id": e.building_id, "stairwell_id": e.stairwell_id, "grid_code": e.grid_code,
         "kind": e.kind, "kind_zh": LEDGER_KINDS[e.kind]["zh"], "person_name": e.person_name, "phone": e.phone,
         "notes": e.notes, "created_at": e.created_at}
        for e in rows
    ]
