"""Grid plans in PostGIS: drafts, edits with optimistic versions, validation, impact preview, publishing.

A plan is a set of grids (``grids.plan_id``). A draft is edited grid by grid; each edit names the version the
editor saw and a stale one raises :class:`PlanConflict` without changing anything. Publishing makes the draft
generation ``max + 1`` in force from a date; the plan it replaces is retired (kept, with ``effective_to``), so
incidents keep the plan and grid they were routed under.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from gis.coords import CRS, check_lonlat, parse_crs, to_wgs84
from gis.domain import AreaLevel, GridKind, IncidentState, PlanStatus, StaffRole
from gis.errors import InvalidGeometry, InvalidInput, NotFound, PlanConflict
from gis.gridcodes import assign_codes, check_grid_code
from gis.plan_validation import ValidationOptions, ValidationReport, validate_plan
from layers import models
from layers.db import get_or_not_found
from layers.features import current_plan_id
from layers.plan_scope import (
    FROM_FEATURES,
    check_rows_in_scope,
    communities_of,
    follow_plan_in_force,
    normalise_scope,
    outside_scope,
)

DEFAULT_EDITION = 2023
OPEN_STATES = tuple(s.value for s in IncidentState if s is not IncidentState.CLOSED)
# Reads that an editor sends back must round-trip: 15 decimals print every double exactly (7 would move a
# vertex up to ~1 cm, enough to count a grid as changed and raise false overlaps along shared borders).
FULL_PRECISION = 15
MIN_REASON_CHARS = 4
GRID_PROPS = (
    "code",
    "name",
    "kind",
    "exclusive_type",
    "community_code",
    "community_edition",
    "households",
    "residents",
)


# ---------------------------------------------------------------------------------------------- geometry in/out
NOT_FINITE = ("几何坐标须为有限数，不能是 NaN 或 Infinity (every coordinate must be a finite number, not NaN or "
              "Infinity)")


def _finite_numbers(coordinates: Any) -> bool:
    """False if a GeoJSON ``coordinates`` array holds a number that is NaN or infinite (anything else, shapely
    judges)."""
    stack = [coordinates]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, float) and not np.isfinite(item):
            return False
    return True


def to_multipolygon(geometry: dict[str, Any] | None, *, crs: str | CRS | None = None) -> shapely.MultiPolygon:
    """A GeoJSON (Multi)Polygon in ``crs`` → a 2D WGS84 MultiPolygon (heights are dropped). Invalid shapes are
    kept (validation reports them); empty, non-polygonal, non-finite or out-of-range ones are refused with
    :class:`InvalidGeometry` saying which."""
    if not geometry or not isinstance(geometry, dict):
        raise InvalidGeometry("要素缺少几何 (a feature has no geometry)")
    if not _finite_numbers(geometry.get("coordinates")):
        raise InvalidGeometry(NOT_FINITE)
    try:
        geom = shapely.geometry.shape(geometry)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the caller's bad input
        raise InvalidGeometry(f"无法解析几何，请检查 type 与 coordinates (cannot read the geometry: check its type "
                              f"and coordinates): {str(exc)[:200]}") from exc
    if geom.is_empty:
        raise InvalidGeometry("网格几何为空，没有坐标 (the grid's geometry is empty: it has no coordinates)")
    if not np.isfinite(shapely.get_coordinates(geom, include_z=bool(shapely.has_z(geom)))).all():
        raise InvalidGeometry(NOT_FINITE)
    geom = shapely.force_2d(geom)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry(
            f"网格几何须为 Polygon 或 MultiPolygon，收到 {geom.geom_type} (a grid must be a polygon)",
            detail={"geometry_type": geom.geom_type},
        )
    c = parse_crs(crs)
    if c not in (CRS.WGS84, CRS.CGCS2000):
        geom = shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], c)))
    x0, y0, x1, y1 = geom.bounds
    check_lonlat(x0, y0)
    check_lonlat(x1, y1)
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])


def _wkb_array(values: Iterable) -> np.ndarray:
    vals = [bytes(v) if v is not None else None for v in values]
    return shapely.from_wkb(np.asarray(vals, dtype=object)) if vals else np.zeros(0, dtype=object)


# ------------------------------------------------------------------------------------------------------ reads
def get_plan(session: Session, plan_id: int, *, for_update: bool = False) -> models.GridPlan:
    """The plan, or :class:`NotFound`."""
    return get_or_not_found(session, models.GridPlan, plan_id, f"没有编号为 {plan_id} 的网格方案 (no grid plan {plan_id})",
                            lock=for_update, detail={"plan_id": plan_id})


def plan_summary(session: Session, plan: models.GridPlan, *, with_report: bool = False) -> dict[str, Any]:
    """A plan's metadata with its grid and community counts (and, with ``with_report``, what publishing did)."""
    n, comms = session.execute(
        select(func.count(models.Grid.id), func.count(func.distinct(models.Grid.community_code))).where(
            models.Grid.plan_id == plan.id
        )
    ).one()
    return {
        "id": plan.id,
        "name": plan.name,
        "status": plan.status,
        "status_zh": PlanStatus(plan.status).zh,
        "generation": plan.generation,
        "effective_from": plan.effective_from.isoformat() if plan.effective_from else None,
        "effective_to": plan.effective_to.isoformat() if plan.effective_to else None,
        "description": plan.description,
        "source": plan.source,
        "created_at": plan.created_at.isoformat() if plan.created_at else None,
        "published_at": plan.published_at.isoformat() if plan.published_at else None,
        "grid_count": n,
        "community_count": comms,
        "scope": plan.scope,
        "base_plan_id": plan.base_plan_id,
        "publish_reason": plan.publish_reason,
        "handover_edited": plan.handover is not None,
    } | ({"publish_report": plan.publish_report} if with_report else {})


