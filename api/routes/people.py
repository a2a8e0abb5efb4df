"""Grid staff: the roster audit, each grid's contact board (公示牌) and 包街 street responsibility."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from api.auth import Principal, require_roles
from api.deps import ReadSessionDep, SessionDep
from gis.domain import UserRole
from gis.gridcodes import CODE15
from gis.visits import DEFAULT_STALE_DAYS, MAX_STALE_DAYS
from layers import roster
from maps.boards import board_page
from usecases import visits as visit_use
from usecases.access import unit_in_area

router = APIRouter(tags=["people 网格人员"])

STAFF = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.PLANNER, UserRole.GRID_STAFF)
StaffUser = Annotated[Principal, Depends(require_roles(*STAFF))]
GridCode = Annotated[str, Path(pattern=CODE15.pattern, description="15 位网格编码 (15-digit grid code)")]


@router.get("/api/v1/roster/audit", summary="网格人员缺岗审计 (roster audit: every vacancy)",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "JSON，或 format=csv 时为 CSV (JSON, or CSV with format=csv)"}})
def roster_audit(
    session: ReadSessionDep,
    principal: StaffUser,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$",
                                      description="街道/社区/网格编码前缀 (street, community or grid code prefix)")] = None,
    plan_id: Annotated[int | None, Query(ge=1, description="网格方案，默认现行 (plan id)")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json 或 csv")] = "json",
):
    """Vacant roles per grid, buildings without a 楼栋长 and stairwells without a 楼口长."""
    table = roster.roster_audit(session, plan_id=plan_id, unit=unit_in_area(principal.viewer, unit))
    if format == "csv":
        return Response(table.to_csv(index=False), media_type="text/csv; charset=utf-8")
    return {"count": len(table), "vacancies": table.astype(object).where(table.notna(), None).to_dict("records")}


@router.get("/api/v1/roster/summary", summary="缺岗汇总：按网格、社区或街道 (vacancy counts by grid, community or street)")
def roster_summary(
    session: ReadSessionDep,
    principal: StaffUser,
    by: Annotated[Literal["grid", "community", "street"], Query(description="汇总层级 (level)")] = "community",
    plan_id: Annotated[int | None, Query(ge=1)] = None,
    month: Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
                                       description="走访月份 YYYY-MM，默认本月 (visit month)")] = None,
    stale_days: Annotated[int, Query(ge=1, le=MAX_STALE_DAYS, description="超过 N 天未走访的楼栋 (buildings not visited "
                                                               "for N days)")] = DEFAULT_STALE_DAYS,
) -> dict:
    """Vacancy counts per unit, within the caller's area, with the month's household-visit coverage (入户走访:
    households, households visited, share; buildings not visited for ``stale_days``)."""
    table = visit_use.roster_summary(session, by=by, plan_id=plan_id, month=month, stale_days=stale_days,
                                     viewer=principal.viewer)
    return {"by": by, "rows": table.astype(object).where(table.notna(), None).to_dict("records")}


@router.get("/api/v1/grids/{code}/board", summary="网格公示牌 (a grid's public contact board)")
def grid_board(session: ReadSessionDep, code: GridCode) -> dict:
    """Roles of the grid group with their published phone numbers; no private data."""
    return roster.contact_board(session, code)


@router.get(
    "/api/v1/grids/{code}/board.html",
    summary="网格公示牌打印页 (printable contact board, one page per grid)",
    response_class=HTMLResponse,
)
def grid_board_page(session: ReadSessionDep, code: GridCode) -> HTMLResponse:
    """The contact board as a printable A4 page."""
    return HTMLResponse(board_page(roster.contact_board(session, code)))


@router.get("/api/v1/street-responsibility/unassigned", summary="无责任单位的包街路段 (包街 streets without a unit)")
def streets_without_unit(
    session: SessionDep,
    principal: StaffUser,
    on: Annotated[dt.date | None, Query(description="日期，默认今天 (day, default today)")] = None,
) -> dict:
    """Main streets that have no responsible unit on the day."""
    rows = roster.streets_without_unit(session, on=on)
    return {"count": len(rows), "streets": rows}


class StreetUnit(BaseModel):
    """A responsible unit for a 包街 street and the period it serves."""

    responsible_unit: str = Field(min_length=1, max_length=200, description="责任单位 (responsible unit)")
    unit_contact: str | None = Field(None, max_length=100, description="单位联系电话 (unit's phone)")
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    categories: list[str] | None = Field(
        None, max_length=50, description="责任单位负责的事件类别编码；不填则为类别表中标为包街的类别（环境卫生、市容环境、"
                                         "街面秩序、宣传广告）(the incident categories the unit takes; default: those "
                                         "marked street_duty)")


@router.put("/api/v1/street-responsibility/{street_id}", summary="指定包街责任单位 (assign a street's unit)")
def assign_street_unit(
    session: SessionDep,
    street_id: Annotated[int, Path(ge=1)],
    body: StreetUnit,
    principal: Annotated[Principal, Depends(require_roles(UserRole.ADMIN, UserRole.DISPATCHER))],
) -> dict:
    """Give a main street its responsible unit for a validity period and the incident categories the unit
    takes (包街 covers those only; every other category on the street goes to the grid's role)."""
    street = roster.assign_street_unit(
        session, street_id, unit=body.responsible_unit, contact=body.unit_contact,
        valid_from=body.valid_from, valid_to=body.valid_to, categories=body.categories,
    )
    session.commit()
    return {"id": street.id, "street_name": street.street_name, "responsible_unit": street.responsible_unit,
            "valid_from": street.valid_from, "valid_to": street.valid_to, "categories": street.categories}
