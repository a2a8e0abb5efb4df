"""Reads behind the OGC API – Features endpoints: one feature by id, and each public layer's extent.

Collections are exactly the public layers of :mod:`layers.features` (same columns, so nothing personal).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.errors import NotFound
from layers.features import LAYERS, _jsonable, current_plan_id


def layer_extent(session: Session, name: str) -> list[float] | None:
    """``[min_lon, min_lat, max_lon, max_lat]`` of a layer (grids: the plan in force), or None if empty."""
    spec = LAYERS[name]
    q = select(func.ST_XMin(func.ST_Extent(spec.model.geom)), func.ST_YMin(func.ST_Extent(spec.model.geom)),
               func.ST_XMax(func.ST_Extent(spec.model.geom)), func.ST_YMax(func.ST_Extent(spec.model.geom)))
    if name == "grids":
        q = q.where(spec.model.plan_id == current_plan_id(session))
    row = session.execute(q).one()
    return None if row[0] is None else [round(float(v), 7) for v in row]


def read_feature(session: Session, name: str, feature_id: int) -> dict[str, Any]:
    """One feature of a public layer as GeoJSON, or :class:`NotFound`."""
    spec = LAYERS.get(name)
    if spec is None:
        raise NotFound(f"没有名为 {name!r} 的图层 (no collection {name!r})")
    model = spec.model
    cols = [getattr(model, c) for c in spec.columns]
    q = select(getattr(model, spec.id_column), func.ST_AsGeoJSON(model.geom, 7), *cols).where(
        getattr(model, spec.id_column) == feature_id)
    if name == "grids":
        q = q.where(model.plan_id == current_plan_id(session))
    row = session.execute(q).first()
    if row is None:
        raise NotFound(f"图层 {name} 中没有要素 {feature_id} (no feature {feature_id} in {name})")
    return {"type": "Feature", "id": row[0], "geometry": json.loads(row[1]) if row[1] else None,
            "properties": {c: _jsonable(v) for c, v in zip(spec.columns, row[2:], strict=True)}}
