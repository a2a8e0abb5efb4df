"""Hand-made walking networks near Jinchang for tests: metre offsets from (102.19 E, 38.50 N) → WGS84."""

from __future__ import annotations

import json

import numpy as np

LON0, LAT0 = 102.19, 38.50
DLON = 1 / (111_320 * np.cos(np.radians(LAT0)))  # degrees per metre east
DLAT = 1 / 110_950  # degrees per metre north (approx.)


def pt(x: float, y: float) -> list[float]:
    """WGS84 ``[lon, lat]`` of a point ``x`` metres east and ``y`` metres north of the origin."""
    return [float(LON0 + x * DLON), float(LAT0 + y * DLAT)]


def write_geojson(path, lines, oneway=None):
    """Write LineStrings given in local metres as a GeoJSON file; returns the path."""
    feats = []
    for i, coords in enumerate(lines):
        props = {"name": f"路{i}", "highway": "footway"}
        if oneway is not None:
            props["oneway"] = "yes" if oneway[i] else "no"
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "LineString", "coordinates": [pt(*c) for c in coords]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


# A river town: south bank street (y=0, x 0..1000), a bridge at x=1000, north bank street (y=200).
RIVER_TOWN = [[(0, 0), (500, 0)], [(500, 0), (1000, 0)], [(1000, 0), (1000, 200)], [(1000, 200), (500, 200)],
              [(500, 200), (0, 200)]]
