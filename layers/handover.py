"""Staff handover of a draft in PostGIS: the proposal shown in the impact preview, the planner's edits kept with
the draft, and applying it when the draft is published (old assignments ended, new ones from the publishing day).

The rules of the proposal are pure and live in :mod:`gis.handover`; this module reads its tables and writes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from gis.domain import PlanStatus, StaffRole
from gis.errors import InvalidInput, PlanConflict
from gis.handover import BUILDING_ROLES, GridSide, HandoverKind, propose_handover, with_nones
from layers import models
from layers.plan_scope import in_scope
from layers.plans import get_plan
from layers.roster import grids_with_market_flag

if TYPE_CHECKING:
    from layers.plan_impact import PlanSides

MAX_ITEMS = 20_000


def _valid_on(day: dt.date):
    a = models.StaffAssignment
    return and_(or_(a.valid_from.is_(None), a.valid_from <= day), or_(a.valid_to.is_(None), a.valid_to >= day))


def current_assignments(session: Session, *, on: dt.date | None = None, ids: list[int] | None = None,
                        grid_codes: list[str] | None = None, building_ids: list[int] | None = None) -> pd.DataFrame:
    """Staff assignments valid on ``on`` (today): id, person, role, grid code and the building they attach to
    (a 楼口长's is its stairwell's building); all, or those with these ids, grids or buildings."""
    a, sw = models.StaffAssignment, models.Stairwell
    building = func.coalesce(a.building_id, sw.building_id)
    q = (select(a.id, a.person_id, models.Person.name, a.role, a.grid_code, building)
         .join(models.Person, models.Person.id == a.person_id)
         .outerjoin(sw, sw.id == a.stairwell_id)
         .where(_valid_on(on or dt.date.today())))
    if ids is not None:
        q = q.where(a.id.in_(ids))
    if grid_codes is not None or building_ids is not None:
        q = q.where(or_(a.grid_code.in_(grid_codes or []), building.in_(building_ids or [])))
    rows = session.connection().execute(q.order_by(a.id)).all()
    table = pd.DataFrame([tuple(r) for r in rows], columns=["assignment_id", "person_id", "person_name", "role",
                                                           "grid_code", "building_id"])
    return with_nones(table, ["person_name", "role", "grid_code", "building_id"])


def _draft_side(session: Session, sides: PlanSides) -> GridSide:
    flags = grids_with_market_flag(session, plan_id=sides.plan.id)
    market = dict(zip(flags["code"], flags["has_market"], strict=True))
    ex_types = dict(zip(flags["code"], flags["exclusive_type"], strict=True))
    codes = sides.draft["codes"]
    return GridSide(codes=codes, kinds=sides.draft["kinds"], geoms=sides.draft["geoms"],
                    has_market=[bool(market.get(c, False)) for c in codes],
                    exclusive_types=[ex_types.get(c) for c in codes])


def default_proposal(session: Session, sides: PlanSides, buildings: pd.DataFrame) -> dict[str, Any]:
    """The handover :func:`gis.handover.propose_handover` proposes for the draft against the plan in force."""
    base = GridSide(codes=sides.base["codes"], kinds=sides.base["kinds"], geoms=sides.base["geoms"])
    draft_codes = set(sides.draft["codes"])
    retired = [c for c in base.codes if c not in draft_codes]
    fresh = set(sides.draft["codes"]) - set(base.codes)
    moved = [int(b) for b, o, n in zip(buildings["building_id"], buildings["old_code"], buildings["new_code"],
                                       strict=True) if o != n]
    if not retired and not fresh and not moved:
        return {"items": [], "successors": {}, "predecessors": {}, "edited": False}
    # the people who may move: those of the plan in force's grids in the scope, and of buildings that move
    scoped = [c for c, inside in zip(base.codes, in_scope(base.codes, sides.plan.scope), strict=True) if inside]
    people = current_assignments(session, grid_codes=scoped, building_ids=moved)
    out = propose_handover(base, _draft_side(session, sides), in_scope=sides.draft_in_scope,
                           assignments=people, buildings=buildings)
    return out | {"edited": False}


def proposal(session: Session, sides: PlanSides, buildings: pd.DataFrame) -> dict[str, Any]:
    """The handover the draft would apply: the planner's edited one if kept with the draft, else the default."""
    if sides.plan.handover is not None:
        return {"items": sides.plan.handover, "edited": True, "successors": {}, "predecessors": {}}
    return default_proposal(session, sides, buildings)


# ------------------------------------------------------------------------------------------------ editing
def _problem(index: int, message: str) -> dict[str, Any]:
    return {"item": index, "problem": message}


