"""双报到 and volunteer points: registrations with a community and grid, activities with sign-up and
attendance, the points ledger (never negative, every change with a reason), the 积分超市 and a leaderboard that
shows only the names people chose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.audit import AuditDep
from api.auth import Principal, require_roles
from api.deps import SessionDep
from gis.domain import UserRole
from gis.errors import Forbidden, NotFound
from gis.gridcodes import CODE12, CODE15
from gis.volunteering import MAX_POINTS_PER_CHANGE, PointKind, RegistrantKind
from layers import volunteers
from usecases import area_lists

router = APIRouter(tags=["volunteers 双报到与志愿积分"])

STAFF = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF)
StaffUser = Annotated[Principal, Depends(require_roles(*STAFF))]
Server = Annotated[Principal, Depends(require_roles(*STAFF, UserRole.PARTY_MEMBER))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
CommunityQ = Annotated[str, Query(pattern=CODE12.pattern, description="12 位社区/村编码 (community code)")]
Unit = Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$", description="区/街道/社区编码前缀 (area prefix)")]


def _is_staff(principal: Principal) -> bool:
    return principal.has_any(*STAFF)


def _in_scope(principal: Principal, code: str) -> None:
    if not principal.covers(code):
        raise Forbidden("无权处理其他社区的报到与积分 (this is outside your area)")


def _own_or_scope(principal: Principal, reg) -> None:
    """Staff act within their area; a Party member acts only on their own registration."""
    if _is_staff(principal):
        _in_scope(principal, reg.community_code)
    elif reg.username != principal.subject:  # someone else's: not found, so ids reveal nothing
        raise NotFound(f"没有本人的报到记录 {reg.id} (no registration {reg.id} of yours)")


class RegistrationIn(BaseModel):
    """双报到: who reports to which community (and grid), and the name shown on the leaderboard."""

    kind: RegistrantKind
    name: str = Field(min_length=1, max_length=200, description="姓名或组织名称（仅工作人员可见）(staff only)")
    community_code: str = Field(pattern=CODE12.pattern)
    grid_code: str | None = Field(None, pattern=CODE15.pattern, description="居住网格 (the grid they live in)")
    display_name: str | None = Field(None, max_length=50, description="排行榜显示名，不填则不公开 (leaderboard name)")
    organisation: str | None = Field(None, max_length=200, description="所在单位/党组织 (unit)")
    phone: str | None = Field(None, max_length=40, description="联系电话（仅工作人员可见）(staff only)")
    person_id: int | None = Field(None, ge=1, le=2**31 - 1, description="人员编号（党员接单用）(person id)")


@router.post("/api/v1/volunteers/registrations", status_code=201, summary="双报到登记 (register with a community)")
def register(session: SessionDep, body: RegistrationIn, principal: Server) -> dict:
    """Staff register organisations and members of their area; a Party member registers themself."""
    staff = _is_staff(principal)
    if staff:
        _in_scope(principal, body.community_code)
    elif body.kind is not RegistrantKind.PARTY_MEMBER:
        raise Forbidden("党员只能为本人报到 (a Party member registers only themself)")
    reg = volunteers.register(
        session, kind=body.kind.value, name=body.name, community_code=body.community_code,
        grid_code=body.grid_code, display_name=body.display_name, organisation=body.organisation, phone=body.phone,
        person_id=body.person_id if staff else None, username=None if staff else principal.subject,
        source=f"user:{principal.subject}")
    session.commit()
    return volunteers.registration_view(reg, private=True)


@router.get("/api/v1/volunteers/registrations", summary="报到名册（工作人员，审计）(registrations with contacts)")
def registrations(session: SessionDep, principal: StaffUser, audit: AuditDep, unit: Unit = None) -> dict:
    """Registrations in the caller's area with names and phones (audited)."""
    rows = area_lists.registrations_for(session, principal.viewer, unit=unit)
    audit("read", "registration", unit, {"count": len(rows)})
    return {"count": len(rows), "registrations": [volunteers.registration_view(r, private=True) for r in rows]}


