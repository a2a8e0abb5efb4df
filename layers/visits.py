"""入户走访 in PostGIS: logging household visits, their follow-ups, and visit coverage per grid and month.

What a visit learned (``notes``) is personal data: :func:`read_visits` returns it only through the caller's
``audit`` (``audit(action, kind, object_id, details)``), as :mod:`layers.ledgers` does for ledger entries.
Coverage and stale-building lists carry no personal data. Callers commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.visits import DEFAULT_STALE_DAYS, MAX_STALE_DAYS, Know, check_knows, share
from layers import models
from layers.features import PLAN_IN_FORCE_SQL
from layers.ledgers import grid_of_building
from layers.visits_models import HouseholdVisit, VisitFollowUp

Audit = Callable[[str, str, str | int | None, dict], None]
IN_FORCE = PLAN_IN_FORCE_SQL


def check_visit_day(day: dt.date, *, today: dt.date | None = None) -> dt.date:
    """A visit is logged for today or a past day (not before 2000)."""
    today = today or dt.date.today()
    if day > today + dt.timedelta(days=1) or day < dt.date(2000, 1, 1):
        raise InvalidInput(f"走访日期 {day} 不合理：须在 2000-01-01 与今天之间 (the visit day must not be in the future)")
    return day


def log_visit(session: Session, *, building_id: int, household: str, visited_on: dt.date, visitor: str,
              source: str, audit: Audit, knows: list[str] | None = None, notes: str | None = None,
              stairwell_id: int | None = None) -> HouseholdVisit:
    """Record a visit to a household of a building, in the grid the building lies in; audited."""
    household = (household or "").strip()
    if not household:
        raise InvalidInput("须写明户（如 2-301）(name the household, e.g. 2-301)")
    check_visit_day(visited_on)
    grid_code = grid_of_building(session, building_id)
    if stairwell_id is not None:
        sw = session.get(models.Stairwell, stairwell_id)
        if sw is None or sw.building_id != building_id:
            raise InvalidInput(f"楼口 {stairwell_id} 不属于楼栋 {building_id} (stairwell not in building)")
    visit = HouseholdVisit(building_id=building_id, stairwell_id=stairwell_id, household=household,
                           grid_code=grid_code, visited_on=visited_on, visitor=visitor, knows=check_knows(knows),
                           notes=notes, source=source)
    session.add(visit)
    session.flush()
    audit("create", "household_visit", visit.id, {"building_id": building_id, "grid_code": grid_code})
    return visit


def add_follow_up(session: Session, visit: HouseholdVisit, *, kind: str, summary: str,
                  incident_id: int | None = None, order_id: int | None = None,
                  ledger_kind: str | None = None) -> VisitFollowUp:
    """Note what a visit led to (the incident, order or ledger kind it created or updated)."""
    row = VisitFollowUp(visit_id=visit.id, kind=kind, incident_id=incident_id, order_id=order_id,
                        ledger_kind=ledger_kind, summary=summary)
    session.add(row)
    session.flush()
    return row


def get_visit(session: Session, visit_id: int) -> HouseholdVisit:
    """The visit, or NotFound."""
    visit = session.get(HouseholdVisit, visit_id)
    if visit is None:
        raise NotFound(f"没有走访记录 {visit_id} (no visit {visit_id})")
    return visit


def read_visits(session: Session, *, grid_code: str, audit: Audit, since: dt.date | None = None,
                until: dt.date | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Visits of a grid (or every grid under a code prefix) with their notes and follow-ups; the read is audited."""
    q = select(HouseholdVisit).where(HouseholdVisit.grid_code.startswith(grid_code))
    if since:
        q = q.where(HouseholdVisit.visited_on >= since)
    if until:
        q = q.where(HouseholdVisit.visited_on <= until)
    rows = session.scalars(q.order_by(HouseholdVisit.visited_on.desc(), HouseholdVisit.id.desc()).limit(limit)).all()
    ups: dict[int, list[dict]] = {}
    if rows:
        for f in session.scalars(select(VisitFollowUp).where(VisitFollowUp.visit_id.in_([v.id for v in rows]))):
            ups.setdefault(f.visit_id, []).append(
                {"kind": f.kind, "incident_id": f.incident_id, "order_id": f.order_id,
                 "ledger_kind": f.ledger_kind, "summary": f.summary})
    audit("read", "household_visit", grid_code, {"count": len(rows)})
    return [visit_view(v, ups.get(v.id, [])) for v in rows]


def visit_view(visit: HouseholdVisit, follow_ups: list[dict] | None = None) -> dict[str, Any]:
    """A visit with its notes (for the grid's staff only)."""
    return {"id": visit.id, "building_id": visit.building_id, "stairwell_id": visit.stairwell_id,
            "household": visit.household, "grid_code": visit.grid_code, "visited_on": visit.visited_on,
            "visitor": visit.visitor, "knows": visit.knows, "knows_zh": [Know(k).zh for k in visit.knows],
            "notes": visit.notes, "follow_ups": follow_ups or [], "source": visit.source}


