"""Locate points in the grids of a plan: the in-memory locator built from PostGIS, cached per plan revision,
and the same lookup in SQL over subdivided copies (the peer of the benchmark and a cross-check in tests).

``locate(session, lon, lat, ...)`` is the one call behind ``GET /api/v1/locate`` and ``POST /api/v1/incidents``:
it answers with the grid (and its community, street and county), the people responsible, the plan generation
and how the assignment was made. ``locate_many`` runs the same engine on arrays, for batches and the CLI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from gis.coords import CRS, check_lonlat, in_china, parse_crs, to_wgs84
from gis.domain import AreaLevel, GridKind, StaffRole
from gis.errors import InvalidCoordinates, InvalidInput, NotFound
from gis.locate import (
    DEFAULT_NEAREST_M,
    DEFAULT_TOLERANCE_M,
    METHODS,
    AssignMethod,
    Locator,
)
from layers import arrow_columns as ac
from layers import models
from layers.data_versions import VersionedCache, table_versions
from layers.features import current_plan_id
from layers.locate_models import GridSubdivided, GridSubdividedState

if TYPE_CHECKING:
    import pandas as pd

MAX_ACCURACY_M = 5000.0
SUBDIVIDE_VERTICES = 64


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
    _arrow: dict[str, pa.Array] = field(default_factory=dict, repr=False)

    def arrow(self, name: str) -> pa.Array:
        """One of the per-grid/community/street arrays as Arrow strings (the dictionary of an answer column)."""
        if name not in self._arrow:
            self._arrow[name] = ac.strings(list(getattr(self, name)))
        return self._arrow[name]


# What a locator is built from; it is rebuilt when one of them changes (in any process) or the day turns.
LOCATOR_TABLES = ("grid_plans", "grids", "admin_areas", "street_responsibilities")
_LOCATORS: VersionedCache[PlanLocator] = VersionedCache("plan locator", LOCATOR_TABLES)


def _wkb(values) -> np.ndarray:
    vals = [bytes(v) if v is not None else None for v in values]
    return shapely.from_wkb(np.asarray(vals, dtype=object)) if vals else np.zeros(0, dtype=object)


def _object_array(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (lists stay lists, even when they all have the same length)."""
    out = np.empty(len(values), dtype=object)
    for k, v in enumerate(values):
        out[k] = v
    return out


def _valid_on(model, on: dt.date):
    return and_(or_(model.valid_from.is_(None), model.valid_from <= on),
                or_(model.valid_to.is_(None), model.valid_to >= on))


def _community_levels() -> list[str]:
    return [AreaLevel.COMMUNITY.value, AreaLevel.VILLAGE.value]


def _resolve_plan(session: Session, plan_id: int | None) -> tuple[int | None, int | None]:
    if plan_id is None:
        plan_id = current_plan_id(session)
        if plan_id is None:
            return None, None
    plan = session.get(models.GridPlan, plan_id)
    if plan is None:
        raise NotFound(f"没有编号为 {plan_id} 的网格方案 (no grid plan {plan_id})", detail={"plan_id": plan_id})
    return plan.id, plan.generation


