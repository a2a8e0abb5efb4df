"""Incidents: report (locate + dispatch + duplicates, with ``Idempotency-Key``) and its dry run, the dispatch
queue by scope, follow through the lifecycle (with the people an incident may go to), overdue lists, escalation
to named receivers and KPIs.

Who sees what: the public (and anyone outside the incident's area) gets the public view — no reporter, the
description and exact point of sensitive categories hidden (the point snapped to the grid's centroid). Signed-in
staff whose scope covers the incident get the staff view; dispatchers and grid staff also see the reporter.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.audit import AuditDep
from api.auth import OptionalUser, Principal, api_key_scheme, caller, oauth2_scheme, require_roles
from api.deps import ReadSessionDep, SessionDep
from api.lean_route import LeanRoute
from gis import incidents as rules
from gis.domain import IncidentState, UserRole
from gis.errors import Forbidden, InvalidInput
from gis.gridcodes import CODE12, CODE15
from layers import escalation, incident_kpis, intake_batch
from layers import incident_flow as flow
from layers import incidents as inc
from usecases import dispatch

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents 事件"], route_class=LeanRoute)

PRIVATE_ROLES = (UserRole.DISPATCHER.value, UserRole.GRID_STAFF.value)
"""Roles that need the reporter's name and phone (to call back) — inside their scope only."""
STAFF_ROLES = PRIVATE_ROLES + (UserRole.SYSTEM.value, UserRole.PLANNER.value)
Staff = Annotated[Principal, Depends(require_roles(UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF,
                                                   UserRole.SYSTEM))]
Escalator = Annotated[Principal, Depends(require_roles(UserRole.ADMIN, UserRole.DISPATCHER, UserRole.SYSTEM))]
Dispatcher = Annotated[Principal, Depends(require_roles(UserRole.ADMIN, UserRole.DISPATCHER))]
Workbench = Annotated[Principal, Depends(require_roles(UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF))]
IncidentId = Annotated[int, Path(ge=1, description="事件编号 (incident id)")]


class IncidentIn(BaseModel):
    """A report: what and where (and, optionally, who reported it — personal data, kept private)."""

    model_config = ConfigDict(allow_inf_nan=False)

    category: str = Field(description="事件类别编码或中文名，见 /api/v1/incidents/categories (category code or "
                                      "Chinese name)", examples=["sanitation"])
    lon: float = Field(description="经度 (longitude)", examples=[102.1855])
    lat: float = Field(description="纬度 (latitude)", examples=[38.5015])
    crs: str = Field("wgs84", description="坐标系 wgs84 | cgcs2000 | gcj02 | bd09 (coordinate system)")
    accuracy_m: float | None = Field(None, description="定位精度（米）(GPS accuracy in metres)")
    description: str | None = Field(None, description="事件描述 (what happened)")
    reporter_name: str | None = Field(None, description="上报人姓名（个人信息，不公开）(reporter's name; private)")
    reporter_phone: str | None = Field(None, description="上报人电话（个人信息，不公开）(reporter's phone; private)")
    reporter_email: str | None = Field(None, description="上报人邮箱（个人信息，不公开）(reporter's e-mail; private)")
    address: str | None = Field(None, description="地址描述 (address as written by the reporter)")
    media_url: str | None = Field(None, description="照片链接 (photo URL)")
    channel: str | None = Field(None, description="来源渠道 phone 电话 | hotline_12345 12345热线 | visit 来访 | "
                                                  "grid_worker 网格员 | app App（电话等仅限工作人员填写；默认 api）"
                                                  "(how the report came in; all but app are for staff)")


