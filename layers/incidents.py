"""Incidents in PostGIS: intake (locate + dispatch + duplicates + idempotency in one transaction), the
lifecycle with an event per transition, deadlines and overdue lists, escalation, KPIs and the three views of an
incident (public, staff, private).

The rules are in :mod:`gis.incidents`; this module reads and writes rows. Callers commit.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import and_, func, literal, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis import incidents as R
from gis.domain import HandlingLevel, IncidentState, StaffRole, UserRole, area_prefix
from gis.errors import Forbidden, InvalidInput, NotFound
from layers import locate as loc
from layers import models as m
from layers.incidents_models import IncidentDetail
from layers.settings import IncidentSettings

View = Literal["public", "staff", "private"]
S = IncidentState
L = HandlingLevel
MAX_KEY = 200
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,38}$")


_CATEGORIES: dict[str, R.Category] | None = None


def categories(*, reload: bool = False) -> dict[str, R.Category]:
    """The category table in force: the JSON file named by ``GRIDMAP_INCIDENT_CATEGORIES`` (a list of
    ``{code, zh, en, role, deadline_h[, family, sensitive, keywords]}``), else :data:`gis.incidents.CATEGORIES`."""
    global _CATEGORIES
    if _CATEGORIES is None or reload:
        path = IncidentSettings().incident_categories
        if path:
            _CATEGORIES = R.parse_categories(json.loads(Path(path).read_text(encoding="utf-8")))
        else:
            _CATEGORIES = dict(R.CATEGORIES)
    return _CATEGORIES


def _cat(value: str | None) -> R.Category | None:
    """The category of a stored code or Chinese name (rows written by other tools use names), else None."""
    try:
        return R.category_of(value, categories())
    except InvalidInput:
        return None


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


# ------------------------------------------------------------------------------------------------- helpers
def _staff(session: Session, *, grid_code: str | None = None, community_code: str | None = None,
           on: dt.date | None = None) -> list[R.Staff]:
    on = on or dt.date.today()
    sa = m.StaffAssignment
    if grid_code:
        where = sa.grid_code == grid_code
    elif community_code:
        where = and_(sa.community_code == community_code, sa.grid_code.is_(None))
    else:
        return []
    rows = session.execute(
        select(m.Person.id, sa.role, m.Person.name).join(m.Person, m.Person.id == sa.person_id)
        .where(where, sa.building_id.is_(None), sa.stairwell_id.is_(None),
               or_(sa.valid_from.is_(None), sa.valid_from <= on), or_(sa.valid_to.is_(None), sa.valid_to >= on))
    ).all()
    return [R.Staff(int(pid), role, name) for pid, role, name in rows]


def _centroid(session: Session, *, grid_id: int | None, community_code: str | None) -> tuple[float, float] | None:
    if grid_id is not None:
        row = session.execute(select(func.ST_X(func.ST_Centroid(m.Grid.geom)), func.ST_Y(func.ST_Centroid(m.Grid.geom)))
                              .where(m.Grid.id == grid_id)).first()
        if row:
            return float(row[0]), float(row[1])
    if community_code:
        row = session.execute(
            select(func.ST_X(func.ST_Centroid(m.AdminArea.geom)), func.ST_Y(func.ST_Centroid(m.AdminArea.geom)))
            .where(m.AdminArea.code == community_code, m.AdminArea.geom.isnot(None))
            .order_by(m.AdminArea.edition_year.desc()).limit(1)).first()
        if row:
            return float(row[0]), float(row[1])
    return None


def _nearby(session: Session, category: str, lon: float, lat: float, now: dt.datetime,
            radius_m: float = R.SUGGEST_RADIUS_M) -> list[R.Nearby]:
    """Open incidents of ``category`` within ``radius_m`` that are tasks themselves (not linked duplicates)."""
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    geog = func.Geography(m.Incident.geom)
    rows = session.execute(
        select(m.Incident.id, m.Incident.state, m.Incident.created_at,
               func.ST_Distance(geog, func.Geography(pt)).label("d"))
        .outerjoin(IncidentDetail, IncidentDetail.incident_id == m.Incident.id)
        .where(m.Incident.category == category, m.Incident.state != S.CLOSED.value,
               IncidentDetail.duplicate_of.is_(None),
               func.ST_DWithin(geog, func.Geography(pt), radius_m))
        .order_by(text("d"), m.Incident.id)
    ).all()
    return [R.Nearby(int(i), float(d), (now - c).total_seconds() / 3600.0, st) for i, st, c, d in rows]


def _check_reporter(name: str | None, phone: str | None) -> tuple[str | None, str | None]:
    name = R.check_text(name, "reporter_name", 100)
    phone = R.check_text(phone, "reporter_phone", 40)
    if phone and not PHONE_RE.match(phone):
        raise InvalidInput("联系电话格式不正确 (reporter_phone is not a phone number)", detail={"reporter_phone": "…"})
    return name, phone


def check_key(key: str | None) -> str | None:
    """Refuse an ``Idempotency-Key`` that is empty or longer than 200 characters."""
    if key is None:
        return None
    k = key.strip()
    if not k or len(k) > MAX_KEY or not k.isprintable():
        raise InvalidInput(f"Idempotency-Key 须为 1–{MAX_KEY} 个可见字符 (Idempotency-Key must be 1–{MAX_KEY} "
                           "printable characters)")
    return k


def _replay(session: Session, key: str, h: str) -> tuple[dict[str, Any], int] | None:
    row = session.execute(
        select(m.Incident.id, IncidentDetail.request_hash, IncidentDetail.response)
        .join(IncidentDetail, IncidentDetail.incident_id == m.Incident.id)
        .where(m.Incident.idempotency_key == key)
    ).first()
    if row is None:
        return None
    if row.request_hash != h:
        raise R.IdempotencyKeyReused(
            "该 Idempotency-Key 已用于另一个不同的请求；重试须发送相同的请求体，新请求须用新的键 (this Idempotency-Key "
            "was used with a different request body; a retry must send the same body, a new request a new key)",
            detail={"incident_id": row.id})
    return row.response, int(row.id)


# -------------------------------------------------------------------------------------------------- intake
INTAKE_FIELDS = ("category", "lon", "lat", "crs", "accuracy_m", "description", "reporter_name", "reporter_phone",
                 "reporter_email", "address", "media_url", "attributes")


def create_incident(session: Session, body: dict[str, Any], *, idempotency_key: str | None = None,
                    channel: str = "api", actor: str = "anonymous", now: dt.datetime | None = None,
                    table: dict[str, R.Category] | None = None) -> tuple[dict[str, Any], bool, int]:
    """Locate, check for duplicates, dispatch and store one incident; ``(answer, replayed, incident id)``.

    The answer is the locate answer (grid, community, responsible people, plan, ``assignment``) plus
    ``incident`` (id, state, deadline, who it was dispatched to, duplicates). With an ``idempotency_key`` that was
    seen before with the same body the first answer is returned and nothing is stored (``replayed``); with a
    different body :class:`~gis.incidents.IdempotencyKeyReused`. Bad input raises before anything is written.
    """
    now = now or utcnow()
    body = {k: body.get(k) for k in INTAKE_FIELDS}
    key = check_key(idempotency_key)
    h = R.request_hash(body)
    if key:
        hit = _replay(session, key, h)
        if hit is not None:
            return hit[0], True, hit[1]
    cat = R.category_of(body["category"], table or categories())
    description = R.check_text(body["description"], "description")
    name, phone = _check_reporter(body["reporter_name"], body["reporter_phone"])
    email = R.check_text(body["reporter_email"], "reporter_email", 200)
    address = R.check_text(body["address"], "address", 300)
    media_url = R.check_text(body["media_url"], "media_url", 1000)
    if body["lon"] is None or body["lat"] is None:
        raise InvalidInput("须给出经纬度 lon 和 lat (lon and lat are required)")
    try:
        lon, lat = float(body["lon"]), float(body["lat"])
    except (TypeError, ValueError) as exc:
        raise InvalidInput("lon/lat 须为数字 (lon and lat must be numbers)") from exc
    acc = body["accuracy_m"]
    if acc is not None and not (isinstance(acc, (int, float)) and math.isfinite(acc)):
        raise InvalidInput("accuracy_m 须为有限的米数 (accuracy_m must be a finite number of metres)")
    answer = loc.locate(session, lon, lat, crs=body["crs"] or "wgs84", accuracy_m=acc)
    wlon, wlat = answer["point"]["lon"], answer["point"]["lat"]
    grid = answer["grid"]
    community_code = (answer["community"] or {}).get("code")
    street_code = community_code[:9] + "000" if community_code else None
    method = answer["assignment"]["method"]

    dups = R.classify_duplicates(_nearby(session, cat.code, wlon, wlat, now))
    if dups.duplicate_of is not None:
        dispatch = R.Dispatch(None, None, None, None, "duplicate",
                              f"与事件 #{dups.duplicate_of} 重复（同类、{R.LINK_RADIUS_M:g} 米、{R.LINK_WINDOW_H:g} 小时内），"
                              f"已关联，不另行派遣 (a duplicate of #{dups.duplicate_of}: linked, not a second task)")
    else:
        dispatch = R.pick_assignee(
            cat, method=method,
            grid_staff=_staff(session, grid_code=grid["code"]) if grid else [],
            community_staff=_staff(session, community_code=community_code) if community_code else [],
            street_unit=(answer["street_responsibility"] or {}).get("unit"))
    public = (wlon, wlat)
    if cat.sensitive:
        public = _centroid(session, grid_id=grid["id"] if grid else None, community_code=community_code) \
            or (round(wlon, 2), round(wlat, 2))
    level = L.COMMUNITY.value if method == "community" else L.GRID.value
    inc = m.Incident(
        category=cat.code, description=description, state=S.REPORTED.value, level=level,
        geom=func.ST_SetSRID(func.ST_MakePoint(wlon, wlat), 4326),
        original_lon=lon, original_lat=lat, original_crs=answer["input"]["crs"],
        plan_id=answer["plan"]["id"], grid_id=grid["id"] if grid else None, grid_code=grid["code"] if grid else None,
        assignment={**answer["assignment"], "dispatch": dispatch.as_dict(), "grid": grid,
                    "community": answer["community"], "street_responsibility": answer["street_responsibility"],
                    "plan": answer["plan"]},
        assignee_id=dispatch.person_id, reporter_name=name, reporter_phone=phone, idempotency_key=key,
        due_at=None if dups.duplicate_of else R.due_at(now, cat), created_at=now, updated_at=now,
        source=f"report:{channel}",
    )
    if not key:
        session.add(inc)
        session.flush()
    else:
        try:
            with session.begin_nested():  # a savepoint: a concurrent request with the same key may win
                session.add(inc)
                session.flush()
        except IntegrityError:
            # Another request with the same key won the race: answer as it did.
            hit = _replay(session, key, h)
            if hit is None:
                raise
            return hit[0], True, hit[1]
    det = IncidentDetail(
        incident_id=inc.id, request_hash=h, token=str(uuid.uuid4()), channel=channel,
        community_code=community_code, street_code=street_code, assignee_role=dispatch.role or cat.role.value,
        assignee_unit=dispatch.unit, duplicate_of=dups.duplicate_of, sensitive=cat.sensitive,
        public_lon=float(public[0]), public_lat=float(public[1]),
        private={k: v for k, v in {"email": email}.items() if v},
        extra={k: v for k, v in {"address": address, "media_url": media_url,
                                 "attributes": body["attributes"] or None}.items() if v},
        response={},
    )
    session.add(m.IncidentEvent(incident_id=inc.id, from_state=None, to_state=S.REPORTED.value, level=level,
                                actor=actor, note=f"上报 (reported via {channel})", at=now))
    result = {
        **answer,
        "incident": {
            **_public_core(inc, det, now),
            "dispatch": dispatch.as_dict(),
            "duplicate_of": dups.duplicate_of,
            "duplicates": [{"id": n.incident_id, "distance_m": round(n.distance_m, 1), "state": n.state,
                            "age_h": round(n.age_h, 2)} for n in dups.suggestions],
            "token": det.token,
        },
    }
    det.response = result
    session.add(det)
    session.flush()
    return result, False, inc.id


# --------------------------------------------------------------------------------------------------- views
def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def _public_core(inc: m.Incident, det: IncidentDetail, now: dt.datetime) -> dict[str, Any]:
    cat = _cat(inc.category)
    grid = (inc.assignment or {}).get("grid") or (
        {"code": inc.grid_code, "name": None} if inc.grid_code else None)
    return {
        "id": inc.id,
        "category": cat.code if cat else inc.category, "category_zh": cat.zh if cat else inc.category,
        "state": inc.state, "state_zh": S(inc.state).zh, "level": inc.level, "level_zh": L(inc.level).zh,
        "status": R.open311_status(inc.state),
        "grid": {"code": grid["code"], "name": grid["name"]} if grid else None,
        "community_code": det.community_code,
        "point": {"lon": round(det.public_lon, 6), "lat": round(det.public_lat, 6),
                  "snapped": bool(det.sensitive)},
        "description": None if det.sensitive else inc.description,
        "created_at": _iso(inc.created_at), "updated_at": _iso(inc.updated_at),
        "due_at": _iso(inc.due_at), "closed_at": _iso(inc.closed_at),
        "overdue": R.is_overdue(inc.due_at, inc.closed_at, now) if det.duplicate_of is None else False,
        "duplicate_of": det.duplicate_of,
    }


def view(session: Session, inc: m.Incident, det: IncidentDetail, kind: View, *,
         now: dt.datetime | None = None) -> dict[str, Any]:
    """An incident as ``public`` (no personal data, sensitive points snapped, sensitive text hidden), ``staff``
    (exact point, original coordinates, assignment, assignee) or ``private`` (staff plus the reporter)."""
    now = now or utcnow()
    out = _public_core(inc, det, now)
    if kind == "public":
        return out
    lon, lat = session.execute(select(func.ST_X(m.Incident.geom), func.ST_Y(m.Incident.geom))
                               .where(m.Incident.id == inc.id)).one()
    assignee = None
    if inc.assignee_id is not None:
        p = session.get(m.Person, inc.assignee_id)
        assignee = {"person_id": p.id, "name": p.name, "public_phone": p.public_phone} if p else None
    out.update({
        "description": inc.description,
        "point": {"lon": round(float(lon), 8), "lat": round(float(lat), 8), "snapped": False},
        "public_point": {"lon": det.public_lon, "lat": det.public_lat},
        "original": {"lon": inc.original_lon, "lat": inc.original_lat, "crs": inc.original_crs},
        "plan_id": inc.plan_id,
        "assignment": inc.assignment,
        "assignee": assignee,
        "assignee_role": det.assignee_role,
        "assignee_unit": det.assignee_unit,
        "street_code": det.street_code,
        "sensitive": det.sensitive,
        "channel": det.channel,
        "token": det.token,
        "extra": det.extra,
        "allowed_actions": [] if det.duplicate_of else R.allowed_actions(inc.state, inc.level),
    })
    if kind == "private":
        out["reporter"] = {"name": inc.reporter_name, "phone": inc.reporter_phone, **det.private}
    return out


def load(session: Session, incident_id: int, *, lock: bool = False) -> tuple[m.Incident, IncidentDetail]:
    """The incident and its details; :class:`NotFound` if there is none."""
    q = select(m.Incident, IncidentDetail).outerjoin(IncidentDetail, IncidentDetail.incident_id == m.Incident.id) \
        .where(m.Incident.id == incident_id)
    if lock:
        q = q.with_for_update(of=m.Incident)
    row = session.execute(q).first()
    if row is None:
        raise NotFound(f"没有编号为 {incident_id} 的事件 (no incident {incident_id})", detail={"id": incident_id})
    return row[0], row[1] if row[1] is not None else _default_detail(session, row[0], persist=lock)


def _default_detail(session: Session, inc: m.Incident, *, persist: bool = False) -> IncidentDetail:
    """Details for an incident written by another tool (no ``incident_details`` row): derived from its grid code
    and category; stored when the incident is about to change (``persist``)."""
    cat = _cat(inc.category)
    community = inc.grid_code[:12] if inc.grid_code else None
    sensitive = bool(cat and cat.sensitive)
    pt = _centroid(session, grid_id=inc.grid_id, community_code=community) if sensitive else None
    if pt is None:
        pt = session.execute(select(func.ST_X(m.Incident.geom), func.ST_Y(m.Incident.geom))
                             .where(m.Incident.id == inc.id)).one()
        if sensitive:
            pt = (round(pt[0], 2), round(pt[1], 2))
    det = IncidentDetail(incident_id=inc.id, request_hash="", token=str(uuid.uuid4()), channel=inc.source or "import",
                         community_code=community, street_code=community[:9] + "000" if community else None,
                         assignee_role=cat.role.value if cat else None, assignee_unit=None, duplicate_of=None,
                         sensitive=sensitive, public_lon=float(pt[0]), public_lat=float(pt[1]), private={}, extra={},
                         response={})
    if persist:
        session.add(det)
    return det


def by_token(session: Session, token: str) -> int:
    """The incident id of an Open311 token; :class:`NotFound` if unknown."""
    iid = session.scalar(select(IncidentDetail.incident_id).where(IncidentDetail.token == token))
    if iid is None:
        raise NotFound(f"没有此令牌 {token} (no request with token {token})")
    return int(iid)


def _scope_filter(scope: str | None):
    """Incidents whose grid code or community code starts with ``scope``'s prefix (``""``: all)."""
    if scope is None:
        return literal(False)
    if scope == "":
        return literal(True)
    p = area_prefix(scope) + "%"
    return or_(m.Incident.grid_code.like(p), IncidentDetail.community_code.like(p))


