"""A minimal Mapbox Vector Tile reader for tests: layers → features with their id, properties and points
(tile coordinates, 0–extent), enough to check what our tiles draw. Spec: github.com/mapbox/vector-tile-spec 2.1."""

from __future__ import annotations

import struct


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of one protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield field, wire, value


def _packed(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def _value(buf: bytes):
    for field, _wire, v in _fields(buf):
        if field == 1:
            return v.decode()
        if field == 2:
            return struct.unpack("<f", v)[0]
        if field == 3:
            return struct.unpack("<d", v)[0]
        if field in (4, 5):
            return v
        if field == 6:
            return (v >> 1) ^ -(v & 1)
        if field == 7:
            return bool(v)
    return None


def _points(geometry: list[int]) -> list[tuple[int, int]]:
    """The vertices of a geometry's commands (points: each MoveTo)."""
    pts, x, y, i = [], 0, 0, 0
    while i < len(geometry):
        cmd, count = geometry[i] & 7, geometry[i] >> 3
        i += 1
        if cmd == 7:  # ClosePath
            continue
        for _ in range(count):
            dx, dy = geometry[i], geometry[i + 1]
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            pts.append((x, y))
            i += 2
    return pts


def decode(tile: bytes) -> dict[str, dict]:
    """``{layer: {"extent": int, "features": [{"id", "properties", "points"}]}}``."""
    out = {}
    for field, _wire, layer in _fields(tile):
        if field != 3:
            continue
        name, extent, keys, values, raw = None, 4096, [], [], []
        for f, _w, v in _fields(layer):
            if f == 1:
                name = v.decode()
            elif f == 2:
                raw.append(v)
            elif f == 3:
                keys.append(v.decode())
            elif f == 4:
                values.append(_value(v))
            elif f == 5:
                extent = v
        features = []
        for feature in raw:
            fid, tags, geometry = None, [], []
            for f, _w, v in _fields(feature):
                if f == 1:
                    fid = v
                elif f == 2:
                    tags = _packed(v)
                elif f == 4:
                    geometry = _packed(v)
            props = {keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags), 2)}
            features.append({"id": fid, "properties": props, "points": _points(geometry)})
        out[name] = {"extent": extent, "features": features}
    return out
