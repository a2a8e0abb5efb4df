"""An incident's life in PostGIS: one action at a time (an event per transition), who may be dispatched to it,
escalation to a named receiver, the automatic escalation of overdue incidents (saying why when it does not), and
re-dispatch after a new plan generation.

The rules (state machine, roles, receivers, blockers) are :mod:`gis.incidents`; callers commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis import incidents as rules
from gis.domain import HandlingLevel, IncidentState, StaffRole, UserRole
from gis.errors import Forbidden, InvalidInput
from layers import models
from layers.escalation import receivers_at
from layers.incidents import category_or_none, centroid, iso, load, query, staff_pool, utcnow
from layers.incidents_models import IncidentDetail

OPEN = [s.value for s in IncidentState if s is not IncidentState.CLOSED]


# -------------------------------------------------------------------------------------------- candidates
def _open_load(session: Session, person_ids: list[int]) -> dict[int, int]:
    """Open incidents per person."""
    if not person_ids:
        return {}
    rows = session.execute(
        select(models.Incident.assignee_id, func.count()).where(models.Incident.assignee_id.in_(person_ids),
                                                                models.Incident.state.in_(OPEN))
        .group_by(models.Incident.assignee_id)).all()
    return {int(pid): int(n) for pid, n in rows}


def candidates(session: Session, inc: models.Incident, det: IncidentDetail) -> list[dict[str, Any]]:
    """The named people an incident may be dispatched or reassigned to: the staff of its grid, the community's
    own staff and the escalation receivers of its current level and area; each with role or post, published
    phone, open load and whether the dispatch rules would pick them (``suggested``, listed first)."""
    cat = category_or_none(inc.category)
    grid_staff, community_staff = staff_pool(session, grid_code=inc.grid_code, community_code=det.community_code)
    receivers = [] if inc.level == HandlingLevel.GRID.value else receivers_at(
        session, level=inc.level, area_code=rules.receiver_area(inc.level, det.community_code))
    picked = None
    if cat is not None:
        picked = (rules.pick_assignee(cat, method="grid", grid_staff=grid_staff, community_staff=community_staff)
                  if inc.level == HandlingLevel.GRID.value else
                  rules.pick_receiver(receivers, level=inc.level, area_code=rules.receiver_area(inc.level, det.community_code),
                                      category=cat)).person_id
    out: dict[int, dict[str, Any]] = {}
    labels = StaffRole.labels()
    for where, pool in (("grid", grid_staff), ("community", community_staff)):
        for s in sorted(pool, key=lambda x: (x.role, x.name, x.person_id)):
            out.setdefault(s.person_id, {"person_id": s.person_id, "name": s.name, "role": s.role,
                                         "role_zh": labels.get(s.role, s.role), "where": where})
    for r in sorted(receivers, key=lambda x: (x.duty, x.name)):
        out.setdefault(r.person_id, {"person_id": r.person_id, "name": r.name, "role": None, "role_zh": r.duty,
                                     "unit": r.unit, "where": "receiver"})
    phones = dict(session.execute(select(models.Person.id, models.Person.public_phone)
                                  .where(models.Person.id.in_(list(out)))).all())
    loads = _open_load(session, list(out))
    rows = [{**c, "public_phone": phones.get(pid), "open_tasks": loads.get(pid, 0), "suggested": pid == picked,
             "current": pid == inc.assignee_id} for pid, c in out.items()]
    return sorted(rows, key=lambda c: (not c["suggested"], c["where"] != "grid", c["role_zh"] or "", c["name"]))


def _check_candidate(session: Session, inc: models.Incident, det: IncidentDetail, person_id: int) -> dict[str, Any]:
    found = next((c for c in candidates(session, inc, det) if c["person_id"] == person_id), None)
    if found is None:
        raise InvalidInput(f"人员 {person_id} 不是此事件所属网格、社区的工作人员或本层级的接收人，不能派给他/她 (person "
                           f"{person_id} does not serve this incident's grid, community or level)",
                           detail={"assignee_id": person_id})
    return found


# --------------------------------------------------------------------------------------------- transitions
def _refuse(roles: frozenset[str], a: rules.Action) -> None:
    if not rules.role_may(roles, a):
        need = "、".join(UserRole(r).zh for r in rules.ACTION_ROLES[a])
        raise Forbidden(f"「{a.zh}」需要以下角色之一：{need} (the action {a.value} needs one of: "
                        f"{', '.join(rules.ACTION_ROLES[a])})")


def _assign(session: Session, inc: models.Incident, det: IncidentDetail, a: rules.Action, assignee_id: int | None) -> str:
    """Effects of 派遣/改派 on the assignee; returns the note's addition."""
    if assignee_id is None and a is rules.Action.REASSIGN:
        raise InvalidInput("改派须指定新的处置人 assignee_id (reassigning needs assignee_id)")
    if assignee_id is not None:
        if a is rules.Action.REASSIGN and assignee_id == inc.assignee_id:
            raise InvalidInput("新处置人与当前处置人相同 (that person already has it)")
        who = _check_candidate(session, inc, det, assignee_id)
        inc.assignee_id, det.assignee_unit, det.assignee_role = assignee_id, None, who["role"]
        return f"，派给 {who['name']}（{who['role_zh']}）"
    if inc.assignee_id is None and not det.assignee_unit:
        raise InvalidInput("无人可派：请指定 assignee_id (nobody to dispatch to: give assignee_id)")
    return ""


