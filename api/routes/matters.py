"""社区事项准入清单: each district's published list (public), and incidents or orders outside it waiting for
approval (staff)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.auth import Principal, require_roles
from api.deps import SessionDep
from gis.domain import UserRole
from gis.errors import Forbidden
from gis.gridcodes import CODE12
from gis.matters import FlagState, MatterKind, SubjectType
from layers import matters
from usecases import area_lists

router = APIRouter(tags=["matters 社区事项准入"])

STAFF = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF)
StaffUser = Annotated[Principal, Depends(require_roles(*STAFF))]
Approver = Annotated[Principal, Depends(require_roles(UserRole.ADMIN, UserRole.DISPATCHER))]
Admin = Annotated[Principal, Depends(require_roles(UserRole.ADMIN))]
District = Annotated[str, Query(pattern=r"^[0-9]{6}$", description="6 位区县编码 (district code), e.g. 620302")]


@router.get("/api/v1/matters", summary="社区事项准入清单（公开）(a district's list, public)")
def list_items(session: SessionDep, district: District,
               kind: Annotated[MatterKind | None, Query(description="类别 (kind)")] = None) -> dict:
    """依法履职, 协助 and 下沉 items with their legal basis and the categories they cover."""
    rows = matters.list_items(session, district, kind=kind.value if kind else None)
    counts = {k.value: sum(r["kind"] == k.value for r in rows) for k in MatterKind}
    return {"district": district, "count": len(rows), "by_kind": counts,
            "kinds": [{"kind": k.value, "zh": k.zh} for k in MatterKind], "items": rows}


class ItemIn(BaseModel):
    """One listed item."""

    kind: MatterKind
    item: str = Field(min_length=1, max_length=300)
    legal_basis: str = Field(min_length=1, max_length=2000, description="法律依据 (legal basis)")
    department: str | None = Field(None, max_length=200, description="主管部门 (department)")
    incident_categories: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=50)
    order_categories: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=50)


class ListIn(BaseModel):
    """A district's whole list (it replaces the one published before)."""

    items: list[ItemIn] = Field(max_length=1000)


@router.put("/api/v1/matters/{district}", summary="发布/替换区县准入清单 (publish a district's list)")
def publish(session: SessionDep, district: Annotated[str, Path(pattern=r"^[0-9]{6}$")], body: ListIn,
            principal: Admin) -> dict:
    """Replace the list; incidents and orders already stored are checked against it (flags added)."""
    report = matters.replace_list(session, district, [i.model_dump(mode="json") for i in body.items],
                                  source=f"user:{principal.subject}")
    session.commit()
    return {"district": district, **report}


@router.get("/api/v1/matters/check", summary="某类别是否在社区准入清单内 (is a category on the community's list?)")
def check(session: SessionDep,
          community: Annotated[str, Query(pattern=CODE12.pattern, description="社区编码 (community code)")],
          subject_type: Annotated[SubjectType, Query(description="incident 或 order")],
          category: Annotated[str, Query(min_length=1, max_length=50)]) -> dict:
    """``listed``: true, false (needs approval) or null (the district has published no list)."""
    listed = matters.covers(session, community, subject_type.value, category)
    return {"community": community, "subject_type": subject_type.value, "category": category, "listed": listed,
            "needs_approval": listed is False}


@router.get("/api/v1/matters/flags", summary="清单外事项待审批 (incidents/orders outside the list)")
def flags(session: SessionDep, principal: StaffUser,
          unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$")] = None,
          state: Annotated[FlagState | None, Query()] = None) -> dict:
    """Flags in the caller's area, newest first."""
    rows = area_lists.flags_for(session, principal.viewer, unit=unit, state=state.value if state else None)
    return {"count": len(rows), "flags": rows}


class DecisionIn(BaseModel):
    """Approve or refuse, with a note."""

    approve: bool
    note: str | None = Field(None, max_length=2000)


@router.post("/api/v1/matters/flags/{flag_id}/decision", summary="审批清单外事项 (approve or refuse)")
def decide(session: SessionDep, flag_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: DecisionIn,
           principal: Approver) -> dict:
    """Decide once; a decided flag answers 409."""
    if not principal.covers(matters.get_flag(session, flag_id).community_code):
        raise Forbidden("无权审批其他地区的事项 (outside your area)")
    flag = matters.decide(session, flag_id, approve=body.approve, actor=principal.subject, note=body.note)
    session.commit()
    return matters.flag_view(flag)
