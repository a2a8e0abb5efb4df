"""六步议事: topics from residents, grid staff and recurring incidents; council members; meetings and votes;
public notices; follow-up tasks. Residents propose and everyone reads the public view; staff of the area run
the steps."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.audit import AuditDep
from api.auth import OptionalUser, Principal, require_roles
from api.deps import SessionDep
from gis.coords import CRS
from gis.deliberation import COUNCIL_ROLES, STEP_COLOURS, TopicOrigin, TopicStep
from gis.domain import UserRole
from gis.errors import Forbidden
from gis.gridcodes import CODE12
from layers import deliberation
from usecases import area_lists

router = APIRouter(tags=["deliberation 六步议事"])

STAFF = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF)
StaffUser = Annotated[Principal, Depends(require_roles(*STAFF))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Community = Annotated[str, Path(pattern=CODE12.pattern, description="12 位社区/村编码 (community code)")]
Unit = Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$", description="区/街道/社区编码前缀 (area code prefix)")]


def _in_scope(principal: Principal, code: str) -> None:
    if not principal.covers(code):
        raise Forbidden("无权处理其他社区的议事 (this is outside your area)")


def _is_staff(principal: Principal) -> bool:
    return not principal.is_public and principal.has_any(*STAFF)


@router.get("/api/v1/deliberation/roles", summary="议事会 1+7+X 角色与议事六步 (council roles and the six steps)")
def roles() -> dict:
    """The council's seats ("1" convener, "7" standing, "X" per topic) and the steps with their colours."""
    return {"roles": [r.__dict__ for r in COUNCIL_ROLES],
            "steps": [{"step": s.value, "zh": s.zh, "colour": STEP_COLOURS[s.value]} for s in TopicStep]}


class TopicIn(BaseModel):
    """A topic for the council: where (a point, or a community), what, and who to call back."""

    title: str = Field(min_length=1, max_length=200, description="议题 (topic)")
    description: str | None = Field(None, max_length=4000)
    lon: float | None = Field(None, ge=-180, le=180, description="经度 (longitude)")
    lat: float | None = Field(None, ge=-90, le=90, description="纬度 (latitude)")
    crs: CRS = Field(CRS.WGS84, description="坐标系 wgs84|cgcs2000|gcj02|bd09")
    community_code: str | None = Field(None, pattern=CODE12.pattern, description="社区/村编码 (without a point)")
    proposer_name: str | None = Field(None, max_length=100, description="联系人（仅工作人员可见）(staff only)")
    proposer_phone: str | None = Field(None, max_length=40, description="联系电话（仅工作人员可见）(staff only)")
    origin: TopicOrigin | None = Field(None, description="来源：居民提出的固定为 resident (staff may set it)")
    incident_ids: list[int] = Field(default_factory=list, max_length=1000,
                                    description="高频事件聚类的事件编号 (incidents of a cluster)")


@router.post("/api/v1/deliberation/topics", status_code=201, summary="提出议题（居民或网格员）(propose a topic)")
def propose(session: SessionDep, body: TopicIn, principal: OptionalUser) -> dict:
    """收集议题: a resident (anyone) or staff member proposes a topic at a place or for a community."""
    staff = _is_staff(principal)
    origin = (body.origin or TopicOrigin.GRID_STAFF) if staff else TopicOrigin.RESIDENT
    if staff and body.community_code:
        _in_scope(principal, body.community_code)
    topic = deliberation.propose_topic(
        session, title=body.title, description=body.description, origin=origin.value,
        actor=principal.subject, source="api", lon=body.lon, lat=body.lat, crs=body.crs.value,
        community_code=body.community_code, proposer_name=body.proposer_name, proposer_phone=body.proposer_phone,
        incident_ids=body.incident_ids if staff else [])
    if staff:
        _in_scope(principal, topic.community_code)
    session.commit()
    return deliberation.topic_view(session, topic)