def list_plans(session: Session) -> list[dict[str, Any]]:
    """Every plan, newest first."""
    plans = session.scalars(select(models.GridPlan).order_by(models.GridPlan.id.desc())).all()
    return [plan_summary(session, p) for p in plans]


def grid_feature(grid: models.Grid, geojson: dict[str, Any]) -> dict[str, Any]:
    """A grid as a GeoJSON Feature (id = code; version in the properties for the next edit)."""
    props = {k: getattr(grid, k) for k in GRID_PROPS}
    props.update(
        id=grid.id,
        version=grid.version,
        plan_id=grid.plan_id,
        source=grid.source,
        kind_zh=GridKind(grid.kind).zh,
    )
    return {"type": "Feature", "id": grid.code, "geometry": geojson, "properties": props}


def plan_features(
    session: Session, plan_id: int, *, community: str | None = None, precision: int = FULL_PRECISION
) -> dict[str, Any]:
    """The plan's grids as a FeatureCollection (optionally one community). ``precision`` is the number of
    decimals: the default prints every coordinate exactly, so a grid sent back as read is unchanged."""
    import json

    get_plan(session, plan_id)
    q = select(models.Grid, func.ST_AsGeoJSON(models.Grid.geom, precision)).where(models.Grid.plan_id == plan_id)
    if community:
        q = q.where(models.Grid.community_code == community)
    rows = session.execute(q.order_by(models.Grid.code, models.Grid.id)).all()
    return {"type": "FeatureCollection", "features": [grid_feature(g, json.loads(gj)) for g, gj in rows]}


def get_grid(session: Session, plan_id: int, code: str) -> models.Grid:
    """A grid of a plan by code, or :class:`NotFound`."""
    grid = session.scalar(select(models.Grid).where(models.Grid.plan_id == plan_id, models.Grid.code == code).limit(1))
    if grid is None:
        raise NotFound(
            f"方案 {plan_id} 中没有网格 {code} (no grid {code} in plan {plan_id})",
            detail={"plan_id": plan_id, "code": code},
        )
    return grid


# ----------------------------------------------------------------------------------------------- creating
def _community_for(session: Session, geom: shapely.Geometry) -> tuple[str, int]:
    pt = shapely.point_on_surface(geom)
    row = session.execute(
        select(models.AdminArea.code, models.AdminArea.edition_year)
        .where(
            models.AdminArea.level.in_([AreaLevel.COMMUNITY.value, AreaLevel.VILLAGE.value]),
            func.ST_Covers(models.AdminArea.geom, func.ST_GeomFromText(pt.wkt, 4326)),
        )
        .order_by(models.AdminArea.edition_year.desc())
        .limit(1)
    ).first()
    if row is None:
        raise InvalidInput(
            "要素缺少 community_code，且其位置不在任何已知社区内 (give community_code: the grid "
            "lies in no known community)"
        )
    return row[0], row[1]


def _edition(session: Session, code: str) -> int:
    year = session.scalar(select(func.max(models.AdminArea.edition_year)).where(models.AdminArea.code == code))
    return int(year or DEFAULT_EDITION)


