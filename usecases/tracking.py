"""What a resident sees with their tracking token (``/api/v1/track/{token}``, ``/maps/track/{token}``): what they
sent, where it stands, each step with its time, who took it (the name as published on the grid's board, or the
unit), and — once it is done — their rating.

Nothing personal is shown: not the resident's own name or phone (a token may be passed on), not who in the
office moved it; only the person or unit serving the resident, as the public 公示牌 names them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.domain import IncidentState
from gis.errors import Conflict
from gis.services import SERVICE_CATEGORIES, OrderState, TrackKind, WishState
from layers import incidents, models, services, wishes
from layers import tracking as tracks
from layers.services_models import ResidentTrack

ORDER_STEPS = {"place": "居民点单", "dispatch": "社区已派单，等待党员接单", "accept": "党员已接单",
               "refuse": "党员未能接单，退回社区重新派单", "give_up": "党员退回此单，社区重新派单",
               "fulfil": "已办结", "rate": "已评价"}
NOT_DONE = "还没有办结，办结后才能评价 (not done yet: rate it when it is done)"


def _when(t: dt.datetime | None, zone: dt.tzinfo) -> str | None:
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M") if t else None


def _person_name(session: Session, person_id: int | None) -> str | None:
    return session.scalar(select(models.Person.name).where(models.Person.id == person_id)) if person_id else None


def _report(session: Session, track: ResidentTrack, zone: dt.tzinfo) -> dict:
    inc, det = incidents.load(session, track.object_id)
    cat = incidents.categories().get(inc.category)
    events = incidents.events(session, inc.id)
    name = det.assignee_unit or _person_name(session, inc.assignee_id)
    grid = (inc.assignment or {}).get("grid") or {}
    return {"title": cat.zh if cat else inc.category, "detail": None if det.sensitive else inc.description,
            "state": inc.state, "state_zh": IncidentState(inc.state).zh, "done": inc.state == "closed",
            "steps": [{"zh": e["to_state_zh"], "at": _when(dt.datetime.fromisoformat(e["at"]), zone)} for e in events],
            "taker": {"name": name, "role_zh": "处置人"} if name else None, "place": grid.get("name"),
            "due": _when(inc.due_at, zone), "rating": track.rating}


def _order(session: Session, track: ResidentTrack, zone: dt.tzinfo) -> dict:
    order = services.get_order(session, track.object_id)
    taker = _person_name(session, order.taker_id)
    steps = []
    for e in services.order_events(session, order.id):
        zh = ORDER_STEPS.get(e.action, e.action)
        if e.action == "accept" and taker and e.person_id == order.taker_id:
            zh = f"党员 {taker} 已接单"
        steps.append({"zh": zh, "at": _when(e.at, zone)})
    grid = session.scalar(select(models.Grid.name).where(models.Grid.code == order.grid_code).order_by(models.Grid.plan_id.desc()))
    return {"title": SERVICE_CATEGORIES[order.category].zh, "detail": order.description, "state": order.state,
            "state_zh": OrderState(order.state).zh,
            "done": order.state in (OrderState.FULFILLED.value, OrderState.CLOSED.value),
            "steps": steps, "taker": {"name": taker, "role_zh": "接单党员"} if taker else None, "place": grid,
            "due": _when(order.due_at, zone), "rating": order.rating}


def _wish(session: Session, track: ResidentTrack, zone: dt.tzinfo) -> dict:
    wish = wishes.get_wish(session, track.object_id)
    name = wish.claimer_unit or _person_name(session, wish.claimer_id)
    steps = [{"zh": "发布心愿", "at": _when(wish.posted_at, zone)}]
    if wish.claimed_at:
        steps.append({"zh": f"{name}认领" if name else "已认领", "at": _when(wish.claimed_at, zone)})
    if wish.fulfilled_at:
        steps.append({"zh": "心愿已实现", "at": _when(wish.fulfilled_at, zone)})
    grid = session.scalar(select(models.Grid.name).where(models.Grid.code == wish.grid_code).order_by(models.Grid.plan_id.desc()))
    return {"title": wish.title, "detail": wish.description, "state": wish.state,
            "state_zh": WishState(wish.state).zh, "done": wish.state == WishState.FULFILLED.value, "steps": steps,
            "taker": {"name": name, "role_zh": "认领单位" if wish.claimer_unit else "认领党员"} if name else None,
            "place": grid, "due": None, "rating": track.rating}


VIEWS = {TrackKind.REPORT: _report, TrackKind.ORDER: _order, TrackKind.WISH: _wish}


def track(session: Session, token: str, *, zone: dt.tzinfo) -> dict:
    """The resident's view of what the token stands for; :class:`NotFound` for a token that is none."""
    found = tracks.find(session, token)
    kind = TrackKind(found.kind)
    view = VIEWS[kind](session, found, zone)
    return {"token": found.token, "kind": kind.value, "kind_zh": kind.zh, **view,
            "can_rate": view["done"] and view["rating"] is None, "sent_at": _when(found.created_at, zone)}


def rate(session: Session, token: str, *, rating: int, feedback: str | None, zone: dt.tzinfo) -> dict:
    """The resident rates what they sent, once it is done (an order's rating also closes it)."""
    found = tracks.find(session, token)
    feedback = (feedback or "").strip()[:300] or None
    view = VIEWS[TrackKind(found.kind)](session, found, zone)
    if view["rating"] is not None:
        raise Conflict("已经评价过了，谢谢 (already rated; thank you)")
    if not view["done"]:
        raise Conflict(NOT_DONE)
    if found.kind == TrackKind.ORDER.value:
        order = services.get_order(session, found.object_id)
        services.rate_order(session, order.id, token=order.resident_token, rating=rating, feedback=feedback)
    else:
        tracks.rate(found, rating, feedback, now=dt.datetime.now(dt.timezone.utc))
    session.flush()
    return track(session, token, zone=zone)
