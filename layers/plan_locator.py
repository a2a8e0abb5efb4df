"""The in-memory point locator of a grid plan, built from PostGIS and kept per process until its data changes.

:func:`plan_locator` is what every locate goes through (``GET /api/v1/locate``, incident intake, batches, the
CLI): the plan's grids, the community/village polygons of the 属地兜底 rule and today's 包街 segments in a
:class:`gis.locate.Locator`, with the codes, names and units its answers need. It reads them with plain
statements through the driver's cursor and is rebuilt when one of those tables changes, in any process, or the
day turns (segments have validity dates). ``gridmap locate FILE`` builds one with
:func:`driver_build_plan_locator` on a psycopg2 connection of its own (:mod:`layers.driver`), without SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import shapely

from gis.domain import AreaLevel, PlanStatus
from gis.errors import NotFound
from gis.locate import MIN_CELLS, Locator
from layers import arrow_columns as ac
from layers.data_versions import VersionedCache, driver_table_versions

if TYPE_CHECKING:  # the plan is read through the driver's cursor: a one-batch command never imports SQLAlchemy
    from sqlalchemy.orm import Session


@dataclass
class PlanLocator:
    """A locator for one plan with the metadata its answers need; built by :func:`plan_locator`."""

    plan_id: int | None
    generation: int | None
    fingerprint: str
    locator: Locator
    grid_ids: np.ndarray
    grid_codes: np.ndarray
    grid_names: np.ndarray
    grid_kinds: np.ndarray
    grid_communities: np.ndarray
    community_codes: np.ndarray
    street_ids: np.ndarray
    street_names: np.ndarray
    street_units: np.ndarray
    street_categories: np.ndarray
    """Per 包街 segment: the categories its unit takes (a list), or None for the category table's default."""
    area_names: dict[str, str] = field(default_factory=dict)
    grid_centroids: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Per grid id: its centroid (``ST_Centroid``), the public point of a sensitive report in it."""
    _arrow: dict[str, pa.Array] = field(default_factory=dict, repr=False)

    def arrow(self, name: str) -> pa.Array:
        """One of the per-grid/community/street arrays as Arrow strings (the dictionary of an answer column)."""
        if name not in self._arrow:
            self._arrow[name] = ac.strings(list(getattr(self, name)))
        return self._arrow[name]


# What a locator is built from; it is rebuilt when one of them changes (in any process) or the day turns.
LOCATOR_TABLES = ("grid_plans", "grids", "admin_areas", "street_responsibilities")
_LOCATORS: VersionedCache[PlanLocator] = VersionedCache("plan locator", LOCATOR_TABLES)

# driver (psycopg2) statements: SQLAlchemy's statement and row machinery would cost more than these reads
_PLAN_SQL = """
    SELECT id, generation FROM grid_plans
    WHERE id = coalesce(CAST(%(plan)s AS integer),
                        (SELECT id FROM grid_plans WHERE status = %(published)s ORDER BY generation DESC LIMIT 1))"""
_GRIDS_SQL = ("SELECT id, code, name, kind, community_code, ST_AsBinary(geom), ST_X(ST_Centroid(geom)), "
              "ST_Y(ST_Centroid(geom)) FROM grids WHERE plan_id = %(plan)s ORDER BY code, id")
_COMMUNITIES_SQL = """
    SELECT DISTINCT ON (code) code, ST_AsBinary(geom) FROM admin_areas
    WHERE level IN (%(community)s, %(village)s) AND geom IS NOT NULL
    ORDER BY code, edition_year DESC"""  # the newest edition of each code
# a segment without a responsible unit is not under 包街 responsibility: it takes no incidents
_STREETS_SQL = """
    SELECT id, street_name, responsible_unit, buffer_m, ST_AsBinary(geom), categories FROM street_responsibilities
    WHERE (valid_from IS NULL OR valid_from <= %(on)s) AND (valid_to IS NULL OR valid_to >= %(on)s)
      AND responsible_unit IS NOT NULL
    ORDER BY id"""
_NAMES_SQL = "SELECT code, name FROM admin_areas ORDER BY code, edition_year"


def _wkb(values) -> np.ndarray:
    vals = [bytes(v) if v is not None else None for v in values]
    return shapely.from_wkb(np.asarray(vals, dtype=object)) if vals else np.zeros(0, dtype=object)


def _object_array(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (lists stay lists, even when they all have the same length)."""
    out = np.empty(len(values), dtype=object)
    for k, v in enumerate(values):
        out[k] = v
    return out


