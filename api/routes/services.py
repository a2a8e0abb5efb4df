"""三单 (居民点单 → 社区派单 → 党员接单 → 办结 → 评价), 微心愿 and the 五彩台账 ledgers.

An order is dispatched to one party member, who accepts it (``/accept``) or refuses it with a reason
(``/refuse``, which returns it to the community); only the party member's own account (linked to their roster
person) can do either. Residents follow orders and wishes with the tracking token they were given
(``/api/v1/track/{token}``, ``/maps/track/{token}``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.audit import AuditDep
from api.auth import Principal, require_roles
from api.deps import ReadSessionDep, SessionDep, UserText
from gis.coords import CRS
from gis.domain import UserRole
from gis.errors import Forbidden
from gis.gridcodes import CODE15
from gis.services import LEDGER_KINDS, SERVICE_CATEGORIES, OrderState, TrackKind, WishState
from layers import ledgers, services, tracking, wishes
from layers.services_models import ServiceOrder
from usecases import area_lists, orders

router = APIRouter(tags=["services 三单与微心愿"])

STAFF = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF)
StaffUser = Annotated[Principal, Depends(require_roles(*STAFF))]
Server = Annotated[Principal, Depends(require_roles(*STAFF, UserRole.PARTY_MEMBER))]
PartyMember = Annotated[Principal, Depends(require_roles(UserRole.PARTY_MEMBER))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
OUTSIDE = {"ledger": "无权查看其他网格的台账 (this is outside your area)",
           "wish": "无权处理其他网格的微心愿 (this wish is outside your area)"}


def _in_scope(principal: Principal, code: str | None, what: str) -> None:
    if code is None and principal.viewer.everywhere:  # a building outside every grid: unrestricted staff only
        return
    if not principal.covers(code):
        raise Forbidden(OUTSIDE[what])


def _person(principal: Principal) -> int:
    """The roster person a party member's account acts as; 403 when the account is linked to none."""
    if principal.person_id is None:
        raise Forbidden("此账号未关联党员档案，不能接单或退单；请管理员关联 (gridmap user link) "
                        "(this account is not linked to a party member of the roster)")
    return principal.person_id


def _serving_person(principal: Principal) -> int | None:
    """The party member reporting their own order done; None for staff, who may record it for them."""
    return None if principal.has_any(*STAFF) else _person(principal)


def _order_view(order: ServiceOrder, *, private: bool) -> dict:
    view = {
        "id": order.id, "category": order.category, "category_zh": SERVICE_CATEGORIES[order.category].zh,
        "description": order.description, "state": order.state, "state_zh": OrderState(order.state).zh,
        "grid_code": order.grid_code, "community_code": order.community_code, "taker_id": order.taker_id,
        "offered_to_id": order.offered_to_id,
        "due_at": order.due_at, "placed_at": order.placed_at, "dispatched_at": order.dispatched_at,
        "taken_at": order.taken_at, "fulfilled_at": order.fulfilled_at, "closed_at": order.closed_at,
        "rating": order.rating, "source": order.source,
    }
    if private:
        view.update(resident_name=order.resident_name, resident_phone=order.resident_phone, feedback=order.feedback)
    return view


class OrderIn(BaseModel):
    """A resident's order: where, what kind of service, and (optionally) who to call back."""

    lon: float = Field(ge=-180, le=180, description="经度 (longitude)")
    lat: float = Field(ge=-90, le=90, description="纬度 (latitude)")
    crs: CRS = Field(CRS.WGS84, description="坐标系 wgs84|cgcs2000|gcj02|bd09")
    category: str = Field(description=f"服务类别 (service category): {', '.join(SERVICE_CATEGORIES)}")
    description: UserText | None = Field(None, max_length=2000)
    resident_name: UserText | None = Field(None, max_length=100, description="联系人（仅工作人员可见）(staff only)")
    resident_phone: UserText | None = Field(None, max_length=40, description="联系电话（仅工作人员可见）(staff only)")


@router.get("/api/v1/orders/categories", summary="服务类别 (service categories)")
def order_categories() -> dict:
    """The services a resident can order, with their deadlines."""
    return {"categories": [c.__dict__ for c in SERVICE_CATEGORIES.values()]}