def month_bounds(month: str | None, *, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """``YYYY-MM`` (default: this month) → its first day and the first day of the next month."""
    today = today or dt.date.today()
    try:
        first = dt.date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    except ValueError as exc:
        raise InvalidInput(f"月份须为 YYYY-MM，收到 {month!r} (month must be YYYY-MM)") from exc
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, nxt


def coverage(session: Session, *, month: str | None = None, unit: str | None = None) -> list[dict[str, Any]]:
    """Per comprehensive grid of the plan in force: households, households visited in the month (distinct
    building + household), the share visited and the number of visits."""
    first, nxt = month_bounds(month)
    rows = session.execute(text(
        f"""
        SELECT g.code AS grid_code, g.name AS grid_name, g.community_code, coalesce(g.households, 0) AS households,
               coalesce(v.visited, 0) AS visited_households, coalesce(v.visits, 0) AS visits
        FROM grids g LEFT JOIN (
            SELECT grid_code, count(DISTINCT (building_id, household)) AS visited, count(*) AS visits
            FROM household_visits WHERE visited_on >= :first AND visited_on < :next GROUP BY grid_code) v
          ON v.grid_code = g.code
        WHERE g.plan_id = {IN_FORCE} AND g.kind = 'comprehensive' AND (:unit IS NULL OR g.code LIKE :unit || '%')
        ORDER BY g.code
        """), {"first": first, "next": nxt, "unit": unit}).mappings().all()
    month_label = first.strftime("%Y-%m")
    return [{**dict(r), "month": month_label, "share": share(int(r["visited_households"]), int(r["households"]))}
            for r in rows]


def check_days(days: int) -> int:
    """The 'not visited for N days' threshold, 1–3650."""
    if not 1 <= int(days) <= MAX_STALE_DAYS:
        raise InvalidInput(f"天数须在 1 到 {MAX_STALE_DAYS} 之间 (days must be 1–{MAX_STALE_DAYS})")
    return int(days)


def stale_buildings(session: Session, *, days: int = DEFAULT_STALE_DAYS, unit: str | None = None,
                    today: dt.date | None = None, limit: int = 5000) -> list[dict[str, Any]]:
    """Buildings with households, in a comprehensive grid of the plan in force, not visited for ``days`` days
    (never visited first), with their point for the map."""
    today = today or dt.date.today()
    rows = session.execute(text(
        f"""
        WITH bg AS (
            SELECT DISTINCT ON (b.id) b.id, b.name, b.households, b.source, g.code AS grid_code,
                   ST_PointOnSurface(b.geom) AS p
            FROM buildings b JOIN grids g ON g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
            WHERE g.plan_id = {IN_FORCE} AND g.kind = 'comprehensive' AND b.households > 0
              AND (:unit IS NULL OR g.code LIKE :unit || '%')
            ORDER BY b.id, g.code),
        last AS (SELECT building_id, max(visited_on) AS last_visited FROM household_visits GROUP BY building_id)
        SELECT bg.id AS building_id, bg.name, bg.households, bg.source, bg.grid_code, l.last_visited,
               (:today - l.last_visited) AS days_since, ST_X(bg.p) AS lon, ST_Y(bg.p) AS lat
        FROM bg LEFT JOIN last l ON l.building_id = bg.id
        WHERE l.last_visited IS NULL OR l.last_visited < :cutoff
        ORDER BY l.last_visited NULLS FIRST, bg.id LIMIT :limit
        """), {"unit": unit, "today": today, "cutoff": today - dt.timedelta(days=check_days(days)),
               "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def grid_buildings(session: Session, grid_code: str, *, today: dt.date | None = None,
                   limit: int = 2000) -> list[dict[str, Any]]:
    """The buildings with households in a grid of the plan in force, with the day each was last visited and the
    days since (None: never): what a grid worker picks from when logging a visit. No personal data."""
    today = today or dt.date.today()
    rows = session.execute(text(
        f"""
        SELECT b.id, b.name, b.households, b.source, l.last_visited, (:today - l.last_visited) AS days_since
        FROM buildings b JOIN grids g ON g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
        LEFT JOIN (SELECT building_id, max(visited_on) AS last_visited FROM household_visits
                   GROUP BY building_id) l ON l.building_id = b.id
        WHERE g.plan_id = {IN_FORCE} AND g.code = :grid AND b.households > 0
        ORDER BY b.name, b.id LIMIT :limit
        """), {"grid": grid_code, "today": today, "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def stale_counts(session: Session, *, days: int = DEFAULT_STALE_DAYS, today: dt.date | None = None) -> dict[str, int]:
    """Per grid code of the plan in force: how many buildings with households were not visited for ``days``."""
    today = today or dt.date.today()
    rows = session.execute(text(
        f"""
        SELECT g.code, count(*) FROM buildings b
        JOIN grids g ON g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.plan_id = {IN_FORCE} AND g.kind = 'comprehensive' AND b.households > 0
          AND NOT EXISTS (SELECT 1 FROM household_visits v WHERE v.building_id = b.id AND v.visited_on >= :cutoff)
        GROUP BY g.code
        """), {"cutoff": today - dt.timedelta(days=check_days(days))}).all()
    return {code: int(n) for code, n in rows}


def coverage_by_unit(session: Session, *, by: str, month: str | None = None) -> dict[str, dict[str, Any]]:
    """Visit coverage summed per grid, community (12 digits) or street (9 digits), keyed by the unit code the
    roster summary uses (a 15-, 12- or 9-digit prefix)."""
    width = {"grid": 15, "community": 12, "street": 9}[by]
    out: dict[str, dict[str, Any]] = {}
    for r in coverage(session, month=month):
        acc = out.setdefault(r["grid_code"][:width], {"households": 0, "visited_households": 0, "month": r["month"]})
        acc["households"] += int(r["households"])
        acc["visited_households"] += int(r["visited_households"])
    for acc in out.values():
        acc["visit_share"] = share(acc["visited_households"], acc["households"])
    return out