@router.get("/api/v1/deliberation/topics", summary="议题列表（公开）(topics, public view)")
def list_topics(
    session: SessionDep,
    unit: Unit = None,
    step: Annotated[TopicStep | None, Query(description="步骤 (step)")] = None,
    format: Annotated[Literal["json", "geojson"], Query(description="json 或 geojson（地图图层）")] = "json",
) -> dict:
    """Topics by place and step, no proposer details; ``format=geojson`` gives the map layer."""
    rows = deliberation.list_topics(session, unit=unit, step=step.value if step else None)
    if format == "json":
        return {"count": len(rows), "topics": rows}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": r["id"], "properties": {k: v for k, v in r.items() if k not in ("lon", "lat")},
         "geometry": None if r["lon"] is None else {"type": "Point", "coordinates": [r["lon"], r["lat"]]}}
        for r in rows]}


@router.get("/api/v1/deliberation/topics/{topic_id}", summary="议题详情 (a topic with its steps, votes, tasks)")
def get_topic(session: SessionDep, topic_id: Id, principal: OptionalUser, audit: AuditDep) -> dict:
    """The topic with who moved it when; staff of its area also see the proposer's contact (audited)."""
    topic = deliberation.get_topic(session, topic_id)
    private = _is_staff(principal) and principal.covers(topic.community_code)
    if private:
        audit("read", "topic_proposer", topic.id, {})
    return deliberation.topic_view(session, topic, private=private)


class StepIn(BaseModel):
    """The step to move to and a note."""

    step: TopicStep
    note: str | None = Field(None, max_length=2000)


@router.post("/api/v1/deliberation/topics/{topic_id}/steps", summary="推进议事步骤 (move a topic to its next step)")
def move(session: SessionDep, topic_id: Id, body: StepIn, principal: StaffUser) -> dict:
    """确定议题 → 议前调研 → 协商议事 → 公开公示 → 研究落实 (or 不予立项), recorded with who and when."""
    _in_scope(principal, deliberation.get_topic(session, topic_id).community_code)
    topic = deliberation.move_topic(session, topic_id, body.step.value, actor=principal.subject, note=body.note)
    session.commit()
    return deliberation.topic_view(session, topic, private=False)


class AttachmentIn(BaseModel):
    """A link to a document, photo album or survey (http/https only)."""

    title: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=1000, description="http(s) 链接 (http or https link)")


@router.post("/api/v1/deliberation/topics/{topic_id}/attachments", status_code=201,
             summary="添加附件链接 (attach a link)")
def attach(session: SessionDep, topic_id: Id, body: AttachmentIn, principal: StaffUser) -> dict:
    """Attach an http(s) link; other schemes are refused."""
    _in_scope(principal, deliberation.get_topic(session, topic_id).community_code)
    att = deliberation.add_attachment(session, topic_id, title=body.title, url=body.url, actor=principal.subject)
    session.commit()
    return {"id": att.id, "title": att.title, "url": att.url}


class TaskIn(BaseModel):
    """A follow-up task: an existing incident or order that carries out the decision."""

    title: str = Field(min_length=1, max_length=200)
    incident_id: int | None = Field(None, ge=1, le=2**31 - 1)
    order_id: int | None = Field(None, ge=1, le=2**31 - 1)


@router.post("/api/v1/deliberation/topics/{topic_id}/tasks", status_code=201,
             summary="添加落实任务（关联事件或服务单）(link a follow-up incident or order)")
def add_task(session: SessionDep, topic_id: Id, body: TaskIn, principal: StaffUser) -> dict:
    """研究落实: when every linked incident is closed and order fulfilled, the topic closes by itself."""
    _in_scope(principal, deliberation.get_topic(session, topic_id).community_code)
    task = deliberation.add_task(session, topic_id, title=body.title, actor=principal.subject,
                                 incident_id=body.incident_id, order_id=body.order_id)
    session.commit()
    return {"id": task.id, "topic_id": topic_id, "incident_id": task.incident_id, "order_id": task.order_id}


@router.get("/api/v1/deliberation/suggestions", summary="由高频事件聚类建议议题 (topics suggested by incident clusters)")
def suggestions(
    session: SessionDep,
    principal: StaffUser,
    days: Annotated[int, Query(ge=1, le=3650, description="回看天数 (days back)")] = 60,
    radius_m: Annotated[float, Query(ge=10, le=5000, description="聚类半径，米 (cluster radius)")] = 150,
    min_incidents: Annotated[int, Query(ge=2, le=1000, description="最少事件数 (min incidents)")] = 4,
) -> dict:
    """Clusters of same-category incidents in the caller's area not yet taken up by a topic."""
    rows = area_lists.topic_suggestions_for(session, principal.viewer, days=days, radius_m=radius_m,
                                            min_incidents=min_incidents)
    return {"count": len(rows), "suggestions": rows}


