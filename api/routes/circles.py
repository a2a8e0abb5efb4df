"""Walking service circles (服务圈): stored circles as GeoJSON, "what can I reach from here", recompute."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import Principal, require_roles
from api.deps import BBoxDep, ReadSessionDep, SessionDep, SettingsDep
from api.geojson import FEATURE_COLLECTION_DOC, GeoJSONText
from gis.coords import CRS, to_wgs84
from gis.domain import LIFE_CIRCLE_MINUTES, UserRole
from usecases import reach

router = APIRouter(prefix="/api/v1/circles", tags=["circles 服务圈"])

Planner = Annotated[Principal, Depends(require_roles(UserRole.PLANNER, UserRole.ADMIN))]
Types = Annotated[str | None, Query(description="设施类型代码，逗号分隔 (type codes, comma-separated)",
                                    max_length=1000)]


def _types(value: str | None) -> list[str] | None:
    return [t.strip() for t in value.split(",") if t.strip()] if value else None


@router.get(
    "",
    summary="服务圈 GeoJSON (stored service circles as GeoJSON)",
    description="按设施类型、步行分钟或米数、设施、范围过滤已计算的步行服务圈；method=network 为路网步行，"
    "euclidean 为无路网处的直线圆。 (Stored walking service circles filtered by type, minutes or metres, "
    "facility and bbox; method 'network' or 'euclidean' where no street network exists.)",
    response_description="GeoJSON FeatureCollection",
    response_class=GeoJSONText,
    responses=FEATURE_COLLECTION_DOC,
)
def get_circles(
    session: ReadSessionDep,
    bbox: BBoxDep,
    type: Annotated[str | None, Query(description="设施类型代码 (facility type code)", max_length=50)] = None,  # noqa: A002
    minutes: Annotated[float | None, Query(gt=0, le=120, description="步行分钟 (walking minutes)")] = None,
    meters: Annotated[float | None, Query(gt=0, le=10_000, description="步行距离米 (walking metres)")] = None,
    facility_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="设施 id (facility id)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="最多要素数 (max features)")] = 1000,
) -> GeoJSONText:
    """Stored circles as GeoJSON."""
    from layers import service_circles  # numba, scipy, geopandas: loaded on first use
    return GeoJSONText(service_circles.circles_geojson(session, type_code=type, minutes=minutes, budget_m=meters,
                                                       facility_id=facility_id, bbox=bbox, limit=limit))


@router.get(
    "/stats",
    summary="服务圈统计 (circle counts)",
    description="按类型、预算、方法统计已存服务圈 (stored circles per type, budget and method).",
)
def get_circle_stats(session: ReadSessionDep) -> dict[str, Any]:
    """Counts of stored circles."""
    from layers import service_circles  # numba, scipy, geopandas: loaded on first use
    return {"rows": service_circles.circle_stats(session)}


@router.get(
    "/reachable",
    summary="从这里步行能到哪些设施 (what can I reach from here)",
    description="沿路网步行 N 分钟（按配置的步行速度 GRIDMAP_WALK_SPEED_KMH，默认 5 km/h）内可达的设施，按距离排序；"
    "可选返回此点的服务圈面。无路网处按直线×1.3 估算（method=euclidean）。公众地图点击处的5/10/15分钟答复与此完全一致。 "
    "(Facilities within N walking minutes of a point along the network at the configured walking speed, nearest "
    "first; optionally the point's own service area. Straight line × 1.3 where there is no network. The public "
    "map's popup gives exactly these answers for 5, 10 and 15 minutes.)",
)
def get_reachable(
    session: ReadSessionDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="经度 (longitude)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="纬度 (latitude)")],
    crs: Annotated[CRS, Query(description="坐标系 wgs84|cgcs2000|gcj02|bd09")] = CRS.WGS84,
    minutes: Annotated[float, Query(gt=0, le=60, description="步行分钟 (walking minutes)")] = LIFE_CIRCLE_MINUTES,
    speed_kmh: Annotated[float | None, Query(gt=0, le=30, description="步行速度 km/h，默认按配置 (walking speed; "
                                                                     "default: the configured one)")] = None,
    type: Types = None,  # noqa: A002
    network: Annotated[str | None, Query(max_length=100, description="路网名称 (network name)")] = None,
    include_area: Annotated[bool, Query(description="同时返回服务圈面 (also return the area polygon)")] = False,
) -> dict[str, Any]:
    """Facilities reachable on foot from a point."""
    wlon, wlat = to_wgs84(lon, lat, crs)
    return reach.reachable(session, float(wlon), float(wlat), minutes=minutes, walk=settings.walk,
                           speed_kmh=speed_kmh, type_codes=_types(type), network=network, include_area=include_area)


class ComputeIn(BaseModel):
    """Which circles to (re)compute."""

    types: list[str] | None = Field(None, max_length=50, description="设施类型代码 (type codes), 默认全部")
    minutes: list[float] | None = Field(None, max_length=10, description="步行分钟 (minutes), e.g. [5, 10, 15]")
    meters: list[float] | None = Field(None, max_length=10, description="步行米数 (metres), e.g. [300, 500, 1000]")
    network: str | None = Field(None, max_length=100, description="路网名称 (network name)")
    speed_kmh: float | None = Field(None, gt=0, le=30, description="步行速度 km/h，默认按配置 (walking speed; default: "
                                                                   "GRIDMAP_WALK_SPEED_KMH)")
    buffer_m: float = Field(50.0, gt=0, le=500, description="街道缓冲宽度 (street buffer, metres)")
    force: bool = Field(False, description="全部重算 (recompute everything)")


@router.post(
    "/compute",
    summary="计算服务圈（规划人员）(compute circles, planners)",
    description="计算缺失或过期（设施移动、路网变化、参数变化）的服务圈并存储。 (Compute and store the circles that "
    "are missing or stale: facility moved, network changed, parameters changed.)",
)
def post_compute(session: SessionDep, settings: SettingsDep, _user: Planner, body: ComputeIn) -> dict[str, Any]:
    """Recompute stale circles."""
    from layers import service_circles  # numba, scipy, geopandas: loaded on first use
    rep = service_circles.compute_circles(session, network=body.network, type_codes=body.types, minutes=body.minutes,
                             meters=body.meters, speed_kmh=body.speed_kmh or settings.walk.speed_kmh, buffer_m=body.buffer_m,
                             force=body.force)
    session.commit()
    return rep