def _parse_feature(session: Session, feature: dict[str, Any], *, crs) -> dict[str, Any]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidInput("应为 GeoJSON Feature (a GeoJSON Feature is expected)")
    props = dict(feature.get("properties") or {})
    geom = to_multipolygon(feature.get("geometry"), crs=crs)
    code = props.get("code") or None
    if code is not None:
        code = check_grid_code(str(code))
    community = props.get("community_code") or (code[:12] if code else None)
    edition = props.get("community_edition")
    if community is None:
        community, edition = _community_for(session, geom)
    community = str(community)
    if code is not None and not code.startswith(community):
        raise InvalidInput(
            f"网格编码 {code} 与社区 {community} 不符 (code does not start with its community code)"
        )
    kind = props.get("kind") or GridKind.COMPREHENSIVE.value
    if kind not in GridKind.values():
        raise InvalidInput(f"未知网格类型 {kind!r}；可用 {GridKind.values()} (unknown grid kind)")

    def _int(v):
        return None if v in (None, "") else int(v)

    return {
        "code": code,
        "community_code": community,
        "community_edition": int(edition) if edition else _edition(session, community),
        "name": str(props.get("name") or ""),
        "kind": kind,
        "exclusive_type": props.get("exclusive_type"),
        "households": _int(props.get("households")),
        "residents": _int(props.get("residents")),
        "geom": geom,
        "properties": {k: v for k, v in props.items() if k not in GRID_PROPS and k != "version"},
    }


def _history(session: Session, community: str) -> tuple[list[str], np.ndarray, set[int]]:
    """Codes and shapes of the community in the plan in force, and every sequence it ever used."""
    current = current_plan_id(session)
    rows = (
        session.execute(
            select(models.Grid.code, func.ST_AsBinary(models.Grid.geom)).where(
                models.Grid.plan_id == current, models.Grid.community_code == community
            )
        ).all()
        if current
        else []
    )
    used = session.scalars(select(models.Grid.code).where(models.Grid.community_code == community)).all()
    return [r[0] for r in rows], _wkb_array(r[1] for r in rows), {int(c[12:]) for c in used}


def _fill_codes(session: Session, rows: list[dict[str, Any]], *, taken: set[str]) -> None:
    """Give codes to rows without one: unchanged grids keep the code in force, others take new numbers."""
    by_comm: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["code"] is None:
            by_comm.setdefault(r["community_code"], []).append(r)
    for community, todo in by_comm.items():
        prev_codes, prev_geoms, used = _history(session, community)
        keep = [i for i, c in enumerate(prev_codes) if c not in taken]
        used |= {int(c[12:]) for c in taken if c.startswith(community)}
        codes = assign_codes(
            community,
            [r["geom"] for r in todo],
            previous_codes=[prev_codes[i] for i in keep],
            previous_geoms=prev_geoms[keep] if keep else [],
            used_sequences=sorted(used),
        )
        for r, c in zip(todo, codes):
            r["code"] = c
            taken.add(c)


def _new_grid(plan_id: int, row: dict[str, Any], *, source: str) -> models.Grid:
    return models.Grid(
        plan_id=plan_id,
        code=row["code"],
        name=row["name"] or row["code"],
        kind=row["kind"],
        exclusive_type=row["exclusive_type"],
        community_code=row["community_code"],
        community_edition=row["community_edition"],
        households=row["households"],
        residents=row["residents"],
        version=1,
        geom=from_shape(row["geom"], srid=4326),
        source=source,
        properties=row["properties"],
    )