def build_plan_locator(session: Session, plan_id: int | None, *, on: dt.date | None = None) -> PlanLocator:
    """Read a plan's grids, the community polygons and today's 包街 segments and build the locator."""
    on = on or dt.date.today()
    plan_id, generation = _resolve_plan(session, plan_id)
    grows = session.execute(
        select(models.Grid.id, models.Grid.code, models.Grid.name, models.Grid.kind, models.Grid.community_code,
               func.ST_AsBinary(models.Grid.geom)).where(models.Grid.plan_id == plan_id).order_by(models.Grid.code, models.Grid.id)
    ).all() if plan_id is not None else []
    crows = session.execute(
        select(models.AdminArea.code, func.ST_AsBinary(models.AdminArea.geom))
        .where(models.AdminArea.level.in_(_community_levels()), models.AdminArea.geom.isnot(None))
        .order_by(models.AdminArea.code, models.AdminArea.edition_year.desc())
    ).all()
    crows = [r for i, r in enumerate(crows) if i == 0 or r[0] != crows[i - 1][0]]  # newest edition of each code
    srows = session.execute(
        select(models.StreetResponsibility.id, models.StreetResponsibility.street_name,
               models.StreetResponsibility.responsible_unit, models.StreetResponsibility.buffer_m,
               func.ST_AsBinary(models.StreetResponsibility.geom), models.StreetResponsibility.categories)
        # a segment without a responsible unit is not under 包街 responsibility: it takes no incidents
        .where(_valid_on(models.StreetResponsibility, on), models.StreetResponsibility.responsible_unit.isnot(None))
        .order_by(models.StreetResponsibility.id)
    ).all()
    names = dict(session.execute(
        select(models.AdminArea.code, models.AdminArea.name).order_by(models.AdminArea.code, models.AdminArea.edition_year)
    ).all())
    locator = Locator(
        [r[1] for r in grows], [r[3] for r in grows], _wkb(r[5] for r in grows),
        community_codes=[r[0] for r in crows], community_geoms=_wkb(r[1] for r in crows),
        street_geoms=_wkb(r[4] for r in srows), street_buffers_m=[float(r[3] or 20.0) for r in srows],
    )
    obj = lambda vals: np.asarray(list(vals), dtype=object)  # noqa: E731
    return PlanLocator(
        plan_id=plan_id, generation=generation, fingerprint=_LOCATORS.versions(session).text(),
        locator=locator, grid_ids=np.asarray([r[0] for r in grows], dtype=np.int64),
        grid_codes=obj(r[1] for r in grows), grid_names=obj(r[2] for r in grows),
        grid_kinds=obj(r[3] for r in grows), grid_communities=obj(r[4] for r in grows),
        community_codes=obj(r[0] for r in crows), street_ids=np.asarray([r[0] for r in srows], dtype=np.int64),
        street_names=obj(r[1] for r in srows), street_units=obj(r[2] for r in srows),
        street_categories=_object_array([None if r[5] is None else list(r[5]) for r in srows]), area_names=names,
    )


def plan_locator(session: Session, plan_id: int | None = None) -> PlanLocator:
    """The locator of ``plan_id`` (the plan in force by default), kept per process until its plan, grids, areas
    or 包街 segments change — in whatever process or tool — or the day turns (segments have validity dates)."""
    today = dt.date.today()
    return _LOCATORS.get(session, (plan_id, today), lambda: build_plan_locator(session, plan_id, on=today))


# ----------------------------------------------------------------------------------------------- answers
def _area(pl: PlanLocator, code: str | None) -> dict[str, str | None] | None:
    if not code:
        return None
    return {"code": code, "name": pl.area_names.get(code)}


def _areas_of(pl: PlanLocator, community_code: str | None) -> dict[str, Any]:
    if not community_code:
        return {"community": None, "street": None, "county": None}
    return {"community": _area(pl, community_code), "street": _area(pl, community_code[:9] + "000"),
            "county": _area(pl, community_code[:6] + "000000")}


def responsible_people(session: Session, *, grid_code: str | None = None, community_code: str | None = None,
                       on: dt.date | None = None) -> list[dict[str, Any]]:
    """Public contacts of a grid (by its stable code) or of a community's own staff: role, name, public phone.
    Private phones are never read."""
    on = on or dt.date.today()
    if grid_code:
        where = models.StaffAssignment.grid_code == grid_code
    elif community_code:
        where = and_(models.StaffAssignment.community_code == community_code, models.StaffAssignment.grid_code.is_(None),
                     models.StaffAssignment.building_id.is_(None), models.StaffAssignment.stairwell_id.is_(None))
    else:
        return []
    rows = session.execute(
        select(models.StaffAssignment.role, models.Person.name, models.Person.public_phone)
        .join(models.Person, models.Person.id == models.StaffAssignment.person_id)
        .where(where, _valid_on(models.StaffAssignment, on))
        .where(models.StaffAssignment.building_id.is_(None), models.StaffAssignment.stairwell_id.is_(None))
        .order_by(models.StaffAssignment.role, models.Person.name)
    ).all()
    labels = StaffRole.labels()
    return [{"role": r, "role_zh": labels.get(r, r), "name": n, "public_phone": p} for r, n, p in rows]


def check_accuracy(accuracy_m: float | None) -> float | None:
    """Refuse an accuracy that is not a positive number of metres up to :data:`MAX_ACCURACY_M`."""
    if accuracy_m is None:
        return None
    a = float(accuracy_m)
    if not (np.isfinite(a) and 0 < a <= MAX_ACCURACY_M):
        raise InvalidInput(f"accuracy_m 须在 (0, {MAX_ACCURACY_M:g}] 米之内 (accuracy_m must be in metres, "
                           f"above 0 and at most {MAX_ACCURACY_M:g})", detail={"accuracy_m": accuracy_m})
    return a


