"""Coordinate systems met in Chinese web maps, and the checks every incoming coordinate goes through.

Consumer maps in China do not send WGS84: Amap, Tencent and WeChat send **GCJ-02** ("Mars" coordinates, an
obfuscated offset of 100–700 m), Baidu sends **BD-09** (a further offset on top of GCJ-02). CGCS2000
(EPSG:4490) is within 1–2 m of WGS84 and is taken as is. Everything is stored as WGS84 (EPSG:4326); these
functions convert at the edge.

All functions take scalars or NumPy arrays and are vectorised (no Python loop per point).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import numpy as np

from gis.errors import InvalidCoordinates, UnknownCRS

ArrayLike = TypeVar("ArrayLike", float, np.ndarray)

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 offset.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

# Mainland China's rough bounding box: the GCJ-02 offset is applied only inside it, and a point outside it is
# not in our service area at all.
CHINA_BBOX = (73.4, 3.8, 135.1, 53.6)  # (min_lon, min_lat, max_lon, max_lat)
_GCJ_BBOX = (72.004, 0.8293, 137.8347, 55.8271)


class CRS(str, Enum):
    """Coordinate systems accepted at the API edge."""

    WGS84 = "wgs84"
    """GPS / WGS84, EPSG:4326 — what we store."""
    CGCS2000 = "cgcs2000"
    """中国大地坐标系 2000, EPSG:4490 — within 1–2 m of WGS84, taken as is."""
    GCJ02 = "gcj02"
    """国测局坐标 (Amap/高德, Tencent/腾讯, WeChat) — offset 100–700 m."""
    BD09 = "bd09"
    """百度坐标 (Baidu) — GCJ-02 plus a further offset."""


_CRS_ALIASES = {
    "wgs84": CRS.WGS84,
    "epsg:4326": CRS.WGS84,
    "4326": CRS.WGS84,
    "cgcs2000": CRS.CGCS2000,
    "epsg:4490": CRS.CGCS2000,
    "4490": CRS.CGCS2000,
    "gcj02": CRS.GCJ02,
    "gcj-02": CRS.GCJ02,
    "bd09": CRS.BD09,
    "bd-09": CRS.BD09,
}


def parse_crs(value: str | CRS | None) -> CRS:
    """Return the :class:`CRS` named by ``value`` (case-insensitive; ``None`` means WGS84).

    Raises
    ------
    UnknownCRS
        For any other name, with the list of accepted names.
    """
    if value is None:
        return CRS.WGS84
    if isinstance(value, CRS):
        return value
    found = _CRS_ALIASES.get(str(value).strip().lower())
    if found is None:
        raise UnknownCRS(
            f"未知坐标系 {value!r}；可用 wgs84、cgcs2000、gcj02、bd09 (unknown CRS {value!r}; "
            "use one of wgs84, cgcs2000, gcj02, bd09)",
            detail={"crs": str(value), "accepted": [c.value for c in CRS]},
        )
    return found


def _in_box(lon, lat, box) -> np.ndarray:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3])


def in_china(lon, lat):
    """True where the point lies in mainland China's bounding box."""
    return _in_box(lon, lat, CHINA_BBOX)


def _offset(lon, lat):
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 position (lon, lat)."""
    x = np.asarray(lon, dtype=float) - 105.0
    y = np.asarray(lat, dtype=float) - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    radlat = np.asarray(lat, dtype=float) / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = _in_box(lon, lat, _GCJ_BBOX)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon, lat):
    """Forward GCJ-02 transform: WGS84 → GCJ-02 (identity outside China)."""
    dlon, dlat = _offset(lon, lat)
    return np.asarray(lon, dtype=float) + dlon, np.asarray(lat, dtype=float) + dlat


def gcj02_to_wgs84(lon, lat, *, iterations: int = 6):
    """Inverse GCJ-02 by fixed-point iteration; after 6 rounds the round-trip error is below 1 mm."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(iterations):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        wlon = wlon - (flon - glon)
        wlat = wlat - (flat - glat)
    return wlon, wlat


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (Baidu)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat, *, iterations: int = 4):
    """BD-09 → GCJ-02: the closed-form inverse refined by fixed-point iteration (sub-millimetre)."""
    blon = np.asarray(lon, dtype=float)
    blat = np.asarray(lat, dtype=float)
    x = blon - 0.0065
    y = blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(iterations):
        flon, flat = gcj02_to_bd09(glon, glat)
        glon = glon - (flon - blon)
        glat = glat - (flat - blat)
    return glon, glat