def refresh_counts(session: Session, plan_id: int, *, grid_ids: list[int] | None = None) -> None:
    """Set households/residents of the plan's grids (all, or ``grid_ids``) from the buildings whose point on
    surface they cover; a comprehensive grid leaves out those of an exclusive grid. A grid drawn over others counts
    what lies inside it. A grid with no building inside is set to 0 when buildings lie around it, and keeps what
    it was given where there are none (an imported plan for an area without building data)."""
    session.flush()
    session.execute(
        text("""
        WITH g AS MATERIALIZED (  -- repaired once per grid, not once per (grid, building) pair
            SELECT id, kind, community_code,
                   CASE WHEN ST_IsValid(geom) THEN geom ELSE ST_MakeValid(geom) END AS geom
            FROM grids WHERE plan_id = :plan
              AND (CAST(:ids AS int[]) IS NULL OR id = ANY(CAST(:ids AS int[])) OR kind = 'exclusive')
        ), hits AS MATERIALIZED (
            SELECT g.id AS grid_id, g.kind, b.id AS building_id, b.households, b.residents
            FROM g JOIN buildings b ON b.geom && g.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
        ), sums AS (
            SELECT g.id AS grid_id, count(h.building_id) AS n,
                   coalesce(sum(h.households), 0)::int AS hh, coalesce(sum(h.residents), 0)::int AS rs,
                   EXISTS (SELECT 1 FROM buildings cb WHERE cb.geom && g.geom) AS has_data
            FROM g LEFT JOIN hits h ON h.grid_id = g.id AND (g.kind = 'exclusive' OR h.building_id NOT IN (
                SELECT building_id FROM hits WHERE kind = 'exclusive'))
            WHERE CAST(:ids AS int[]) IS NULL OR g.id = ANY(CAST(:ids AS int[]))
            GROUP BY g.id, g.geom
        )
        UPDATE grids SET households = sums.hh, residents = sums.rs FROM sums
        WHERE grids.id = sums.grid_id AND (sums.n > 0 OR sums.has_data)
    """),
        {"plan": plan_id, "ids": grid_ids},
    )


def _copy_grids(session: Session, plan_id: int, base_id: int, *, outside: list[str] | None) -> None:
    """Copy a plan's grids into a draft: all of them, or (with ``outside``) those outside these code prefixes."""
    session.execute(
        text("""
        INSERT INTO grids (plan_id, code, name, kind, exclusive_type, community_code, community_edition,
                           households, residents, version, geom, source, properties)
        SELECT :plan, code, name, kind, exclusive_type, community_code, community_edition, households, residents,
               1, geom, source, properties
        FROM grids WHERE plan_id = :base AND (CAST(:prefixes AS text[]) IS NULL
                                              OR NOT (code LIKE ANY(CAST(:prefixes AS text[]))))
    """),
        {"plan": plan_id, "base": base_id, "prefixes": [p + "%" for p in outside] if outside else None},
    )


def _add_rows(session: Session, plan_id: int, rows: list[dict[str, Any]], *, source: str) -> None:
    """Insert parsed grids into a draft, codes filled (unchanged grids keep the code in force)."""
    taken = set(session.scalars(select(models.Grid.code).where(models.Grid.plan_id == plan_id)).all())
    taken |= {r["code"] for r in rows if r["code"]}
    _fill_codes(session, rows, taken=taken)
    session.add_all([_new_grid(plan_id, r, source=source) for r in rows])
    refresh_counts(session, plan_id)


def _parse_collection(session: Session, collection: dict[str, Any], *, crs) -> list[dict[str, Any]]:
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise InvalidInput("应为 GeoJSON FeatureCollection (a FeatureCollection is expected)")
    rows, problems = [], []
    for i, f in enumerate(collection.get("features") or []):
        try:
            rows.append(_parse_feature(session, f, crs=crs))
        except InvalidInput as exc:
            problems.append({"feature": i, "problem": exc.message})
    if problems:
        raise InvalidInput(
            f"{len(problems)} 个要素无法读取 ({len(problems)} features cannot be read)",
            detail={"problems": problems},
        )
    return rows


def _resolve_scope(session: Session, scope, rows: list[dict[str, Any]]) -> list[str] | None:
    """The scope a new draft replaces: the communities of its grids (:data:`FROM_FEATURES`), the given codes
    (checked; every grid must lie inside), or ``None`` for the whole city."""
    if scope == FROM_FEATURES:
        return communities_of(rows) or None
    if scope is None:
        return None
    codes = normalise_scope(session, [scope] if isinstance(scope, str) else scope)
    check_rows_in_scope(rows, codes)
    return codes


def _check_duplicates(rows: list[dict[str, Any]]) -> None:
    codes = [r["code"] for r in rows if r["code"]]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise InvalidInput(
            f"网格编码重复：{', '.join(dupes)} (duplicate grid codes)",
            detail={"problems": [{"kind": "duplicate_code", "code": c} for c in dupes]},
        )