def locate(session: Session, lon: float, lat: float, *, crs: str | CRS | None = "wgs84",
           accuracy_m: float | None = None, plan_id: int | None = None) -> dict[str, Any]:
    """Assign one point to a grid of the plan in force (or ``plan_id``); nothing is stored.

    Raises :class:`InvalidCoordinates` (out of range, outside China, lon/lat swapped), :class:`UnknownCRS`,
    :class:`InvalidInput` (accuracy) and :class:`NotFound` (unknown ``plan_id``). With no plan published the
    answer is ``unassigned`` with that reason.
    """
    c = parse_crs(crs)
    lon, lat = float(lon), float(lat)
    check_lonlat(lon, lat)
    accuracy_m = check_accuracy(accuracy_m)
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, c))
    pl = plan_locator(session, plan_id)
    res = pl.locator.locate_one(wlon, wlat, accuracy_m=accuracy_m)
    grid = None
    community_code = None
    if res["grid"] is not None:
        g = res["grid"]
        community_code = pl.grid_communities[g]
        grid = {"id": int(pl.grid_ids[g]), "code": pl.grid_codes[g], "name": pl.grid_names[g],
                "kind": pl.grid_kinds[g], **_areas_of(pl, community_code)}
    elif res["community"] is not None:
        community_code = pl.community_codes[res["community"]]
    method: AssignMethod = res["method"]
    unit = None
    street = None
    if res["street"] is not None:
        s = res["street"]
        unit = pl.street_units[s]
        street = {"id": int(pl.street_ids[s]), "name": pl.street_names[s], "unit": unit,
                  "categories": pl.street_categories[s]}
    if grid is not None:
        people = responsible_people(session, grid_code=grid["code"])
    else:
        people = responsible_people(session, community_code=community_code)
    reason = res["reason"] if pl.plan_id is not None else "没有现行网格方案 (no grid plan is in force)"
    return {
        "input": {"lon": lon, "lat": lat, "crs": c.value},
        "point": {"lon": round(wlon, 8), "lat": round(wlat, 8)},
        "grid": grid,
        "community": _areas_of(pl, community_code)["community"] if grid is None else grid["community"],
        "street_responsibility": street,
        "responsible": {"unit": unit, "people": people},
        "plan": {"id": pl.plan_id, "generation": pl.generation},
        "assignment": {
            "method": method.value,
            "method_zh": method.zh,
            "on_boundary": res["on_boundary"],
            "tied_codes": [pl.grid_codes[i] for i in res["tied"]],
            "candidates": None if res["candidates"] is None else [
                {"code": pl.grid_codes[i], "distance_m": round(d, 2)} for i, d in res["candidates"]],
            "distance_m": None if res["distance_m"] is None else round(res["distance_m"], 2),
            "flagged": res["flagged"],
            "reason": reason,
            "tolerance_m": DEFAULT_TOLERANCE_M,
            "nearest_max_m": DEFAULT_NEAREST_M,
        },
    }


