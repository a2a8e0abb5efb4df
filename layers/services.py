"""三单 in PostGIS as in Jinchang: 居民点单 (a resident places an order) → 社区派单 (the community offers it to one
party member) → 党员接单 (that party member accepts it — or refuses it, which returns it to the community) → 办结
→ the resident's rating closes it. Every move is an event (``service_order_events``) with who and when; the
resident follows the order with its tracking token (:mod:`layers.tracking`, the same token rates it).

Residents' names and phones are stored for the staff who serve them; functions that return them are for staff
routes only. 微心愿 live in :mod:`layers.wishes`.
"""

from __future__ import annotations

import datetime as dt
import secrets

import numpy as np
from sqlalchemy import ColumnElement, and_, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from gis.domain import StaffRole
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound
from gis.services import (
    ORDER_MOVES,
    SERVICE_CATEGORIES,
    OrderState,
    TrackKind,
    WishState,
    check_move,
    rank_takers,
)
from layers import models, tracking
from layers.db import get_or_not_found
from layers.features import PLAN_IN_FORCE_SQL
from layers.locate import locate
from layers.services_models import ServiceOrder, ServiceOrderEvent, Wish


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _category(code: str):
    cat = SERVICE_CATEGORIES.get(code)
    if cat is None:
        raise InvalidInput(
            f"未知服务类别 {code!r}；可用：{', '.join(SERVICE_CATEGORIES)} (unknown service category)",
            detail={"accepted": list(SERVICE_CATEGORIES)},
        )
    return cat


def place_order(
    session: Session,
    *,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    category: str,
    description: str | None = None,
    resident_name: str | None = None,
    resident_phone: str | None = None,
    source: str = "api",
) -> ServiceOrder:
    """居民点单: store a resident's order in the grid that serves its location, with a tracking token that is also
    its rating token (the caller commits).

    The grid is found by the service's one rule set (:func:`layers.locate.locate`): coordinates are checked
    and converted to WGS84 there, and the original ones are kept on the order. A place in no community and no
    grid of the plan in force is refused: no community could dispatch the order.
    """
    _category(category)
    answer = locate(session, lon, lat, crs=crs)
    grid, community = answer["grid"], answer["community"]
    if grid is None and community is None:
        raise InvalidInput("此处不在任何社区或网格内（可能在城区以外），没有社区可以派单。请在地图上点选您所在的位置 "
                           "(this place is in no community or grid: choose where you are)",
                           detail={"fields": {"place": "此处不在任何社区或网格内，请重新点选"}})
    wlon, wlat = answer["point"]["lon"], answer["point"]["lat"]
    order = ServiceOrder(
        category=category, description=description, state=OrderState.PLACED.value,
        geom=f"SRID=4326;POINT({wlon} {wlat})", original_lon=float(lon), original_lat=float(lat),
        original_crs=answer["input"]["crs"], grid_code=grid["code"] if grid else None,
        community_code=community["code"] if community else None,
        resident_name=resident_name, resident_phone=resident_phone, source=source,
        resident_token=secrets.token_urlsafe(24),
    )
    session.add(order)
    session.flush()
    order.resident_token = tracking.issue(session, TrackKind.ORDER, order.id)
    _event(session, order, None, "place", actor=f"resident:{source}")
    return order


def get_order(session: Session, order_id: int, *, lock: bool = False) -> ServiceOrder:
    """The order (locked for the move about to be made when ``lock``), or NotFound."""
    return get_or_not_found(session, ServiceOrder, order_id, f"没有服务单 {order_id} (no order {order_id})", lock=lock)


def _event(session: Session, order: ServiceOrder, from_state: str | None, action: str, *, actor: str,
           person_id: int | None = None, note: str | None = None) -> None:
    session.add(ServiceOrderEvent(order_id=order.id, from_state=from_state, to_state=order.state, action=action,
                                  actor=actor, person_id=person_id, note=note, at=_now()))
    session.flush()


def _move(session: Session, order: ServiceOrder, target: OrderState, action: str, *, actor: str,
          person_id: int | None = None, note: str | None = None) -> None:
    before = order.state
    check_move(before, target.value, ORDER_MOVES)
    order.state = target.value
    _event(session, order, before, action, actor=actor, person_id=person_id, note=note)


def refused_by(session: Session, order_id: int) -> set[int]:
    """The party members who refused or gave up this order."""
    return set(session.scalars(select(ServiceOrderEvent.person_id).where(
        ServiceOrderEvent.order_id == order_id, ServiceOrderEvent.action.in_(("refuse", "give_up")),
        ServiceOrderEvent.person_id.is_not(None))))