class TransitionIn(BaseModel):
    """One action on an incident."""

    model_config = ConfigDict(allow_inf_nan=False)

    action: str = Field(description="register 立案 | dispatch 派遣 | reassign 改派 | handle 处置 | feedback 反馈 | "
                                    "verify 核查 | close 结案 | return 回退 | postpone 延期 | escalate 上报上级",
                        examples=["register"])
    note: str | None = Field(None, description="说明 (note)")
    hours: float | None = Field(None, description="延期小时数（延期时与 due_at 二选一）(hours to postpone by)")
    due_at: dt.datetime | None = Field(None, description="延期后的新时限，带时区 (the new deadline of a postponement, "
                                                         "with a time zone; instead of hours)",
                                       examples=["2026-12-06T18:00:00+08:00"])
    assignee_id: int | None = Field(None, ge=1, description="派遣/改派给的人员编号，须为事件所属网格、社区或本层级接收人 "
                                                      "(person to dispatch or reassign to; one of /candidates)")


def view_kind(principal: Principal, code: str | None) -> inc.View:
    """``private`` for dispatchers/grid staff whose scope covers ``code``, ``staff`` for other staff roles in
    scope, else ``public``."""
    if principal.is_public or not principal.covers(code):
        return "public"
    if principal.has_any(*PRIVATE_ROLES):
        return "private"
    if principal.has_any(*STAFF_ROLES):
        return "staff"
    return "public"


def _views(session, principal: Principal, rows, audit) -> list[dict[str, Any]]:
    """Each incident in the caller's view; reading reporters' personal data is audited first."""
    kinds = [view_kind(principal, i.grid_code or d.community_code) for i, d in rows]
    private = [i.id for (i, _), k in zip(rows, kinds) if k == "private" and (i.reporter_name or i.reporter_phone)]
    if private:
        audit("read", "incident_reporter", private[0] if len(private) == 1 else None, {"incident_ids": private})
    return [inc.view(session, i, d, k, roles=principal.roles) for (i, d), k in zip(rows, kinds)]


def _channel(principal: Principal, value: str | None) -> None:
    """Only the intake channels may be named in a body, and all but ``app`` only by staff taking a report."""
    if value is None:
        return
    c = rules.parse_channel(value)
    if c not in rules.INTAKE_CHANNELS:
        raise InvalidInput(f"来源渠道 {value!r} 不能在上报中指定 (channel {value!r} cannot be given in a report)",
                           detail={"channel": value, "known": [x.value for x in rules.INTAKE_CHANNELS]})
    if c is not rules.Channel.APP and not principal.has_any(*PRIVATE_ROLES):
        raise Forbidden(f"只有调度员和网格工作人员可以登记「{c.zh}」来源 (only staff record the channel {c.value})")


def _in_scope(principal: Principal, i, d) -> None:
    if not principal.covers(i.grid_code or d.community_code):
        raise Forbidden("此事件不在您的辖区内 (this incident is outside your scope)")


def _scope(principal: Principal) -> str | None:
    return "" if UserRole.ADMIN.value in principal.roles else principal.scope


def _actor(principal: Principal) -> str:
    return principal.subject if not principal.is_public else "public"


@router.post(
    "", status_code=201,
    summary="上报事件：定位到网格、按类别派遣、查重，并保存 (report an incident: locate, dispatch, check duplicates, "
            "store)",
    responses={201: {"description": "已保存；重试同一 Idempotency-Key 得到同一答复 (stored; a retry gets the same answer)"},
               422: {"description": "坐标/类别/坐标系无效，或 Idempotency-Key 用于不同请求 (bad input; nothing stored)"}},
)
async def report_incident(
    request: Request,
    body: IncidentIn,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)] = None,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", description="重试不会重复建事件 (a retried POST never creates a second incident)")] = None,
) -> Response:
    """The same answer as ``GET /api/v1/locate`` for the point, plus ``incident``: id, state, deadline, who it was
    dispatched to and why, and open incidents of the same category within 250 m (``duplicates``; one within 50 m
    and 24 h makes this report a linked duplicate, ``duplicate_of``, not a second task). Staff taking a call
    name its ``channel`` (电话、12345、来访、网格员).

    The busiest write of the service: the report joins the worker's intake queue (:mod:`api.intake_queue`),
    whose writers store the reports that arrived together in one batch — every rule of
    :func:`layers.incidents.create_incident`, each report with its own answer — and the answer is sent once the
    batch's write has committed."""

    def authorize(session: Session) -> str:  # as OptionalUser, on the writer's session
        principal = caller(request, session, token, api_key)
        _channel(principal, body.channel)
        return _actor(principal)

    outcome = await request.app.state.intake.submit(
        intake_batch.Pending(body.model_dump(), idempotency_key, authorize))
    if isinstance(outcome, BaseException):
        raise outcome
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    headers["Location"] = f"/api/v1/incidents/{outcome.incident_id}"
    return Response(outcome.text, status_code=201, headers=headers, media_type="application/json")


