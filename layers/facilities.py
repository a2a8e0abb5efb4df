"""Read facilities and facility types (public data: no personal fields are stored on a facility)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.domain import FacilityGroup
from gis.errors import InvalidInput
from layers import models

OSM_ATTRIBUTION = "© OpenStreetMap contributors"


def facility_types(session: Session) -> list[dict[str, Any]]:
    """Every facility type with Chinese and English names, its group, and how many facilities it has."""
    counts = dict(session.execute(select(models.Facility.type_code, func.count()).group_by(models.Facility.type_code)).all())
    groups = {g.value: g.zh for g in FacilityGroup}
    rows = session.execute(select(models.FacilityType)).scalars().all()
    order = {code: i for i, code in enumerate(_declared_order())}
    rows = sorted(rows, key=lambda t: (order.get(t.code, len(order)), t.code))
    return [
        {
            "code": t.code,
            "name_zh": t.name_zh,
            "name_en": t.name_en,
            "group": t.group_code,
            "group_zh": groups.get(t.group_code, t.group_code),
            "count": int(counts.get(t.code, 0)),
        }
        for t in rows
    ]


def _declared_order() -> list[str]:
    from gis.domain import FACILITY_TYPES

    return [code for code, *_ in FACILITY_TYPES]


def parse_types(session: Session, value: str | list[str] | None) -> list[str] | None:
    """Type codes from ``"school,clinic"`` (or a list), checked against ``facility_types``."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    codes = [c.strip() for item in items for c in str(item).split(",") if c.strip()]
    if not codes:
        return None
    valid = list(session.scalars(select(models.FacilityType.code)).all())
    unknown = [c for c in codes if c not in valid]
    if unknown:
        ordered = [c for c in _declared_order() if c in valid] + sorted(set(valid) - set(_declared_order()))
        raise InvalidInput(
            f"未知设施类型 {', '.join(unknown)}；可用类型 (unknown facility type; valid codes): {', '.join(ordered)}",
            detail={"unknown": unknown, "valid_types": ordered},
        )
    return codes


def list_facilities(
    session: Session,
    *,
    types: list[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    community_code: str | None = None,
    source: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    """Facilities as a GeoJSON FeatureCollection with ``numberMatched``/``numberReturned``.

    Each feature carries ``type_code`` with its Chinese and English names, ``name``, ``address``,
    ``community_code``, ``source``, ``osm_id`` and, for OpenStreetMap data, ``attribution``.
    """
    f, t = models.Facility, models.FacilityType
    conditions = []
    if types:
        conditions.append(f.type_code.in_(types))
    if community_code:
        conditions.append(f.community_code == community_code)
    if source:
        conditions.append(f.source == source)
    if bbox is not None:
        envelope = func.ST_MakeEnvelope(*bbox, 4326)
        conditions.append(f.geom.op("&&")(envelope))
        conditions.append(func.ST_Intersects(f.geom, envelope))
    matched = session.scalar(select(func.count()).select_from(f).where(*conditions)) or 0
    rows = session.execute(
        select(f.id, func.ST_AsGeoJSON(f.geom, 7), f.type_code, t.name_zh, t.name_en, f.name, f.address,
               f.community_code, f.source, f.osm_id)
        .join(t, t.code == f.type_code)
        .where(*conditions)
        .order_by(f.id)
        .limit(limit)
        .offset(offset)
    ).all()
    features = []
    for fid, geom, code, zh, en, name, address, community, src, osm_id in rows:
        props = {"type_code": code, "type_zh": zh, "type_en": en, "name": name, "address": address,
                 "community_code": community, "source": src, "osm_id": osm_id}
        if src == "osm":
            props["attribution"] = OSM_ATTRIBUTION
        features.append({"type": "Feature", "id": fid, "geometry": json.loads(geom), "properties": props})
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": int(matched),
        "numberReturned": len(features),
    }