def dispatch_order(session: Session, order_id: int, *, actor: str, taker_id: int) -> ServiceOrder:
    """社区派单: offer the order to one party member, who must then accept it (or refuse it); the deadline runs
    from now. A party member who already refused this order is not offered it again."""
    order = get_order(session, order_id, lock=True)
    if not is_party_member(session, taker_id):
        raise InvalidInput(f"人员 {taker_id} 不是党员，不能派单给他 (person {taker_id} is not a party member)",
                           detail={"fields": {"taker_id": "请选择一名党员"}})
    if taker_id in refused_by(session, order_id):
        raise Conflict(f"党员 {taker_id} 已拒绝过此单，请派给其他党员 (this party member refused the order before)",
                       detail={"taker_id": taker_id})
    _move(session, order, OrderState.DISPATCHED, "dispatch", actor=actor, person_id=taker_id)
    order.offered_to_id = taker_id
    order.dispatched_by = actor
    order.dispatched_at = _now()
    order.due_at = order.dispatched_at + dt.timedelta(hours=_category(order.category).deadline_hours)
    session.flush()
    return order


def _offered_to(order: ServiceOrder, person_id: int) -> None:
    if order.state == OrderState.DISPATCHED.value and order.offered_to_id != person_id:
        raise Forbidden("此单派给了其他党员，只有被派单的党员可以接单或拒绝 (this order was offered to another party member)")


def accept_order(session: Session, order_id: int, *, person_id: int, actor: str) -> ServiceOrder:
    """党员接单: the party member the order was offered to accepts it."""
    order = get_order(session, order_id, lock=True)
    _offered_to(order, person_id)
    _move(session, order, OrderState.TAKEN, "accept", actor=actor, person_id=person_id)
    order.taker_id, order.taken_at, order.offered_to_id = person_id, _now(), None
    session.flush()
    return order


def refuse_order(session: Session, order_id: int, *, person_id: int, actor: str, reason: str) -> ServiceOrder:
    """The party member refuses the order offered to them, or gives up one they took: it returns to the
    community (居民点单 again, to be dispatched to someone else), with the reason kept."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("请说明不能接单的原因 (give a reason)", detail={"fields": {"reason": "请填写原因"}})
    order = get_order(session, order_id, lock=True)
    if order.state == OrderState.TAKEN.value and order.taker_id != person_id:
        raise Forbidden("此单由其他党员承接，只有承接的党员可以退回 (another party member took this order)")
    _offered_to(order, person_id)
    action = "give_up" if order.state == OrderState.TAKEN.value else "refuse"
    _move(session, order, OrderState.PLACED, action, actor=actor, person_id=person_id, note=reason[:500])
    order.offered_to_id = order.taker_id = order.taken_at = order.due_at = None
    session.flush()
    return order


def fulfil_order(session: Session, order_id: int, *, actor: str, person_id: int | None = None) -> ServiceOrder:
    """The service is done: reported by the party member who took it (``person_id``) or by staff."""
    order = get_order(session, order_id, lock=True)
    if person_id is not None and order.taker_id != person_id:
        raise Forbidden("只有承接此单的党员可以报告办结 (only the party member who took the order reports it done)")
    _move(session, order, OrderState.FULFILLED, "fulfil", actor=actor, person_id=person_id)
    order.fulfilled_at = _now()
    session.flush()
    return order


def rate_order(
    session: Session, order_id: int, *, token: str, rating: int, feedback: str | None = None
) -> ServiceOrder:
    """The resident's rating (1–5) and feedback close the order; ``token`` is the one given at placement."""
    if not 1 <= int(rating) <= 5:
        raise InvalidInput(f"评分必须在 1 到 5 之间 (rating must be 1–5): {rating}",
                           detail={"fields": {"rating": "请选择 1 到 5 颗星"}})
    order = get_order(session, order_id, lock=True)
    if not secrets.compare_digest(order.resident_token, token or ""):
        raise Forbidden("评价凭证不符 (the rating token does not match this order)")
    _move(session, order, OrderState.CLOSED, "rate", actor="resident", note=f"{int(rating)} 星")
    order.rating = int(rating)
    order.feedback = feedback
    order.closed_at = _now()
    session.flush()
    return order


def order_events(session: Session, order_id: int) -> list[ServiceOrderEvent]:
    """The moves of an order, oldest first."""
    return list(session.scalars(select(ServiceOrderEvent).where(ServiceOrderEvent.order_id == order_id)
                                .order_by(ServiceOrderEvent.at, ServiceOrderEvent.id)))


def is_party_member(session: Session, person_id: int) -> bool:
    """True if the person is a party member (flagged, or assigned as one in a grid); NotFound if unknown."""
    person = session.get(models.Person, person_id)
    if person is None:
        raise NotFound(f"没有人员 {person_id} (no person {person_id})")
    if person.is_party_member:
        return True
    return bool(
        session.scalar(
            select(func.count()).where(
                models.StaffAssignment.person_id == person_id, models.StaffAssignment.role == StaffRole.PARTY_MEMBER.value
            )
        )
    )


