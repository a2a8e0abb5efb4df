"""The impact preview of a draft against the plan in force, read as named steps.

:func:`impact` reads both plans' grids (:func:`plan_sides`), compares them (:func:`gis.plan_impact.grid_changes`),
locates every building and open incident in each (:func:`building_owners`, :func:`incident_moves`), says in one
line what changes outside the draft's scope, and proposes the staff handover (:func:`layers.handover.proposal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.plan_impact import grid_changes, locate_points
from layers import models
from layers.features import current_plan_id
from layers.plan_scope import OutsideScope, in_scope, outside_scope
from layers.plans import OPEN_STATES, _extent_filter, _grid_arrays, _wkb_array, get_plan


@dataclass
class PlanSides:
    """The plan in force (``base``) and the draft as it would be published (``draft``), as grid arrays."""

    plan: models.GridPlan
    base_id: int | None
    base: dict[str, Any]
    draft: dict[str, Any]
    outside: OutsideScope
    extent: Any

    @property
    def draft_in_scope(self) -> np.ndarray:
        """For each draft grid, whether it lies in the draft's scope."""
        return in_scope(self.draft["codes"], self.plan.scope)


def _empty_arrays() -> dict[str, Any]:
    return {"codes": [], "kinds": [], "community_codes": [], "households": [], "residents": [],
            "geoms": np.zeros(0, dtype=object)}


def _take(arrays: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    idx = np.flatnonzero(keep)
    return {k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]) for k, v in arrays.items()}


def _join(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: (np.concatenate([a[k], b[k]]) if isinstance(a[k], np.ndarray) else list(a[k]) + list(b[k]))
            for k in a}


def plan_sides(session: Session, plan_id: int, *, base_id: int | None = None) -> PlanSides:
    """Both sides of the comparison. A scoped draft whose grids outside the scope are untouched is compared as it
    will be published: its scope's grids with the plan in force's grids elsewhere."""
    plan = get_plan(session, plan_id)
    base_id = base_id or current_plan_id(session)
    base = _grid_arrays(session, base_id) if base_id else _empty_arrays()
    draft = _grid_arrays(session, plan_id)
    outside = outside_scope(session, plan)
    if outside.stale and outside.clean and plan.scope is not None and base_id == current_plan_id(session):
        draft = _join(_take(draft, in_scope(draft["codes"], plan.scope)),
                      _take(base, ~in_scope(base["codes"], plan.scope)))
    extent = _extent_filter(session, [plan_id] + ([base_id] if base_id else []))
    return PlanSides(plan=plan, base_id=base_id, base=base, draft=draft, outside=outside, extent=extent)


def owners(points: np.ndarray, arrays: dict[str, Any]) -> list[str | None]:
    """The code of the grid each point lies in (exclusive grids first), or None."""
    idx = locate_points(points, arrays["geoms"], arrays["kinds"])
    return [arrays["codes"][i] if i >= 0 else None for i in idx]


def building_owners(session: Session, sides: PlanSides) -> pd.DataFrame:
    """Every building near either plan with the grid it lies in before (``old_code``) and after (``new_code``)."""
    rows = session.execute(
        select(models.Building.id, models.Building.name, models.Building.address, models.Building.households, models.Building.residents,
               func.ST_AsBinary(func.ST_PointOnSurface(models.Building.geom)))
        .where(models.Building.geom.op("&&")(sides.extent))
        .order_by(models.Building.id)
    ).all()
    points = _wkb_array(r[5] for r in rows)

    def objects(values: list) -> pd.Series:  # None stays None (pandas would read a missing string as NaN)
        return pd.Series(values, dtype=object)

    return pd.DataFrame({
        "building_id": [r[0] for r in rows], "name": objects([r[1] for r in rows]),
        "address": objects([r[2] for r in rows]), "households": [r[3] for r in rows],
        "residents": [r[4] for r in rows], "old_code": objects(owners(points, sides.base)),
        "new_code": objects(owners(points, sides.draft)),
    })


def building_moves(buildings: pd.DataFrame) -> dict[str, Any]:
    """Buildings that change grid, with the households and residents that move."""
    moved = buildings[[a != b for a, b in zip(buildings["old_code"], buildings["new_code"], strict=True)]]
    items = [{"building_id": int(r.building_id), "name": r.name, "address": r.address, "households": r.households,
              "residents": r.residents, "from": r.old_code, "to": r.new_code} for r in moved.itertuples(index=False)]
    return {"count": len(items), "households": int(moved["households"].fillna(0).sum()),
            "residents": int(moved["residents"].fillna(0).sum()), "items": items}


def incident_moves(session: Session, sides: PlanSides) -> dict[str, Any]:
    """Open incidents that would be re-assigned to another grid."""
    rows = session.execute(
        select(models.Incident.id, models.Incident.category, models.Incident.state, models.Incident.grid_code,
               func.ST_AsBinary(models.Incident.geom))
        .where(models.Incident.state.in_(OPEN_STATES), models.Incident.geom.op("&&")(sides.extent))
        .order_by(models.Incident.id)
    ).all()
    new = owners(_wkb_array(r[4] for r in rows), sides.draft)
    items = [{"incident_id": r[0], "category": r[1], "state": r[2], "from": r[3], "to": to}
             for r, to in zip(rows, new, strict=True) if r[3] != to]
    return {"count": len(items), "items": items}


def impact(session: Session, plan_id: int, *, base_id: int | None = None) -> dict[str, Any]:
    """What changes if the draft replaces the plan in force (or ``base_id``): grids new/removed/changed, what
    changes outside the scope (one line), the buildings, households, open incidents that would move to another
    grid, and the proposed staff handover (``staff`` lists its items)."""
    from layers.handover import proposal  # the handover reads this module's sides

    sides = plan_sides(session, plan_id, base_id=base_id)
    changes = grid_changes(sides.base["codes"], sides.base["geoms"], sides.draft["codes"], sides.draft["geoms"])
    buildings = building_owners(session, sides)
    handover = proposal(session, sides, buildings)
    return {
        "plan_id": plan_id,
        "base_plan_id": sides.base_id,
        "scope": sides.plan.scope,
        "outside_scope": sides.outside.as_dict(),
        "grids": changes,
        "buildings": building_moves(buildings),
        "incidents": incident_moves(session, sides),
        "staff": {"count": len(handover["items"]), "items": handover["items"]},
        "handover": handover,
    }