@router.get("/categories", summary="事件类别、处置角色与时限 (categories, the role that handles each, deadlines)")
def categories() -> list[dict[str, Any]]:
    """The category table (data): code, names, the grid role it is dispatched to, deadline in hours, sensitive,
    and whether a 包街 street's unit takes it by default (``street_duty``)."""
    return [c.as_dict() for c in inc.categories().values()]


@router.get("/channels", summary="来源渠道 (the channels a report can come in by)")
def channels() -> list[dict[str, str]]:
    """The channels staff record when taking a report: 电话、12345热线、来访、网格员上报、App."""
    return [{"code": c.value, "name_zh": c.zh} for c in rules.INTAKE_CHANNELS]


@router.post(
    "/preview",
    summary="上报预览：将派给哪个网格、哪个人、依据哪条规则，附近有无重复（不保存）(what a report would get; nothing "
            "stored)",
    responses={422: {"description": "坐标/类别/坐标系无效 (bad input)"}},
)
def preview(
    body: IncidentIn, session: SessionDep, principal: Workbench,
    display_crs: Annotated[str, Query(description="display_point 的坐标系（地图的）wgs84 | gcj02 | bd09 "
                                                  "(coordinates of display_point: the map's)")] = "wgs84",
) -> dict[str, Any]:
    """The answer ``POST /api/v1/incidents`` would give for this body — grid, responsible people, who it would
    be dispatched to and why (the rule that applied), its deadline and the open incidents of the same category
    nearby — without storing anything, plus ``display_point`` (the point in the map's coordinates). For the
    workbench's call-taking form."""
    _channel(principal, body.channel)
    return dispatch.preview_for_map(session, body.model_dump(), display_crs=display_crs)


