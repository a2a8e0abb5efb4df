"""Managing grid staff (人员管理): list, add, move and end assignments, import a 社区's roster (CSV or XLSX), and
the contact board of a building entrance (楼口公示牌).

Admins, planners and grid staff (a 社区's own accounts) may manage the people of their own area only; an
assignment outside it is answered as not found. Answers carry names and *published* phones, never private ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.auth import Principal, require_roles
from api.deps import SessionDep
from gis.domain import UserRole
from gis.gridcodes import CODE15
from layers import roster, staff
from maps.boards import board_page
from usecases.access import unit_in_area

router = APIRouter(tags=["people 网格人员"])

EDITORS = (UserRole.ADMIN, UserRole.PLANNER, UserRole.GRID_STAFF)
Editor = Annotated[Principal, Depends(require_roles(*EDITORS))]
AssignmentId = Annotated[int, Path(ge=1, le=2_147_483_647, description="任职记录编号 (assignment id)")]


def _allowed(principal: Principal):
    """The caller's area as a check on a grid or community code (None: everywhere, for admins and accounts scoped to
    everything)."""
    return None if principal.viewer.everywhere else principal.covers


@router.get("/api/v1/roster/assignments", summary="现任人员名单 (current staff assignments)")
def list_assignments(
    session: SessionDep,
    principal: Editor,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$", description="街道/社区/网格编码前缀 (code prefix)")] = None,
    on: Annotated[dt.date | None, Query(description="日期，默认今天 (date, default today)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="最多条数 (at most)")] = 500,
) -> dict:
    """People in each role of the grids, buildings and stairwells of a unit (your own area by default)."""
    rows = staff.list_assignments(session, unit=unit_in_area(principal.viewer, unit), on=on, limit=limit)
    return {"count": len(rows), "assignments": rows}


class AssignRequest(BaseModel):
    """A person in a role: for a grid (网格长, 网格员 …), a building (楼栋长) or a stairwell (楼口长)."""

    name: str = Field(min_length=1, max_length=100, description="姓名")
    phone: str = Field(max_length=40, description="手机或座机（不公示） (private phone)")
    public_phone: str | None = Field(None, max_length=40, description="公示电话 (phone shown on the 公示牌)")
    role: str = Field(max_length=32, description="岗位：中文名或英文值，如 网格员 / grid_worker")
    grid_code: str | None = Field(None, pattern=CODE15.pattern)
    building: str | None = Field(None, max_length=300, description="楼栋名称、地址或编号 (building)")
    stairwell: int | None = Field(None, ge=1, le=99, description="单元号 (stairwell number)")
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


@router.post("/api/v1/roster/assignments", status_code=201, summary="新增任职 (add a staff assignment)")
def add_assignment(session: SessionDep, principal: Editor, body: AssignRequest) -> dict:
    """Add a person in a role; a single-holder role (网格长, 网格员, 楼栋长, 楼口长) already held is 409."""
    result = staff.assign(session, body.model_dump(), source=f"api:{principal.subject}", allowed=_allowed(principal))
    session.commit()
    return result


class EndRequest(BaseModel):
    """The last day of the assignment (today by default)."""

    on: dt.date | None = None


@router.post("/api/v1/roster/assignments/{assignment_id}/end", summary="结束任职 (end an assignment)")
def end_assignment(session: SessionDep, principal: Editor, assignment_id: AssignmentId,
                   body: EndRequest | None = None) -> dict:
    """End an assignment on a day; it stays in the history."""
    result = staff.end_assignment(session, assignment_id, on=(body or EndRequest()).on, allowed=_allowed(principal))
    session.commit()
    return result


class MoveRequest(BaseModel):
    """Move a grid-level role to another grid from a day (the old assignment ends the day before)."""

    grid_code: str = Field(pattern=CODE15.pattern)
    on: dt.date | None = None


@router.post("/api/v1/roster/assignments/{assignment_id}/move", summary="调整任职网格 (move to another grid)")
def move_assignment(session: SessionDep, principal: Editor, assignment_id: AssignmentId, body: MoveRequest) -> dict:
    """Move a person's role to another grid; 楼栋长/楼口长 stay with their building."""
    result = staff.move_assignment(session, assignment_id, grid_code=body.grid_code, on=body.on,
                                   source=f"api:{principal.subject}", allowed=_allowed(principal))
    session.commit()
    return result


@router.post("/api/v1/roster/import", summary="导入社区花名册 CSV/XLSX (import a roster file)")
def import_roster(
    session: SessionDep,
    principal: Editor,
    file: Annotated[UploadFile, File(description="花名册 .csv 或 .xlsx：姓名、手机、岗位、网格编码、楼栋、单元 …")],
    dry_run: Annotated[bool, Form(description="只检查，不写入 (check only)")] = False,
) -> dict:
    """Import a roster: every row or none. A file with any problem is refused (422) with every problem of the file
    listed (line, column, what to do); the answer also names market grids still missing their two extra roles."""
    data = file.file.read(staff.MAX_FILE_BYTES + 1)
    report = staff.import_roster(session, data, file.filename or "", dry_run=dry_run,
                                 source=f"import:{file.filename}", allowed=_allowed(principal))
    if not dry_run:
        session.commit()
    return report


@router.get("/api/v1/buildings/{building_id}/board", summary="楼口公示牌 (a building entrance's contact board)")
def entrance_board(
    session: SessionDep,
    building_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    stairwell: Annotated[int | None, Query(ge=1, le=99, description="单元号 (stairwell number)")] = None,
) -> dict:
    """The board hung at a building entrance: its grid's people, the building's 楼栋长 and the stairwell's 楼口长
    (names and published phones only)."""
    return roster.entrance_board(session, building_id, stairwell=stairwell)


@router.get("/api/v1/buildings/{building_id}/board.html", response_class=HTMLResponse,
            summary="楼口公示牌打印页 (printable entrance board)")
def entrance_board_page(
    session: SessionDep,
    building_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    stairwell: Annotated[int | None, Query(ge=1, le=99, description="单元号 (stairwell number)")] = None,
) -> HTMLResponse:
    """The entrance board as a printable A4 page."""
    return HTMLResponse(board_page(roster.entrance_board(session, building_id, stairwell=stairwell)))
