"""The dispatcher's queue by scope and the places to take a call at: the one use behind
``GET /api/v1/incidents/queue``, ``gridmap incidents queue`` and the workbench ``/maps/dispatch``.

``incident_queue`` checks the filters (422 with every known value on a bad one), runs the queue in SQL
(:func:`layers.incident_queue.queue_page`: filtered, sorted, 待人工派遣 first, one round trip) and answers with
labels in Chinese and points in the map's coordinate system. ``find_places`` does the same for the search box.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from gis import incidents as rules
from gis.coords import from_wgs84, parse_crs
from gis.domain import HandlingLevel, IncidentState
from gis.errors import InvalidInput
from layers.incident_queue import SORTS, QueueFilter, queue_page
from layers.incidents import categories, category_or_none, iso, preview_incident, utcnow
from layers.places import search_places

MAX_PAGE = 500


def check_filter(*, states: list[str] | None = None, overdue: bool | None = None, manual: bool | None = None,
                 categories_: list[str] | None = None, grid: str | None = None,
                 channels: list[str] | None = None) -> QueueFilter:
    """A :class:`~layers.QueueFilter` from what a caller sent; :class:`InvalidInput` naming the
    bad value and the known ones."""
    for s in states or []:
        if s not in IncidentState.values():
            raise InvalidInput(f"未知状态 {s!r}，可选：{'、'.join(f'{x.value}（{x.zh}）' for x in IncidentState)} (unknown state)",
                               detail={"state": s, "known": IncidentState.values()})
    table = categories()
    cats = tuple(rules.category_of(c, table).code for c in categories_ or [])
    chans = tuple(rules.parse_channel(c).value for c in channels or [])
    if grid is not None and not (grid.isdigit() and len(grid) in (12, 15)):
        raise InvalidInput("grid 须为 15 位网格编码或 12 位社区代码 (grid must be a 15-digit grid code or a 12-digit "
                           "community code)", detail={"grid": grid})
    return QueueFilter(states=tuple(states or ()), overdue=overdue, manual=manual, categories=cats, grid=grid,
                       channels=chans)


def _labels(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    cat = category_or_none(row["category"])
    due = row["due_at"]
    return {
        "id": row["id"], "category": cat.code if cat else row["category"],
        "category_zh": cat.zh if cat else row["category"], "state": row["state"], "state_zh": IncidentState(row["state"]).zh,
        "level": row["level"], "level_zh": HandlingLevel(row["level"]).zh,
        "grid": {"code": row["grid_code"], "name": row["grid_name"]} if row["grid_code"] else None,
        "community_code": row["community_code"], "created_at": iso(row["created_at"]), "due_at": iso(due),
        "overdue": bool(row["overdue"]), "overdue_h": round((now - due).total_seconds() / 3600, 1)
        if row["overdue"] and due else None,
        "manual": bool(row["manual"]),
        "assignee": {"person_id": row["assignee_id"], "name": row["assignee_name"]} if row["assignee_id"] else None,
        "assignee_unit": row["assignee_unit"], "channel": row["channel"],
        "channel_zh": _channel_zh(row["channel"]), "summary": row["summary"],
    }


def _channel_zh(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return rules.parse_channel(value).zh
    except InvalidInput:
        return value


def _display(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    if parse_crs(crs).value in ("wgs84", "cgcs2000"):
        return lon, lat
    x, y = from_wgs84(lon, lat, crs)
    return np.asarray(x, float), np.asarray(y, float)


def incident_queue(session: Session, flt: QueueFilter, *, scope: str | None, sort: str = "urgent",
                   limit: int = 50, offset: int = 0, crs: str = "wgs84",
                   now: dt.datetime | None = None) -> dict[str, Any]:
    """One page of the dispatch queue of ``scope``: 待人工派遣 first, then by ``sort`` (``urgent``: earliest
    deadline, overdue first; ``newest``), with the counts of everything that matched (``count``, ``overdue``,
    ``manual``) and each point in ``crs`` (the map's: ``gcj02`` on an Amap basemap)."""
    now = now or utcnow()
    if sort not in SORTS:
        raise InvalidInput(f"sort 须为 {' | '.join(SORTS)} (sort must be one of {', '.join(SORTS)})",
                           detail={"sort": sort})
    if not (1 <= limit <= MAX_PAGE) or offset < 0:
        raise InvalidInput(f"limit 须在 1–{MAX_PAGE}，offset ≥ 0 (limit 1–{MAX_PAGE}, offset ≥ 0)")
    page = queue_page(session, flt, scope=scope, sort=sort, limit=limit, offset=offset, now=now)
    lon = np.array([r["lon"] for r in page.rows], float)
    lat = np.array([r["lat"] for r in page.rows], float)
    x, y = _display(lon, lat, crs)
    items = [{**_labels(r, now), "point": {"lon": round(float(a), 6), "lat": round(float(b), 6)}}
             for r, a, b in zip(page.rows, x, y, strict=True)]
    return {"count": page.total, "overdue": page.overdue, "manual": page.manual, "sort": sort, "limit": limit,
            "offset": offset, "crs": parse_crs(crs).value, "generated_at": iso(now), "items": items}


def find_places(session: Session, q: str, *, crs: str = "wgs84", limit: int = 10) -> dict[str, Any]:
    """Places named like ``q`` (grids, POIs, communities, 包街 streets, buildings), points in ``crs``."""
    found = search_places(session, q, limit=limit)
    x, y = _display(np.array([p["lon"] for p in found], float), np.array([p["lat"] for p in found], float), crs)
    return {"q": q, "crs": parse_crs(crs).value,
            "items": [{**p, "lon": round(float(a), 6), "lat": round(float(b), 6)}
                      for p, a, b in zip(found, x, y, strict=True)]}


def workbench_setup(session: Session, *, scope: str | None) -> dict[str, Any]:
    """What the workbench needs before its first request: the area to open on (the grids of ``scope``), the
    categories, channels, states and levels with their Chinese names."""
    from layers.places import scope_extent

    box = scope_extent(session, scope) or scope_extent(session, "")
    return {
        "bounds": None if box is None else [[box[1], box[0]], [box[3], box[2]]],
        "categories": [{"code": c.code, "zh": c.zh} for c in categories().values()],
        "channels": [{"code": c.value, "zh": c.zh} for c in rules.INTAKE_CHANNELS],
        "states": [{"code": s.value, "zh": s.zh} for s in IncidentState],
        "actions": {a.value: a.zh for a in rules.Action},
    }


def preview_for_map(session: Session, body: dict[str, Any], *, display_crs: str = "wgs84") -> dict[str, Any]:
    """What reporting ``body`` would answer (:func:`layers.incidents.preview_incident`, nothing stored) and the
    point in the map's coordinates (``display_point``), whatever coordinate system the body was typed in."""
    crs = parse_crs(display_crs)
    answer = preview_incident(session, body)
    x, y = _display(np.array([answer["point"]["lon"]]), np.array([answer["point"]["lat"]]), crs.value)
    return {**answer, "display_point": {"lon": round(float(x[0]), 7), "lat": round(float(y[0]), 7), "crs": crs.value}}
