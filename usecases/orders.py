"""三单 orders as staff and party members see them: only those inside the caller's area, or taken by them.

Every read here filters in SQL (:func:`visible_to`), for every role: a street-level dispatcher lists, counts and
opens only the street's orders; a party member only their area's orders and those they took themselves (their
account is linked to the :class:`~layers.models.Person` who took it). Admins and accounts scoped to everything
see all. The router audits the reads of residents' contacts; nothing here knows HTTP.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from gis.errors import Forbidden, NotFound
from gis.services import OrderState
from layers import services
from layers.services_models import ServiceOrder
from usecases.access import Viewer, area_condition

OUTSIDE = "无权查看其他网格的服务单 (this order is outside your area)"


def visible_to(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the order is in the viewer's area (its grid, or its community when it has no grid), or the viewer
    is the person who took it."""
    inside = area_condition(viewer, ServiceOrder.grid_code, ServiceOrder.community_code)
    if viewer.person_id is None:
        return inside
    return or_(inside, ServiceOrder.taker_id == viewer.person_id)


def list_orders(
    session: Session, viewer: Viewer, *, state: OrderState | None = None, limit: int = 100
) -> list[ServiceOrder]:
    """The viewer's orders, newest first, at most ``limit``; optionally of one state."""
    query = select(ServiceOrder).where(visible_to(viewer)).order_by(ServiceOrder.id.desc()).limit(limit)
    if state is not None:
        query = query.where(ServiceOrder.state == state.value)
    return list(session.scalars(query))


def order_stats(session: Session, viewer: Viewer, *, unit: str | None = None) -> list[dict]:
    """Placed, taken, fulfilled and late orders per grid and month, counting only the viewer's orders."""
    return services.monthly_counts(session, unit=unit, where=visible_to(viewer))


def order_for(session: Session, viewer: Viewer, order_id: int) -> ServiceOrder:
    """One order the viewer may see.

    Raises
    ------
    NotFound
        There is no such order.
    Forbidden
        The order exists but lies outside the viewer's area and was not taken by them.
    """
    order = session.scalar(select(ServiceOrder).where(ServiceOrder.id == order_id, visible_to(viewer)))
    if order is not None:
        return order
    if session.scalar(select(exists().where(ServiceOrder.id == order_id))):
        raise Forbidden(OUTSIDE, detail={"order_id": order_id})
    raise NotFound(f"没有服务单 {order_id} (no order {order_id})")
