"""Points in and answers out for batch locating: CSV, GeoJSON and GeoParquet, as bytes or files, in Arrow.

Input: CSV with ``lon,lat`` columns (``x,y``/``lng`` and ``longitude,latitude`` too, and an optional ``crs``
column per row), a GeoJSON FeatureCollection of Points, or GeoParquet of points. Other columns/properties are
carried through to the answer, which is the table :func:`layers.locate_batch.locate_table` gives after them.

Tables stay in Arrow from file to file: CSV is parsed by Arrow's multi-threaded reader (every column as text,
as written), GeoParquet's WKB points are decoded with NumPy (a 2-D little-endian point is 21 bytes; anything else
goes through shapely), and the answers are written by Arrow with their text columns dictionary-encoded. No
pandas, and no Python object per row, on the way.
"""

from __future__ import annotations

import csv
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gis.errors import InvalidGeometry, InvalidInput, PayloadTooLarge
from layers import arrow_columns as ac

LON_NAMES = ("lon", "lng", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
FORMATS = ("csv", "geojson", "parquet")
WKB_POINT_BYTES = 21  # byte order (1) + type (4) + x, y (8 + 8)
# a GeoParquet column without "crs" is OGC:CRS84 (WGS84 lon/lat); CGCS2000 is within 1-2 m of it and accepted
LONLAT_CRS = {("EPSG", 4326), ("EPSG", 4490), ("OGC", "CRS84")}


@dataclass
class PointTable:
    """Points read from a batch: coordinates, the per-row CRS (or None) and the columns to carry through."""

    lon: np.ndarray
    lat: np.ndarray
    crs: pa.Array | None
    extra: pa.Table

    def slice(self, start: int, stop: int) -> PointTable:
        """Rows ``start:stop`` (``stop`` may lie past the end)."""
        stop = min(stop, self.lon.size)  # (a table without columns would take any length it is given)
        crs = self.crs[start:stop] if self.crs is not None else None
        return PointTable(self.lon[start:stop], self.lat[start:stop], crs, self.extra.slice(start, stop - start))


def format_of(name: str | None, content_type: str | None = None) -> str:
    """``csv``, ``geojson`` or ``parquet`` from a file name or a content type."""
    low = (name or "").lower()
    ct = (content_type or "").lower()
    if low.endswith((".parquet", ".geoparquet")) or "parquet" in ct:
        return "parquet"
    if low.endswith((".geojson", ".json")) or "json" in ct:
        return "geojson"
    if low.endswith((".csv", ".txt")) or "csv" in ct or "text/plain" in ct:
        return "csv"
    raise InvalidInput(f"无法识别的格式 {name or content_type!r}；可用 CSV、GeoJSON、GeoParquet (unknown format; use "
                       "CSV with lon,lat, a GeoJSON FeatureCollection of points, or GeoParquet)")


def _column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in names}
    for n in wanted:
        if n in lower:
            return lower[n]
    return None


# ------------------------------------------------------------------------------------------------------ CSV
def _csv_header(data: bytes | str | Path) -> list[str]:
    if isinstance(data, bytes):
        first = data.split(b"\n", 1)[0]
    else:
        with open(data, "rb") as f:
            first = f.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("CSV 须为 UTF-8 编码 (the CSV must be UTF-8)") from exc
    return [name.lstrip() for name in next(csv.reader([text.rstrip("\r\n")]), [])]


