"""Locate arrays of points — a file, an uploaded batch, every open incident after a new plan — with the rules
of a single locate, answering with an Arrow table (text columns dictionary-encoded: a million rows cost no
Python object each).

:func:`locate_table` is what ``gridmap locate FILE`` and ``POST /api/v1/locate/batch`` call; :func:`locate_many`
is the same table as a pandas DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gis.coords import CRS, in_china, parse_crs, to_wgs84
from gis.errors import InvalidCoordinates, InvalidInput
from gis.locate import METHODS, AssignMethod
from layers import arrow_columns as ac
from layers.plan_locator import PlanLocator, plan_locator

if TYPE_CHECKING:  # (gridmap locate FILE imports neither)
    import pandas as pd
    from sqlalchemy.orm import Session


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


# decimals of the WGS84 lon/lat of an answer (~1 mm)
ANSWER_DECIMALS = 8


@dataclass
class PreparedPoints:
    """Points checked and converted to WGS84 (:func:`prepare_points`): the input coordinates, the canonical CRS
    name of each row, the WGS84 coordinates (NaN where ``invalid``) and which rows cannot be located."""

    ilon: np.ndarray
    ilat: np.ndarray
    crs_names: pa.DictionaryArray
    wlon: np.ndarray
    wlat: np.ndarray
    invalid: np.ndarray

    @property
    def size(self) -> int:
        """How many points."""
        return self.ilon.size

    def bbox(self) -> list[float]:
        """[min lon, min lat, max lon, max lat] of the answers' positions (rounded like their lon/lat)."""
        valid = ~self.invalid & np.isfinite(self.wlon) & np.isfinite(self.wlat)
        if not valid.any():
            return []
        lon, lat = self.wlon[valid], self.wlat[valid]
        return [float(np.round(v, ANSWER_DECIMALS)) for v in (lon.min(), lat.min(), lon.max(), lat.max())]

    def slice(self, start: int, stop: int) -> PreparedPoints:
        """Rows ``start:stop`` (views, no copies)."""
        return PreparedPoints(self.ilon[start:stop], self.ilat[start:stop], self.crs_names[start:stop],
                              self.wlon[start:stop], self.wlat[start:stop], self.invalid[start:stop])


def prepare_points(lon, lat, *, crs="wgs84", on_invalid: str = "raise") -> PreparedPoints:
    """Check and convert points for :func:`answer_points`: ``crs`` is one name or one per row;
    ``on_invalid="raise"`` refuses the batch if any point is invalid (listing them), ``"flag"`` marks them."""
    ilon = np.asarray(lon, dtype=np.float64).ravel()
    ilat = np.asarray(lat, dtype=np.float64).ravel()
    if ilon.size != ilat.size:
        raise InvalidInput("lon 与 lat 的个数不同 (lon and lat differ in length)")
    bad = check_lonlat_arrays(ilon, ilat)
    if bad.size and on_invalid == "raise":
        raise invalid_rows_error(ilon, ilat, bad)
    with np.errstate(invalid="ignore"):
        wlon, wlat, names = to_wgs84_rows(ilon, ilat, crs)
    invalid = np.zeros(ilon.size, bool)
    invalid[bad] = True
    wlon[bad] = np.nan
    wlat[bad] = np.nan
    return PreparedPoints(ilon, ilat, names, wlon, wlat, invalid)


def answer_points(pl: PlanLocator, points: PreparedPoints, *, assign=None) -> pa.Table:
    """The answers of :func:`locate_table` for prepared points (any slice of them: rows answer alone)."""
    a = assign(pl.locator, points.wlon, points.wlat) if assign else pl.locator.assign(points.wlon, points.wlat)
    return answers_table(pl, points.ilon, points.ilat, points.crs_names, points.wlon, points.wlat, a,
                         points.invalid)


def locate_table(session: Session, lon, lat, *, crs="wgs84", plan_id: int | None = None, on_invalid: str = "raise",
                 pl: PlanLocator | None = None, assign=None) -> pa.Table:
    """Assign arrays of points with the same engine and rules as :func:`locate`; one row per point (Arrow).

    ``crs`` is one name or one per row. ``on_invalid="raise"`` refuses the batch if any point is invalid (listing
    them); ``"flag"`` answers those rows with method ``invalid``. Tied codes and candidates are only in the
    single answer; here ``n_tied`` counts the grids tied on a border. ``assign(locator, lon, lat)`` replaces
    the in-process ``locator.assign`` (e.g. :func:`gis.distributed_assign.assign_distributed` on Dask).
    """
    points = prepare_points(lon, lat, crs=crs, on_invalid=on_invalid)
    return answer_points(pl or plan_locator(session, plan_id), points, assign=assign)


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
    are dictionary-encoded (indexes into the plan's arrays), numbers where there are none are null. ``bad``: the
    rows that could not be located (indexes or a mask)."""
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
        "lon": ac.from_numpy(np.round(wlon, ANSWER_DECIMALS), finite),
        "lat": ac.from_numpy(np.round(wlat, ANSWER_DECIMALS), finite),
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