def query(session: Session, *, ids: list[int] | None = None, state: list[str] | None = None,
          status: str | None = None, category: list[str] | None = None, grid_code: str | None = None,
          community_code: str | None = None, assignee_id: int | None = None, scope: str | None = "",
          overdue: bool | None = None,
          include_duplicates: bool = True, since: dt.datetime | None = None, until: dt.datetime | None = None,
          limit: int = 100, offset: int = 0, now: dt.datetime | None = None
          ) -> list[tuple[m.Incident, IncidentDetail]]:
    """Incidents filtered by id, state, Open311 status, category, grid, community, scope, overdue, report time;
    newest first."""
    now = now or utcnow()
    q = select(m.Incident, IncidentDetail).outerjoin(IncidentDetail, IncidentDetail.incident_id == m.Incident.id) \
        .where(_scope_filter(scope))
    if ids is not None:
        q = q.where(m.Incident.id.in_(ids))
    if state:
        q = q.where(m.Incident.state.in_(state))
    if status == "open":
        q = q.where(m.Incident.state != S.CLOSED.value)
    elif status == "closed":
        q = q.where(m.Incident.state == S.CLOSED.value)
    if category:
        q = q.where(m.Incident.category.in_(category))
    if grid_code:
        q = q.where(m.Incident.grid_code == grid_code)
    if community_code:
        q = q.where(func.coalesce(IncidentDetail.community_code, func.substr(m.Incident.grid_code, 1, 12))
                    == community_code)
    if assignee_id is not None:
        q = q.where(m.Incident.assignee_id == assignee_id)
    if not include_duplicates:
        q = q.where(IncidentDetail.duplicate_of.is_(None))
    if overdue is True:
        q = q.where(m.Incident.state != S.CLOSED.value, m.Incident.due_at < now, IncidentDetail.duplicate_of.is_(None))
    elif overdue is False:
        q = q.where(or_(m.Incident.due_at.is_(None), m.Incident.due_at >= func.coalesce(m.Incident.closed_at, now)))
    if since is not None:
        q = q.where(m.Incident.created_at >= since)
    if until is not None:
        q = q.where(m.Incident.created_at <= until)
    q = q.order_by(m.Incident.created_at.desc(), m.Incident.id.desc()).limit(limit).offset(offset)
    return [(a, b if b is not None else _default_detail(session, a)) for a, b in session.execute(q).all()]