def create_plan(
    session: Session,
    collection: dict[str, Any],
    *,
    name: str,
    description: str | None = None,
    source: str = "api",
    crs: str | CRS | None = None,
    scope: str | list[str] | None = FROM_FEATURES,
) -> models.GridPlan:
    """Create a draft from a GeoJSON FeatureCollection of grids (codes given or assigned).

    The draft is the plan in force with ``scope`` replaced by the collection: by default the communities the
    collection's grids belong to; a list of community/street codes; or ``None`` for the whole city (the
    collection is then the entire plan). With no plan in force the collection is the plan."""
    rows = _parse_collection(session, collection, crs=crs)
    _check_duplicates(rows)
    codes = _resolve_scope(session, scope, rows)
    base_id = current_plan_id(session)
    plan = models.GridPlan(name=name, description=description, source=source, status=PlanStatus.DRAFT.value,
                      scope=codes if base_id else None, base_plan_id=base_id)
    session.add(plan)
    session.flush()
    if base_id and codes is not None:
        _copy_grids(session, plan.id, base_id, outside=codes)
    _add_rows(session, plan.id, rows, source=source)
    session.flush()
    return plan


def create_draft_from(
    session: Session,
    base_id: int | None = None,
    *,
    name: str,
    replace_community: str | None = None,
    scope: list[str] | None = None,
    features: list[dict[str, Any]] | None = None,
    source: str = "api",
    crs: str | CRS | None = None,
) -> models.GridPlan:
    """A draft copying a plan (the one in force by default). With ``scope`` (community or street codes; or
    ``replace_community``) the grids of the scope are replaced by ``features``; without, it is a whole copy."""
    base_id = base_id or current_plan_id(session)
    if base_id is None:
        raise NotFound("尚无现行网格方案可复制 (no plan in force to copy)")
    base = get_plan(session, base_id)
    codes = scope or ([replace_community] if replace_community else None)
    codes = normalise_scope(session, codes) if codes else None
    rows = [_parse_feature(session, f, crs=crs) for f in features or []]
    if codes is not None:
        check_rows_in_scope(rows, codes)
    plan = models.GridPlan(name=name, description=f"based on plan {base.id}", source=source,
                      status=PlanStatus.DRAFT.value, scope=codes, base_plan_id=base.id)
    session.add(plan)
    session.flush()
    _copy_grids(session, plan.id, base.id, outside=codes)
    if rows:
        _add_rows(session, plan.id, rows, source=source)
    session.flush()
    return plan


# ------------------------------------------------------------------------------------------------ editing
def _draft(session: Session, plan_id: int) -> models.GridPlan:
    plan = get_plan(session, plan_id)
    if plan.status != PlanStatus.DRAFT.value:
        raise PlanConflict(
            f"方案 {plan_id} 状态为 {PlanStatus(plan.status).zh}，只能编辑草案 (only a draft can be edited)",
            detail={"plan_id": plan_id, "status": plan.status},
        )
    return plan


def add_grid(
    session: Session, plan_id: int, feature: dict[str, Any], *, crs=None, source: str = "api"
) -> models.Grid:
    """Add one grid to a draft (its code assigned if not given)."""
    _draft(session, plan_id)
    row = _parse_feature(session, feature, crs=crs)
    taken = set(session.scalars(select(models.Grid.code).where(models.Grid.plan_id == plan_id)).all())
    if row["code"] in taken:
        raise PlanConflict(
            f"方案中已有网格 {row['code']} (the plan already has grid {row['code']})",
            detail={"code": row["code"]},
        )
    _fill_codes(session, [row], taken=taken)
    grid = _new_grid(plan_id, row, source=source)
    session.add(grid)
    session.flush()
    refresh_counts(session, plan_id, grid_ids=[grid.id])
    session.refresh(grid)
    return grid


def _stale(plan_id: int, code: str, expected: int, current: int) -> PlanConflict:
    return PlanConflict(
        f"网格 {code} 已被他人修改（当前版本 {current}，你看到的是 {expected}），请刷新后重试 "
        f"(grid {code} changed since version {expected}; now {current}: reload and retry)",
        detail={"plan_id": plan_id, "code": code, "expected_version": expected, "current_version": current},
    )