def check_lonlat_arrays(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Indexes of the rows whose coordinates cannot be located (non-finite, out of range, outside China)."""
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90) & in_china(lon, lat)
    return np.flatnonzero(~ok)


def invalid_rows_error(lon: np.ndarray, lat: np.ndarray, bad: np.ndarray) -> InvalidCoordinates:
    """One error naming up to ten bad rows (1-based) and whether they look swapped."""
    rows = []
    for i in bad[:10]:
        swapped = bool(np.isfinite(lon[i]) and np.isfinite(lat[i]) and in_china(lat[i], lon[i]))
        rows.append({"row": int(i) + 1, "lon": float(lon[i]), "lat": float(lat[i]), "swapped": swapped})
    hint = "；部分点交换经纬度后在中国境内：是否把经纬度写反了？(some rows look swapped: did you swap lon and lat?)" \
        if any(r["swapped"] for r in rows) else ""
    return InvalidCoordinates(
        f"{bad.size} 个点的坐标无效（超出范围或不在中国境内），例如第 {rows[0]['row']} 行 ({bad.size} points have "
        f"invalid coordinates: out of range or outside China){hint}",
        detail={"count": int(bad.size), "rows": rows},
    )


def to_wgs84_rows(lon: np.ndarray, lat: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray, pa.DictionaryArray]:
    """Convert points whose CRS is one name or one name per row; (lon, lat, the canonical CRS name of each row as
    a dictionary column)."""
    if isinstance(crs, (str, CRS)) or crs is None:
        c = parse_crs(crs)
        wlon, wlat = to_wgs84(lon, lat, c)
        names = ac.dictionary(np.zeros(lon.size, np.int32), ac.strings([c.value]))
        return np.array(wlon, dtype=np.float64), np.array(wlat, dtype=np.float64), names
    given = crs.combine_chunks() if isinstance(crs, pa.ChunkedArray) else crs
    given = given if isinstance(given, pa.Array) else ac.strings([None if v is None else str(v) for v in crs])
    if len(given) != lon.size:
        raise InvalidInput("crs 的个数与点数不同 (one crs per point, or one for all)")
    encoded = pc.dictionary_encode(given, null_encoding="encode")
    index = ac.to_numpy(encoded.indices)
    wlon, wlat = np.empty(lon.size), np.empty(lon.size)
    canonical = []
    for k, value in enumerate(encoded.dictionary.to_pylist()):
        c = parse_crs(value or None)  # an empty or missing crs is WGS84
        sel = index == k
        wlon[sel], wlat[sel] = to_wgs84(lon[sel], lat[sel], c)
        canonical.append(c.value)
    return wlon, wlat, pa.DictionaryArray.from_arrays(encoded.indices, ac.strings(canonical))


def locate_table(session: Session, lon, lat, *, crs="wgs84", plan_id: int | None = None, on_invalid: str = "raise",
                 pl: PlanLocator | None = None, assign=None) -> pa.Table:
    """Assign arrays of points with the same engine and rules as :func:`locate`; one row per point (Arrow).

    ``crs`` is one name or one per row. ``on_invalid="raise"`` refuses the batch if any point is invalid (listing
    them); ``"flag"`` answers those rows with method ``invalid``. Tied codes and candidates are only in the
    single answer; here ``n_tied`` counts the grids tied on a border. ``assign(locator, lon, lat)`` replaces
    the in-process ``locator.assign`` (e.g. :func:`gis.distributed_assign.assign_distributed` on Dask).
    """
    ilon = np.asarray(lon, dtype=np.float64).ravel()
    ilat = np.asarray(lat, dtype=np.float64).ravel()
    if ilon.size != ilat.size:
        raise InvalidInput("lon 与 lat 的个数不同 (lon and lat differ in length)")
    bad = check_lonlat_arrays(ilon, ilat)
    if bad.size and on_invalid == "raise":
        raise invalid_rows_error(ilon, ilat, bad)
    with np.errstate(invalid="ignore"):
        wlon, wlat, names = to_wgs84_rows(ilon, ilat, crs)
    wlon[bad] = np.nan
    wlat[bad] = np.nan
    pl = pl or plan_locator(session, plan_id)
    a = assign(pl.locator, wlon, wlat) if assign else pl.locator.assign(wlon, wlat)
    return answers_table(pl, ilon, ilat, names, wlon, wlat, a, bad)


def locate_many(session: Session, lon, lat, **options) -> pd.DataFrame:
    """:func:`locate_table` as a pandas DataFrame (text columns as Python objects, ``None`` where empty)."""
    import pandas as pd

    table = locate_table(session, lon, lat, **options)
    columns = {}
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_dictionary(column.type):
            columns[name] = pd.Series(column.cast(column.type.value_type).to_numpy(zero_copy_only=False),
                                      dtype=object)
        else:
            columns[name] = column.to_numpy(zero_copy_only=False)
    return pd.DataFrame(columns)


# method codes 0-5 are METHODS; 6 is a row whose coordinates could not be located
_METHOD_NAMES = ac.strings([mm.value for mm in METHODS] + ["invalid"])
_METHOD_NAMES_ZH = ac.strings([mm.zh for mm in METHODS] + ["坐标无效"])


def answers_table(pl: PlanLocator, ilon, ilat, crs_names: pa.DictionaryArray, wlon, wlat, a, bad) -> pa.Table:
    """The table of a batch: input and WGS84 coordinates, grid, community, method, tie and distance. Text columns
    are dictionary-encoded (indexes into the plan's arrays), numbers where there are none are null."""
    g = a.grid
    has = g >= 0
    chas = a.community >= 0
    shas = a.street >= 0
    n_grids = len(pl.grid_codes)
    # one index space for the community: the grid's community, else the community polygon that took the point
    comm_dict = pa.concat_arrays([pl.arrow("grid_communities"), pl.arrow("community_codes")])
    comm_index = np.where(has, g, n_grids + a.community)
    method = a.method.astype(np.int32)
    method[bad] = len(METHODS)
    flagged = np.isin(a.method, [METHODS.index(AssignMethod.NEAREST_GRID), METHODS.index(AssignMethod.UNASSIGNED)])
    flagged[bad] = True
    finite = np.isfinite(wlon) & np.isfinite(wlat)
    distance = np.round(a.distance_m, 2)
    n = g.size
    method_index = ac.from_numpy(method)
    return pa.table({
        "input_lon": ac.from_numpy(ilon), "input_lat": ac.from_numpy(ilat), "input_crs": crs_names,
        "lon": ac.from_numpy(np.round(wlon, 8), finite), "lat": ac.from_numpy(np.round(wlat, 8), finite),
        "grid_code": ac.dictionary(g, pl.arrow("grid_codes"), has),
        "grid_name": ac.dictionary(g, pl.arrow("grid_names"), has),
        "grid_kind": ac.dictionary(g, pl.arrow("grid_kinds"), has),
        "community_code": ac.dictionary(comm_index, comm_dict, has | chas),
        "method": pa.DictionaryArray.from_arrays(method_index, _METHOD_NAMES),
        "method_zh": pa.DictionaryArray.from_arrays(method_index, _METHOD_NAMES_ZH),
        "on_boundary": ac.from_numpy(a.on_boundary), "n_tied": ac.from_numpy(a.n_tied),
        "distance_m": ac.from_numpy(distance, ~np.isnan(distance)),
        "street_name": ac.dictionary(a.street, pl.arrow("street_names"), shas),
        "responsible_unit": ac.dictionary(a.street, pl.arrow("street_units"), shas),
        "flagged": ac.from_numpy(flagged),
        "plan_id": ac.constant(pl.plan_id, n),
        "generation": ac.constant(pl.generation, n),
    })


# --------------------------------------------------------------------------------- the same lookup in SQL
def refresh_subdivided(session: Session, plan_id: int, *, force: bool = False) -> int:
    """Cut a plan's grids into ``ST_Subdivide`` pieces (MapIt style) unless they are current; the piece count."""
    grids = table_versions(session, ["grids"])
    fp = f"plan {plan_id} grids {grids.text()}"
    state = session.get(GridSubdividedState, plan_id)
    if state is not None and state.fingerprint == fp and not force and not grids.dirty:
        return state.pieces
    session.execute(GridSubdivided.__table__.delete().where(GridSubdivided.plan_id == plan_id))
    session.execute(text(
        "INSERT INTO grid_subdivided (plan_id, grid_id, code, kind, geom) "
        "SELECT plan_id, id, code, kind, ST_Subdivide(ST_CollectionExtract(ST_MakeValid(geom), 3), :n) FROM grids WHERE plan_id = :p"
    ).bindparams(n=SUBDIVIDE_VERTICES, p=plan_id))
    # ST_Subdivide of a made-valid polygon yields polygons only; keep the column's type honest anyway.
    session.execute(text("DELETE FROM grid_subdivided WHERE plan_id = :p AND GeometryType(geom) <> 'POLYGON'")
                    .bindparams(p=plan_id))
    pieces = session.scalar(select(func.count()).select_from(GridSubdivided).where(GridSubdivided.plan_id == plan_id))
    if state is None:
        session.add(GridSubdividedState(plan_id=plan_id, fingerprint=fp, pieces=pieces))
    else:
        state.fingerprint, state.pieces, state.refreshed_at = fp, pieces, dt.datetime.now(dt.timezone.utc)
    session.flush()
    return int(pieces or 0)


def sql_covering_grids(session: Session, lon: float, lat: float, *, plan_id: int | None = None) -> list[str]:
    """Codes of the grids that cover a WGS84 point, by PostGIS over subdivided pieces: exclusive grids first,
    then by code — the order of precedence and tie-break of the in-memory locator (without its tolerance)."""
    plan_id, _ = _resolve_plan(session, plan_id)
    if plan_id is None:
        return []
    refresh_subdivided(session, plan_id)
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    rows = session.execute(
        select(GridSubdivided.code, GridSubdivided.kind).distinct()
        .where(GridSubdivided.plan_id == plan_id, func.ST_Covers(GridSubdivided.geom, pt))
    ).all()
    return [code for code, kind in sorted(rows, key=lambda r: (r[1] != GridKind.EXCLUSIVE.value, r[0]))]