@router.post("/api/v1/orders", status_code=201, summary="居民点单 (a resident orders a service)")
def place_order(session: SessionDep, body: OrderIn) -> dict:
    """Store the order in its grid; the answer carries the token the resident needs to rate it later."""
    order = services.place_order(
        session, lon=body.lon, lat=body.lat, crs=body.crs.value, category=body.category,
        description=body.description, resident_name=body.resident_name, resident_phone=body.resident_phone,
    )
    session.commit()
    return {**_order_view(order, private=False), "resident_token": order.resident_token}


@router.get("/api/v1/orders", summary="服务单列表（工作人员）(orders, for staff)")
def list_orders(
    session: SessionDep,
    principal: StaffUser,
    audit: AuditDep,
    state: Annotated[OrderState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """Orders in the caller's area, newest first, with the residents' contacts (audited)."""
    rows = orders.list_orders(session, principal.viewer, state=state, limit=limit)
    audit("read", "service_order", None, {"count": len(rows)})
    session.commit()
    return {"count": len(rows), "orders": [_order_view(o, private=True) for o in rows]}


@router.get("/api/v1/orders/stats", summary="三单月度统计 (orders placed, taken, fulfilled, late by grid and month)")
def order_stats(
    session: SessionDep,
    principal: StaffUser,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$")] = None,
) -> dict:
    """Counts per grid and month, counting only orders in the caller's area."""
    return {"rows": orders.order_stats(session, principal.viewer, unit=unit)}


@router.get("/api/v1/orders/{order_id}", summary="服务单详情 (one order)")
def get_order(session: SessionDep, order_id: Id, principal: Server, audit: AuditDep) -> dict:
    """The order with the resident's contact (audited): for staff of its area, and the party member who took it."""
    order = orders.order_for(session, principal.viewer, order_id)
    audit("read", "service_order", order.id, {})
    session.commit()
    return _order_view(order, private=True)


class DispatchIn(BaseModel):
    """The party member the order is offered to (see ``…/suggestions``); they accept or refuse it."""

    taker_id: int = Field(ge=1, le=2**31 - 1, description="党员的人员编号 (the party member's person id)")


@router.post("/api/v1/orders/{order_id}/dispatch", summary="社区派单：派给一名党员，待其接单 (dispatch to a party member)")
def dispatch_order(session: SessionDep, order_id: Id, body: DispatchIn, principal: StaffUser) -> dict:
    """Offer the order to one party member and start its deadline; it is taken only when they accept."""
    orders.order_for(session, principal.viewer, order_id)
    order = services.dispatch_order(session, order_id, actor=principal.subject, taker_id=body.taker_id)
    session.commit()
    return _order_view(order, private=False)


@router.get("/api/v1/orders/{order_id}/suggestions", summary="推荐接单党员 (party members suggested for an order)")
def suggest(
    session: SessionDep,
    order_id: Id,
    principal: StaffUser,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> dict:
    """Same-grid party members first, then by walking distance, each with their open load; those who refused
    the order are left out."""
    orders.order_for(session, principal.viewer, order_id)
    return {"suggestions": services.suggest_takers(session, order_id, limit=limit)}


@router.post("/api/v1/orders/{order_id}/accept", summary="党员接单 (the party member accepts the order offered to them)")
def accept_order(session: SessionDep, order_id: Id, principal: PartyMember) -> dict:
    """The party member the order was dispatched to takes it (their own account, linked to their person)."""
    orders.order_for(session, principal.viewer, order_id)
    order = services.accept_order(session, order_id, person_id=_person(principal), actor=principal.subject)
    session.commit()
    return _order_view(order, private=False)


class RefuseIn(BaseModel):
    """Why the party member cannot take (or can no longer serve) the order."""

    reason: str = Field(min_length=1, max_length=500, description="原因 (reason)")


@router.post("/api/v1/orders/{order_id}/refuse",
             summary="党员拒单或退单：退回社区重新派单 (refuse or give up an order: back to the community)")
def refuse_order(session: SessionDep, order_id: Id, body: RefuseIn, principal: PartyMember) -> dict:
    """The party member refuses the order offered to them, or gives up one they took; the community dispatches
    it again (to someone else: the suggestions leave them out)."""
    orders.order_for(session, principal.viewer, order_id)
    order = services.refuse_order(session, order_id, person_id=_person(principal), actor=principal.subject,
                                  reason=body.reason)
    session.commit()
    return _order_view(order, private=False)


@router.post("/api/v1/orders/{order_id}/fulfil", summary="办结 (the service is done)")
def fulfil_order(session: SessionDep, order_id: Id, principal: Server) -> dict:
    """Record that the service was delivered: the party member who took it, or staff of its area."""
    orders.order_for(session, principal.viewer, order_id)
    order = services.fulfil_order(session, order_id, actor=principal.subject, person_id=_serving_person(principal))
    session.commit()
    return _order_view(order, private=False)


class RatingIn(BaseModel):
    """The resident's rating, with the token received when placing the order."""

    resident_token: str = Field(min_length=8, max_length=64)
    rating: int = Field(ge=1, le=5, description="1–5 星 (stars)")
    feedback: UserText | None = Field(None, max_length=2000)


@router.post("/api/v1/orders/{order_id}/rating", summary="居民评价并结单 (the resident rates and closes an order)")
def rate_order(session: SessionDep, order_id: Id, body: RatingIn) -> dict:
    """Close a fulfilled order with the resident's rating."""
    order = services.rate_order(
        session, order_id, token=body.resident_token, rating=body.rating, feedback=body.feedback
    )
    session.commit()
    return _order_view(order, private=False)


class WishIn(BaseModel):
    """A small wish (微心愿) a resident posts: where (a point, or a grid code of the plan in force) and what."""

    lon: float | None = Field(None, ge=-180, le=180, description="经度 (longitude)")
    lat: float | None = Field(None, ge=-90, le=90, description="纬度 (latitude)")
    crs: CRS = Field(CRS.WGS84, description="坐标系 wgs84|cgcs2000|gcj02|bd09")
    grid_code: str | None = Field(None, pattern=CODE15.pattern, description="现行网格编码（不给位置时）(or a grid code)")
    title: UserText = Field(min_length=1, max_length=200)
    description: UserText | None = Field(None, max_length=2000)
    resident_name: UserText | None = Field(None, max_length=100, description="仅工作人员可见 (staff only)")
    resident_phone: UserText | None = Field(None, max_length=40, description="仅工作人员可见 (staff only)")


@router.post("/api/v1/wishes", status_code=201, summary="发布微心愿 (post a small wish)")
def post_wish(session: SessionDep, body: WishIn) -> dict:
    """Store the wish in the grid at its place (or of its grid code, which must be in the plan in force); it
    appears on the public list without names. The answer carries the tracking token."""
    place = (body.lon, body.lat, body.crs.value) if body.lon is not None and body.lat is not None else None
    wish = wishes.post_wish(
        session, grid_code=body.grid_code, place=place, title=body.title, description=body.description,
        resident_name=body.resident_name, resident_phone=body.resident_phone,
    )
    session.commit()
    return {**wishes.public_wish(wish), "token": tracking.token_of(session, TrackKind.WISH, wish.id)}


@router.get("/api/v1/wishes/public", summary="微心愿公示 (public list of wishes, no names)")
def public_wishes(
    session: ReadSessionDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$", description="网格/社区编码前缀")] = None,
    state: Annotated[WishState | None, Query()] = None,
) -> dict:
    """Wishes with their state; residents and claimers are never named."""
    rows = wishes.list_wishes(session, grid_code=grid, state=state.value if state else None)
    return {"count": len(rows), "wishes": [wishes.public_wish(w) for w in rows]}


@router.get("/api/v1/wishes", summary="微心愿列表（工作人员）(wishes with contacts, for staff)")
def staff_wishes(session: SessionDep, principal: StaffUser, audit: AuditDep) -> dict:
    """Wishes in the caller's area with residents' contacts (audited)."""
    rows = area_lists.wishes_for(session, principal.viewer)
    audit("read", "wish", None, {"count": len(rows)})
    session.commit()
    return {"count": len(rows), "wishes": [
        {**wishes.public_wish(w), "resident_name": w.resident_name, "resident_phone": w.resident_phone,
         "claimer_id": w.claimer_id, "claimer_unit": w.claimer_unit} for w in rows]}


class ClaimIn(BaseModel):
    """Who claims the wish: a party member or a unit."""

    person_id: int | None = Field(None, ge=1, le=2**31 - 1)
    unit: UserText | None = Field(None, min_length=1, max_length=200)


@router.post("/api/v1/wishes/{wish_id}/claim", summary="认领微心愿 (claim a wish)")
def claim_wish(session: SessionDep, wish_id: Id, body: ClaimIn, principal: Server) -> dict:
    """A party member or a unit claims the wish (in the caller's area)."""
    _in_scope(principal, wishes.get_wish(session, wish_id).grid_code, "wish")
    wish = wishes.claim_wish(session, wish_id, person_id=body.person_id, unit=body.unit)
    session.commit()
    return wishes.public_wish(wish)


@router.post("/api/v1/wishes/{wish_id}/fulfil", summary="微心愿已实现 (a wish fulfilled)")
def fulfil_wish(session: SessionDep, wish_id: Id, principal: Server) -> dict:
    """Record that the wish came true."""
    _in_scope(principal, wishes.get_wish(session, wish_id).grid_code, "wish")
    wish = wishes.fulfil_wish(session, wish_id)
    session.commit()
    return wishes.public_wish(wish)


class LedgerCounts(BaseModel):
    """Counts of one ledger kind for a building."""

    persons: int = Field(0, ge=0, le=100_000)
    households: int = Field(0, ge=0, le=100_000)
    units: int = Field(0, ge=0, le=100_000)


@router.get("/api/v1/ledgers/kinds", summary="五彩台账类别 (ledger kinds and their colours)")
def ledger_kinds() -> dict:
    """The ledger kinds kept per building, with their colours."""
    return {"kinds": [{"kind": k, **v} for k, v in LEDGER_KINDS.items()]}


@router.put("/api/v1/buildings/{building_id}/ledger", summary="更新楼栋台账数 (set a building's ledger counts)")
def set_ledger(
    session: SessionDep,
    building_id: Id,
    body: dict[str, LedgerCounts],
    principal: StaffUser,
) -> dict:
    """Upsert the building's counts and feed them into its households/residents and its grids."""
    _in_scope(principal, ledgers.grid_of_building(session, building_id), "ledger")
    ledgers.set_building_counts(
        session, building_id, {k: v.model_dump() for k, v in body.items()}, source=f"user:{principal.subject}"
    )
    refreshed = ledgers.refresh_population(session)
    session.commit()
    return {"building_id": building_id, **refreshed}


@router.get("/api/v1/ledgers/counts", summary="楼栋台账数 (ledger counts per building)")
def ledger_counts(
    session: SessionDep,
    principal: StaffUser,
    grid: Annotated[str, Query(pattern=CODE15.pattern, description="网格编码 (grid code)")],
) -> dict:
    """Aggregate counts per building and kind (no person-level data)."""
    _in_scope(principal, grid, "ledger")
    df = ledgers.building_counts(session, grid_code=grid)
    return {"grid_code": grid, "rows": df.astype(object).where(df.notna(), None).to_dict("records")}


class EntryIn(BaseModel):
    """A person-level ledger entry."""

    building_id: int = Field(ge=1)
    stairwell_id: int | None = Field(None, ge=1)
    kind: str = Field(description=f"台账类别: {', '.join(LEDGER_KINDS)}")
    person_name: UserText = Field(min_length=1, max_length=100)
    phone: UserText | None = Field(None, max_length=40)
    notes: UserText | None = Field(None, max_length=2000)


@router.post("/api/v1/ledgers/entries", status_code=201, summary="新增台账明细 (add a person-level entry)")
def add_entry(session: SessionDep, body: EntryIn, principal: StaffUser, audit: AuditDep) -> dict:
    """Record a person in a building's ledger (audited)."""
    _in_scope(principal, ledgers.grid_of_building(session, body.building_id), "ledger")
    entry = ledgers.add_entry(session, **body.model_dump(), source=f"user:{principal.subject}", audit=audit)
    session.commit()
    return {"id": entry.id, "grid_code": entry.grid_code, "kind": entry.kind}


@router.get("/api/v1/ledgers/entries", summary="台账明细（本网格及上级）(person-level entries, audited)")
def read_entries(
    session: SessionDep,
    principal: StaffUser,
    audit: AuditDep,
    grid: Annotated[str, Query(pattern=r"^[0-9]{9,15}$", description="网格或社区编码 (grid or community code)")],
) -> dict:
    """Entries of a grid or community, for its own and higher levels' staff only; every read is logged."""
    _in_scope(principal, grid, "ledger")
    rows = ledgers.read_entries(session, grid_code=grid, audit=audit)
    session.commit()
    return {"count": len(rows), "entries": rows}