def _rows(connection, sql: str, params: dict | None = None) -> list[tuple]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def resolve_plan(session: Session, plan_id: int | None) -> tuple[int | None, int | None]:
    """(id, generation) of ``plan_id``, or of the plan in force when it is None ((None, None) if none is).
    Raises :class:`NotFound` for an unknown id."""
    return driver_resolve_plan(session.connection().connection, plan_id)


def driver_resolve_plan(connection, plan_id: int | None) -> tuple[int | None, int | None]:
    """:func:`resolve_plan` on a driver (DBAPI) connection."""
    rows = _rows(connection, _PLAN_SQL, {"plan": plan_id, "published": PlanStatus.PUBLISHED.value})
    if not rows and plan_id is not None:
        raise NotFound(f"没有编号为 {plan_id} 的网格方案 (no grid plan {plan_id})", detail={"plan_id": plan_id})
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def build_plan_locator(session: Session, plan_id: int | None, *, on: dt.date | None = None) -> PlanLocator:
    """Read a plan's grids, the community polygons and today's 包街 segments and build the locator."""
    fingerprint = _LOCATORS.versions(session).text()  # (pending ORM changes flushed first)
    return driver_build_plan_locator(session.connection().connection, plan_id, on=on, fingerprint=fingerprint)


def driver_build_plan_locator(connection, plan_id: int | None, *, on: dt.date | None = None,
                              fingerprint: str | None = None) -> PlanLocator:
    """:func:`build_plan_locator` on a driver (DBAPI) connection, for a command that locates one batch and
    keeps nothing (no cache: see :func:`plan_locator`)."""
    on = on or dt.date.today()
    fingerprint = fingerprint or driver_table_versions(connection, LOCATOR_TABLES).text()
    plan_id, generation = driver_resolve_plan(connection, plan_id)
    grows = _rows(connection, _GRIDS_SQL, {"plan": plan_id}) if plan_id is not None else []
    crows = _rows(connection, _COMMUNITIES_SQL, {"community": AreaLevel.COMMUNITY.value,
                                                 "village": AreaLevel.VILLAGE.value})
    srows = _rows(connection, _STREETS_SQL, {"on": on})
    names = dict(_rows(connection, _NAMES_SQL))
    locator = Locator(
        [r[1] for r in grows], [r[3] for r in grows], _wkb(r[5] for r in grows),
        community_codes=[r[0] for r in crows], community_geoms=_wkb(r[1] for r in crows),
        street_geoms=_wkb(r[4] for r in srows), street_buffers_m=[float(r[3] or 20.0) for r in srows],
        min_cells=MIN_CELLS,  # kept for every locate until the plan changes: a finer raster pays
    )
    obj = lambda vals: np.asarray(list(vals), dtype=object)  # noqa: E731
    return PlanLocator(
        plan_id=plan_id, generation=generation, fingerprint=fingerprint,
        locator=locator, grid_ids=np.asarray([r[0] for r in grows], dtype=np.int64),
        grid_codes=obj(r[1] for r in grows), grid_names=obj(r[2] for r in grows),
        grid_kinds=obj(r[3] for r in grows), grid_communities=obj(r[4] for r in grows),
        community_codes=obj(r[0] for r in crows), street_ids=np.asarray([r[0] for r in srows], dtype=np.int64),
        street_names=obj(r[1] for r in srows), street_units=obj(r[2] for r in srows),
        street_categories=_object_array([None if r[5] is None else list(r[5]) for r in srows]), area_names=names,
        grid_centroids={int(r[0]): (float(r[6]), float(r[7])) for r in grows},
    )


def plan_locator(session: Session, plan_id: int | None = None, *, seen=None) -> PlanLocator:
    """The locator of ``plan_id`` (the plan in force by default), kept per process until its plan, grids, areas
    or 包街 segments change — in whatever process or tool — or the day turns (segments have validity dates)."""
    today = dt.date.today()
    return _LOCATORS.get(session, (plan_id, today), lambda: build_plan_locator(session, plan_id, on=today),
                         seen=seen)
