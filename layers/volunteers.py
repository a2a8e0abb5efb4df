"""双报到, volunteer activities and the points bank (道德银行 / 积分超市) in PostGIS.

Every change of points is a row of ``point_entries`` with a reason; the database applies it to the account
(trigger ``apply_point_entry``) and refuses a balance below zero (CHECK ``balance_not_negative``), so two
redemptions racing for the last points cannot both pass. Orders fulfilled and claimed wishes fulfilled earn
points through triggers on those tables (migration 0671), for the Party member's registration. Callers commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput, NotFound
from gis.volunteering import ANONYMOUS_DISPLAY, MAX_POINTS_PER_CHANGE, PointKind, RegistrantKind
from layers import models
from layers.db import get_or_not_found
from layers.features import PLAN_IN_FORCE_SQL
from layers.volunteers_models import (
    Activity,
    PointAccount,
    PointEntry,
    Redemption,
    Registration,
    Reward,
    Signup,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _check_community(session: Session, code: str) -> None:
    found = session.scalar(select(func.count()).select_from(models.AdminArea).where(
        models.AdminArea.code == code, models.AdminArea.level.in_(("community", "village"))))
    if not found:
        raise NotFound(f"没有社区/村 {code} (no community or village {code})")


def _check_grid(session: Session, grid_code: str, community_code: str) -> None:
    if grid_code[:12] != community_code:
        raise InvalidInput(f"网格 {grid_code} 不属于社区 {community_code} (the grid is in another community)")
    found = session.scalar(text(f"SELECT count(*) FROM grids WHERE code = :g AND plan_id = {PLAN_IN_FORCE_SQL}"),
                           {"g": grid_code})
    if not found:
        raise NotFound(f"现行方案中没有网格 {grid_code} (no grid {grid_code} in the plan in force)")


# ------------------------------------------------------------------------------------------- registrations
def register(session: Session, *, kind: str, name: str, community_code: str, source: str,
             grid_code: str | None = None, display_name: str | None = None, organisation: str | None = None,
             phone: str | None = None, person_id: int | None = None, username: str | None = None) -> Registration:
    """双报到: an organisation or Party member reports to the community (and the grid) where they live."""
    RegistrantKind(kind)
    if not name or not name.strip():
        raise InvalidInput("须填写姓名或组织名称 (a name is required)")
    _check_community(session, community_code)
    if grid_code:
        _check_grid(session, grid_code, community_code)
    if person_id is not None and session.get(models.Person, person_id) is None:
        raise NotFound(f"没有人员 {person_id} (no person {person_id})")
    reg = Registration(kind=kind, name=name.strip(), display_name=(display_name or "").strip() or None,
                       organisation=organisation, phone=phone, person_id=person_id, username=username,
                       community_code=community_code, grid_code=grid_code, source=source)
    session.add(reg)
    session.flush()
    return reg


def get_registration(session: Session, registration_id: int) -> Registration:
    """The registration, or NotFound."""
    reg = session.get(Registration, registration_id)
    if reg is None:
        raise NotFound(f"没有报到记录 {registration_id} (no registration {registration_id})")
    return reg


def registration_view(reg: Registration, *, private: bool) -> dict[str, Any]:
    """A registration; name, phone and account only when ``private`` (staff of its area)."""
    view = {"id": reg.id, "kind": reg.kind, "kind_zh": RegistrantKind(reg.kind).zh,
            "display_name": reg.display_name or ANONYMOUS_DISPLAY, "community_code": reg.community_code,
            "grid_code": reg.grid_code, "registered_at": reg.registered_at, "source": reg.source}
    if private:
        view.update(name=reg.name, organisation=reg.organisation, phone=reg.phone, person_id=reg.person_id,
                    username=reg.username)
    return view


def list_registrations(session: Session, *, unit: str | None = None, limit: int = 1000,
                       where: ColumnElement[bool] | None = None) -> list[Registration]:
    """Registrations, optionally of a community/grid code prefix, and matching ``where`` (the caller's area)."""
    q = select(Registration).order_by(Registration.id)
    if where is not None:
        q = q.where(where)
    if unit:
        q = q.where(Registration.community_code.startswith(unit[:12]))
    return list(session.scalars(q.limit(limit)))


# --------------------------------------------------------------------------------------------- activities
def create_activity(session: Session, *, community_code: str, title: str, starts_at: dt.datetime,
                    ends_at: dt.datetime, capacity: int, points: int, actor: str, source: str,
                    description: str | None = None, place: str | None = None) -> Activity:
    """A volunteer activity of a community."""
    _check_community(session, community_code)
    if not title.strip():
        raise InvalidInput("活动须有名称 (the activity needs a title)")
    if ends_at <= starts_at:
        raise InvalidInput("结束时间须晚于开始时间 (the activity must end after it starts)")
    if not 1 <= capacity <= 10_000 or not 0 <= points <= 1000:
        raise InvalidInput("名额 1–10000，积分 0–1000 (capacity 1–10000, points 0–1000)")
    act = Activity(community_code=community_code, title=title.strip(), description=description, place=place,
                   starts_at=starts_at, ends_at=ends_at, capacity=capacity, points=points, created_by=actor,
                   source=source)
    session.add(act)
    session.flush()
    return act


def get_activity(session: Session, activity_id: int, *, lock: bool = False) -> Activity:
    """The activity, or NotFound."""
    return get_or_not_found(session, Activity, activity_id, f"没有志愿活动 {activity_id} (no activity {activity_id})",
                            lock=lock)


def list_activities(session: Session, *, unit: str | None = None, upcoming: bool = False,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Activities with places taken and attendance counts (no names), soonest first."""
    rows = session.execute(text(
        """
        SELECT a.id, a.community_code, ar.name AS community_name, a.title, a.description, a.place, a.starts_at,
               a.ends_at, a.capacity, a.points, a.source, count(s.id) AS signed_up,
               count(s.id) FILTER (WHERE s.attended) AS attended
        FROM volunteer_activities a LEFT JOIN activity_signups s ON s.activity_id = a.id
        LEFT JOIN LATERAL (SELECT name FROM admin_areas WHERE code = a.community_code
                           ORDER BY edition_year DESC LIMIT 1) ar ON true
        WHERE (:unit IS NULL OR a.community_code LIKE :unit || '%') AND (NOT :upcoming OR a.ends_at >= now())
        GROUP BY a.id, ar.name ORDER BY a.starts_at, a.id LIMIT :limit
        """), {"unit": unit[:12] if unit else None, "upcoming": upcoming, "limit": limit}).mappings().all()
    return [{**dict(r), "places_left": max(int(r["capacity"]) - int(r["signed_up"]), 0)} for r in rows]


def sign_up(session: Session, activity_id: int, registration_id: int) -> Signup:
    """Sign a registrant up; the activity row is locked so that its places are never overbooked."""
    act = get_activity(session, activity_id, lock=True)
    reg = get_registration(session, registration_id)
    if reg.community_code != act.community_code:
        raise InvalidInput("只能报名所报到社区的活动 (sign up for activities of the community you registered with)")
    if act.ends_at < _now():
        raise Conflict("活动已结束 (the activity is over)")
    taken = session.scalar(select(func.count()).where(Signup.activity_id == activity_id)) or 0
    if taken >= act.capacity:
        raise Conflict(f"名额已满（{act.capacity}）(the activity is full)", detail={"capacity": act.capacity})
    signup = Signup(activity_id=activity_id, registration_id=registration_id)
    try:
        with session.begin_nested():
            session.add(signup)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("已报名该活动 (already signed up)") from exc
    return signup


def signups(session: Session, activity_id: int) -> list[dict[str, Any]]:
    """Who signed up for an activity (registration, name, display name) and whether they attended."""
    get_activity(session, activity_id)
    rows = session.execute(text(
        """
        SELECT s.registration_id, r.name, r.display_name, r.kind, s.attended
        FROM activity_signups s JOIN registrations r ON r.id = s.registration_id
        WHERE s.activity_id = :a ORDER BY s.id
        """), {"a": activity_id}).mappings().all()
    return [dict(r) for r in rows]


def record_attendance(session: Session, activity_id: int, *, attended: list[int], actor: str) -> dict[str, int]:
    """Take attendance: the listed registrations attended (and earn the activity's points once), the other
    signed-up ones did not. Only once the activity has started."""
    act = get_activity(session, activity_id, lock=True)
    if act.starts_at > _now():
        raise Conflict("活动尚未开始，不能签到 (attendance is taken once the activity has started)")
    signups = {s.registration_id: s for s in session.scalars(select(Signup).where(Signup.activity_id == activity_id))}
    strangers = sorted(set(attended) - set(signups))
    if strangers:
        raise InvalidInput(f"报到记录 {strangers} 未报名本活动 (not signed up)", detail={"registrations": strangers})
    awarded = 0
    for reg_id, signup in signups.items():
        signup.attended = reg_id in attended
        if signup.attended and act.points > 0 and not _has_entry(session, reg_id, PointKind.ACTIVITY, act.id):
            change_points(session, reg_id, delta=act.points, kind=PointKind.ACTIVITY.value, ref_id=act.id,
                          reason=f"参加志愿活动「{act.title}」(activity #{act.id})", actor=actor)
            awarded += 1
    session.flush()
    return {"signed_up": len(signups), "attended": len(set(attended)), "points_awarded_to": awarded}


# ------------------------------------------------------------------------------------------------- points
def _has_entry(session: Session, registration_id: int, kind: PointKind, ref_id: int) -> bool:
    return bool(session.scalar(select(func.count()).where(
        PointEntry.registration_id == registration_id, PointEntry.kind == kind.value, PointEntry.ref_id == ref_id)))


def change_points(session: Session, registration_id: int, *, delta: int, kind: str, reason: str, actor: str,
                  ref_id: int | None = None) -> PointEntry:
    """Write one ledger entry; the database applies it and refuses an overdraft (→ Conflict, nothing changed)."""
    PointKind(kind)
    if not reason or not reason.strip():
        raise InvalidInput("积分变动须写明原因 (every change of points needs a reason)")
    if delta == 0 or abs(delta) > MAX_POINTS_PER_CHANGE:
        raise InvalidInput(f"积分变动须为非零且不超过 {MAX_POINTS_PER_CHANGE} (delta must be non-zero, at most "
                           f"{MAX_POINTS_PER_CHANGE})")
    get_registration(session, registration_id)
    entry = PointEntry(registration_id=registration_id, kind=kind, delta=delta, reason=reason.strip(),
                       ref_id=ref_id, actor=actor)
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError as exc:
        raise _points_conflict(session, registration_id, delta, exc) from exc
    session.refresh(entry)
    return entry


def _points_conflict(session: Session, registration_id: int, delta: int, exc: IntegrityError) -> Conflict:
    text_ = str(exc.orig)
    if "balance_not_negative" in text_:
        have = balance(session, registration_id)
        return Conflict(f"积分不足：现有 {have}，需要 {-delta} (not enough points: {have} held, {-delta} needed)",
                        detail={"balance": have, "needed": -delta})
    if "uq_point_entries_once" in text_:
        return Conflict("该项积分已记过 (these points were already recorded)")
    return Conflict("积分变动被拒绝 (the change of points was refused)")


def balance(session: Session, registration_id: int) -> int:
    """The registrant's balance (0 without an account yet)."""
    return int(session.scalar(select(PointAccount.balance).where(
        PointAccount.registration_id == registration_id)) or 0)


def entries(session: Session, registration_id: int, *, limit: int = 200) -> list[dict[str, Any]]:
    """The registrant's ledger, newest first."""
    rows = session.scalars(select(PointEntry).where(PointEntry.registration_id == registration_id)
                           .order_by(PointEntry.id.desc()).limit(limit)).all()
    return [{"id": e.id, "kind": e.kind, "kind_zh": PointKind(e.kind).zh, "delta": e.delta, "reason": e.reason,
             "ref_id": e.ref_id, "balance_after": e.balance_after, "actor": e.actor, "at": e.at} for e in rows]


# ---------------------------------------------------------------------------------------------- 积分超市
def add_reward(session: Session, *, community_code: str, name: str, cost: int, stock: int, source: str) -> Reward:
    """Put an item on a community's 积分超市 shelf."""
    _check_community(session, community_code)
    if not name.strip() or not 1 <= cost <= MAX_POINTS_PER_CHANGE or not 0 <= stock <= 100_000:
        raise InvalidInput("须有名称，积分 1–10000，库存 0–100000 (name, cost 1–10000, stock 0–100000)")
    reward = Reward(community_code=community_code, name=name.strip(), cost=cost, stock=stock, source=source)
    session.add(reward)
    session.flush()
    return reward


def list_rewards(session: Session, *, unit: str | None = None) -> list[dict[str, Any]]:
    """Rewards on the shelves, cheapest first."""
    q = select(Reward).order_by(Reward.community_code, Reward.cost, Reward.id)
    if unit:
        q = q.where(Reward.community_code.startswith(unit[:12]))
    return [{"id": r.id, "community_code": r.community_code, "name": r.name, "cost": r.cost, "stock": r.stock,
             "source": r.source} for r in session.scalars(q)]


def redeem(session: Session, *, reward_id: int, registration_id: int, actor: str,
           note: str | None = None) -> Redemption:
    """Take a reward: the stock goes down by one and the points are paid by a ledger entry; with too few
    points or no stock nothing changes (Conflict)."""
    reward = get_or_not_found(session, Reward, reward_id, f"没有兑换品 {reward_id} (no reward {reward_id})", lock=True)
    reg = get_registration(session, registration_id)
    if reg.community_code != reward.community_code:
        raise InvalidInput("只能在所报到社区的积分超市兑换 (redeem at the community you registered with)")
    if reward.stock <= 0:
        raise Conflict(f"「{reward.name}」已兑完 (out of stock)")
    with session.begin_nested():
        entry = change_points(session, registration_id, delta=-reward.cost, kind=PointKind.REDEEM.value,
                              reason=f"积分超市兑换「{reward.name}」(redeemed reward #{reward.id})", actor=actor)
        reward.stock -= 1
        redemption = Redemption(reward_id=reward.id, registration_id=registration_id, entry_id=entry.id, note=note)
        session.add(redemption)
        session.flush()
    return redemption


def leaderboard(session: Session, community_code: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """A community's volunteers by points earned (services and activities, not redemptions), showing only the
    display name each chose (others appear as an unnamed volunteer)."""
    rows = session.execute(
        select(Registration.display_name, Registration.kind, PointAccount.earned)
        .join(PointAccount, PointAccount.registration_id == Registration.id)
        .where(Registration.community_code == community_code, PointAccount.earned > 0)
        .order_by(PointAccount.earned.desc(), Registration.id).limit(limit)).all()
    return [{"rank": i + 1, "display_name": name or ANONYMOUS_DISPLAY, "kind_zh": RegistrantKind(kind).zh,
             "points": int(earned)} for i, (name, kind, earned) in enumerate(rows)]
