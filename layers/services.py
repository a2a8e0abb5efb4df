"""三单 (居民点单 → 社区派单 → 党员接单) and 微心愿 in PostGIS: placing, dispatching, suggesting, closing, counting.

Residents' names and phones are stored for the staff who serve them and never returned by the public views
(``public_wish``); functions that return them are for staff routes only.
"""

from __future__ import annotations

import datetime as dt
import secrets

import numpy as np
from sqlalchemy import ColumnElement, and_, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from gis.domain import StaffRole
from gis.errors import Forbidden, InvalidInput, NotFound
from gis.services import (
    ORDER_MOVES,
    SERVICE_CATEGORIES,
    WISH_MOVES,
    OrderState,
    WishState,
    check_move,
    rank_takers,
)
from layers import models as m
from layers.locate import locate
from layers.services_models import ServiceOrder, Wish


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
    """居民点单: store a resident's order in the grid that serves its location (the caller commits).

    The grid is found by the service's one rule set (:func:`layers.locate.locate`): coordinates are checked
    and converted to WGS84 there, and the original ones are kept on the order.
    """
    _category(category)
    answer = locate(session, lon, lat, crs=crs)
    grid, community = answer["grid"], answer["community"]
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
    return order


def get_order(session: Session, order_id: int) -> ServiceOrder:
    """The order, or NotFound."""
    order = session.get(ServiceOrder, order_id)
    if order is None:
        raise NotFound(f"没有服务单 {order_id} (no order {order_id})")
    return order


def _move(order: ServiceOrder, target: OrderState) -> None:
    check_move(order.state, target.value, ORDER_MOVES)
    order.state = target.value


def dispatch_order(session: Session, order_id: int, *, actor: str, taker_id: int | None = None) -> ServiceOrder:
    """社区派单: the community dispatches the order, optionally to a chosen party member at once."""
    order = get_order(session, order_id)
    _move(order, OrderState.DISPATCHED)
    order.dispatched_by = actor
    order.dispatched_at = _now()
    order.due_at = order.dispatched_at + dt.timedelta(hours=_category(order.category).deadline_hours)
    if taker_id is not None:
        take_order(session, order_id, taker_id=taker_id)
    session.flush()
    return order


def take_order(session: Session, order_id: int, *, taker_id: int) -> ServiceOrder:
    """党员接单: a party member takes a dispatched order."""
    order = get_order(session, order_id)
    if not _is_party_member(session, taker_id):
        raise InvalidInput(f"人员 {taker_id} 不是党员，不能接单 (person {taker_id} is not a party member)")
    _move(order, OrderState.TAKEN)
    order.taker_id = taker_id
    order.taken_at = _now()
    session.flush()
    return order


def fulfil_order(session: Session, order_id: int) -> ServiceOrder:
    """The party member reports the service done."""
    order = get_order(session, order_id)
    _move(order, OrderState.FULFILLED)
    order.fulfilled_at = _now()
    session.flush()
    return order


def rate_order(
    session: Session, order_id: int, *, token: str, rating: int, feedback: str | None = None
) -> ServiceOrder:
    """The resident's rating (1–5) and feedback close the order; ``token`` is the one given at placement."""
    if not 1 <= int(rating) <= 5:
        raise InvalidInput(f"评分必须在 1 到 5 之间 (rating must be 1–5): {rating}")
    order = get_order(session, order_id)
    if not secrets.compare_digest(order.resident_token, token or ""):
        raise Forbidden("评价凭证不符 (the rating token does not match this order)")
    _move(order, OrderState.CLOSED)
    order.rating = int(rating)
    order.feedback = feedback
    order.closed_at = _now()
    session.flush()
    return order


def _is_party_member(session: Session, person_id: int) -> bool:
    person = session.get(m.Person, person_id)
    if person is None:
        raise NotFound(f"没有人员 {person_id} (no person {person_id})")
    if person.is_party_member:
        return True
    return bool(
        session.scalar(
            select(func.count()).where(
                m.StaffAssignment.person_id == person_id, m.StaffAssignment.role == StaffRole.PARTY_MEMBER.value
            )
        )
    )


