"""Facilities from GeoJSON and CSV: parse, check every row, report every problem at once.

Accepted input
--------------
- **GeoJSON**: a FeatureCollection (or one Feature) of ``Point`` features with properties ``name``, ``type``
  (a facility type code of :data:`gis.domain.FACILITY_TYPES`, or its Chinese name) and optional ``address``;
  other properties are kept.
- **CSV** (UTF-8, with or without BOM): a header with ``lon,lat,name,type`` and optional ``address`` and
  ``crs`` columns (``lng``/``longitude``/``经度`` and ``latitude``/``纬度`` are accepted too).

Coordinates are converted to WGS84 from the ``crs`` given for the whole file (``wgs84``, ``cgcs2000``,
``gcj02``, ``bd09``) or per CSV row, after :func:`gis.coords.check_lonlat` (range, inside China, swapped
lon/lat detection) on the values as given.

Nothing is partial: :func:`parse_facilities` returns every row or raises one :class:`InvalidInput` whose
``detail.problems`` lists each problem as ``{"row", "field", "message"}`` (``row`` is the 1-based feature index,
or the CSV line number counting the header as line 1) and ``detail.valid_types`` lists the type codes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from gis.coords import check_lonlat, parse_crs, to_wgs84
from gis.domain import FACILITY_TYPES
from gis.errors import GridmapError, InvalidInput, PayloadTooLarge

MAX_ROWS = 50_000
MAX_PROBLEMS = 200

TYPE_CODES: list[str] = [code for code, *_ in FACILITY_TYPES]
_BY_ZH: dict[str, str] = {zh: code for code, _g, zh, _en in FACILITY_TYPES}
_BY_EN: dict[str, str] = {en.lower(): code for code, _g, _zh, en in FACILITY_TYPES}

_LON = ("lon", "lng", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")
_NAME = ("name", "名称")
_TYPE = ("type", "type_code", "类型")
_ADDRESS = ("address", "地址")
_CRS = ("crs", "坐标系")

_GEOJSON_CRS = {
    "urn:ogc:def:crs:ogc:1.3:crs84": "wgs84",
    "urn:ogc:def:crs:epsg::4326": "wgs84",
    "urn:ogc:def:crs:epsg::4490": "cgcs2000",
}


def type_code_for(value: Any) -> str | None:
    """The type code named by ``value`` (a code, the Chinese name or the English name), else ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    if text in TYPE_CODES:
        return text
    return _BY_ZH.get(text) or _BY_EN.get(text.lower())