def replace_grid(
    session: Session, plan_id: int, code: str, feature: dict[str, Any], *, expected_version: int, crs=None
) -> models.Grid:
    """Replace a grid's shape and attributes if ``expected_version`` is still current (else PlanConflict)."""
    _draft(session, plan_id)
    grid = get_grid(session, plan_id, code)
    props = dict(feature.get("properties") or {})
    props.setdefault("code", code)
    props.setdefault("community_code", grid.community_code)
    if props["code"] != code:
        raise InvalidInput("替换网格时不能改变编码 (a replacement keeps the grid's code)")
    row = _parse_feature(session, {**feature, "properties": props}, crs=crs)
    result = session.execute(
        update(models.Grid)
        .where(models.Grid.id == grid.id, models.Grid.version == expected_version)
        .values(
            geom=from_shape(row["geom"], srid=4326),
            name=row["name"] or grid.name,
            kind=row["kind"],
            exclusive_type=row["exclusive_type"],
            households=row["households"],
            residents=row["residents"],
            properties=row["properties"] or grid.properties,
            version=models.Grid.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _stale(plan_id, code, expected_version, grid.version)
    refresh_counts(session, plan_id, grid_ids=[grid.id])
    session.refresh(grid)
    return grid


def delete_grid(session: Session, plan_id: int, code: str, *, expected_version: int) -> None:
    """Delete a grid from a draft if ``expected_version`` is still current (else PlanConflict)."""
    _draft(session, plan_id)
    grid = get_grid(session, plan_id, code)
    result = session.execute(
        models.Grid.__table__.delete().where(models.Grid.id == grid.id, models.Grid.version == expected_version)
    )
    if result.rowcount != 1:
        raise _stale(plan_id, code, expected_version, grid.version)
    session.expunge(grid)


# ------------------------------------------------------------------------------------------------ checking
def _grid_arrays(session: Session, plan_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(
            models.Grid.code,
            models.Grid.kind,
            models.Grid.community_code,
            models.Grid.households,
            models.Grid.residents,
            func.ST_AsBinary(models.Grid.geom),
        )
        .where(models.Grid.plan_id == plan_id)
        .order_by(models.Grid.code, models.Grid.id)
    ).all()
    return {
        "codes": [r[0] for r in rows],
        "kinds": [r[1] for r in rows],
        "community_codes": [r[2] for r in rows],
        "households": [r[3] for r in rows],
        "residents": [r[4] for r in rows],
        "geoms": _wkb_array(r[5] for r in rows),
    }


def _extent_filter(session: Session, plan_ids: list[int]):
    return (
        select(func.ST_Expand(func.ST_Extent(models.Grid.geom), 0.002))
        .where(models.Grid.plan_id.in_(plan_ids))
        .scalar_subquery()
    )


def community_polygons(session: Session, codes: Iterable[str]) -> dict[str, shapely.Geometry]:
    """``{code: WGS84 polygon}`` of the communities/villages whose boundary is known (newest edition)."""
    rows = session.execute(
        select(models.AdminArea.code, func.ST_AsBinary(models.AdminArea.geom))
        .where(models.AdminArea.code.in_(list(codes)), models.AdminArea.geom.isnot(None))
        .order_by(models.AdminArea.code, models.AdminArea.edition_year)
    ).all()
    return {code: shapely.from_wkb(bytes(wkb)) for code, wkb in rows}


def staffed_codes(session: Session, codes: Iterable[str], *, on: dt.date | None = None) -> set[str]:
    """Codes among ``codes`` that have a 网格员 assigned on date ``on`` (today by default)."""
    on = on or dt.date.today()
    return set(
        session.scalars(
            select(models.StaffAssignment.grid_code).where(
                models.StaffAssignment.role == StaffRole.GRID_WORKER.value,
                models.StaffAssignment.grid_code.in_(list(codes)),
                (models.StaffAssignment.valid_from.is_(None)) | (models.StaffAssignment.valid_from <= on),
                (models.StaffAssignment.valid_to.is_(None)) | (models.StaffAssignment.valid_to >= on),
            )
        ).all()
    )


def building_label(building_id: int, address: str | None, name: str | None) -> str:
    """How a planner recognises a building: "楼栋 <name>（<address>）", whichever of them is known."""
    known = [v for v in (name, address) if v]
    if not known:
        return f"楼栋 #{building_id}"
    return f"楼栋 {known[0]}" + (f"（{known[1]}）" if len(known) > 1 and known[1] != known[0] else "")


def _validate_arrays(session: Session, grids: dict[str, Any], *, extent, options) -> ValidationReport:
    comms = sorted(set(grids["community_codes"]))
    # Core rows (not ORM rows) and columns transposed at once: tens of thousands of buildings load ~2× faster
    brows = (
        session.connection().execute(
            select(
                models.Building.id, models.Building.households, models.Building.residents, func.ST_AsBinary(models.Building.geom),
                models.Building.address, models.Building.name,
            ).where(models.Building.geom.op("&&")(extent))
        ).all()
        if grids["codes"]
        else []
    )
    ids, bhh, brs, bwkb, addresses, names = zip(*brows) if brows else ((), (), (), (), (), ())
    return validate_plan(
        grids["codes"],
        grids["geoms"],
        kinds=grids["kinds"],
        community_codes=grids["community_codes"],
        communities=community_polygons(session, comms),
        households=grids["households"],
        residents=grids["residents"],
        building_geoms=_wkb_array(bwkb),
        building_households=np.asarray(bhh, dtype=np.int64),
        building_residents=np.asarray(brs, dtype=np.int64),
        building_ids=list(ids),
        building_labels=[building_label(i, a, n) for i, a, n in zip(ids, addresses, names, strict=True)],
        staffed_codes=staffed_codes(session, grids["codes"]),
        options=options,
    )


def validate(session: Session, plan_id: int, *, options: ValidationOptions | None = None) -> ValidationReport:
    """Validate a stored plan against its communities, the buildings under it and its staff; every problem."""
    get_plan(session, plan_id)
    return _validate_arrays(
        session, _grid_arrays(session, plan_id), extent=_extent_filter(session, [plan_id]), options=options
    )


def validate_collection(
    session: Session, collection: dict[str, Any], *, crs=None, options: ValidationOptions | None = None
) -> ValidationReport:
    """Validate a FeatureCollection of grids without storing it (duplicate codes can only occur here: a stored
    plan cannot hold two grids with one code)."""
    rows = _parse_collection(session, collection, crs=crs)
    _fill_codes(session, rows, taken={r["code"] for r in rows if r["code"]})
    geoms = np.asarray([r["geom"] for r in rows], dtype=object)
    grids = {
        "codes": [r["code"] for r in rows],
        "kinds": [r["kind"] for r in rows],
        "community_codes": [r["community_code"] for r in rows],
        "households": [r["households"] for r in rows],
        "residents": [r["residents"] for r in rows],
        "geoms": geoms,
    }
    if not rows:
        return _validate_arrays(session, grids, extent=None, options=options)
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geoms))
    extent = func.ST_MakeEnvelope(x0 - 0.002, y0 - 0.002, x1 + 0.002, y1 + 0.002, 4326)
    return _validate_arrays(session, grids, extent=extent, options=options)


