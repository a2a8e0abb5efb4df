"""Logging a household visit (入户走访) with what it leads to: an incident (via the dispatch intake), a service
order (居民点单 on the resident's behalf) or a ledger update (五彩台账 counts of the building), all in one
transaction, and the visit coverage the roster summary shows beside its vacancies.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.domain import scope_covers
from gis.errors import InvalidInput
from gis.visits import DEFAULT_STALE_DAYS
from layers import incidents, ledgers, models, roster, services, visits
from usecases.access import Viewer

FOLLOW_UP_KINDS = ("incident", "order", "ledger")


def _building_point(session: Session, building_id: int) -> tuple[float, float]:
    p = func.ST_PointOnSurface(models.Building.geom)
    lon, lat = session.execute(select(func.ST_X(p), func.ST_Y(p)).where(models.Building.id == building_id)).one()
    return float(lon), float(lat)


def _follow_up(session: Session, visit, up: dict[str, Any], *, actor: str) -> dict[str, Any]:
    kind = up.get("kind")
    if kind not in FOLLOW_UP_KINDS:
        raise InvalidInput(f"后续事项类别须为 {FOLLOW_UP_KINDS} 之一 (follow-up kind), 收到 {kind!r}")
    if kind == "ledger":
        counts = up.get("counts") or {}
        if not counts:
            raise InvalidInput("台账更新须给出 counts (a ledger update needs counts)")
        ledgers.set_building_counts(session, visit.building_id, counts, source=f"visit:{visit.id}")
        ledgers.refresh_population(session)
        row = visits.add_follow_up(session, visit, kind=kind, ledger_kind=",".join(sorted(counts)),
                                   summary=f"更新台账 {sorted(counts)} (ledger counts updated)")
        return {"kind": kind, "ledger_kinds": sorted(counts), "follow_up_id": row.id}
    lon, lat = _building_point(session, visit.building_id)
    description = (up.get("description") or "").strip() or None
    if kind == "incident":
        body = {"category": up.get("category"), "lon": lon, "lat": lat, "crs": "wgs84",
                "description": description, "address": f"楼栋 {visit.building_id} {visit.household}"}
        answer, _, incident_id = incidents.create_incident(session, body, channel="visit", actor=actor)
        row = visits.add_follow_up(session, visit, kind=kind, incident_id=incident_id,
                                   summary=f"上报事件 #{incident_id} ({body['category']})")
        return {"kind": kind, "incident_id": incident_id, "follow_up_id": row.id,
                "dispatch": answer["incident"].get("dispatch")}
    order = services.place_order(session, lon=lon, lat=lat, category=up.get("category") or "",
                                 description=description, source=f"visit:{visit.id}")
    row = visits.add_follow_up(session, visit, kind=kind, order_id=order.id,
                               summary=f"代居民点单 #{order.id} ({order.category})")
    return {"kind": kind, "order_id": order.id, "follow_up_id": row.id}


def log_visit(session: Session, *, building_id: int, household: str, visited_on: dt.date, actor: str,
              source: str, audit, knows: list[str] | None = None, notes: str | None = None,
              stairwell_id: int | None = None, follow_ups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Record the visit and create each follow-up; any bad follow-up refuses the whole visit (nothing stored).
    The caller commits."""
    with session.begin_nested():
        visit = visits.log_visit(session, building_id=building_id, household=household, visited_on=visited_on,
                                 visitor=actor, source=source, audit=lambda *a: None, knows=knows, notes=notes,
                                 stairwell_id=stairwell_id)
        done = [_follow_up(session, visit, up, actor=actor) for up in (follow_ups or [])]
    audit("create", "household_visit", visit.id, {"building_id": building_id, "grid_code": visit.grid_code,
                                                  "follow_ups": [d["kind"] for d in done]})
    return {**visits.visit_view(visit), "follow_ups": done}


def roster_summary(session: Session, *, by: str, plan_id: int | None = None, month: str | None = None,
                   stale_days: int = DEFAULT_STALE_DAYS, viewer: Viewer | None = None) -> pd.DataFrame:
    """The roster summary (vacancies per unit) with the month's visit coverage beside it: households,
    households visited, their share, and the buildings not visited for ``stale_days`` days. With a ``viewer``,
    only the units of their area at their own level and below (本层级/下辖)."""
    table = roster.roster_summary(session, by=by, plan_id=plan_id)
    if viewer is not None and not viewer.everywhere:
        table = table[table["unit"].map(lambda unit: scope_covers(viewer.scope, unit))].reset_index(drop=True)
    cover = visits.coverage_by_unit(session, by=by, month=month)
    table["households"] = table["unit"].map(lambda u: cover.get(u, {}).get("households", 0))
    table["visited_households"] = table["unit"].map(lambda u: cover.get(u, {}).get("visited_households", 0))
    table["visit_share"] = table["unit"].map(lambda u: cover.get(u, {}).get("visit_share"))
    table["visit_month"] = visits.month_bounds(month)[0].strftime("%Y-%m")
    width = {"grid": 15, "community": 12, "street": 9}[by]
    stale: Counter[str] = Counter()
    for code, n in visits.stale_counts(session, days=stale_days).items():
        stale[code[:width]] += n
    table["stale_buildings"] = table["unit"].map(lambda u: stale.get(u, 0))
    table["stale_days"] = stale_days
    return table