def to_wgs84(lon, lat, crs: str | CRS | None):
    """Convert coordinates given in ``crs`` to WGS84 (EPSG:4326)."""
    crs = parse_crs(crs)
    if crs is CRS.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if crs is CRS.BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def from_wgs84(lon, lat, crs: str | CRS | None):
    """Convert WGS84 coordinates to ``crs`` (used to draw overlays on a GCJ-02 basemap)."""
    crs = parse_crs(crs)
    if crs is CRS.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if crs is CRS.BD09:
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def check_lonlat(lon: float, lat: float, *, require_china: bool = True) -> None:
    """Refuse a coordinate pair that cannot be a location we serve, with a message that says why.

    Raises
    ------
    InvalidCoordinates
        If a value is not finite, out of range, or (with ``require_china``) outside China — naming the
        likely swap when ``(lat, lon)`` would be inside China.
    """
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise InvalidCoordinates("经纬度必须是有限数字 (lon and lat must be finite numbers)")
    swapped_inside = bool(in_china(lat, lon))
    if not -180.0 <= lon <= 180.0:
        raise InvalidCoordinates(
            f"经度 {lon} 超出范围 [-180, 180] (longitude {lon} is out of range)",
            detail={"lon": lon, "lat": lat},
        )
    if not -90.0 <= lat <= 90.0:
        hint = "；是否把经纬度写反了？(did you swap lon and lat?)" if swapped_inside else ""
        raise InvalidCoordinates(
            f"纬度 {lat} 超出范围 [-90, 90] (latitude {lat} is out of range){hint}",
            detail={"lon": lon, "lat": lat, "swapped": swapped_inside},
        )
    if require_china and not bool(in_china(lon, lat)):
        if swapped_inside:
            raise InvalidCoordinates(
                f"点 ({lon}, {lat}) 不在中国境内，但交换经纬度后在境内：是否把经纬度写反了？"
                f"请按 lon={lat}&lat={lon} 重试 (the point is outside China but inside it with lon and lat "
                "swapped; did you swap them?)",
                detail={"lon": lon, "lat": lat, "swapped": True},
            )
        raise InvalidCoordinates(
            f"点 ({lon}, {lat}) 不在服务范围（中国）内 (the point is outside the service area, China)",
            detail={"lon": lon, "lat": lat, "swapped": False},
        )


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``"min_lon,min_lat,max_lon,max_lat"`` (WGS84) and check its ranges and order.

    Raises
    ------
    InvalidCoordinates
        With what is wrong: the number of values, a value out of range, or min above max.
    """
    if value is None or str(value).strip() == "":
        return None
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) != 4:
        raise InvalidCoordinates(
            "bbox 需要 4 个数：min_lon,min_lat,max_lon,max_lat (bbox takes 4 numbers: "
            "min_lon,min_lat,max_lon,max_lat)"
        )
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError as exc:
        raise InvalidCoordinates(f"bbox 含有非数字的值 (bbox has a non-number): {value!r}") from exc
    for lon in (x0, x1):
        if not (np.isfinite(lon) and -180.0 <= lon <= 180.0):
            raise InvalidCoordinates(f"bbox 经度 {lon} 超出范围 [-180, 180] (longitude out of range)")
    for lat in (y0, y1):
        if not (np.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise InvalidCoordinates(
                f"bbox 纬度 {lat} 超出范围 [-90, 90]；是否把经纬度写反了？(latitude out of range; "
                "did you swap lon and lat?)"
            )
    if x0 > x1 or y0 > y1:
        raise InvalidCoordinates(
            "bbox 的最小值大于最大值，顺序应为 min_lon,min_lat,max_lon,max_lat (bbox minimum above maximum)"
        )
    return x0, y0, x1, y1


EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)


def haversine_m(lon: float, lat: float, lons, lats) -> np.ndarray:
    """Great-circle distances in metres from ``(lon, lat)`` to each ``(lons[i], lats[i])`` (WGS84 degrees)."""
    p1, p2 = np.radians(lat), np.radians(np.asarray(lats, dtype=float))
    dl = np.radians(np.asarray(lons, dtype=float) - lon)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
