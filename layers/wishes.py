"""微心愿 in PostGIS: a resident posts a small wish in a grid of the plan in force (by its place on the map, or
by the grid's code from another system); a party member or a unit claims it and fulfils it.

Residents' names and phones are stored for the staff who serve them and never returned by :func:`public_wish`.
A grid code that is not in the plan in force is refused with what it is (retired with which generation, and
which grid serves that place now; only in a draft; or never a grid at all).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services import WISH_MOVES, TrackKind, WishState, check_move
from layers import models, tracking
from layers.features import current_plan_id
from layers.locate import locate
from layers.services import is_party_member
from layers.services_models import Wish

CHOOSE_ON_MAP = "请在地图上点选心愿所在的位置 (choose the place on the map)"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _refuse_grid(session: Session, code: str, plan_id: int | None) -> None:
    """Raise the right refusal for a grid code that is not in the plan in force."""
    row = session.execute(
        select(models.Grid.name, models.GridPlan.generation, models.GridPlan.status, func.ST_PointOnSurface(models.Grid.geom))
        .join(models.GridPlan, models.GridPlan.id == models.Grid.plan_id).where(models.Grid.code == code)
        .order_by(models.GridPlan.generation.desc().nulls_last())
    ).first()
    field = {"fields": {"grid_code": CHOOSE_ON_MAP}}
    if row is None:
        raise InvalidInput(f"没有网格 {code}：现行方案和历次方案中都没有这个编码。{CHOOSE_ON_MAP} (no grid {code} in any plan)",
                           detail={**field, "grid_code": code, "reason": "unknown"})
    name, generation, status, point = row
    if status == "draft":
        raise InvalidInput(f"网格 {code}（{name}）只在尚未发布的方案草案中。{CHOOSE_ON_MAP} (grid {code} is only in a "
                           "draft plan)", detail={**field, "grid_code": code, "reason": "draft"})
    now = session.execute(select(models.Grid.code, models.Grid.name).where(
        models.Grid.plan_id == plan_id, func.ST_Covers(models.Grid.geom, point))).first() if plan_id else None
    where_now = f"；该处现属 {now.name}（{now.code}）" if now else ""
    raise InvalidInput(
        f"网格 {code}（{name}）已随第 {generation} 代网格方案废止，现行方案中没有此网格{where_now}。{CHOOSE_ON_MAP} "
        f"(grid {code} was retired with plan generation {generation}"
        + (f"; that place is now in grid {now.code})" if now else ")"),
        detail={**field, "grid_code": code, "reason": "retired", "generation": generation,
                "now": now.code if now else None})


def grid_in_force(session: Session, code: str) -> models.Grid:
    """The grid of the plan in force with ``code``; :class:`InvalidInput` saying what the code is otherwise."""
    plan_id = current_plan_id(session)
    grid = session.scalar(select(models.Grid).where(models.Grid.code == code, models.Grid.plan_id == plan_id)) if plan_id else None
    if grid is None:
        _refuse_grid(session, code, plan_id)
    return grid


def grid_at(session: Session, lon: float, lat: float, *, crs: str = "wgs84") -> models.Grid:
    """The grid of the plan in force a point lies in (the service's one locate rule); a point in no grid is
    refused with a message about the place."""
    answer = locate(session, lon, lat, crs=crs)
    if answer["grid"] is None:
        raise InvalidInput("此处不在任何现行网格内（可能在城区以外或水面上），微心愿须发布在您居住的网格。请在地图上重新点选 "
                           "(this place is in no grid of the plan in force; choose a place where you live)",
                           detail={"fields": {"place": "此处不在任何网格内，请重新点选"}})
    return session.get(models.Grid, answer["grid"]["id"])


def post_wish(
    session: Session,
    *,
    title: str,
    grid_code: str | None = None,
    place: tuple[float, float, str] | None = None,
    description: str | None = None,
    resident_name: str | None = None,
    resident_phone: str | None = None,
    source: str = "api",
) -> Wish:
    """A resident posts a 微心愿 in the grid of the plan in force at ``place`` (lon, lat, crs) or with
    ``grid_code``; it gets a tracking token (the caller commits)."""
    if not title or not title.strip():
        raise InvalidInput("心愿标题不能为空 (the wish needs a title)", detail={"fields": {"title": "请写下您的心愿"}})
    if (grid_code is None) == (place is None):
        raise InvalidInput("须给出心愿的位置或网格编码之一 (give the place or the grid code)")
    grid = grid_in_force(session, grid_code) if grid_code else grid_at(session, place[0], place[1], crs=place[2])
    wish = Wish(
        title=title.strip(), description=description, grid_code=grid.code, community_code=grid.community_code,
        resident_name=resident_name, resident_phone=resident_phone, source=source,
    )
    session.add(wish)
    session.flush()
    tracking.issue(session, TrackKind.WISH, wish.id)
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
        raise InvalidInput("认领微心愿须给出党员或单位之一 (give exactly one of person_id or unit)")
    wish = get_wish(session, wish_id)
    if person_id is not None and not is_party_member(session, person_id):
        raise InvalidInput(f"人员 {person_id} 不是党员，不能认领微心愿 (person {person_id} is not a party member)")
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


def list_wishes(session: Session, *, grid_code: str | None = None, state: str | None = None,
                where: ColumnElement[bool] | None = None) -> list[Wish]:
    """Wishes, newest first, optionally of one grid (code prefix) or state, and matching ``where`` (the caller's
    area, :func:`usecases.access.area_condition`)."""
    q = select(Wish).order_by(Wish.posted_at.desc(), Wish.id.desc())
    if where is not None:
        q = q.where(where)
    if grid_code:
        q = q.where(Wish.grid_code.startswith(grid_code, autoescape=True))
    if state:
        q = q.where(Wish.state == WishState(state).value)
    return list(session.scalars(q))