def events(session: Session, incident_id: int) -> list[dict[str, Any]]:
    """Every transition of an incident, oldest first: from → to, level, who, when, note."""
    load(session, incident_id)
    rows = session.scalars(select(m.IncidentEvent).where(m.IncidentEvent.incident_id == incident_id)
                           .order_by(m.IncidentEvent.at, m.IncidentEvent.id)).all()
    return [{"from_state": e.from_state, "to_state": e.to_state, "to_state_zh": S(e.to_state).zh,
             "level": e.level, "actor": e.actor, "note": e.note, "at": _iso(e.at)} for e in rows]


# ----------------------------------------------------------------------------------------------- lifecycle
def _may(roles: frozenset[str], action: R.Action) -> bool:
    return UserRole.ADMIN.value in roles or bool(roles & set(R.ACTION_ROLES[action]))


def transition(session: Session, incident_id: int, action: str | R.Action, *, actor: str,
               roles: frozenset[str] | set[str], note: str | None = None, hours: float | None = None,
               assignee_id: int | None = None, now: dt.datetime | None = None) -> tuple[m.Incident, IncidentDetail]:
    """Take one action on an incident: checks the caller's role (403), the state machine (409), records the
    event (who, when, from → to, level) and applies its effects (deadline, level, assignee, close time)."""
    now = now or utcnow()
    a = action if isinstance(action, R.Action) else R.parse_action(action)
    roles = frozenset(roles)
    if not _may(roles, a):
        need = "、".join(UserRole(r).zh for r in R.ACTION_ROLES[a])
        raise Forbidden(f"「{a.zh}」需要以下角色之一：{need} (the action {a.value} needs one of: "
                        f"{', '.join(R.ACTION_ROLES[a])})")
    note = R.check_text(note, "note", 2000)
    inc, det = load(session, incident_id, lock=True)
    if det.duplicate_of is not None:
        raise R.IllegalTransition(f"此事件是 #{det.duplicate_of} 的重复上报，随其处置 (a linked duplicate of "
                                  f"#{det.duplicate_of}: it follows that incident)",
                                  detail={"duplicate_of": det.duplicate_of})
    step = R.apply_action(inc.state, inc.level, a, hours=hours)
    if a is R.Action.DISPATCH and assignee_id is not None:
        if session.get(m.Person, assignee_id) is None:
            raise InvalidInput(f"没有编号为 {assignee_id} 的人员 (no person {assignee_id})")
        inc.assignee_id = assignee_id
        det.assignee_unit = None
    if a is R.Action.DISPATCH and inc.assignee_id is None and det.assignee_unit is None:
        raise InvalidInput("无人可派：请指定 assignee_id (nobody to dispatch to: give assignee_id)")
    if a is R.Action.POSTPONE and inc.due_at is not None:
        inc.due_at = inc.due_at + dt.timedelta(hours=step.extend_h)
    if a is R.Action.ESCALATE:
        _escalate_effects(session, inc, det, step.to_level, now)
    inc.state = step.to_state.value
    inc.level = step.to_level.value
    inc.updated_at = now
    if step.to_state is S.CLOSED:
        inc.closed_at = now
    session.add(m.IncidentEvent(incident_id=inc.id, from_state=step.from_state.value, to_state=step.to_state.value,
                                level=step.to_level.value, actor=actor, at=now,
                                note=note or f"{a.zh} ({a.value})"
                                + (f"，{step.from_level.zh} → {step.to_level.zh}" if a is R.Action.ESCALATE else "")
                                + (f"，延期 {step.extend_h:g} 小时" if a is R.Action.POSTPONE else "")))
    if step.to_state is S.CLOSED:
        _close_duplicates(session, inc, actor, now)
    session.flush()
    return inc, det


