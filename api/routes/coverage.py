"""Coverage and gaps: households covered per community/grid, uncovered buildings, 七个一 audit, site suggestions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.auth import Principal, require_roles
from api.deps import SessionDep, SettingsDep
from api.settings import Settings
from gis.domain import UserRole
from gis.gridcodes import CODE12
from usecases import coverage as usecase

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage 覆盖与缺口"])

Planner = Annotated[Principal, Depends(require_roles(UserRole.PLANNER, UserRole.ADMIN))]
Minutes = Annotated[float | None, Query(gt=0, le=36, description="步行分钟，按配置的步行速度（默认 5 km/h），默认 15 "
                                                               "(walking minutes at the configured speed; default 15)")]
Meters = Annotated[float | None, Query(gt=0, le=3000, description="步行米数，优先于分钟 (walking metres)")]
Network = Annotated[str | None, Query(max_length=100, description="路网名称 (network name)")]


def _budget(settings: Settings, minutes: float | None, meters: float | None) -> float:
    return usecase.budget_m(settings.walk, minutes=minutes, meters=meters)


@router.get(
    "/report",
    summary="服务覆盖率 (households and residents covered per community or grid)",
    description="每个社区或网格（现行方案）在 N 分钟步行（沿路网）内可达各类设施的户数、人数及比例；默认 15 分钟。 "
    "(Per community or grid of the plan in force: households and residents within N walking minutes along "
    "the network of each service type; default 15 minutes.)",
)
def get_report(
    session: SessionDep,
    settings: SettingsDep,
    type: Annotated[str | None, Query(max_length=1000, description="设施类型，逗号分隔 (type codes)")] = None,  # noqa: A002
    minutes: Minutes = None,
    meters: Meters = None,
    by: Annotated[str, Query(pattern="^(community|grid)$", description="community | grid")] = "community",
    network: Network = None,
) -> dict[str, Any]:
    """Coverage shares per unit and type."""
    from layers import coverage as cov  # scipy, geopandas: loaded on first use
    codes = [t.strip() for t in type.split(",") if t.strip()] if type else None
    df = cov.coverage_report(session, type_codes=codes, budget_m=_budget(settings, minutes, meters), by=by,
                             network=network)
    session.commit()
    df = df.astype(object).where(df.notna(), None)
    return {"by": by, "budget_m": _budget(settings, minutes, meters), "rows": df.to_dict(orient="records")}


@router.get(
    "/uncovered",
    summary="未覆盖楼栋 GeoJSON (buildings a service does not reach)",
    description="某类设施 N 分钟步行不可达的楼栋（只含户数、人数汇总，无个人信息）。 (Buildings not within N "
    "walking minutes of a service type; aggregate counts only, no personal data.)",
)
def get_uncovered(
    session: SessionDep,
    settings: SettingsDep,
    type: Annotated[str, Query(max_length=50, description="设施类型 (type code)")],  # noqa: A002
    minutes: Minutes = None,
    meters: Meters = None,
    community_code: Annotated[str | None, Query(pattern=CODE12.pattern, description="社区代码")] = None,
    network: Network = None,
) -> dict[str, Any]:
    """Uncovered buildings as GeoJSON."""
    from layers import coverage as cov  # scipy, geopandas: loaded on first use
    out = cov.uncovered_buildings(session, type, budget_m=_budget(settings, minutes, meters), community_code=community_code,
                                  network=network)
    session.commit()
    return out


@router.get(
    "/buildings/{building_id}",
    summary="一栋楼步行可达的服务 (which services one building reaches)",
    description="某栋楼沿路网步行 N 分钟内可达哪些设施类型、各类最近设施及距离。 (Which service types a building "
    "reaches within N walking minutes along the network, with the nearest facility of each type.)",
)
def get_building_services(
    session: SessionDep,
    settings: SettingsDep,
    building_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="楼栋 id (building id)")],
    minutes: Minutes = None,
    meters: Meters = None,
    network: Network = None,
) -> dict[str, Any]:
    """Services reached by one building."""
    from layers import coverage as cov  # scipy, geopandas: loaded on first use
    out = cov.building_services(session, building_id, budget_m=_budget(settings, minutes, meters), network=network,
                                speed_kmh=settings.walk.speed_kmh)
    session.commit()
    return out


@router.get(
    "/seven-ones",
    summary="“七个一”审计 (which of the seven each village has)",
    description="每个村（kind=village）的“七个一”配置情况，或每个城市社区（kind=community）的功能室；设施属于该村、"
    "位于其范围内或距其范围 distance_m 米内即算具备。 (For each village, which of the seven it has; for "
    "urban communities, their function rooms. A facility counts when it belongs to the unit, lies inside "
    "it or within distance_m metres.)",
)
def get_seven_ones(
    session: SessionDep,
    kind: Annotated[str, Query(pattern="^(village|community)$", description="village | community")] = "village",
    distance_m: Annotated[float, Query(ge=0, le=5000, description="容许距离米 (tolerance, metres)")] = 500.0,
    township_code: Annotated[str | None, Query(pattern=CODE12.pattern, description="乡镇/街道代码")] = None,
) -> dict[str, Any]:
    """The 七个一 / function-room audit table."""
    from layers import coverage as cov  # scipy, geopandas: loaded on first use
    df = cov.seven_ones_audit(session, kind=kind, distance_m=distance_m, township_code=township_code)
    df = df.astype(object).where(df.notna(), None)
    return {"kind": kind, "distance_m": distance_m, "count": len(df),
            "complete": int((df["missing"].map(len) == 0).sum()) if len(df) else 0,
            "units": df.to_dict(orient="records")}


class SitesIn(BaseModel):
    """Where to build next for one service type."""

    type: str = Field(max_length=50, description="设施类型 (type code)")
    k: int = Field(5, ge=1, le=50, description="建议个数 (number of sites)")
    minutes: float | None = Field(None, gt=0, le=36, description="步行分钟 (minutes)")
    meters: float | None = Field(None, gt=0, le=3000, description="步行米数 (metres)")
    network: str | None = Field(None, max_length=100)
    community_code: str | None = Field(None, pattern=CODE12.pattern)
    candidates: list[tuple[float, float]] | None = Field(
        None, max_length=5000, description="候选地块 [[lon, lat], …]，默认路网节点 (candidate sites, default street nodes)")


@router.post(
    "/sites",
    summary="选址建议（规划人员）(where to build next, planners)",
    description="在候选点（默认路网节点）中贪心选出覆盖最多未覆盖户数的 k 个新址，现有设施不变；结果存入 site_suggestions。 "
    "(Greedy maximal covering of the households a type leaves uncovered, existing facilities fixed; stored.)",
)
def post_sites(session: SessionDep, settings: SettingsDep, _user: Planner, body: SitesIn) -> dict[str, Any]:
    """Suggest and store new sites."""
    from layers import coverage as cov  # scipy, geopandas: loaded on first use
    out = cov.suggest_sites(session, body.type, k=body.k, budget_m=_budget(settings, body.minutes, body.meters),
                            network=body.network, candidates=body.candidates, community_code=body.community_code)
    session.commit()
    return out
