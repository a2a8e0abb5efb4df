"""Find a place by name for the dispatcher's call-taking form: facilities (POIs, also by address), grids (by
name or code), communities and streets (街道), buildings and 包街 streets — each as one point (WGS84)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from layers import models
from layers.features import current_plan_id

MAX_QUERY = 60


def _pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def check_query(q: str | None) -> str:
    """A search text of 1–60 visible characters; :class:`InvalidInput` otherwise."""
    text = (q or "").strip()
    if not text or len(text) > MAX_QUERY or "\x00" in text:
        raise InvalidInput(f"搜索词须为 1–{MAX_QUERY} 个字符 (the search text must be 1–{MAX_QUERY} characters)")
    return text


def search_places(session: Session, q: str, *, limit: int = 10, codes: bool = True) -> list[dict[str, Any]]:
    """Places whose name (or address, or grid code) contains ``q``: ``kind, kind_zh, name, detail, lon, lat``,
    grids and facilities first, at most ``limit`` of each kind and ``limit`` in all. ``codes=False`` (the
    residents' forms on the public map) neither matches nor shows grid and area codes: names only."""
    text = check_query(q)
    like = _pattern(text)
    plan = current_plan_id(session)
    grid_match = or_(models.Grid.name.ilike(like), models.Grid.code.like(like)) if codes else models.Grid.name.ilike(like)

    def point(geom):
        p = func.ST_PointOnSurface(geom)
        return func.ST_X(p).label("lon"), func.ST_Y(p).label("lat")

    parts = [
        select(literal("grid").label("kind"), literal(1).label("rank"), models.Grid.name.label("name"),
               models.Grid.code.label("detail"), *point(models.Grid.geom))
        .where(models.Grid.plan_id == plan, grid_match).limit(limit),
        select(literal("facility"), literal(2), models.Facility.name, func.coalesce(models.Facility.address, ""),
               *point(models.Facility.geom))
        .where(or_(models.Facility.name.ilike(like), models.Facility.address.ilike(like))).limit(limit),
        select(literal("area"), literal(3), models.AdminArea.name, models.AdminArea.code, *point(models.AdminArea.geom))
        .where(models.AdminArea.name.ilike(like), models.AdminArea.geom.isnot(None)).limit(limit),
        select(literal("street"), literal(4), models.StreetResponsibility.street_name,
               func.coalesce(models.StreetResponsibility.responsible_unit, ""), *point(models.StreetResponsibility.geom))
        .where(models.StreetResponsibility.street_name.ilike(like)).limit(limit),
        select(literal("building"), literal(5), models.Building.name, func.coalesce(models.Building.community_code, ""),
               *point(models.Building.geom))
        .where(models.Building.name.ilike(like)).limit(limit),
    ]
    u = union_all(*[p.subquery().select() for p in parts]).subquery()
    rows = session.execute(select(u).order_by(u.c.rank, func.length(u.c.name), u.c.name).limit(limit)).all()
    labels = {"grid": "网格", "facility": "设施", "area": "社区/街道", "street": "包街路段", "building": "楼栋"}
    coded = () if codes else ("grid", "area", "building")  # their details are codes
    return [{"kind": r.kind, "kind_zh": labels[r.kind], "name": r.name,
             "detail": None if r.kind in coded else (r.detail or None),
             "lon": round(float(r.lon), 7), "lat": round(float(r.lat), 7)} for r in rows]


def scope_extent(session: Session, scope: str | None) -> tuple[float, float, float, float] | None:
    """Bounds (west, south, east, north) of the grids in force within ``scope`` (``""``: all of them)."""
    from gis.domain import area_prefix

    plan = current_plan_id(session)
    if plan is None:
        return None
    q = select(func.ST_XMin(func.ST_Extent(models.Grid.geom)), func.ST_YMin(func.ST_Extent(models.Grid.geom)),
               func.ST_XMax(func.ST_Extent(models.Grid.geom)), func.ST_YMax(func.ST_Extent(models.Grid.geom))) \
        .where(models.Grid.plan_id == plan)
    if scope:
        q = q.where(models.Grid.code.like(area_prefix(scope) + "%"))
    row = session.execute(q).one()
    return None if row[0] is None else tuple(float(v) for v in row)