def _escalate_effects(session: Session, inc: m.Incident, det: IncidentDetail, level: L, now: dt.datetime) -> None:
    """The next level takes the incident: a fresh deadline; at community level the community's own 网格长,
    above it the street or district office as the responsible unit."""
    cat = _cat(inc.category)
    if cat is not None:
        inc.due_at = R.due_at(now, cat)
    inc.assignee_id = None
    det.assignee_unit = None
    if level is L.COMMUNITY and det.community_code:
        heads = [s for s in _staff(session, community_code=det.community_code)
                 if s.role == StaffRole.GRID_HEAD.value]
        if heads:
            inc.assignee_id = sorted(heads, key=lambda s: (s.name, s.person_id))[0].person_id
        det.assignee_unit = None if heads else _area_name(session, det.community_code)
    elif level is L.STREET and det.street_code:
        det.assignee_unit = _area_name(session, det.street_code) or det.street_code
    elif level is L.DISTRICT:
        county = (det.community_code or inc.grid_code or "")[:6]
        det.assignee_unit = (_area_name(session, county + "000000") if county else None) or "区/部门"


def _area_name(session: Session, code: str) -> str | None:
    return session.scalar(select(m.AdminArea.name).where(m.AdminArea.code == code)
                          .order_by(m.AdminArea.edition_year.desc()).limit(1))