def open_loads(session: Session, person_ids: list[int]) -> dict[int, int]:
    """Orders offered or taken and wishes claimed, not yet fulfilled, per person."""
    if not person_ids:
        return {}
    holder = func.coalesce(ServiceOrder.taker_id, ServiceOrder.offered_to_id)
    orders = dict(
        session.execute(
            select(holder, func.count())
            .where(holder.in_(person_ids),
                   ServiceOrder.state.in_((OrderState.TAKEN.value, OrderState.DISPATCHED.value)))
            .group_by(holder)
        ).all()
    )
    wishes = dict(
        session.execute(
            select(Wish.claimer_id, func.count())
            .where(Wish.claimer_id.in_(person_ids), Wish.state == WishState.CLAIMED.value)
            .group_by(Wish.claimer_id)
        ).all()
    )
    return {p: int(orders.get(p, 0)) + int(wishes.get(p, 0)) for p in person_ids}


def party_member_bases(session: Session) -> list[dict]:
    """Every party member with the grid they serve in and a base point (the grid's inner point) to walk from."""
    rows = session.execute(
        text(
            f"""
            SELECT DISTINCT ON (p.id) p.id, p.name, a.grid_code,
                   ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM people p
            LEFT JOIN staff_assignments a ON a.person_id = p.id AND a.role = 'party_member'
            LEFT JOIN grids g ON g.code = a.grid_code
                 AND g.plan_id = {PLAN_IN_FORCE_SQL}
            WHERE p.is_party_member OR a.id IS NOT NULL
            ORDER BY p.id, a.grid_code
            """
        )
    ).all()
    return [dict(r._mapping) for r in rows]


def network_near(session: Session, lon: float, lat: float, *, within_m: float = 300.0) -> str | None:
    """The stored walking network with a street within ``within_m`` of the point (None if there is none)."""
    return session.execute(
        text("SELECT network FROM street_edges WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), "
             ":m / 80000.0) AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, "
             ":m) LIMIT 1"),
        {"lon": lon, "lat": lat, "m": within_m},
    ).scalar()


def suggest_takers(session: Session, order_id: int, *, limit: int = 5, walk=None) -> list[dict]:
    """党员接单 suggestions: party members of the order's grid first, then by walking distance, with open load;
    those who refused or gave up this order are left out.

    ``walk(origin_lon, origin_lat, lons, lats) -> metres`` gives walking distances on the street network;
    by default :func:`layers.walking.walking_distances_m` on the network around the order.
    """
    order = get_order(session, order_id)
    lon, lat = session.execute(select(func.ST_X(order.geom), func.ST_Y(order.geom))).one()
    refused = refused_by(session, order_id)
    bases = [b for b in party_member_bases(session) if b["id"] not in refused]
    if not bases:
        return []
    if walk is None:
        from layers.walking import walking_distances_m

        network = network_near(session, lon, lat)

        def walk(olon, olat, lons, lats):
            return walking_distances_m(session, network, olon, olat, lons, lats)

    lons = np.array([b["lon"] if b["lon"] is not None else np.nan for b in bases], dtype=float)
    lats = np.array([b["lat"] if b["lat"] is not None else np.nan for b in bases], dtype=float)
    dist = np.full(len(bases), np.inf)
    ok = ~np.isnan(lons)
    if ok.any():
        dist[ok] = walk(lon, lat, lons[ok], lats[ok])
    same = np.array([b["grid_code"] is not None and b["grid_code"] == order.grid_code for b in bases])
    loads = open_loads(session, [b["id"] for b in bases])
    load = np.array([loads[b["id"]] for b in bases])
    order_idx = rank_takers(same_grid=same, walk_m=dist, open_load=load)[:limit]
    return [
        {
            "person_id": bases[i]["id"], "name": bases[i]["name"], "grid_code": bases[i]["grid_code"],
            "same_grid": bool(same[i]), "walk_m": None if not np.isfinite(dist[i]) else round(float(dist[i]), 1),
            "open_load": int(load[i]),
            "reason": "同网格党员 (party member of the same grid)" if same[i]
            else "按步行距离 (nearest by walking distance)",
        }
        for i in order_idx
    ]


def monthly_counts(
    session: Session, *, unit: str | None = None, where: ColumnElement[bool] | None = None
) -> list[dict]:
    """Per grid and month: orders placed, taken, fulfilled, and late (fulfilled after, or open past, due).

    ``unit`` keeps grids whose code starts with it; ``where`` is any further condition on
    :class:`ServiceOrder` (the caller's area), applied in the query.
    """
    order = ServiceOrder
    month = func.to_char(func.date_trunc("month", order.placed_at), literal_column("'YYYY-MM'"))
    late = and_(order.due_at.is_not(None), or_(
        and_(order.fulfilled_at.is_not(None), order.fulfilled_at > order.due_at),
        and_(order.fulfilled_at.is_(None), order.state != "cancelled", func.now() > order.due_at),
    ))
    query = (
        select(order.grid_code, month.label("month"), func.count().label("placed"),
               func.count(order.taken_at).label("taken"), func.count(order.fulfilled_at).label("fulfilled"),
               func.count().filter(late).label("late"))
        .group_by(order.grid_code, month)
        .order_by(order.grid_code, month)
    )
    if unit:
        query = query.where(order.grid_code.startswith(unit, autoescape=True))
    if where is not None:
        query = query.where(where)
    return [dict(row._mapping) for row in session.execute(query)]
