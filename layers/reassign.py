"""Re-assign incidents to the grids of a newly published plan generation, and report what moved and to whom.

Open incidents (every state but 结案 closed) follow the plan in force; closed ones keep the grid they were routed
to unless history is asked for explicitly. Every incident whose grid changes gets an event with the move, and is
re-dispatched by the dispatch rules of :mod:`layers.incident_flow` (those not yet dispatched go to the new grid's
staff; dispatched ones keep their person).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gis.domain import IncidentState
from gis.locate import DEFAULT_NEAREST_M, DEFAULT_TOLERANCE_M, AssignMethod, method_reason
from layers import models
from layers.incident_flow import sync_after_reassign
from layers.locate import PlanLocator, locate_many, plan_locator

ACTOR = "gridmap reassign"
CHUNK = 50_000
MAX_ITEMS = 1000


def _text(value: Any) -> str | None:
    """A text cell of the locate table as ``str`` or ``None`` (pandas answers a missing string with NaN)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _assignment(row, pl: PlanLocator, previous: dict[str, Any]) -> dict[str, Any]:
    method = AssignMethod(row.method)
    dist = None if np.isnan(row.distance_m) else float(row.distance_m)
    street = _text(row.street_name)
    buffer_m = None
    if method is AssignMethod.STREET_RESPONSIBILITY and street is not None:
        buffer_m = float(pl.locator.street_buffers_m[list(pl.street_names).index(street)])
    return {
        "method": method.value, "method_zh": method.zh, "on_boundary": bool(row.on_boundary),
        "n_tied": int(row.n_tied), "distance_m": dist, "flagged": bool(row.flagged),
        "reason": method_reason(method, on_boundary=bool(row.on_boundary), distance_m=dist, buffer_m=buffer_m,
                                nearest_m=DEFAULT_NEAREST_M, tolerance_m=DEFAULT_TOLERANCE_M),
        "responsible_unit": _text(row.responsible_unit), "reassigned_from": previous,
    }


@dataclass
class Tally:
    """What a re-assignment run found, chunk after chunk."""

    moved: int = 0
    repointed: int = 0
    unchanged: int = 0
    moves: Counter = field(default_factory=Counter)
    items: list[dict[str, Any]] = field(default_factory=list)


def _open_incidents(session: Session, *, history: bool) -> list:
    q = select(models.Incident.id, models.Incident.state, models.Incident.plan_id, models.Incident.grid_id, models.Incident.grid_code,
               func.ST_X(models.Incident.geom), func.ST_Y(models.Incident.geom), models.Incident.assignee_id).order_by(models.Incident.id)
    if not history:
        q = q.where(models.Incident.state != IncidentState.CLOSED.value)
    return session.execute(q).all()


def _event(incident, new_code: str | None, generation: int) -> dict[str, Any]:
    return {
        "incident_id": incident[0], "from_state": incident[1], "to_state": incident[1], "actor": ACTOR,
        "note": f"网格方案第 {generation} 代发布后重新分配：{incident[4] or '无'} → {new_code or '无'} "
                f"(re-assigned after plan generation {generation} was published)",
    }


def _decide_chunk(chunk: list, table: pd.DataFrame, pl: PlanLocator, tally: Tally
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The row updates and events of one chunk; counts go to ``tally``."""
    code_to_id = {c: int(i) for c, i in zip(pl.grid_codes, pl.grid_ids, strict=True)}
    updates, events = [], []
    for incident, row in zip(chunk, table.itertuples(index=False), strict=True):
        new_code = _text(row.grid_code)
        new_id = code_to_id.get(new_code) if new_code is not None else None
        if new_code == incident[4] and new_id == incident[3] and incident[2] == pl.plan_id:
            tally.unchanged += 1
            continue
        previous = {"plan_id": incident[2], "grid_id": incident[3], "grid_code": incident[4]}
        updates.append({"id": incident[0], "plan_id": pl.plan_id, "grid_id": new_id, "grid_code": new_code,
                        "assignment": _assignment(row, pl, previous)})
        if new_code == incident[4]:
            tally.repointed += 1
            continue
        tally.moved += 1
        tally.moves[(incident[4], new_code)] += 1
        if len(tally.items) < MAX_ITEMS:
            tally.items.append({"incident_id": incident[0], "state": incident[1], "from": incident[4],
                                "to": new_code, "method": row.method, "assignee_before": incident[7]})
        events.append(_event(incident, new_code, pl.generation))
    return updates, events


def _write(session: Session, updates: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    if updates:
        session.execute(update(models.Incident), updates)
        sync_after_reassign(session, [u["id"] for u in updates])  # the dispatch rules (layers.incident_flow)
    if events:
        session.execute(models.IncidentEvent.__table__.insert(), events)


def _people(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(models.Person.id, models.Person.name).where(models.Person.id.in_(sorted(ids)))).all())


def _to_whom(session: Session, items: list[dict[str, Any]], *, dry_run: bool) -> None:
    """Name the person each moved incident was with before and is with now (after re-dispatch)."""
    after = {} if dry_run else dict(session.execute(
        select(models.Incident.id, models.Incident.assignee_id).where(models.Incident.id.in_([i["incident_id"] for i in items]))
    ).all())
    names = _people(session, {i["assignee_before"] for i in items if i["assignee_before"]} | {
        v for v in after.values() if v})
    for item in items:
        now = item["assignee_before"] if dry_run else after.get(item["incident_id"])
        item["assignee_before"] = names.get(item["assignee_before"]) if item["assignee_before"] else None
        item["assignee_after"] = names.get(now) if now else None


def reassign(session: Session, *, plan_id: int | None = None, history: bool = False, dry_run: bool = False,
             progress=None) -> dict[str, Any]:
    """Re-assign open incidents (and closed ones with ``history``) to ``plan_id`` (the plan in force by default).

    Returns the counts (checked, moved to another grid, re-pointed to the new plan's row of the same grid,
    unchanged), the moves from → to with their counts, and up to 1,000 moved incidents with the person they were
    with before and after re-dispatch (``assignee_after`` is not known in a dry run). With ``dry_run`` nothing is
    written.
    """
    pl = plan_locator(session, plan_id)
    rows = _open_incidents(session, history=history)
    tally = Tally()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        lon = np.asarray([r[5] for r in chunk], dtype=float)
        lat = np.asarray([r[6] for r in chunk], dtype=float)
        table = locate_many(session, lon, lat, crs="wgs84", on_invalid="flag", pl=pl)
        updates, events = _decide_chunk(chunk, table, pl, tally)
        if not dry_run:
            _write(session, updates, events)
        if progress is not None:
            progress.advance(len(chunk))
    if not dry_run:
        session.flush()
    _to_whom(session, tally.items, dry_run=dry_run)
    return {
        "plan_id": pl.plan_id, "generation": pl.generation, "history": history, "dry_run": dry_run,
        "checked": len(rows), "moved": tally.moved, "repointed": tally.repointed, "unchanged": tally.unchanged,
        "moves": [{"from": a, "to": b, "count": n}
                  for (a, b), n in sorted(tally.moves.items(), key=lambda t: (-t[1], str(t[0])))],
        "items": tally.items,
    }
