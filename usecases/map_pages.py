"""What each map page shows: the public facility map, the planners' grid map, the dispatch map and the
coverage map — read from several storage modules (``layers.map_data``, ``layers.plans``), with the slow parts
(a plan's validation, a type's uncovered buildings and suggested sites) kept until their data change.

The API's map routes and ``gridmap map export`` both call these; they return the ``maps.pages`` data classes
that the pure map functions draw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy.orm import Session

from gis.errors import NotFound
from gis.visits import DEFAULT_STALE_DAYS
from layers import map_data, plans, visits
from layers.data_versions import VersionedCache
from layers.settings import WalkSettings
from maps.common import MapContext
from maps.pages import CoverageData, GridData, IncidentData, PublicData
from usecases import coverage, residents

NO_PLAN = "还没有已发布的网格方案 (no grid plan has been published yet)"

# the slow parts, kept per process until their tables change (in any process or tool)
_PROBLEMS: VersionedCache[dict] = VersionedCache(
    "plan problems", ["grid_plans", "grids", "buildings", "admin_areas", "staff_assignments"], max_entries=16)
_SITES: VersionedCache = VersionedCache("suggested sites", ["buildings", "building_access"], max_entries=16)


def public_data(session: Session, *, with_boards: bool = False) -> PublicData:
    """Everything the public map shows (no personal data); the boards only when they are to be embedded."""
    return PublicData(
        facilities=map_data.facilities(session),
        grids=map_data.grids(session),
        communities=map_data.communities(session),
        villages=map_data.seven_ones(session),
        circles=map_data.circles_by_type(session) if with_boards else map_data.circle_types(session),
        boards=map_data.boards(session) if with_boards else {},
        bounds=map_data.extent(session),
        forms=residents.form_choices(),
    )


def plan_or_in_force(session: Session, plan_id: int | None) -> int:
    """``plan_id``, or the plan in force; ``NotFound`` when nothing has been published."""
    plan_id = plan_id or map_data.plan_in_force(session)
    if plan_id is None:
        raise NotFound(NO_PLAN)
    return plan_id


def plan_problems_ready(session: Session, plan_id: int) -> bool:
    """True when the plan's validation problems are at hand (no validation would run)."""
    return _PROBLEMS.ready(session, (plan_id, dt.date.today()))


def plan_problems(session: Session, plan_id: int) -> dict:
    """The plan's validation problems as GeoJSON (WGS84), kept until the plan, its grids, the buildings, the
    community boundaries or the staff change, or the day turns (validating 2,000 grids against 50,000
    buildings takes ~2 s; the check ~0.2 ms)."""
    return _PROBLEMS.get(session, (plan_id, dt.date.today()),
                         lambda: plans.validate(session, plan_id).as_geojson())


def grid_data(session: Session, ctx: MapContext, *, plan_id: int | None, problems: bool,
              visits_for: VisitScope | None = None) -> GridData:
    """The planners' grid map: grids, validation problems (fetched by the page after it shows, when they are
    not at hand and a server is behind the page), the roster audit, buildings (tiles when many), and — only
    when ``visits_for`` says whose map it is (signed-in staff) — 入户走访 coverage and stale buildings of that
    area."""
    plan_id = plan_or_in_force(session, plan_id)
    report = {"type": "FeatureCollection", "features": []}
    url = None
    if problems and ctx.tile_base is not None and not plan_problems_ready(session, plan_id):
        url = f"{ctx.tile_base}/maps/grids/problems.json?plan_id={plan_id}"  # validated after the page shows
    elif problems:
        report = plan_problems(session, plan_id)
    n = map_data.count(session, "buildings")
    grids = map_data.grids(session, plan_id=plan_id)
    max_points = ctx.settings.tile_threshold if ctx.tile_base is not None else None
    roster_grids, roster_buildings, n_roster = map_data.roster_gaps(session, grids, plan_id=plan_id,
                                                                    max_points=max_points)
    return GridData(
        grids=grids,
        roster_grids=roster_grids,
        roster_buildings=roster_buildings,
        roster_building_count=n_roster,
        problems=report,
        buildings=None if ctx.use_tiles(n) else map_data.buildings(session),
        building_count=n,
        bounds=map_data.extent(session),
        building_sources=map_data.sources(session, "buildings"),
        problems_url=url,
        **(visit_layers(session, unit=visits_for.unit) if visits_for is not None else {}),
    )