def check_items(session: Session, plan: models.GridPlan, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check a planner's handover: each item names a current assignment, a kind and (unless it ends it) a grid
    of the draft. Every problem is reported at once; person, role and ``from`` are filled in from the roster."""
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"交接条目过多（上限 {MAX_ITEMS}） (too many handover items)")
    draft_codes = set(session.scalars(select(models.Grid.code).where(models.Grid.plan_id == plan.id)).all())
    ids = [i.get("assignment_id") for i in items if isinstance(i, dict) and isinstance(i.get("assignment_id"), int)]
    found = current_assignments(session, ids=ids).set_index("assignment_id")
    problems, out, seen = [], [], set()
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(_problem(k, "应为对象 (an object is expected)"))
            continue
        kind, to, aid = item.get("kind"), item.get("to") or None, item.get("assignment_id")
        if kind not in HandoverKind.values():
            problems.append(_problem(k, f"未知的交接方式 {kind!r}；可用 {HandoverKind.values()} (unknown kind)"))
            continue
        if not isinstance(aid, int) or aid not in found.index:
            problems.append(_problem(k, f"没有现任的任职记录 {aid!r} (no current staff assignment {aid!r})"))
            continue
        if (kind == HandoverKind.END.value) != (to is None):
            problems.append(_problem(k, "结束任职不填目标网格，其余须填 (end has no target grid; the others need one)"))
            continue
        if to is not None and to not in draft_codes:
            problems.append(_problem(k, f"草案中没有网格 {to} (the draft has no grid {to})"))
            continue
        if (aid, kind, to) in seen:
            problems.append(_problem(k, "重复的交接条目 (duplicate item)"))
            continue
        seen.add((aid, kind, to))
        row = found.loc[aid]
        role = StaffRole(row["role"])
        out.append({"kind": kind, "kind_zh": HandoverKind(kind).zh, "assignment_id": aid,
                    "person_id": int(row["person_id"]), "person_name": row["person_name"], "role": role.value,
                    "role_zh": role.zh, "from": item.get("from") or row["grid_code"], "to": to,
                    "building_id": None if row["building_id"] is None else int(row["building_id"]),
                    "note": str(item.get("note") or "")[:200]})
    if problems:
        raise InvalidInput(f"交接安排有 {len(problems)} 处问题，未保存 ({len(problems)} problems in the handover)",
                           detail={"problems": problems})
    return out


def save(session: Session, plan_id: int, items: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Keep a planner's handover with the draft (``None`` goes back to the default proposal)."""
    plan = get_plan(session, plan_id, for_update=True)
    if plan.status != PlanStatus.DRAFT.value:
        raise PlanConflict(f"方案 {plan_id} 不是草案 (only a draft's handover can be edited)",
                           detail={"plan_id": plan_id, "status": plan.status})
    plan.handover = None if items is None else check_items(session, plan, items)
    session.flush()
    return plan.handover


# ----------------------------------------------------------------------------------------------- applying
def _end(row: models.StaffAssignment, day: dt.date) -> None:
    row.valid_to = day - dt.timedelta(days=1)


def _successor_row(old: models.StaffAssignment, item: dict[str, Any], day: dt.date, source: str) -> models.StaffAssignment:
    keep_place = item["kind"] == HandoverKind.FOLLOW.value
    return models.StaffAssignment(
        person_id=old.person_id, role=old.role, grid_code=item["to"], community_code=item["to"][:12],
        building_id=old.building_id if keep_place else None, stairwell_id=old.stairwell_id if keep_place else None,
        valid_from=day, valid_to=old.valid_to if old.valid_to and old.valid_to >= day else None, source=source)


def apply(session: Session, plan: models.GridPlan, items: list[dict[str, Any]], *, retired: set[str], day: dt.date
          ) -> dict[str, Any]:
    """Carry out a handover on the publishing day: moves and follows end the old assignment the day before and
    start a new one; shares add one; ends end it. Grid-level assignments of retired grids that no item names are
    ended too (their grid is gone). Returns the counts and the items applied."""
    source = f"handover:plan {plan.id}"
    rows = {r.id: r for r in session.scalars(select(models.StaffAssignment).where(
        models.StaffAssignment.id.in_([i["assignment_id"] for i in items]))).all()}
    counts = dict.fromkeys(HandoverKind.values(), 0)
    ended: set[int] = set()
    for item in items:
        old = rows.get(item["assignment_id"])
        if old is None:
            continue
        kind = item["kind"]
        if kind in (HandoverKind.MOVE.value, HandoverKind.FOLLOW.value, HandoverKind.END.value):
            if old.id not in ended:
                _end(old, day)
                ended.add(old.id)
        if kind != HandoverKind.END.value:
            session.add(_successor_row(old, item, day, source))
        counts[kind] += 1
    leftover = session.scalars(select(models.StaffAssignment).where(
        models.StaffAssignment.grid_code.in_(sorted(retired)), _valid_on(day),
        models.StaffAssignment.role.notin_(sorted(BUILDING_ROLES)),
        models.StaffAssignment.id.notin_(sorted(ended) or [0]))).all() if retired else []
    for row in leftover:
        _end(row, day)
    session.flush()
    return {"counts": counts, "ended_with_retired_grids": len(leftover), "items": items}
