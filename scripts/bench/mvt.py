"""Read Mapbox vector tiles (the protobuf of ``ST_AsMVT``) far enough to count what they deliver: per layer, each
feature's id, properties, geometry type and first point (in tile coordinates, 0..extent).

Written for the maps benchmark, which counts the features the page's tiles actually carry; see
https://github.com/mapbox/vector-tile-spec/tree/master/2.1 for the message layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message; bytes for length-delimited fields."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _packed(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _value(buf: bytes):
    for number, _, v in _fields(buf):
        if number == 1:
            return v.decode("utf-8")
        if number == 2:
            return struct.unpack("<f", v)[0]
        if number == 3:
            return struct.unpack("<d", v)[0]
        if number in (4, 5):
            return v
        if number == 6:
            return _zigzag(v)
        if number == 7:
            return bool(v)
    return None


@dataclass
class Feature:
    """One feature of a tile layer."""

    id: int | None
    kind: int  # 1 point, 2 line, 3 polygon
    first: tuple[int, int] | None  # the first vertex, tile coordinates
    properties: dict = field(default_factory=dict)


def _feature(buf: bytes, keys: list[str], values: list) -> Feature:
    fid, kind, tags, geom = None, 0, [], []
    for number, _, v in _fields(buf):
        if number == 1:
            fid = v
        elif number == 2:
            tags = _packed(v)
        elif number == 3:
            kind = v
        elif number == 4:
            geom = _packed(v)
    first = (_zigzag(geom[1]), _zigzag(geom[2])) if len(geom) >= 3 and geom[0] & 7 == 1 else None
    return Feature(fid, kind, first, {keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags) - 1, 2)})


def decode(data: bytes) -> dict[str, tuple[int, list[Feature]]]:
    """``{layer name: (extent, features)}`` of one tile."""
    out = {}
    for number, _, layer in _fields(data):
        if number != 3:
            continue
        name, extent, raw, keys, values = "", 4096, [], [], []
        for n, _, v in _fields(layer):
            if n == 1:
                name = v.decode("utf-8")
            elif n == 2:
                raw.append(v)
            elif n == 3:
                keys.append(v.decode("utf-8"))
            elif n == 4:
                values.append(_value(v))
            elif n == 5:
                extent = v
        out[name] = (extent, [_feature(f, keys, values) for f in raw])
    return out
