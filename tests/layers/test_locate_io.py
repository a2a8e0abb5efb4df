"""Points in and answers out of batch locating (:mod:`layers.locate_io`), without a database: the WKB fast path
and the shapes it hands to shapely, and answer files written part by part."""

from __future__ import annotations

import json
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from gis.errors import InvalidGeometry, InvalidInput
from layers import locate_io

LON = np.array([102.1875, 102.25, -0.5])
LAT = np.array([38.5, 38.53125, 51.25])


def _geoparquet(path, wkb: list, **extra) -> None:
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB"}}}
    table = pa.table({"id": list(range(len(wkb))), **extra, "geometry": pa.array(wkb, pa.binary())})
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), path)


def test_little_endian_points_are_read_in_place(tmp_path):
    path = tmp_path / "p.parquet"
    _geoparquet(path, [struct.pack("<BIdd", 1, 1, x, y) for x, y in zip(LON, LAT)])
    table = locate_io.read_points(path, "parquet")
    assert locate_io._plain_points(pa.array([struct.pack("<BIdd", 1, 1, 1.0, 2.0)], pa.binary())) is not None
    np.testing.assert_array_equal(table.lon, LON)
    np.testing.assert_array_equal(table.lat, LAT)
    assert table.extra.column_names == ["id"]


@pytest.mark.parametrize("encode", [
    lambda x, y: struct.pack(">BIdd", 0, 1, x, y),                     # big-endian
    lambda x, y: struct.pack("<BIddd", 1, 1001, x, y, 7.0),            # ISO WKB with Z
    lambda x, y: struct.pack("<BIddd", 1, 0x80000001, x, y, 7.0),      # EWKB with Z
    lambda x, y: shapely.to_wkb(shapely.points(x, y), output_dimension=2, byte_order=0),
])
def test_other_point_encodings_give_the_same_coordinates(tmp_path, encode):
    path = tmp_path / "p.parquet"
    wkb = [encode(x, y) for x, y in zip(LON, LAT)]
    assert locate_io._plain_points(pa.array(wkb, pa.binary())) is None  # not the fast path
    _geoparquet(path, wkb)
    table = locate_io.read_points(path, "parquet")
    np.testing.assert_array_equal(table.lon, LON)
    np.testing.assert_array_equal(table.lat, LAT)


def test_a_mix_of_fast_and_other_points_in_one_file(tmp_path):
    path = tmp_path / "p.parquet"
    wkb = [struct.pack("<BIdd", 1, 1, LON[0], LAT[0]), struct.pack(">BIdd", 0, 1, LON[1], LAT[1]),
           struct.pack("<BIdd", 1, 1, LON[2], LAT[2])]
    _geoparquet(path, wkb)
    table = locate_io.read_points(path, "parquet")
    np.testing.assert_array_equal(table.lon, LON)


@pytest.mark.parametrize("wkb, needle", [
    ([struct.pack("<BIdd", 1, 1, 102.0, 38.0), None], "missing"),
    ([shapely.to_wkb(shapely.Point())], "not points"),                                  # empty point
    ([shapely.to_wkb(shapely.LineString([(102, 38), (102.1, 38.1)]))], "not points"),
    ([shapely.to_wkb(shapely.box(102, 38, 102.1, 38.1))], "not points"),
])
def test_missing_empty_and_other_geometries_are_refused(tmp_path, wkb, needle):
    path = tmp_path / "p.parquet"
    _geoparquet(path, wkb)
    with pytest.raises(InvalidGeometry, match=needle):
        locate_io.read_points(path, "parquet")


def test_a_file_that_is_not_parquet_is_refused(tmp_path):
    path = tmp_path / "p.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.raises(InvalidInput, match="GeoParquet"):
        locate_io.read_points(path, "parquet")


def _answers(lon: np.ndarray, lat: np.ndarray) -> pa.Table:
    valid = np.isfinite(lon)
    return pa.table({"id": pa.array(np.arange(lon.size)), "lon": pa.array(lon, mask=~valid),
                     "lat": pa.array(lat, mask=~valid),
                     "grid_code": pa.DictionaryArray.from_arrays(pa.array(np.arange(lon.size) % 2, pa.int32()),
                                                                 pa.array(["A", "B"]))})


@pytest.mark.parametrize("fmt, encoders", [("parquet", 1), ("csv", 1), ("csv", 3), ("geojson", 1)])
def test_an_answer_file_written_in_parts_equals_one_written_at_once(tmp_path, fmt, encoders):
    lon = np.array([102.1, np.nan, 102.3, 102.4, 102.5])
    lat = np.array([38.1, np.nan, 38.3, 38.4, 38.5])
    whole = _answers(lon, lat)
    once = tmp_path / f"once.{fmt}"
    locate_io.write_result(whole, fmt, once)
    parts = tmp_path / f"parts.{fmt}"
    out = locate_io.AnswerFile(fmt, parts, bbox=locate_io.lonlat_bbox(lon, lat), encoders=encoders)
    for start in (0, 2, 4):
        out.write(whole.slice(start, 2))
    assert not parts.exists()  # only when committed
    out.commit()
    if fmt == "parquet":
        a, b = pq.read_table(once), pq.read_table(parts)
        assert a.schema.metadata == b.schema.metadata  # the same bbox, of every part
        assert a.to_pylist() == b.to_pylist()
        assert json.loads(b.schema.metadata[b"geo"])["columns"]["geometry"]["bbox"] == [102.1, 38.1, 102.5, 38.5]
    else:
        assert once.read_bytes() == parts.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_an_aborted_answer_file_leaves_nothing(tmp_path):
    out_path = tmp_path / "a.parquet"
    out = locate_io.AnswerFile("parquet", out_path)
    out.write(_answers(np.array([102.1]), np.array([38.1])))
    out.abort()
    assert list(tmp_path.iterdir()) == []