class MemberIn(BaseModel):
    """A member of the council in a 1+7+X role."""

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(description="角色编码，见 /api/v1/deliberation/roles (role code)")
    person_id: int | None = Field(None, ge=1, le=2**31 - 1)


@router.get("/api/v1/deliberation/councils/{community_code}/members", summary="议事会成员 (council members)")
def council_members(session: SessionDep, community_code: Community, principal: StaffUser) -> dict:
    """The community's active council members by role."""
    _in_scope(principal, community_code)
    rows = deliberation.members(session, community_code)
    return {"community_code": community_code, "count": len(rows), "members": rows}


@router.post("/api/v1/deliberation/councils/{community_code}/members", status_code=201,
             summary="增补议事会成员 (seat a council member)")
def add_member(session: SessionDep, community_code: Community, body: MemberIn, principal: StaffUser) -> dict:
    """Seat a member in one of the 1+7+X roles."""
    _in_scope(principal, community_code)
    member = deliberation.add_member(session, community_code=community_code, name=body.name, role=body.role,
                                     person_id=body.person_id, source=f"user:{principal.subject}")
    session.commit()
    return {"id": member.id, "name": member.name, "role": member.role}


class MeetingIn(BaseModel):
    """A council meeting: who was invited (member ids), who did not come, and the quorum."""

    community_code: str = Field(pattern=CODE12.pattern)
    title: str = Field(min_length=1, max_length=200)
    held_on: dt.date
    place: str | None = Field(None, max_length=200)
    member_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=200)
    absent_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(default_factory=list, max_length=200)
    quorum: int | None = Field(None, ge=1, le=200, description="法定人数，默认应到人数过半 (default: over half)")


@router.post("/api/v1/deliberation/meetings", status_code=201, summary="召开议事会议 (record a council meeting)")
def create_meeting(session: SessionDep, body: MeetingIn, principal: StaffUser) -> dict:
    """Participants are drawn from the community's council members."""
    _in_scope(principal, body.community_code)
    meeting = deliberation.create_meeting(
        session, community_code=body.community_code, title=body.title, held_on=body.held_on, place=body.place,
        member_ids=body.member_ids, absent_ids=body.absent_ids, quorum=body.quorum, actor=principal.subject,
        source=f"user:{principal.subject}")
    session.commit()
    return {"id": meeting.id, "quorum": meeting.quorum, "invited": len(set(body.member_ids)),
            "present": len(set(body.member_ids) - set(body.absent_ids))}


class VoteIn(BaseModel):
    """The ballots on one topic (新粮地村 ticked ballots: count them here)."""

    topic_id: int = Field(ge=1, le=2**31 - 1)
    votes_for: int = Field(ge=0, le=10_000, description="赞成 (for)")
    votes_against: int = Field(ge=0, le=10_000, description="反对 (against)")
    votes_abstain: int = Field(ge=0, le=10_000, description="弃权 (abstain)")
    decision: str = Field("", max_length=4000, description="决议内容 (the decision)")


@router.post("/api/v1/deliberation/meetings/{meeting_id}/votes", status_code=201,
             summary="记录表决结果 (record the vote on a topic)")
def vote(session: SessionDep, meeting_id: Id, body: VoteIn, principal: StaffUser) -> dict:
    """Counted against those present and the quorum: passes with more than half of those present."""
    _in_scope(principal, deliberation.get_meeting(session, meeting_id).community_code)
    item = deliberation.record_vote(session, meeting_id, body.topic_id, votes_for=body.votes_for,
                                    votes_against=body.votes_against, votes_abstain=body.votes_abstain,
                                    decision=body.decision)
    session.commit()
    return deliberation.item_view(item)


@router.get("/api/v1/deliberation/notices/{item_id}", summary="决议公示（公开）(the public notice of a decision)")
def notice(session: SessionDep, item_id: Id) -> dict:
    """Topic, meeting, attendance by role, the vote, the decision, the notice period and the tasks."""
    return deliberation.notice(session, item_id)