def _escalate(session: Session, inc: models.Incident, det: IncidentDetail, level: HandlingLevel, now: dt.datetime) -> str:
    """The next level takes the incident: a fresh deadline and its receiver (kept as data), or the 待人工派遣
    queue when none is registered; returns the note's addition."""
    cat = category_or_none(inc.category)
    if cat is not None:
        inc.due_at = rules.due_at(now, cat)
    area = rules.receiver_area(level.value, det.community_code or (inc.grid_code or "")[:12] or None)
    receivers = receivers_at(session, level=level.value, area_code=area)
    got = rules.pick_receiver(receivers, level=level.value, area_code=area, category=cat or rules.CATEGORIES["other"])
    inc.assignee_id, det.assignee_unit, det.assignee_role = got.person_id, got.unit, None
    assignment = dict(inc.assignment or {})
    assignment["escalation"] = got.as_dict()
    inc.assignment = assignment
    return f"，接收人 {got.name}（{got.duty}）" if got.person_id else "，无接收人，待人工派遣 (no receiver: manual)"


def _effects(session: Session, inc: models.Incident, det: IncidentDetail, step: rules.Step, *,
             assignee_id: int | None, due: dt.datetime | None, now: dt.datetime) -> str:
    """Apply an action's effects (assignee, deadline, level receiver, close time); the note's addition."""
    a = step.action
    extra = ""
    if a in (rules.Action.DISPATCH, rules.Action.REASSIGN):
        extra = _assign(session, inc, det, a, assignee_id)
    elif a is rules.Action.POSTPONE:
        if due is not None:
            inc.due_at = due
        elif inc.due_at is not None:
            inc.due_at = inc.due_at + dt.timedelta(hours=step.extend_h)
        extra = f"，延期 {round(step.extend_h, 2):g} 小时" + (f"，新时限 {iso(due)}" if due is not None else "")
    elif a is rules.Action.ESCALATE:
        extra = f"，{step.from_level.zh} → {step.to_level.zh}" + _escalate(session, inc, det, step.to_level, now)
    inc.state, inc.level, inc.updated_at = step.to_state.value, step.to_level.value, now
    if step.to_state is IncidentState.CLOSED:
        inc.closed_at = now
    return extra


