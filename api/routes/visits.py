"""入户走访: grid staff log household visits (and what they lead to); coverage per grid and month and the
buildings not visited for N days. Visit notes are personal data: staff of the grid's area only, audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.audit import AuditDep
from api.auth import Principal, require_roles
from api.deps import SessionDep
from gis.domain import UserRole
from gis.errors import Forbidden
from gis.gridcodes import CODE15
from gis.visits import DEFAULT_STALE_DAYS, MAX_STALE_DAYS, Know
from layers import ledgers, visits
from usecases import visits as visit_use
from usecases.access import unit_in_area

router = APIRouter(tags=["visits 入户走访"])

STAFF = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF)
ROSTER = (*STAFF, UserRole.PLANNER)
StaffUser = Annotated[Principal, Depends(require_roles(*STAFF))]
RosterUser = Annotated[Principal, Depends(require_roles(*ROSTER))]
OUTSIDE = "无权查看或登记其他网格的走访 (this grid is outside your area)"
Month = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="月份 YYYY-MM，默认本月")]


def _in_scope(principal: Principal, code: str) -> None:
    if not principal.covers(code):
        raise Forbidden(OUTSIDE)


def _scoped(principal: Principal, unit: str | None) -> str | None:
    """The area to report on: the caller's area, or a part of it."""
    return unit_in_area(principal.viewer, unit, refusal=OUTSIDE)


class FollowUpIn(BaseModel):
    """What the visit leads to: an incident or an order (with its category), or new ledger counts."""

    kind: Literal["incident", "order", "ledger"]
    category: str | None = Field(None, max_length=50, description="事件或服务类别 (incident/order category)")
    description: str | None = Field(None, max_length=2000)
    counts: dict[str, dict[str, Annotated[int, Field(ge=0, le=100_000)]]] | None = Field(
        None, description='台账数 (ledger counts), e.g. {"resident": {"persons": 3, "households": 1}}')


class VisitIn(BaseModel):
    """One household visit."""

    building_id: int = Field(ge=1, le=2**31 - 1)
    stairwell_id: int | None = Field(None, ge=1, le=2**31 - 1)
    household: str = Field(min_length=1, max_length=40, description="户（如 2-301）(household, e.g. 2-301)")
    visited_on: dt.date = Field(default_factory=dt.date.today)
    knows: list[Know] = Field(default_factory=list, description="六提六知 items covered")
    notes: str | None = Field(None, max_length=4000, description="了解到的情况（个人信息，受限）(personal data)")
    follow_ups: list[FollowUpIn] = Field(default_factory=list, max_length=20)


@router.post("/api/v1/visits", status_code=201, summary="登记入户走访 (log a household visit)")
def log_visit(session: SessionDep, body: VisitIn, principal: StaffUser, audit: AuditDep) -> dict:
    """Record the visit in the building's grid; follow-ups become incidents, orders or ledger updates."""
    _in_scope(principal, ledgers.grid_of_building(session, body.building_id))
    result = visit_use.log_visit(
        session, building_id=body.building_id, household=body.household, visited_on=body.visited_on,
        actor=principal.subject, source=f"user:{principal.subject}", audit=audit,
        knows=[k.value for k in body.knows], notes=body.notes, stairwell_id=body.stairwell_id,
        follow_ups=[f.model_dump() for f in body.follow_ups])
    session.commit()
    return result


@router.get("/api/v1/visits", summary="走访记录（本网格及上级，审计）(visits with notes, audited)")
def read_visits(
    session: SessionDep,
    principal: StaffUser,
    audit: AuditDep,
    grid: Annotated[str, Query(pattern=r"^[0-9]{6,15}$", description="网格/社区编码前缀 (grid code prefix)")],
    since: Annotated[dt.date | None, Query()] = None,
    until: Annotated[dt.date | None, Query()] = None,
) -> dict[str, Any]:
    """Visits with what was learned: only for the grid's own and higher levels' staff; every read is logged."""
    _in_scope(principal, grid)
    rows = visits.read_visits(session, grid_code=grid, since=since, until=until, audit=audit)
    return {"grid": grid, "count": len(rows), "visits": rows}


@router.get("/api/v1/visits/coverage", summary="入户覆盖率：按网格和月份 (share of households visited per grid)")
def coverage(session: SessionDep, principal: RosterUser, month: Month = None,
             unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$")] = None) -> dict:
    """Per grid: households, households visited in the month, the share; no personal data."""
    rows = visits.coverage(session, month=month, unit=_scoped(principal, unit))
    return {"month": visits.month_bounds(month)[0].strftime("%Y-%m"), "count": len(rows), "grids": rows}


@router.get("/api/v1/visits/stale-buildings", summary="超过 N 天未走访的楼栋 (buildings not visited for N days)")
def stale(session: SessionDep, principal: RosterUser,
          days: Annotated[int, Query(ge=1, le=MAX_STALE_DAYS, description="天数 (days)")] = DEFAULT_STALE_DAYS,
          unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$")] = None) -> dict:
    """Buildings with households not visited for ``days`` days (never visited first)."""
    rows = visits.stale_buildings(session, days=days, unit=_scoped(principal, unit))
    return {"days": days, "count": len(rows), "buildings": rows}


@router.get("/api/v1/visits/buildings", summary="网格内楼栋及上次走访日期 (a grid's buildings with their last visit)")
def grid_buildings(session: SessionDep, principal: StaffUser,
                   grid: Annotated[str, Query(pattern=CODE15.pattern, description="网格编码 (grid code)")]) -> dict:
    """The grid's buildings with households, when each was last visited and the days since — what the staff
    page picks a building from; no personal data."""
    _in_scope(principal, grid)
    rows = visits.grid_buildings(session, grid)
    return {"grid": grid, "count": len(rows), "buildings": rows}