def _close_duplicates(session: Session, inc: m.Incident, actor: str, now: dt.datetime) -> None:
    rows = session.execute(
        select(m.Incident).join(IncidentDetail, IncidentDetail.incident_id == m.Incident.id)
        .where(IncidentDetail.duplicate_of == inc.id, m.Incident.state != S.CLOSED.value)
    ).scalars().all()
    for d in rows:
        session.add(m.IncidentEvent(incident_id=d.id, from_state=d.state, to_state=S.CLOSED.value, level=inc.level,
                                    actor=actor, at=now, note=f"随事件 #{inc.id} 结案 (closed with #{inc.id})"))
        d.state, d.level, d.closed_at, d.updated_at = S.CLOSED.value, inc.level, now, now


def escalate_overdue(session: Session, *, now: dt.datetime | None = None, actor: str = "system:overdue",
                     scope: str | None = "") -> list[dict[str, Any]]:
    """Escalate every overdue open incident one level (those already at 区/部门 stay, listed as ``stuck``)."""
    now = now or utcnow()
    out = []
    for inc, _det in query(session, overdue=True, scope=scope, limit=100_000, now=now):
        esc = R.Action.ESCALATE.value in R.allowed_actions(inc.state, inc.level)
        frm = inc.level
        if not esc:
            out.append({"id": inc.id, "from_level": frm, "to_level": frm, "escalated": False})
            continue
        transition(session, inc.id, R.Action.ESCALATE, actor=actor, roles={UserRole.SYSTEM.value}, now=now,
                   note=f"超期未结，自动上报上级 (overdue: escalated automatically), due {_iso(inc.due_at)}")
        out.append({"id": inc.id, "from_level": frm, "to_level": inc.level, "escalated": True})
    return out