def _valid_types_text() -> str:
    return ", ".join(TYPE_CODES)


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0

    def add(self, row: int | None, field: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append({"row": row, "field": field, "message": message})


def _row(
    problems: _Problems, n: int, *, lon: Any, lat: Any, name: Any, type_: Any, address: Any, crs: Any,
    extra: dict[str, Any],
) -> dict[str, Any] | None:
    ok = True
    code = type_code_for(type_)
    if type_ is None or str(type_).strip() == "":
        problems.add(n, "type", "缺少设施类型 (type is missing)")
        ok = False
    elif code is None:
        problems.add(n, "type", f"未知设施类型 {str(type_)!r}；可用类型 (unknown facility type; valid codes): "
                                f"{_valid_types_text()}")
        ok = False
    if name is None or str(name).strip() == "":
        problems.add(n, "name", "缺少名称 (name is missing)")
        ok = False
    elif len(str(name).strip()) > 200:
        problems.add(n, "name", "名称超过 200 字 (name longer than 200 characters)")
        ok = False
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        problems.add(n, "lon/lat", f"经纬度不是数字：{lon!r}, {lat!r} (lon/lat are not numbers)")
        return None
    try:
        crs_ = parse_crs(crs)
    except GridmapError as exc:
        problems.add(n, "crs", exc.message)
        return None
    try:
        check_lonlat(x, y)
    except GridmapError as exc:
        problems.add(n, "lon/lat", exc.message)
        return None
    if not ok:
        return None
    wx, wy = to_wgs84(x, y, crs_)
    return {
        "type_code": code,
        "name": str(name).strip(),
        "address": (str(address).strip()[:300] or None) if address not in (None, "") else None,
        "lon": float(wx),
        "lat": float(wy),
        "original": {"lon": x, "lat": y, "crs": crs_.value},
        "extra": extra,
    }


def _raise(problems: _Problems, kind: str) -> None:
    shown = problems.items[0]["message"] if problems.items else ""
    first = problems.items[0]["row"] if problems.items else None
    raise InvalidInput(
        f"{kind} 有 {problems.total} 处错误，未导入任何设施；第一处（第 {first} 行）：{shown} "
        f"({problems.total} problem(s) in the {kind}; nothing was imported)",
        detail={"problems": problems.items, "problem_count": problems.total, "valid_types": TYPE_CODES},
    )


def parse_geojson(data: str | bytes | dict[str, Any], *, crs: str | None = None) -> list[dict[str, Any]]:
    """Rows from a GeoJSON FeatureCollection of points (see the module docstring)."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"不是有效的 JSON (not valid JSON): {exc}") from exc
    if not isinstance(data, dict) or data.get("type") not in ("FeatureCollection", "Feature"):
        raise InvalidInput("需要 GeoJSON FeatureCollection (a GeoJSON FeatureCollection is required)")
    features = data.get("features") if data["type"] == "FeatureCollection" else [data]
    if not isinstance(features, list):
        raise InvalidInput("FeatureCollection 缺少 features 数组 (features must be an array)")
    if len(features) > MAX_ROWS:
        raise PayloadTooLarge(f"一次最多导入 {MAX_ROWS} 个设施 (at most {MAX_ROWS} facilities per import)")
    legacy = ((data.get("crs") or {}).get("properties") or {}).get("name") if isinstance(data.get("crs"), dict) \
        else None
    if crs is None and legacy:
        crs = _GEOJSON_CRS.get(str(legacy).lower(), legacy)
    problems = _Problems()
    rows = []
    for n, feature in enumerate(features, 1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.add(n, "feature", "不是 GeoJSON Feature (not a GeoJSON Feature)")
            continue
        geom = feature.get("geometry") or {}
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        if geom.get("type") == "MultiPoint" and isinstance(coords, list) and len(coords) == 1:
            coords = coords[0]
        elif geom.get("type") != "Point":
            problems.add(n, "geometry", f"设施须为点 (facilities must be Points), got {geom.get('type')!r}")
            continue
        if not isinstance(coords, list | tuple) or len(coords) < 2:
            problems.add(n, "geometry", "点坐标缺失 (point coordinates missing)")
            continue
        props = feature.get("properties") or {}
        extra = {k: v for k, v in props.items() if k not in ("name", "type", "type_code", "address", "crs")}
        row = _row(problems, n, lon=coords[0], lat=coords[1], name=props.get("name"),
                   type_=props.get("type", props.get("type_code")), address=props.get("address"),
                   crs=crs, extra=extra)
        if row is not None:
            rows.append(row)
    if problems.total:
        _raise(problems, "GeoJSON")
    return rows


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def parse_csv(data: str | bytes, *, crs: str | None = None) -> list[dict[str, Any]]:
    """Rows from a CSV with ``lon,lat,name,type[,address][,crs]`` (see the module docstring)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("CSV 须为 UTF-8 编码 (the CSV must be UTF-8)") from exc
    data = data.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(data))
    header = reader.fieldnames or []
    cols = {key: _pick(header, names) for key, names in
            (("lon", _LON), ("lat", _LAT), ("name", _NAME), ("type", _TYPE), ("address", _ADDRESS), ("crs", _CRS))}
    missing = [k for k in ("lon", "lat", "name", "type") if cols[k] is None]
    if missing:
        raise InvalidInput(
            f"CSV 缺少列 {', '.join(missing)}；需要 lon,lat,name,type[,address][,crs] "
            f"(missing columns; the header must have lon,lat,name,type)",
            detail={"missing_columns": missing, "header": header, "valid_types": TYPE_CODES},
        )
    known = {c for c in cols.values() if c}
    problems = _Problems()
    rows = []
    for n, rec in enumerate(reader, 2):
        if n - 1 > MAX_ROWS:
            raise PayloadTooLarge(f"一次最多导入 {MAX_ROWS} 个设施 (at most {MAX_ROWS} facilities per import)")
        if all((v or "").strip() == "" for v in rec.values() if isinstance(v, str)):
            continue  # blank line
        row_crs = (rec.get(cols["crs"]) or "").strip() if cols["crs"] else ""
        extra = {k: v for k, v in rec.items() if k not in known and k is not None and v not in (None, "")}
        row = _row(problems, n, lon=(rec.get(cols["lon"]) or "").strip() or None,
                   lat=(rec.get(cols["lat"]) or "").strip() or None, name=rec.get(cols["name"]),
                   type_=rec.get(cols["type"]), address=rec.get(cols["address"]) if cols["address"] else None,
                   crs=row_crs or crs, extra=extra)
        if row is not None:
            rows.append(row)
    if problems.total:
        _raise(problems, "CSV")
    if not rows:
        raise InvalidInput("文件中没有设施 (the file holds no facilities)")
    return rows


def parse_facilities(data: str | bytes | dict[str, Any], *, fmt: str, crs: str | None = None) -> list[dict]:
    """Dispatch on ``fmt`` (``geojson`` or ``csv``); raise :class:`InvalidInput` for any other format."""
    fmt = (fmt or "").lower().lstrip(".")
    if fmt in ("geojson", "json"):
        rows = parse_geojson(data, crs=crs)
    elif fmt == "csv":
        rows = parse_csv(data, crs=crs)
    else:
        raise InvalidInput(f"不支持的格式 {fmt!r}，请用 geojson 或 csv (unsupported format; use geojson or csv)")
    if not rows:
        raise InvalidInput("文件中没有设施 (the file holds no facilities)")
    for r in rows:
        if not (math.isfinite(r["lon"]) and math.isfinite(r["lat"])):
            raise InvalidInput("坐标转换失败 (coordinate conversion failed)")
    return rows