class ActivityIn(BaseModel):
    """A volunteer activity."""

    community_code: str = Field(pattern=CODE12.pattern)
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    place: str | None = Field(None, max_length=200)
    starts_at: AwareDatetime = Field(description="开始时间，须带时区 (start, with a time zone, e.g. +08:00)")
    ends_at: AwareDatetime = Field(description="结束时间，须带时区 (end, with a time zone)")
    capacity: int = Field(ge=1, le=10_000, description="名额 (places)")
    points: int = Field(5, ge=0, le=1000, description="参加可得积分 (points for attending)")


@router.post("/api/v1/volunteers/activities", status_code=201, summary="发布志愿活动 (publish an activity)")
def create_activity(session: SessionDep, body: ActivityIn, principal: StaffUser) -> dict:
    """An activity of a community in the caller's area."""
    _in_scope(principal, body.community_code)
    act = volunteers.create_activity(session, **body.model_dump(), actor=principal.subject,
                                     source=f"user:{principal.subject}")
    session.commit()
    return {"id": act.id, "title": act.title, "capacity": act.capacity, "points": act.points}


@router.get("/api/v1/volunteers/activities", summary="志愿活动（公开）(activities, public)")
def activities(session: SessionDep, unit: Unit = None,
               upcoming: Annotated[bool, Query(description="只看未结束的 (only those not over)")] = False) -> dict:
    """Activities with places left and attendance counts; no names."""
    rows = volunteers.list_activities(session, unit=unit, upcoming=upcoming)
    return {"count": len(rows), "activities": rows}


class SignupIn(BaseModel):
    """Whose registration signs up."""

    registration_id: int = Field(ge=1, le=2**31 - 1)


@router.post("/api/v1/volunteers/activities/{activity_id}/signups", status_code=201,
             summary="报名志愿活动 (sign up for an activity)")
def sign_up(session: SessionDep, activity_id: Id, body: SignupIn, principal: Server) -> dict:
    """A Party member signs up themself; staff sign up registrants of their area. Never beyond capacity."""
    _own_or_scope(principal, volunteers.get_registration(session, body.registration_id))
    signup = volunteers.sign_up(session, activity_id, body.registration_id)
    session.commit()
    return {"id": signup.id, "activity_id": activity_id, "registration_id": body.registration_id}


@router.get("/api/v1/volunteers/activities/{activity_id}/signups",
            summary="活动报名名单（工作人员，审计）(who signed up, staff of the area, audited)")
def signups(session: SessionDep, activity_id: Id, principal: StaffUser, audit: AuditDep) -> dict:
    """The registrations signed up for the activity, with names (personal data: the read is audited) and
    whether each attended."""
    _in_scope(principal, volunteers.get_activity(session, activity_id).community_code)
    rows = volunteers.signups(session, activity_id)
    audit("read", "registration", activity_id, {"activity_signups": len(rows)})
    return {"activity_id": activity_id, "count": len(rows), "signups": rows}


class AttendanceIn(BaseModel):
    """The registrations that attended (the other signed-up ones did not)."""

    attended: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(max_length=10_000)


@router.post("/api/v1/volunteers/activities/{activity_id}/attendance", summary="活动签到，发放积分 (take attendance)")
def attendance(session: SessionDep, activity_id: Id, body: AttendanceIn, principal: StaffUser) -> dict:
    """Mark attendance; each attendee earns the activity's points once."""
    _in_scope(principal, volunteers.get_activity(session, activity_id).community_code)
    result = volunteers.record_attendance(session, activity_id, attended=body.attended, actor=principal.subject)
    session.commit()
    return {"activity_id": activity_id, **result}