@router.get("/queue", summary="调度队列（按辖区；待人工派遣优先）(the dispatch queue of your scope; 待人工派遣 first)")
def queue(
    session: SessionDep,
    principal: Workbench,
    state: Annotated[list[str] | None, Query(description="状态，可多个；默认全部未结 (states; default every open one)")] = None,
    overdue: Annotated[bool | None, Query(description="只看超期 / 只看未超期 (overdue only / not overdue)")] = None,
    manual: Annotated[bool | None, Query(description="只看待人工派遣 (only those waiting for a dispatcher)")] = None,
    category: Annotated[list[str] | None, Query(description="类别，可多个 (categories)")] = None,
    grid: Annotated[str | None, Query(description="网格编码（15位）或社区代码（12位）(grid or community code)")] = None,
    channel: Annotated[list[str] | None, Query(description="来源渠道，可多个 (channels)")] = None,
    sort: Annotated[str, Query(description="urgent 最急（截止最早、超期在前）| newest 最新 (order)")] = "urgent",
    crs: Annotated[str, Query(description="返回坐标的坐标系 wgs84 | gcj02 | bd09 (coordinates of the points)")] = "wgs84",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Open incidents of the caller's scope (or the states asked for), filtered and sorted in SQL: those
    waiting for a dispatcher (待人工派遣) first, then the most urgent (or newest). ``count``, ``overdue`` and
    ``manual`` count everything that matched; ``items`` is one page, without personal data."""
    flt = dispatch.check_filter(states=state, overdue=overdue, manual=manual, categories_=category, grid=grid,
                                channels=channel)
    return dispatch.incident_queue(session, flt, scope=_scope(principal), sort=sort, limit=limit, offset=offset,
                                   crs=crs)


@router.get("/places", summary="查找地点：网格、设施、社区、包街路段、楼栋 (find a place by name)")
def places(
    session: SessionDep,
    principal: Workbench,
    q: Annotated[str, Query(min_length=1, max_length=60, description="名称、地址或网格编码 (name, address or grid code)")],
    crs: Annotated[str, Query(description="返回坐标的坐标系 (coordinates of the answer)")] = "wgs84",
) -> dict[str, Any]:
    """Up to ten places whose name contains ``q``: grids, facilities (POIs, also by address), communities and
    streets, 包街 streets, buildings; each as one point."""
    return dispatch.find_places(session, q, crs=crs)


@router.get("/escalation-receivers",
            summary="上报接收人：社区值班、街道综治中心、区部门 (who receives escalations at each level)")
def receivers(session: SessionDep, principal: Staff) -> dict[str, Any]:
    """The receivers serving the caller's area (names and published phones only) and the areas where an
    escalation would find nobody (``gaps``: it would wait in the 待人工派遣 queue)."""
    scope = _scope(principal)
    gaps = [g for g in escalation.receiver_gaps(session, categories=inc.categories())
            if principal.covers(g["area_code"])]
    return {"items": escalation.list_receivers(session, scope=scope), "gaps": gaps}


@router.get("", summary="事件列表（工作人员，限本辖区）(list incidents; staff, within their scope)")
def list_incidents(
    session: SessionDep,
    principal: Staff,
    audit: AuditDep,
    state: Annotated[list[str] | None, Query(description="状态，可多个 (states)")] = None,
    category: Annotated[list[str] | None, Query(description="类别，可多个 (categories)")] = None,
    grid_code: Annotated[str | None, Query(pattern=CODE15.pattern, description="网格编码 (grid code)")] = None,
    community_code: Annotated[str | None, Query(pattern=CODE12.pattern, description="社区代码")] = None,
    assignee_id: Annotated[int | None, Query(ge=1, description="派给此人员的任务 (tasks of this person)")] = None,
    overdue: Annotated[bool | None, Query(description="只看超期 (only overdue)")] = None,
    include_duplicates: Annotated[bool, Query(description="含重复上报 (include linked duplicates)")] = True,
    since: Annotated[dt.datetime | None, Query(description="上报时间起 (reported since)")] = None,
    until: Annotated[dt.datetime | None, Query(description="上报时间止 (reported until)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Newest first; each in the view the caller may see."""
    for s in state or []:
        if s not in IncidentState.values():
            raise InvalidInput(f"未知状态 {s!r} (unknown state; known: {', '.join(IncidentState.values())})")
    rows = inc.query(session, state=state, category=category, grid_code=grid_code, community_code=community_code,
                     assignee_id=assignee_id, scope=_scope(principal), overdue=overdue, include_duplicates=include_duplicates, since=since,
                     until=until, limit=limit, offset=offset)
    items = _views(session, principal, rows, audit)
    return {"count": len(items), "items": items}


@router.get("/overdue", summary="超期未结事件（工作人员）(overdue open incidents; staff)")
def overdue(session: SessionDep, principal: Staff, audit: AuditDep,
            limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
    """Open incidents past their deadline in the caller's scope, oldest deadline first."""
    rows = inc.query(session, overdue=True, scope=_scope(principal), limit=limit)
    rows.sort(key=lambda r: (r[0].due_at, r[0].id))
    items = _views(session, principal, rows, audit)
    return {"count": len(items), "items": items}


@router.post("/escalate-overdue",
             summary="超期事件自动上报上级 (escalate every overdue incident one level)")
def escalate_overdue(session: SessionDep, principal: Escalator) -> dict[str, Any]:
    """网格 → 社区 → 街道 → 区/部门, each with a fresh deadline and the level's receiver (or the 待人工派遣 queue
    when none is registered); recorded as events by this caller. Every overdue incident is listed, and those
    not escalated say why (``reason``)."""
    moved = flow.escalate_overdue(session, actor=f"{principal.subject}:overdue", scope=_scope(principal))
    session.commit()
    return {"count": sum(1 for x in moved if x["escalated"]), "not_escalated": sum(1 for x in moved if not x["escalated"]),
            "items": moved}


@router.get("/kpis", summary="考核指标：按网格/社区/街道/月份/类别 (KPIs by grid, community, street, month, category)")
def kpis(
    session: ReadSessionDep,
    principal: OptionalUser,
    by: Annotated[str, Query(description="grid | community | street | month | category")] = "grid",
    since: Annotated[dt.datetime | None, Query(description="上报时间起 (reported since)")] = None,
    until: Annotated[dt.datetime | None, Query(description="上报时间止 (reported until)")] = None,
) -> dict[str, Any]:
    """Over every incident reported in the period (linked duplicates aside): the share closed at grid or
    community level (÷ all reported, target ≥ 80 %, ``meets_target``), with open, overdue and escalated beside
    it, the on-time rate and the median handling time; every row named. Aggregates only: no personal data."""
    scope = "" if principal.is_public else _scope(principal)
    return incident_kpis.kpis(session, by, since=since, until=until, scope=scope)


@router.get("/{incident_id}", summary="事件详情（按身份显示）(one incident, in the view the caller may see)")
def get_incident(incident_id: IncidentId, session: SessionDep, principal: OptionalUser,
                 audit: AuditDep) -> dict[str, Any]:
    """Public view for everyone; staff in scope see more; the reporter only to dispatchers/grid staff in scope
    (each such read is written to the audit log)."""
    return _views(session, principal, [inc.load(session, incident_id)], audit)[0]


@router.get("/{incident_id}/events", summary="事件流转记录（工作人员）(the incident's transitions; staff)")
def get_events(incident_id: IncidentId, session: SessionDep, principal: Staff) -> list[dict[str, Any]]:
    """Every transition: from → to, level, who and when."""
    i, d = inc.load(session, incident_id)
    _in_scope(principal, i, d)
    return inc.events(session, incident_id)


@router.get("/{incident_id}/candidates",
            summary="可派遣/改派的人员：本网格、社区与本层级接收人 (who the incident may be dispatched to)")
def get_candidates(incident_id: IncidentId, session: SessionDep, principal: Dispatcher) -> list[dict[str, Any]]:
    """The named people of the incident's grid and community and the receivers of its level: role or post,
    published phone, open tasks; the one the dispatch rules pick first (``suggested``)."""
    i, d = inc.load(session, incident_id)
    _in_scope(principal, i, d)
    return flow.candidates(session, i, d)


@router.post("/{incident_id}/transitions",
             summary="流转：立案/派遣/处置/反馈/核查/结案/回退/延期/上报上级 (move the incident on)",
             responses={409: {"description": "当前状态不允许此操作 (not allowed from the current state)"},
                        403: {"description": "角色或辖区不符 (role or scope does not allow it)"}})
def post_transition(incident_id: IncidentId, body: TransitionIn, session: SessionDep,
                    principal: Staff, audit: AuditDep) -> dict[str, Any]:
    """Checks the caller's role and scope, then the state machine; records who and when. 派遣/改派 go to a
    person of ``/candidates``; 延期 needs ``hours`` or the new deadline ``due_at``; 上报上级 reaches the next level's receiver."""
    i, d = inc.load(session, incident_id)
    _in_scope(principal, i, d)
    i, d = flow.transition(session, incident_id, body.action, actor=principal.subject, roles=principal.roles,
                          note=body.note, hours=body.hours, due=body.due_at, assignee_id=body.assignee_id)
    session.commit()
    return _views(session, principal, [(i, d)], audit)[0]