# ---------------------------------------------------------------------------------------------- publishing
def _check_outside_scope(session: Session, plan: models.GridPlan, *, force: bool, reason: str | None) -> None:
    """Refuse a draft that changes grids outside its scope unless forced with a written reason; refresh
    untouched grids outside the scope from the plan in force."""
    outside = outside_scope(session, plan)
    if not outside.clean:
        if not force or len((reason or "").strip()) < MIN_REASON_CHARS:
            raise PlanConflict(
                f"草案会改变范围外的网格，未发布；如确需发布，请选择强制发布并写明理由（至少 {MIN_REASON_CHARS} 个字） "
                f"(the draft changes grids outside its scope: publish with force and a written reason)",
                detail={"outside_scope": outside.as_dict()},
            )
        return
    follow_plan_in_force(session, plan, outside)


def _check_blocking(session: Session, plan_id: int, options: ValidationOptions | None) -> None:
    report = validate(session, plan_id, options=options)
    if report.blocking:
        counts = {k: v for k, v in report.counts.items() if v}
        raise PlanConflict(
            f"方案有 {len(report.blocking)} 个必须修正的问题，未发布 ({len(report.blocking)} blocking problems; "
            "fix them or publish with force)",
            detail={"counts": counts},
        )


def publish(
    session: Session,
    plan_id: int,
    *,
    effective_from: dt.date | None = None,
    force: bool = False,
    reason: str | None = None,
    options: ValidationOptions | None = None,
) -> models.GridPlan:
    """Make a draft the generation in force from ``effective_from`` (today by default); retire the previous one.

    Refused with :class:`PlanConflict` if the plan is not a draft; if it changes grids outside its scope (unless
    ``force`` with a ``reason`` of a few words, kept with the generation); or, unless ``force``, if validation
    finds a blocking problem (invalid geometry, overlap, duplicate code). Grids outside the scope that the planner
    did not touch are taken from the plan in force, so a plan published meanwhile is never undone.
    """
    plan = get_plan(session, plan_id, for_update=True)
    if plan.status != PlanStatus.DRAFT.value:
        raise PlanConflict(
            f"方案 {plan_id} 不是草案，不能发布 (only a draft can be published)",
            detail={"plan_id": plan_id, "status": plan.status},
        )
    session.execute(text("LOCK TABLE grid_plans IN SHARE ROW EXCLUSIVE MODE"))
    _check_outside_scope(session, plan, force=force, reason=reason)
    if not force:
        _check_blocking(session, plan_id, options)
    effective_from = effective_from or dt.date.today()
    generation = (session.scalar(select(func.max(models.GridPlan.generation))) or 0) + 1
    for old in session.scalars(
        select(models.GridPlan).where(models.GridPlan.status == PlanStatus.PUBLISHED.value)
    ).all():
        old.status = PlanStatus.RETIRED.value
        old.effective_to = effective_from
    plan.status = PlanStatus.PUBLISHED.value
    plan.generation = generation
    plan.effective_from = effective_from
    plan.published_at = dt.datetime.now(dt.timezone.utc)
    plan.publish_reason = (reason or "").strip() or None
    session.flush()
    return plan