@router.get("/api/v1/volunteers/registrations/{registration_id}/points", summary="积分余额与流水 (balance and ledger)")
def points(session: SessionDep, registration_id: Id, principal: Server) -> dict:
    """One's own balance and ledger (or, for staff, a registrant's of their area)."""
    reg = volunteers.get_registration(session, registration_id)
    _own_or_scope(principal, reg)
    return {"registration_id": reg.id, "balance": volunteers.balance(session, reg.id),
            "entries": volunteers.entries(session, reg.id)}


class AdjustIn(BaseModel):
    """A manual change of points, with its reason."""

    delta: int = Field(ge=-MAX_POINTS_PER_CHANGE, le=MAX_POINTS_PER_CHANGE, description="增减积分 (non-zero)")
    reason: str = Field(min_length=2, max_length=500, description="原因（必填）(reason, required)")


@router.post("/api/v1/volunteers/registrations/{registration_id}/points", status_code=201,
             summary="人工调整积分（须写原因）(adjust points, with a reason)")
def adjust(session: SessionDep, registration_id: Id, body: AdjustIn, principal: StaffUser) -> dict:
    """Add or take points by hand; the balance never goes below zero."""
    _in_scope(principal, volunteers.get_registration(session, registration_id).community_code)
    entry = volunteers.change_points(session, registration_id, delta=body.delta, kind=PointKind.ADJUST.value,
                                     reason=body.reason, actor=principal.subject)
    session.commit()
    return {"id": entry.id, "delta": entry.delta, "balance": entry.balance_after, "reason": entry.reason}


class RewardIn(BaseModel):
    """An item on the 积分超市 shelf."""

    community_code: str = Field(pattern=CODE12.pattern)
    name: str = Field(min_length=1, max_length=200)
    cost: int = Field(ge=1, le=MAX_POINTS_PER_CHANGE, description="所需积分 (points)")
    stock: int = Field(ge=0, le=100_000, description="库存 (stock)")


@router.get("/api/v1/volunteers/rewards", summary="积分超市商品（公开）(rewards, public)")
def rewards(session: SessionDep, unit: Unit = None) -> dict:
    """What points buy, with stock."""
    rows = volunteers.list_rewards(session, unit=unit)
    return {"count": len(rows), "rewards": rows}


@router.post("/api/v1/volunteers/rewards", status_code=201, summary="上架积分超市商品 (add a reward)")
def add_reward(session: SessionDep, body: RewardIn, principal: StaffUser) -> dict:
    """Put an item on a community's shelf."""
    _in_scope(principal, body.community_code)
    reward = volunteers.add_reward(session, **body.model_dump(), source=f"user:{principal.subject}")
    session.commit()
    return {"id": reward.id, "name": reward.name, "cost": reward.cost, "stock": reward.stock}


class RedeemIn(BaseModel):
    """Who takes the reward."""

    registration_id: int = Field(ge=1, le=2**31 - 1)
    note: str | None = Field(None, max_length=500)


@router.post("/api/v1/volunteers/rewards/{reward_id}/redemptions", status_code=201,
             summary="积分兑换（超市柜台）(redeem points for a reward)")
def redeem(session: SessionDep, reward_id: Id, body: RedeemIn, principal: StaffUser) -> dict:
    """Pay the reward's points from the registrant's balance; too few points or no stock: 409, nothing changes."""
    _in_scope(principal, volunteers.get_registration(session, body.registration_id).community_code)
    red = volunteers.redeem(session, reward_id=reward_id, registration_id=body.registration_id,
                            actor=principal.subject, note=body.note)
    session.commit()
    return {"id": red.id, "reward_id": reward_id, "registration_id": body.registration_id,
            "balance": volunteers.balance(session, body.registration_id)}


@router.get("/api/v1/volunteers/leaderboard", summary="社区志愿积分榜（公开，仅显示自选名称）(leaderboard)")
def leaderboard(session: SessionDep, community: CommunityQ,
                limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Points earned per volunteer, showing only the display name each chose."""
    return {"community_code": community, "rows": volunteers.leaderboard(session, community, limit=limit)}