def _step(inc: models.Incident, a: rules.Action, *, hours: float | None, due: dt.datetime | None,
          now: dt.datetime) -> rules.Step:
    """The state machine's step; a 延期 gives ``hours`` to add or the new deadline ``due`` (time-zone aware,
    later than the current deadline, at most :data:`gis.incidents.MAX_POSTPONE_H` hours later)."""
    if due is None:
        return rules.apply_action(inc.state, inc.level, a, hours=hours)
    if a is not rules.Action.POSTPONE or hours is not None:
        raise InvalidInput("due_at（新的时限）只用于延期，且不与 hours 同时给出 (due_at is for postpone only, without "
                           "hours)", detail={"action": a.value})
    if due.tzinfo is None:
        raise InvalidInput("新的时限须带时区，如 2026-12-06T18:00:00+08:00 (due_at needs a time zone)",
                           detail={"due_at": due.isoformat()})
    base = inc.due_at or now
    try:
        return rules.apply_action(inc.state, inc.level, a, hours=(due - base).total_seconds() / 3600)
    except InvalidInput as exc:  # the state allows a 延期 (else 409 above); the deadline does not
        raise InvalidInput(f"新的时限须晚于当前时限 {iso(base)}，且最多晚 {rules.MAX_POSTPONE_H} 小时 (the new deadline "
                           f"must be after the current one and at most {rules.MAX_POSTPONE_H} h later)",
                           detail={"due_at": due.isoformat(), "current": iso(base)}) from exc


def transition(session: Session, incident_id: int, action: str | rules.Action, *, actor: str,
               roles: frozenset[str] | set[str], note: str | None = None, hours: float | None = None,
               due: dt.datetime | None = None, assignee_id: int | None = None,
               now: dt.datetime | None = None) -> tuple[models.Incident, IncidentDetail]:
    """Take one action on an incident: checks the caller's role (403), the state machine (409), records the
    event (who, when, from → to, level, what changed) and applies its effects (deadline — a 延期 by ``hours``
    or to the new deadline ``due`` —, level and receiver, assignee — who must serve the incident's grid,
    community or level — and close time)."""
    now = now or utcnow()
    a = action if isinstance(action, rules.Action) else rules.parse_action(action)
    _refuse(frozenset(roles), a)
    note = rules.check_text(note, "note", 2000)
    inc, det = load(session, incident_id, lock=True)
    if det.duplicate_of is not None:
        raise rules.IllegalTransition(f"此事件是 #{det.duplicate_of} 的重复上报，随其处置 (a linked duplicate of "
                                      f"#{det.duplicate_of}: it follows that incident)",
                                      detail={"duplicate_of": det.duplicate_of})
    step = _step(inc, a, hours=hours, due=due, now=now)
    extra = _effects(session, inc, det, step, assignee_id=assignee_id, due=due, now=now)
    # the action's name leads a note when the new state does not say it (改派 → 派遣, 上报上级 → 立案)
    said = "" if a.zh == step.to_state.zh else f"{a.zh}："
    text = (said + note + (f"（{extra.lstrip('，')}）" if extra else "")) if note else f"{a.zh} ({a.value}){extra}"
    session.add(models.IncidentEvent(incident_id=inc.id, from_state=step.from_state.value, to_state=step.to_state.value,
                                     level=step.to_level.value, actor=actor, at=now, note=text))
    if step.to_state is IncidentState.CLOSED:
        _close_duplicates(session, inc, actor, now)
    session.flush()
    return inc, det


def _close_duplicates(session: Session, inc: models.Incident, actor: str, now: dt.datetime) -> None:
    rows = session.execute(
        select(models.Incident).join(IncidentDetail, IncidentDetail.incident_id == models.Incident.id)
        .where(IncidentDetail.duplicate_of == inc.id, models.Incident.state != IncidentState.CLOSED.value)
    ).scalars().all()
    for d in rows:
        session.add(models.IncidentEvent(incident_id=d.id, from_state=d.state, to_state=IncidentState.CLOSED.value,
                                         level=inc.level, actor=actor, at=now, note=f"随事件 #{inc.id} 结案 (closed with #{inc.id})"))
        d.state, d.level, d.closed_at, d.updated_at = IncidentState.CLOSED.value, inc.level, now, now