def _numbers(column: pa.ChunkedArray, what: str) -> np.ndarray:
    """A text column as float64; refuse values that are not numbers, naming the first CSV lines."""
    try:
        values = ac.to_numpy(pc.cast(column, pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = np.asarray([_float_or_nan(v) for v in column.to_pylist()], dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        rows = [int(i) + 2 for i in bad[:10]]
        raise InvalidInput(f"{what} 列有 {bad.size} 个非数字的值，例如第 {rows[0]} 行 ({bad.size} values of {what} "
                           f"are not numbers; CSV line {rows[0]} first)", detail={"column": what, "lines": rows})
    return values


def _float_or_nan(value: str | None) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_csv(data: bytes | str | Path) -> PointTable:
    """A CSV with a header holding lon and lat columns (and optionally crs); every other column kept as text."""
    names = _csv_header(data)
    lon_c, lat_c = _column(names, LON_NAMES), _column(names, LAT_NAMES)
    if lon_c is None or lat_c is None:
        raise InvalidInput("CSV 须有 lon 和 lat 两列（表头） (the CSV needs a header with lon and lat columns)",
                           detail={"columns": names[:20]})
    source = pa.BufferReader(data) if isinstance(data, bytes) else str(data)
    try:
        table = pacsv.read_csv(
            source, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InvalidInput(f"无法读取 CSV (cannot read the CSV): {str(exc).splitlines()[0][:200]}") from exc
    # like a spreadsheet export read with "skip initial space": "102.1, 38.5" is two numbers
    table = pa.table([pc.utf8_ltrim_whitespace(column) for column in table.columns], names=names)
    crs_c = _column(names, ("crs",))
    crs = pc.utf8_trim_whitespace(table.column(crs_c)).combine_chunks() if crs_c is not None else None
    extra = table.drop_columns([c for c in (lon_c, lat_c, crs_c) if c is not None])
    return PointTable(_numbers(table.column(lon_c), "lon"), _numbers(table.column(lat_c), "lat"), crs, extra)


# -------------------------------------------------------------------------------------------------- GeoJSON
def _records_table(records: list[dict[str, Any]], n: int) -> pa.Table:
    """Feature properties as columns (first-seen order); a property of mixed types becomes text (JSON)."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    columns = {}
    for key in keys:
        values = [r.get(key) for r in records]
        try:
            columns[str(key)] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            columns[str(key)] = pa.array([v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                          for v in values], pa.string())
    return pa.table(columns) if columns else pa.table({"_": pa.nulls(n)}).drop_columns(["_"])


def read_geojson(data: bytes | str | Path | dict) -> PointTable:
    """A FeatureCollection of Point features (properties carried through; a ``crs`` property is per row)."""
    if isinstance(data, dict):
        doc = data
    else:
        raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"无法解析 JSON (cannot parse the JSON): {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidInput("须为 GeoJSON FeatureCollection (the body must be a GeoJSON FeatureCollection)")
    feats = doc["features"]
    lon = np.empty(len(feats))
    lat = np.empty(len(feats))
    props: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, f in enumerate(feats):
        g = (f or {}).get("geometry") or {}
        c = g.get("coordinates")
        if g.get("type") != "Point" or not isinstance(c, (list, tuple)) or len(c) < 2:
            bad.append(i)
            lon[i] = lat[i] = np.nan
        else:
            try:
                lon[i], lat[i] = float(c[0]), float(c[1])
            except (TypeError, ValueError):
                bad.append(i)
        props.append(dict((f or {}).get("properties") or {}))
    if bad:
        raise InvalidGeometry(
            f"{len(bad)} 个要素不是点，例如第 {bad[0] + 1} 个 ({len(bad)} features are not points with numeric "
            f"coordinates; feature {bad[0] + 1} first)", detail={"features": [b + 1 for b in bad[:10]]})
    extra = _records_table(props, len(feats))
    crs = None
    if "crs" in extra.column_names:
        crs = pc.cast(extra.column("crs").combine_chunks(), pa.string())
        extra = extra.drop_columns(["crs"])
    return PointTable(lon, lat, crs, extra)


# ----------------------------------------------------------------------------------------------- GeoParquet
def _plain_points(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, y) as strided views into a WKB chunk when every value is a 21-byte little-endian 2-D point with
    coordinates, else None."""
    n = len(arr)
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)) or n == 0:
        return None
    offsets = np.frombuffer(arr.buffers()[1], np.int64 if pa.types.is_large_binary(arr.type) else np.int32)
    offsets = offsets[arr.offset:arr.offset + n + 1]
    if offsets[-1] - offsets[0] != WKB_POINT_BYTES * n or np.any(np.diff(offsets) != WKB_POINT_BYTES):
        return None
    data, start = arr.buffers()[2], int(offsets[0])

    def field(dtype, at: int) -> np.ndarray:
        return np.ndarray((n,), dtype, buffer=data, offset=start + at, strides=(WKB_POINT_BYTES,))
    if np.any(field(np.uint8, 0) != 1) or np.any(field("<u4", 1) != 1):  # little-endian, type 1 = Point
        return None
    x, y = field("<f8", 5), field("<f8", 13)
    if np.isnan(x).any() or np.isnan(y).any():  # POINT EMPTY is written as NaN, NaN: shapely says what it is
        return None
    return x, y


def _wkb_points(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of a WKB column of points: 21-byte little-endian 2-D points are read in place; anything else
    (big-endian, EWKB, Z) through shapely. Refuses missing geometries and anything but points."""
    if column.null_count:
        raise InvalidGeometry("GeoParquet 中有空几何 (the GeoParquet holds missing geometries)")
    lon, lat = np.empty(len(column)), np.empty(len(column))
    at = 0
    for chunk in column.chunks:
        xy = _plain_points(chunk)
        if xy is None:
            return _any_wkb_points(column)
        lon[at:at + len(chunk)], lat[at:at + len(chunk)] = xy
        at += len(chunk)
    return lon, lat


def _any_wkb_points(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    geoms = shapely.from_wkb(column.combine_chunks().to_numpy(zero_copy_only=False))
    if np.any(shapely.get_type_id(geoms) != 0) or np.any(shapely.is_empty(geoms)):
        raise InvalidGeometry("GeoParquet 中有非点要素 (the GeoParquet holds geometries that are not points)")
    xy = shapely.get_coordinates(geoms)
    return xy[:, 0].copy(), xy[:, 1].copy()


def _native_points(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of a GeoArrow ``point`` column (a struct of x and y)."""
    arr = column.combine_chunks()
    if arr.null_count:
        raise InvalidGeometry("GeoParquet 中有空几何 (the GeoParquet holds missing geometries)")
    return (ac.to_numpy(pc.cast(arr.field("x"), pa.float64())).copy(),
            ac.to_numpy(pc.cast(arr.field("y"), pa.float64())).copy())


def _to_lonlat(lon: np.ndarray, lat: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points in a GeoParquet column's CRS (PROJJSON, or absent = OGC:CRS84) as WGS84 lon/lat."""
    ident = crs.get("id", {}) if isinstance(crs, dict) else {}
    if crs is None or (ident.get("authority"), ident.get("code")) in LONLAT_CRS:
        return lon, lat
    from pyproj import CRS, Transformer

    source = CRS.from_user_input(crs)
    if source.to_epsg() in (4326, 4490):
        return lon, lat
    x, y = Transformer.from_crs(source, 4326, always_xy=True).transform(lon, lat)
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def read_parquet(path: str | Path | bytes) -> PointTable:
    """GeoParquet of points (WGS84/CGCS2000 as they are, any other CRS converted to WGS84)."""
    source = pa.BufferReader(path) if isinstance(path, bytes) else str(path)
    try:
        table = pq.ParquetFile(source).read()  # (read_table goes through pyarrow.dataset, which imports pandas)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"无法读取 GeoParquet (cannot read the GeoParquet): {str(exc)[:200]}") from exc
    meta = json.loads((table.schema.metadata or {}).get(b"geo", b"{}"))
    geom_col = meta.get("primary_column") or ("geometry" if "geometry" in table.column_names else None)
    if geom_col not in table.column_names:
        raise InvalidInput("GeoParquet 须有几何列 (the GeoParquet needs a geometry column)")
    col_meta = meta.get("columns", {}).get(geom_col, {})
    if col_meta.get("encoding", "WKB").lower() == "point":
        lon, lat = _native_points(table.column(geom_col))
    else:
        lon, lat = _wkb_points(table.column(geom_col))
    lon, lat = _to_lonlat(lon, lat, col_meta.get("crs"))
    extra = table.drop_columns([geom_col])
    crs = None
    if "crs" in extra.column_names:
        crs = pc.cast(extra.column("crs"), pa.string()).combine_chunks()
        extra = extra.drop_columns(["crs"])
    return PointTable(lon, lat, crs, extra.replace_schema_metadata(None))


def read_points(data: bytes | str | Path, fmt: str, *, max_points: int | None = None) -> PointTable:
    """Read a batch in ``fmt``; refuse more than ``max_points`` points with :class:`PayloadTooLarge`."""
    if fmt == "csv":
        table = read_csv(data)
    elif fmt == "geojson":
        table = read_geojson(data)
    elif fmt == "parquet":
        table = read_parquet(data)
    else:
        raise InvalidInput(f"未知格式 {fmt!r} (unknown format; use one of {', '.join(FORMATS)})")
    if max_points is not None and table.lon.size > max_points:
        raise PayloadTooLarge(f"一次最多 {max_points} 个点，收到 {table.lon.size} 个 (at most {max_points} points per "
                              "batch; split it or use the gridmap locate command)",
                              detail={"points": int(table.lon.size), "max_points": max_points})
    if table.lon.size == 0:
        raise InvalidInput("没有点 (the batch holds no points)")
    return table


# --------------------------------------------------------------------------------------------------- answers
def result_table(table: PointTable, answers: pa.Table) -> pa.Table:
    """The input's own columns followed by the answer columns (an input column of the same name is renamed)."""
    taken = set(answers.column_names)
    extra = table.extra.rename_columns([f"in_{c}" if c in taken else c for c in table.extra.column_names])
    out = extra
    for name, column in zip(answers.column_names, answers.columns):
        out = out.append_column(name, column)
    return out if extra.num_columns else answers


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded, nested ones as JSON text: what CSV and JSON writers take."""
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):  # (a take of the labels: several times faster than a cast)
            column = pa.chunked_array([c.dictionary.take(c.indices) for c in column.chunks], column.type.value_type)
        elif pa.types.is_nested(column.type):
            column = pa.array([None if v is None else json.dumps(v, ensure_ascii=False)
                               for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def to_geojson(table: pa.Table) -> dict[str, Any]:
    """A FeatureCollection of the answers, each a Point at the WGS84 position."""
    feats = []
    for rec in _plain(table).to_pylist():
        lon, lat = rec.get("lon"), rec.get("lat")
        geom = {"type": "Point", "coordinates": [lon, lat]} if lon is not None and lat is not None else None
        feats.append({"type": "Feature", "geometry": geom, "properties": rec})
    return {"type": "FeatureCollection", "features": feats}


def _point_wkb(lon: np.ndarray, lat: np.ndarray, valid: np.ndarray) -> pa.Array:
    """WKB points (little-endian, 2-D) built in one NumPy buffer; null where not ``valid``."""
    n = lon.size
    rec = np.zeros((n, WKB_POINT_BYTES), np.uint8)
    rec[:, 0] = 1
    rec[:, 1] = 1
    rec[:, 5:] = np.column_stack([lon, lat]).astype("<f8").view(np.uint8).reshape(n, 16)
    offsets = np.arange(n + 1, dtype=np.int32) * WKB_POINT_BYTES
    return pa.Array.from_buffers(pa.binary(), n, [ac.bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(rec)],
                                 null_count=int(n - valid.sum()))


def lonlat_bbox(lon: np.ndarray, lat: np.ndarray) -> list[float]:
    """[min lon, min lat, max lon, max lat] of the finite points ([] when there are none)."""
    valid = np.isfinite(lon) & np.isfinite(lat)
    if not valid.any():
        return []
    return [float(lon[valid].min()), float(lat[valid].min()), float(lon[valid].max()), float(lat[valid].max())]


def geoparquet_table(table: pa.Table, *, bbox: list[float] | None = None) -> pa.Table:
    """The answers with a WKB ``geometry`` column at their WGS84 position and GeoParquet 1.0 metadata (no
    ``crs`` key: OGC:CRS84, i.e. WGS84 lon/lat). ``bbox``: of every row of the file when ``table`` is a part of
    it (default: of ``table``)."""
    lon, lon_valid = ac.values_and_valid(table.column("lon"))
    lat, lat_valid = ac.values_and_valid(table.column("lat"))
    valid = lon_valid & lat_valid & np.isfinite(lon) & np.isfinite(lat)
    name = "geometry" if "geometry" not in table.column_names else "answer_geometry"
    table = table.append_column(name, _point_wkb(lon, lat, valid))
    if bbox is None:
        bbox = lonlat_bbox(np.where(valid, lon, np.nan), np.where(valid, lat, np.nan))
    geo = {"version": "1.0.0", "primary_column": name,
           "columns": {name: {"encoding": "WKB", "geometry_types": ["Point"], **({"bbox": bbox} if bbox else {})}}}
    return table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})


def _parquet_options(table: pa.Table) -> dict[str, Any]:
    """Dictionary pages for the text columns only (a million distinct coordinates would fill and drop one each),
    min/max statistics for numbers only (not for WKB or long texts)."""
    types = dict(zip(table.column_names, table.schema.types))
    return {"use_dictionary": [n for n, t in types.items() if pa.types.is_dictionary(t)],
            "write_statistics": [n for n, t in types.items() if pa.types.is_integer(t) or pa.types.is_floating(t)]}


def _csv_bytes(table: pa.Table, header: bool) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=header))
    return sink.getvalue()


class AnswerFile:
    """Answers written to a file part by part, in order, as they are computed (CSV and GeoParquet: each part
    goes to the file at once; GeoJSON: at the end). The parts go to a temporary file beside ``out``, which
    becomes ``out`` only on :meth:`commit`: a run that fails leaves no file, and no half of one.

    ``bbox``: the WGS84 bounds of every row to come (:func:`lonlat_bbox`), for the GeoParquet metadata, which
    is written before the first part. :meth:`write` releases the interpreter lock while Arrow encodes, so a
    second thread may write one part while the next is computed. ``encoders``: how many threads turn a part
    into CSV text, each a slice of it (Arrow's CSV writer uses one; the text is the same)."""

    def __init__(self, fmt: str, out: str | Path, *, bbox: list[float] | None = None, encoders: int = 1) -> None:
        if fmt not in FORMATS:
            raise InvalidInput(f"未知格式 {fmt!r} (unknown format; use one of {', '.join(FORMATS)})")
        self.fmt, self.out, self.bbox = fmt, Path(out), bbox
        self.part = self.out.with_name(f".{self.out.name}.{os.getpid()}.part")
        self._writer: Any = None
        self._tables: list[pa.Table] = []
        self._encoders = max(1, encoders) if fmt == "csv" else 1
        self._pool = ThreadPoolExecutor(self._encoders - 1) if self._encoders > 1 else None

    def write(self, table: pa.Table) -> None:
        """Append the answers of the next rows."""
        if self.fmt == "geojson":
            self._tables.append(table)
        elif self.fmt == "csv":
            self._write_csv(_plain(table))
        else:
            table = geoparquet_table(table, bbox=self.bbox)
            if self._writer is None:
                self._writer = pq.ParquetWriter(str(self.part), table.schema, **_parquet_options(table))
            self._writer.write_table(table)

    def _write_csv(self, table: pa.Table) -> None:
        first = self._writer is None
        if first:
            self._writer = open(self.part, "wb")  # noqa: SIM115 (closed by commit or abort)
        step = -(-table.num_rows // self._encoders)
        slices = [table.slice(i, step) for i in range(0, max(table.num_rows, 1), max(step, 1))]
        others = [self._pool.submit(_csv_bytes, piece, False) for piece in slices[1:]] if self._pool else []
        self._writer.write(_csv_bytes(slices[0], first))
        for encoding in others:
            self._writer.write(encoding.result())

    def commit(self) -> None:
        """Finish the file and put it in place of ``out``."""
        if self.fmt == "geojson":
            table = pa.concat_tables(self._tables)
            self.part.write_bytes(json.dumps(to_geojson(table), ensure_ascii=False).encode("utf-8"))
        elif self._writer is None:
            raise InvalidInput("没有点 (the batch holds no points)")
        else:
            self._writer.close()
        self._stop_encoders()
        os.replace(self.part, self.out)

    def abort(self) -> None:
        """Drop what was written."""
        self._stop_encoders()
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass
        self.part.unlink(missing_ok=True)

    def _stop_encoders(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def write_result(table: pa.Table, fmt: str, out: str | Path | None = None) -> bytes | None:
    """Write the answers as CSV, GeoJSON or GeoParquet to ``out`` (or return the bytes)."""
    sink: Any = pa.BufferOutputStream() if out is None else str(out)
    if fmt == "csv":
        pacsv.write_csv(_plain(table), sink)
    elif fmt == "parquet":
        table = geoparquet_table(table)
        pq.write_table(table, sink, **_parquet_options(table))
    elif fmt == "geojson":
        data = json.dumps(to_geojson(table), ensure_ascii=False).encode("utf-8")
        if out is None:
            return data
        Path(out).write_bytes(data)
        return None
    else:
        raise InvalidInput(f"未知格式 {fmt!r} (unknown format; use one of {', '.join(FORMATS)})")
    return sink.getvalue().to_pybytes() if out is None else None