@dataclass(frozen=True)
class VisitScope:
    """Whose grid map shows 入户走访: the area code prefix of a signed-in staff member (None: everywhere)."""

    unit: str | None


def visit_layers(session: Session, *, unit: str | None, days: int = DEFAULT_STALE_DAYS) -> dict[str, Any]:
    """入户走访 for the grid map of staff of ``unit`` (an area code prefix; None: every grid): this month's
    coverage per grid and the buildings not visited for ``days``. Staff only: not for the public page."""
    cover = pd.DataFrame(visits.coverage(session, unit=unit),
                         columns=["grid_code", "visited_households", "share", "month"])
    cover = cover.rename(columns={"share": "visit_share", "month": "visit_month"})
    stale = pd.DataFrame(visits.stale_buildings(session, days=days, unit=unit),
                         columns=["name", "households", "grid_code", "last_visited", "days_since", "source", "lon",
                                  "lat"])
    stale["last_visited"] = stale["last_visited"].map(lambda d: d.isoformat() if d else None)
    points = gpd.GeoDataFrame(stale.drop(columns=["lon", "lat"]), crs=4326,
                              geometry=gpd.points_from_xy(stale["lon"], stale["lat"]))
    return {"visit_coverage": cover, "stale_buildings": points, "stale_days": days}


def incident_data(session: Session, ctx: MapContext, flt: map_data.IncidentFilter) -> IncidentData:
    """The dispatch map: incidents (embedded when few, else tiles), heat bins, grids, categories, overdue."""
    n = map_data.incident_count(session, flt)
    return IncidentData(
        grids=map_data.grids(session, tolerance_deg=0.00003),
        incidents=None if ctx.use_tiles(n) else map_data.incidents(session, flt, limit=n or 1),
        incident_count=n,
        heat=map_data.incident_heat(session, flt),
        categories=map_data.incident_categories(session),
        filters={"since": flt.since.isoformat() if flt.since else "",
                 "until": flt.until.isoformat() if flt.until else "", "grid": flt.grid or "",
                 "category": flt.category or ""},
        bounds=map_data.extent(session),
        sources=map_data.sources(session, "incidents"),
        overdue=map_data.overdue_count(session, flt),
    )


def coverage_data(session: Session, ctx: MapContext, type_code: str, walk: WalkSettings, *,
                  sites: int = 5) -> CoverageData:
    """The coverage map of one service type: circles, facilities, the uncovered buildings exactly as
    ``/api/v1/coverage/uncovered`` gives them (:func:`usecases.coverage.map_uncovered`), and greedy sites within
    half the budget (kept until the uncovered buildings change)."""
    uncovered, totals = coverage.map_uncovered(session, type_code, walk=walk)
    suggested = _SITES.get(session, (type_code, sites, totals["budget_m"]),
                           lambda: map_data.suggested_sites(uncovered, radius_m=totals["budget_m"] / 2, n=sites))
    return CoverageData(
        type_code=type_code,
        facilities=map_data.facilities(session, type_code=type_code),
        circles=map_data.circles_by_type(session, type_code=type_code),
        uncovered=None if ctx.use_tiles(totals["total_buildings"]) or totals["truncated"] else uncovered,
        uncovered_count=totals["total_buildings"],
        uncovered_households=totals["total_households"],
        sites=suggested,
        grids=map_data.grids(session, tolerance_deg=0.00003),
        bounds=map_data.extent(session),
        minutes=coverage.COVERAGE_MINUTES,
        budget_m=totals["budget_m"],
        sources=map_data.sources(session, "buildings"),
    )
