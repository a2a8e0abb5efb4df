"""Read any public layer as a GeoJSON FeatureCollection, filtered by bbox, paged by limit/offset.

Each layer names exactly the columns it may show: personal data (reporters, phones, ledgers) is never in a
public layer because it is never listed here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.domain import AreaLevel, PlanStatus
from gis.errors import InvalidInput, NotFound
from layers import models


@dataclass(frozen=True)
class LayerSpec:
    """A public layer: its table, the columns it shows, and a one-line description for the API docs."""

    name: str
    model: type
    columns: tuple[str, ...]
    title: str
    description: str
    order_by: str = "id"
    id_column: str = "id"
    extra: dict[str, Any] = field(default_factory=dict)


LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in [
        LayerSpec(
            "areas", models.AdminArea,
            ("code", "edition_year", "name", "level", "parent_code", "source", "geom_source"),
            "行政区划 administrative areas",
            "市、区县、乡镇街道、社区和村，带 12 位统计用区划代码及其年份 (real codes; polygons where known).",
        ),
        LayerSpec(
            "grids", models.Grid,
            ("code", "name", "kind", "exclusive_type", "community_code", "households", "residents",
             "plan_id", "version", "source"),
            "网格 grids",
            "现行网格方案中的网格；plan_id 参数可查看其他方案 (grids of the plan in force unless plan_id is given).",
        ),
        LayerSpec(
            "buildings", models.Building,
            ("name", "address", "community_code", "floors", "stairwell_count", "households", "residents",
             "use", "source"),
            "楼栋 buildings",
            "楼栋及其单元数、户数、人数（汇总数，无个人信息） (building footprints with aggregate counts).",
        ),
        LayerSpec(
            "facilities", models.Facility,
            ("type_code", "name", "address", "community_code", "source"),
            "设施 facilities",
            "七个一、15分钟便民服务圈设施、社区功能室、对外开放厕所 (facilities by type).",
        ),
        LayerSpec(
            "streets", models.StreetEdge,
            ("network", "u", "v", "name", "highway", "oneway", "length_m", "source"),
            "路网 street network",
            "步行路网的边（米为单位的长度） (walking-network edges, length in metres).",
        ),
        LayerSpec(
            "service-circles", models.ServiceCircle,
            ("facility_id", "type_code", "minutes", "budget_m", "speed_kmh", "buffer_m", "method", "network",
             "source"),
            "服务圈 service circles",
            "设施的步行服务范围（method=euclidean 表示直线距离兜底） (walking service areas).",
        ),
        LayerSpec(
            "street-responsibilities", models.StreetResponsibility,
            ("street_name", "responsible_unit", "buffer_m", "valid_from", "valid_to", "source"),
            "包街责任 street responsibility",
            "包街责任制：主要街道及其责任单位 (main streets and their responsible units).",
        ),
    ]
}


# The plan in force as a SQL subquery, for statements written as text (the same rule as current_plan_id).
PLAN_IN_FORCE_SQL = (f"(SELECT id FROM grid_plans WHERE status = '{PlanStatus.PUBLISHED.value}' "
                     "ORDER BY generation DESC LIMIT 1)")


def current_plan_id(session: Session) -> int | None:
    """The id of the published plan in force (highest generation), or None if nothing is published."""
    return session.scalar(
        select(models.GridPlan.id)
        .where(models.GridPlan.status == PlanStatus.PUBLISHED.value)
        .order_by(models.GridPlan.generation.desc())
        .limit(1)
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


def feature_collection_text(features: Iterable[tuple[Any, str | None, dict[str, Any]]], **members: Any) -> str:
    """A GeoJSON FeatureCollection as JSON text from ``(id, geometry, properties)`` rows whose geometry is the text
    PostGIS wrote (``ST_AsGeoJSON``), put in as it is: parsing those coordinates only to write them out again
    was most of the time of a request for large polygons (1,000 service circles, 35 MB: 2.3 s of ``json.loads``).
    ``members`` (``count``, ``attribution`` …) follow the features."""
    parts = [f'{{"type":"Feature","id":{_compact_json(fid)},"geometry":{geometry or "null"},'
             f'"properties":{_compact_json(properties)}}}' for fid, geometry, properties in features]
    tail = "".join(f",{_compact_json(name)}:{_compact_json(value)}" for name, value in members.items())
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]" + tail + "}"


def read_layer(
    session: Session,
    name: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 1000,
    offset: int = 0,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return ``{"type": "FeatureCollection", "features": [...], "numberMatched", "numberReturned"}``.

    ``filters`` are equality filters on the layer's own columns (unknown names are refused). For ``grids``,
    ``plan_id`` defaults to the plan in force.
    """
    spec = LAYERS.get(name)
    if spec is None:
        raise NotFound(f"没有名为 {name!r} 的图层 (no layer named {name!r}); 可用 (available): {sorted(LAYERS)}")
    model = spec.model
    filters = {k: v for k, v in (filters or {}).items() if v is not None}
    if name == "grids" and "plan_id" not in filters:
        filters["plan_id"] = current_plan_id(session)
    conditions = []
    for key, value in filters.items():
        if key not in spec.columns:
            raise NotFound(f"图层 {name} 没有字段 {key!r} (layer {name} has no column {key!r})")
        conditions.append(getattr(model, key) == value)
    if bbox is not None:
        envelope = func.ST_MakeEnvelope(*bbox, 4326)
        conditions.append(model.geom.op("&&")(envelope))
        conditions.append(func.ST_Intersects(model.geom, envelope))

    matched = session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
    cols = [getattr(model, c) for c in spec.columns]
    rows = session.execute(
        select(getattr(model, spec.id_column), func.ST_AsGeoJSON(model.geom, 7), *cols)
        .where(*conditions)
        .order_by(getattr(model, spec.order_by))
        .limit(limit)
        .offset(offset)
    ).all()
    features = [
        {
            "type": "Feature",
            "id": row[0],
            "geometry": json.loads(row[1]) if row[1] else None,
            "properties": {c: _jsonable(v) for c, v in zip(spec.columns, row[2:])},
        }
        for row in rows
    ]
    return {
        "type": "FeatureCollection",
        "name": name,
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }


# ------------------------------------------------------------------------------------------------- hierarchy
GRID_LEVEL = "grid"
AREA_LEVELS = (*AreaLevel.values(), GRID_LEVEL)


def parent_area_code(parent: str) -> str:
    """A parent given by its own digits (6 county, 9 street, 12 community) → the 12-digit code it is stored as;
    grids name their community with its 12 digits."""
    if not parent.isdigit() or len(parent) not in (6, 9, 12):
        raise InvalidInput(f"parent 须为 6、9 或 12 位区划代码，收到 {parent!r} (parent is a 6-, 9- or 12-digit code)")
    return parent.ljust(12, "0")


def read_areas(session: Session, *, level: str | None = None, parent: str | None = None,
               bbox: tuple[float, float, float, float] | None = None, limit: int = 1000,
               offset: int = 0) -> dict[str, Any]:
    """One level of the 区/街道/社区/网格 hierarchy, optionally the children of ``parent``: administrative areas,
    or (``level="grid"``) the grids in force of a community, shaped like areas (``level``, ``parent_code``)."""
    if level is not None and level not in AREA_LEVELS:
        raise InvalidInput(f"未知层级 {level!r}；可用 {list(AREA_LEVELS)} (unknown level)")
    parent12 = parent_area_code(parent) if parent else None
    if level != GRID_LEVEL:
        return read_layer(session, "areas", bbox=bbox, limit=limit, offset=offset,
                          filters={"level": level, "parent_code": parent12})
    grids = read_layer(session, "grids", bbox=bbox, limit=limit, offset=offset,
                       filters={"community_code": parent12})
    for feature in grids["features"]:
        props = feature["properties"]
        feature["id"] = props["code"]
        feature["properties"] = {"code": props["code"], "name": props["name"], "level": GRID_LEVEL,
                                 "parent_code": props["community_code"], "kind": props["kind"],
                                 "households": props["households"], "plan_id": props["plan_id"],
                                 "source": props["source"]}
    return grids | {"name": "areas"}
