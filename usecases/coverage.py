"""Coverage as the API, the CLI and the coverage map share it: the walking budget in metres (minutes at the one
configured walking speed) and the buildings a service does not reach within it.

The coverage map draws exactly what ``GET /api/v1/coverage/uncovered`` answers for the same type and budget
(:func:`layers.coverage.uncovered_buildings`, one predicate: the building's walk to the nearest facility of the
type, stored in ``building_access``, is longer than the budget).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from gis.domain import LIFE_CIRCLE_MINUTES, walk_metres
from layers.settings import WalkSettings

COVERAGE_MINUTES = LIFE_CIRCLE_MINUTES
"""The budget of the coverage map and the coverage endpoints when none is given: the 15-minute life circle."""


def budget_m(walk: WalkSettings, *, minutes: float | None = None, meters: float | None = None) -> float:
    """``meters`` when given, else ``minutes`` (default :data:`COVERAGE_MINUTES`) at the configured speed."""
    if meters is not None:
        return float(meters)
    return walk_metres(COVERAGE_MINUTES if minutes is None else minutes, walk.speed_kmh)


UNCOVERED_COLUMNS = ["id", "name", "households", "nearest_m", "method", "source"]


def map_uncovered(session: Session, type_code: str, *, walk: WalkSettings,
                  limit: int = 5000) -> tuple[gpd.GeoDataFrame, dict]:
    """The coverage map's uncovered buildings: exactly the features ``/api/v1/coverage/uncovered?type=…`` gives
    (its default budget and, by default, its limit: the most households first), as points with ``nearest_m``
    (the walk to the nearest facility of the type); and the API's totals (``total_buildings``,
    ``total_households``, ``truncated``, ``budget_m``)."""
    from layers import coverage as cov  # scipy: loaded on first use

    answer = cov.uncovered_buildings(session, type_code, budget_m=budget_m(walk), limit=limit)
    feats = answer.pop("features")
    frame = pd.DataFrame([{"id": f["id"], "name": f["properties"]["name"], "households": f["properties"]["households"],
                           "nearest_m": f["properties"]["distance_m"], "method": f["properties"]["method"],
                           "source": f["properties"]["source"]} for f in feats], columns=UNCOVERED_COLUMNS)
    points = [shapely.Point(f["geometry"]["coordinates"]) for f in feats]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=4326), crs=4326), answer