def sync_after_reassign(session: Session, incident_ids: list[int]) -> int:
    """Bring the details of re-assigned incidents (``gridmap reassign``) in line with their new grid: grid info
    in ``assignment``, community and street, the public point of sensitive ones, and — for incidents not yet
    dispatched (上报/立案/回退) — a fresh dispatch to the new grid's staff. Dispatched ones keep their person.
    Returns the number of incidents updated."""
    if not incident_ids:
        return 0
    rows = session.execute(
        select(m.Incident, IncidentDetail, m.Grid)
        .join(IncidentDetail, IncidentDetail.incident_id == m.Incident.id)
        .outerjoin(m.Grid, m.Grid.id == m.Incident.grid_id)
        .where(m.Incident.id.in_(incident_ids)).execution_options(populate_existing=True)
    ).all()
    redispatch = {S.REPORTED.value, S.REGISTERED.value, S.RETURNED.value}
    for i, d, g in rows:
        a = dict(i.assignment or {})
        if g is not None:
            d.community_code = g.community_code
            d.street_code = g.community_code[:9] + "000"
            a["grid"] = {"id": g.id, "code": g.code, "name": g.name, "kind": g.kind}
        else:
            a["grid"] = None
        cat = _cat(i.category)
        if cat is not None and d.duplicate_of is None and i.state in redispatch:
            disp = R.pick_assignee(
                cat, method=a.get("method", "grid"),
                grid_staff=_staff(session, grid_code=g.code) if g is not None else [],
                community_staff=_staff(session, community_code=d.community_code) if d.community_code else [],
                street_unit=a.get("responsible_unit"))
            i.assignee_id, d.assignee_unit = disp.person_id, disp.unit
            d.assignee_role = disp.role or cat.role.value
            a["dispatch"] = disp.as_dict()
        if d.sensitive:
            c = _centroid(session, grid_id=g.id if g is not None else None, community_code=d.community_code)
            if c is not None:
                d.public_lon, d.public_lat = c
        i.assignment = a
    session.flush()
    return len(rows)