def open_loads(session: Session, person_ids: list[int]) -> dict[int, int]:
    """Orders taken and wishes claimed, not yet fulfilled, per person."""
    if not person_ids:
        return {}
    orders = dict(
        session.execute(
            select(ServiceOrder.taker_id, func.count())
            .where(ServiceOrder.taker_id.in_(person_ids), ServiceOrder.state == OrderState.TAKEN.value)
            .group_by(ServiceOrder.taker_id)
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
            """
            SELECT DISTINCT ON (p.id) p.id, p.name, a.grid_code,
                   ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM people p
            LEFT JOIN staff_assignments a ON a.person_id = p.id AND a.role = 'party_member'
            LEFT JOIN grids g ON g.code = a.grid_code
                 AND g.plan_id = (SELECT id FROM grid_plans WHERE status = 'published'
                                  ORDER BY generation DESC LIMIT 1)
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
    """党员接单 suggestions: party members of the order's grid first, then by walking distance, with open load.

    ``walk(origin_lon, origin_lat, lons, lats) -> metres`` gives walking distances on the street network;
    by default :func:`layers.walking.walking_distances_m` on the network around the order.
    """
    order = get_order(session, order_id)
    lon, lat = session.execute(select(func.ST_X(order.geom), func.ST_Y(order.geom))).one()
    bases = party_member_bases(session)
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


def post_wish(
    session: Session,
    *,
    grid_code: str,
    title: str,
    description: str | None = None,
    resident_name: str | None = None,
    resident_phone: str | None = None,
    source: str = "api",
) -> Wish:
    """A resident posts a 微心愿 in their grid (the caller commits)."""
    if not title or not title.strip():
        raise InvalidInput("心愿标题不能为空 (the wish needs a title)")
    grid = session.scalar(select(m.Grid).where(m.Grid.code == grid_code).order_by(m.Grid.plan_id.desc()))
    if grid is None:
        raise NotFound(f"没有网格 {grid_code} (no grid {grid_code})")
    wish = Wish(
        title=title.strip(), description=description, grid_code=grid_code, community_code=grid.community_code,
        resident_name=resident_name, resident_phone=resident_phone, source=source,
    )
    session.add(wish)
    session.flush()
    return wish


def get_wish(session: Session, wish_id: int) -> Wish:
    """The wish, or NotFound."""
    wish = session.get(Wish, wish_id)
    if wish is None:
        raise NotFound(f"没有微心愿 {wish_id} (no wish {wish_id})")
    return wish


def claim_wish(session: Session, wish_id: int, *, person_id: int | None = None, unit: str | None = None) -> Wish:
    """A party member (``person_id``) or a unit (``unit``) claims a wish."""
    if (person_id is None) == (unit is None):
        raise InvalidInput("认领人须为党员或单位之一 (give exactly one of person_id or unit)")
    wish = get_wish(session, wish_id)
    if person_id is not None and not _is_party_member(session, person_id):
        raise InvalidInput(f"人员 {person_id} 不是党员 (person {person_id} is not a party member)")
    check_move(wish.state, WishState.CLAIMED.value, WISH_MOVES)
    wish.state = WishState.CLAIMED.value
    wish.claimer_id, wish.claimer_unit, wish.claimed_at = person_id, unit, _now()
    session.flush()
    return wish


def fulfil_wish(session: Session, wish_id: int) -> Wish:
    """The claimer reports the wish fulfilled."""
    wish = get_wish(session, wish_id)
    check_move(wish.state, WishState.FULFILLED.value, WISH_MOVES)
    wish.state = WishState.FULFILLED.value
    wish.fulfilled_at = _now()
    session.flush()
    return wish


def public_wish(wish: Wish) -> dict:
    """A wish as the public sees it: no resident name or phone, no claimer's name (only that it was claimed)."""
    return {
        "id": wish.id, "title": wish.title, "description": wish.description, "state": wish.state,
        "state_zh": WishState(wish.state).zh, "grid_code": wish.grid_code, "community_code": wish.community_code,
        "claimed_by": "单位" if wish.claimer_unit else ("党员" if wish.claimer_id else None),
        "posted_at": wish.posted_at, "fulfilled_at": wish.fulfilled_at,
    }


def list_wishes(session: Session, *, grid_code: str | None = None, state: str | None = None) -> list[Wish]:
    """Wishes, newest first, optionally of one grid (code prefix) or state."""
    q = select(Wish).order_by(Wish.posted_at.desc(), Wish.id.desc())
    if grid_code:
        q = q.where(Wish.grid_code.startswith(grid_code))
    if state:
        q = q.where(Wish.state == WishState(state).value)
    return list(session.scalars(q))


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
