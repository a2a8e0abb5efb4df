"""Store facilities parsed from GeoJSON or CSV (:mod:`gis.facility_input`), all or nothing.

Rows get ``source = "import:<name>"`` (``name`` is the file name unless given) and keep the coordinates as
sent (``properties.original``: lon, lat, crs). Importing the same name again replaces that import's rows
(``replace=True``, the default), so a corrected file can simply be sent again. Community codes are filled from
the newest community/village polygon in ``admin_areas`` that covers the point, else left null.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.facility_input import parse_facilities
from layers import models
from layers.facility_types import seed_facility_types

_SAFE = re.compile(r"[^\w.\-一-鿿]+")


def source_for(name: str) -> str:
    """The ``source`` value of an import called ``name``: ``import:<name>`` (at most 200 characters)."""
    return "import:" + _SAFE.sub("_", name.strip())[:190]


def format_for(filename: str | None, content_type: str | None = None) -> str:
    """``geojson`` or ``csv`` from a file name or a content type."""
    suffix = Path(filename or "").suffix.lower().lstrip(".")
    if suffix in ("geojson", "json", "csv"):
        return "csv" if suffix == "csv" else "geojson"
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("text/csv", "application/csv"):
        return "csv"
    if ct in ("application/geo+json", "application/json"):
        return "geojson"
    raise InvalidInput(
        "无法判断文件格式，请用 .geojson 或 .csv 文件，或给出 format 参数 "
        "(cannot tell the format; use a .geojson or .csv file or pass format)"
    )


def import_facilities(
    session: Session,
    data: str | bytes | dict[str, Any],
    *,
    fmt: str,
    name: str,
    crs: str | None = None,
    replace: bool = True,
) -> dict[str, Any]:
    """Validate and insert facilities; nothing is written if any row is wrong.

    The caller commits (the API route and the CLI do); on an error nothing has been added to the session.

    Returns
    -------
    dict
        ``{"source", "imported", "replaced", "by_type", "with_community"}``.

    Raises
    ------
    InvalidInput
        With ``detail.problems`` listing every bad row and ``detail.valid_types`` the type codes.
    """
    rows = parse_facilities(data, fmt=fmt, crs=crs)
    source = source_for(name)
    seed_facility_types(session)
    replaced = 0
    if replace:
        replaced = session.execute(delete(models.Facility).where(models.Facility.source == source)).rowcount
    ids = session.scalars(
        insert(models.Facility).returning(models.Facility.id),
        [
            {
                "type_code": r["type_code"],
                "name": r["name"][:200],
                "address": r["address"],
                "community_code": None,
                "osm_id": None,
                "geom": f"SRID=4326;POINT({r['lon']:.8f} {r['lat']:.8f})",
                "source": source,
                "properties": {**r["extra"], "original": r["original"], "import": name},
            }
            for r in rows
        ],
    ).all()
    session.execute(
        text("""
        UPDATE facilities f SET community_code = (
            SELECT a.code FROM admin_areas a
            WHERE a.level IN ('community', 'village') AND a.geom IS NOT NULL
              AND a.geom && f.geom AND ST_Covers(a.geom, f.geom)
            ORDER BY a.edition_year DESC, a.code LIMIT 1)
        WHERE f.id = ANY(:ids)
        """),
        {"ids": list(ids)},
    )
    by_type = dict(
        session.execute(
            select(models.Facility.type_code, func.count())
            .where(models.Facility.id.in_(ids))
            .group_by(models.Facility.type_code)
            .order_by(models.Facility.type_code)
        ).all()
    )
    with_community = session.scalar(
        select(func.count()).select_from(models.Facility)
        .where(models.Facility.id.in_(ids), models.Facility.community_code.is_not(None))
    )
    return {"source": source, "imported": len(ids), "replaced": replaced, "by_type": by_type,
            "with_community": with_community}


def import_facility_file(session: Session, path: str | Path, *, name: str | None = None, crs: str | None = None,
                         fmt: str | None = None, replace: bool = True) -> dict[str, Any]:
    """Read a ``.geojson``/``.json``/``.csv`` file and :func:`import_facilities` it (the caller commits)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"找不到文件 {path.name} (file not found)", detail={"file": path.name})
    fmt = fmt or format_for(path.name)
    return import_facilities(session, path.read_bytes(), fmt=fmt, name=name or path.name, crs=crs,
                             replace=replace)
