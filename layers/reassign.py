"""Re-assign incidents to the grids of a newly published plan generation, and report what moved.

Open incidents (every state but 结案 closed) follow the plan in force; closed ones keep the grid they were routed
to unless history is asked for explicitly. Every incident whose grid changes gets an event with the move.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gis.domain import IncidentState
from gis.locate import DEFAULT_NEAREST_M, DEFAULT_TOLERANCE_M, AssignMethod, method_reason
from layers import models as m
from layers.incident_flow import sync_after_reassign
from layers.locate import PlanLocator, locate_many, plan_locator

ACTOR = "gridmap reassign"
CHUNK = 50_000


def _assignment(row, pl: PlanLocator, previous: dict[str, Any]) -> dict[str, Any]:
    method = AssignMethod(row.method)
    dist = None if np.isnan(row.distance_m) else float(row.distance_m)
    buffer_m = None
    if method is AssignMethod.STREET_RESPONSIBILITY and row.street_name is not None:
        buffer_m = float(pl.locator.street_buffers_m[list(pl.street_names).index(row.street_name)])
    return {
        "method": method.value, "method_zh": method.zh, "on_boundary": bool(row.on_boundary),
        "n_tied": int(row.n_tied), "distance_m": dist, "flagged": bool(row.flagged),
        "reason": method_reason(method, on_boundary=bool(row.on_boundary), distance_m=dist, buffer_m=buffer_m,
                                nearest_m=DEFAULT_NEAREST_M, tolerance_m=DEFAULT_TOLERANCE_M),
        "responsible_unit": row.responsible_unit, "reassigned_from": previous,
    }


def reassign(session: Session, *, plan_id: int | None = None, history: bool = False, dry_run: bool = False,
             progress=None) -> dict[str, Any]:
    """Re-assign open incidents (and closed ones with ``history``) to ``plan_id`` (the plan in force by default).

    Returns the counts (checked, moved to another grid, re-pointed to the new plan's row of the same grid,
    unchanged) and the moves from → to with their counts. With ``dry_run`` nothing is written.
    """
    pl = plan_locator(session, plan_id)
    q = select(m.Incident.id, m.Incident.state, m.Incident.plan_id, m.Incident.grid_id, m.Incident.grid_code,
               func.ST_X(m.Incident.geom), func.ST_Y(m.Incident.geom)).order_by(m.Incident.id)
    if not history:
        q = q.where(m.Incident.state != IncidentState.CLOSED.value)
    rows = session.execute(q).all()
    code_to_id = {c: int(i) for c, i in zip(pl.grid_codes, pl.grid_ids)}
    moves: Counter[tuple[str | None, str | None]] = Counter()
    moved = repointed = unchanged = 0
    items: list[dict[str, Any]] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        lon = np.asarray([r[5] for r in chunk], dtype=float)
        lat = np.asarray([r[6] for r in chunk], dtype=float)
        table = locate_many(session, lon, lat, crs="wgs84", on_invalid="flag", pl=pl)
        updates, events = [], []
        for r, row in zip(chunk, table.itertuples(index=False)):
            new_code = row.grid_code
            new_id = code_to_id.get(new_code) if new_code is not None else None
            if new_code == r[4] and new_id == r[3] and r[2] == pl.plan_id:
                unchanged += 1
                continue
            previous = {"plan_id": r[2], "grid_id": r[3], "grid_code": r[4]}
            updates.append({"id": r[0], "plan_id": pl.plan_id, "grid_id": new_id, "grid_code": new_code,
                            "assignment": _assignment(row, pl, previous)})
            if new_code == r[4]:
                repointed += 1
                continue
            moved += 1
            moves[(r[4], new_code)] += 1
            if len(items) < 1000:
                items.append({"incident_id": r[0], "state": r[1], "from": r[4], "to": new_code,
                              "method": row.method})
            events.append({
                "incident_id": r[0], "from_state": r[1], "to_state": r[1], "actor": ACTOR,
                "note": f"网格方案第 {pl.generation} 代发布后重新分配：{r[4] or '无'} → {new_code or '无'} "
                        f"(re-assigned after plan generation {pl.generation} was published)",
            })
        if updates and not dry_run:
            session.execute(update(m.Incident), updates)
            sync_after_reassign(session, [u["id"] for u in updates])
            if events:
                session.execute(m.IncidentEvent.__table__.insert(), events)
        if progress is not None:
            progress.advance(len(chunk))
    if not dry_run:
        session.flush()
    return {
        "plan_id": pl.plan_id, "generation": pl.generation, "history": history, "dry_run": dry_run,
        "checked": len(rows), "moved": moved, "repointed": repointed, "unchanged": unchanged,
        "moves": [{"from": a, "to": b, "count": n} for (a, b), n in sorted(moves.items(), key=lambda t: (-t[1],
                                                                                                        str(t[0])))],
        "items": items,
    }