# ---------------------------------------------------------------------------------------------------- KPIs
def kpis(session: Session, by: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
         scope: str | None = "", now: dt.datetime | None = None) -> dict[str, Any]:
    """KPIs by grid, community, street, month or category (see :func:`gis.incidents.kpi_table`), duplicates left
    out, with the names of areas and grids and an overall row."""
    now = now or utcnow()
    if by not in R.KPI_BY:
        raise InvalidInput(f"by 须为 {'|'.join(R.KPI_BY)} (by must be one of {', '.join(R.KPI_BY)})")
    community = func.coalesce(IncidentDetail.community_code, func.substr(m.Incident.grid_code, 1, 12))
    street = func.coalesce(IncidentDetail.street_code, func.concat(func.substr(m.Incident.grid_code, 1, 9), "000"))
    q = select(m.Incident.grid_code, community, street, m.Incident.category,
               m.Incident.state, m.Incident.level, m.Incident.created_at, m.Incident.due_at, m.Incident.closed_at) \
        .outerjoin(IncidentDetail, IncidentDetail.incident_id == m.Incident.id) \
        .where(IncidentDetail.duplicate_of.is_(None), _scope_filter(scope))
    if since is not None:
        q = q.where(m.Incident.created_at >= since)
    if until is not None:
        q = q.where(m.Incident.created_at <= until)
    cols = ["grid_code", "community_code", "street_code", "category", "state", "level", "created_at", "due_at",
            "closed_at"]
    df = pd.DataFrame(session.execute(q).all(), columns=cols)
    codes = {v: (c.code if (c := _cat(v)) else v) for v in df["category"].unique()}
    df["category"] = df["category"].map(codes)
    rows = R.kpi_table(df, by, now=now)
    total = R.kpi_table(df.assign(category="(all)"), "category", now=now)
    if by in ("community", "street"):
        names = dict(session.execute(select(m.AdminArea.code, m.AdminArea.name)).all())
        for r in rows:
            r["name"] = names.get(r[by])
    elif by == "grid":
        names = dict(session.execute(select(m.Grid.code, m.Grid.name).order_by(m.Grid.plan_id)).all())
        for r in rows:
            r["name"] = names.get(r[by])
    elif by == "category":
        for r in rows:
            c = _cat(r[by])
            r["name"] = c.zh if c else None
    summary = total[0] if total else None
    if summary:
        summary.pop("category", None)
    return {"by": by, "target_low_level_rate": R.KPI_TARGET, "rows": rows, "overall": summary}