# ---------------------------------------------------------------------------------------------- proposals
def community_inputs(session: Session, community_code: str) -> dict[str, Any]:
    """A community's polygon, buildings (footprints, households) and streets, for a proposal.

    The polygon is the community's own boundary where known, else the union of its grids in force, else the
    hull of its buildings with a 30 m margin.
    """
    polys = community_polygons(session, [community_code])
    poly = polys.get(community_code)
    source = "admin_areas"
    if poly is None:
        current = current_plan_id(session)
        wkb = session.scalar(select(func.ST_AsBinary(func.ST_Union(models.Grid.geom))).where(
            models.Grid.plan_id == current, models.Grid.community_code == community_code)) if current else None
        if wkb is not None:
            poly, source = shapely.from_wkb(bytes(wkb)), "grids in force"
    where = models.Building.community_code == community_code
    if poly is not None:
        where = where | func.ST_Covers(func.ST_GeomFromWKB(shapely.to_wkb(poly), 4326),
                                       func.ST_PointOnSurface(models.Building.geom))
    brows = session.execute(
        select(models.Building.id, models.Building.households, func.ST_AsBinary(models.Building.geom)).where(where)
        .order_by(models.Building.id)
    ).all()
    if not brows:
        raise NotFound(f"社区 {community_code} 没有楼栋数据，无法提出网格方案 (no buildings in community)",
                       detail={"community_code": community_code})
    bgeoms = _wkb_array(r[2] for r in brows)
    if poly is None:
        from gis.plan_validation import Projector

        proj = Projector.around(bgeoms)
        hull = shapely.concave_hull(shapely.union_all(proj.forward(bgeoms)), ratio=0.3).buffer(30)
        poly, source = proj.inverse(np.array([hull], dtype=object))[0], "building hull"
    srows = session.execute(
        select(func.ST_AsBinary(models.StreetEdge.geom)).where(
            func.ST_Intersects(models.StreetEdge.geom, func.ST_GeomFromWKB(shapely.to_wkb(poly), 4326)))
    ).all()
    return {"community": poly, "community_source": source, "building_ids": [r[0] for r in brows],
            "building_geoms": bgeoms, "building_households": np.array([r[1] or 0 for r in brows]),
            "streets": _wkb_array(r[0] for r in srows)}


def propose(session: Session, community_code: str, *, options=None) -> dict[str, Any]:
    """Propose grids for a community; returns the FeatureCollection (codes assigned) and the measures."""
    from gis.proposals import propose_grids

    data = community_inputs(session, community_code)
    proposal = propose_grids(data["community"], data["building_geoms"], data["building_households"],
                             streets=data["streets"], options=options)
    prev_codes, prev_geoms, used = _history(session, community_code)
    codes = assign_codes(community_code, [g.geometry for g in proposal.grids], previous_codes=prev_codes,
                         previous_geoms=prev_geoms, used_sequences=sorted(used))
    features = [
        {"type": "Feature", "id": code, "geometry": shapely.geometry.mapping(g.geometry),
         "properties": {"code": code, "name": f"{community_code[-3:]}-{code[-3:]} 网格", "kind": "comprehensive",
                        "community_code": community_code, "households": g.households, "buildings": g.buildings,
                        "polsby_popper": g.polsby_popper, "out_of_bounds_reason": g.reason}}
        for code, g in zip(codes, proposal.grids, strict=True)
    ]
    metrics = proposal.metrics()
    metrics.update(streets=int(len(data["streets"])), community_source=data["community_source"])
    return {"type": "FeatureCollection", "features": features, "metrics": metrics}
