"""Tables of 入户走访 (household visits under 网格入户制度 / 六提六知): a visit per household and its follow-ups.

What a visit learned is personal data: like ledger entries, only the grid's and higher levels' staff may read
it, and every read is audit-logged.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from layers.models import Base


class HouseholdVisit(Base):
    """A grid worker's visit to one household (户) of a building, and what was learned (六提六知)."""

    __tablename__ = "household_visits"
    __table_args__ = (CheckConstraint("household <> ''", name="household_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    stairwell_id: Mapped[int | None] = mapped_column(ForeignKey("stairwells.id", ondelete="SET NULL"))
    household: Mapped[str] = mapped_column(String(40))
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    visited_on: Mapped[dt.date] = mapped_column(Date, index=True)
    visitor: Mapped[str] = mapped_column(String(100))
    knows: Mapped[list[str]] = mapped_column(ARRAY(String(16)), default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str] = mapped_column(String(200))


class VisitFollowUp(Base):
    """What a visit led to: an incident, a service order or a ledger update (with the id it created)."""

    __tablename__ = "visit_follow_ups"
    __table_args__ = (CheckConstraint("kind IN ('incident', 'order', 'ledger')", name="kind_valid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("household_visits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("service_orders.id", ondelete="SET NULL"))
    ledger_kind: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