# ---------------------------------------------------------------------------------------------- overdue
def escalate_overdue(session: Session, *, now: dt.datetime | None = None, actor: str = "system:overdue",
                     scope: str | None = "") -> list[dict[str, Any]]:
    """Escalate every overdue open incident one level to its receiver. Each item says what happened: escalated
    (with the receiver, or ``manual`` when the level has none) or not, and why not (at the top level, fed back
    and waiting for verification …)."""
    now = now or utcnow()
    out = []
    for inc, det in query(session, overdue=True, scope=scope, limit=100_000, now=now):
        frm = inc.level
        late_h = (now - inc.due_at).total_seconds() / 3600 if inc.due_at else 0.0
        item = {"id": inc.id, "from_level": frm, "to_level": frm, "escalated": False, "overdue_h": round(late_h, 1)}
        why = rules.escalation_blocker(inc.state, inc.level, duplicate_of=det.duplicate_of)
        if why:
            out.append({**item, "reason": why})
            continue
        inc, det = transition(session, inc.id, rules.Action.ESCALATE, actor=actor, roles={UserRole.SYSTEM.value},
                              now=now, note=f"超期 {late_h:.1f} 小时未结，自动上报上级 (overdue: escalated automatically), "
                                            f"due {iso(inc.due_at)}")
        got = (inc.assignment or {}).get("escalation") or {}
        out.append({**item, "to_level": inc.level, "escalated": True,
                    "reason": f"超期 {late_h:.1f} 小时 (overdue by {late_h:.1f} h)",
                    "receiver": {k: got.get(k) for k in ("person_id", "name", "duty", "unit")} if got.get("person_id")
                    else None, "manual": bool(got.get("manual"))})
    return out


# ------------------------------------------------------------------------------------- after a redrawing
def _sync_one(session: Session, i: models.Incident, d: IncidentDetail, g: models.Grid | None) -> None:
    a = dict(i.assignment or {})
    if g is not None:
        d.community_code = g.community_code
        d.street_code = g.community_code[:9] + "000"
        a["grid"] = {"id": g.id, "code": g.code, "name": g.name, "kind": g.kind}
    else:
        a["grid"] = None
    cat = category_or_none(i.category)
    undispatched = (IncidentState.REPORTED, IncidentState.REGISTERED, IncidentState.RETURNED)
    if cat is not None and d.duplicate_of is None and i.state in undispatched:
        grid_staff, community_staff = staff_pool(session, grid_code=g.code if g is not None else None,
                                                 community_code=d.community_code)
        street = a.get("street_responsibility") or {}
        disp = rules.pick_assignee(
            cat, method=a.get("method", "grid"), grid_staff=grid_staff, community_staff=community_staff,
            street=rules.Street(street["name"], street["unit"], None if street.get("categories") is None
                                else tuple(street["categories"])) if street.get("unit") else None)
        i.assignee_id, d.assignee_unit = disp.person_id, disp.unit
        d.assignee_role = disp.role or cat.role.value
        a["dispatch"] = disp.as_dict()
    if d.sensitive:
        c = centroid(session, grid_id=g.id if g is not None else None, community_code=d.community_code)
        if c is not None:
            d.public_lon, d.public_lat = c
    i.assignment = a


def sync_after_reassign(session: Session, incident_ids: list[int]) -> int:
    """Bring the details of re-assigned incidents (``gridmap reassign``) in line with their new grid: grid info
    in ``assignment``, community and street, the public point of sensitive ones, and — for incidents not yet
    dispatched (上报/立案/回退) — a fresh dispatch to the new grid's staff. Dispatched ones keep their person.
    Returns the number of incidents updated."""
    if not incident_ids:
        return 0
    rows = session.execute(
        select(models.Incident, IncidentDetail, models.Grid)
        .join(IncidentDetail, IncidentDetail.incident_id == models.Incident.id)
        .outerjoin(models.Grid, models.Grid.id == models.Incident.grid_id)
        .where(models.Incident.id.in_(incident_ids)).execution_options(populate_existing=True)
    ).all()
    for i, d, g in rows:
        _sync_one(session, i, d, g)
    session.flush()
    return len(rows)
