"""Tables of the service loops that run through the grids: 三单 orders, 微心愿 wishes and the 五彩台账 ledgers.

Residents' names and phones and every person-level ledger entry are personal data: only the grid's and
higher levels' staff may read them, and each read is written to the audit log.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from gis.services import LEDGER_KINDS, OrderState, TrackKind, WishState
from layers.models import Base, _check_in, _geom, _gist


class ServiceOrder(Base):
    """三单: a resident's order (居民点单), dispatched by the community (社区派单), taken by a party member (党员接单)."""

    __tablename__ = "service_orders"
    __table_args__ = (
        _check_in("state", OrderState),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_1_to_5"),
        _gist("service_orders"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(50), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=OrderState.PLACED.value, index=True)
    geom = mapped_column(_geom("POINT"), nullable=False)
    original_lon: Mapped[float] = mapped_column(Float)
    original_lat: Mapped[float] = mapped_column(Float)
    original_crs: Mapped[str] = mapped_column(String(16))
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    resident_name: Mapped[str | None] = mapped_column(String(100))
    resident_phone: Mapped[str | None] = mapped_column(String(40))
    resident_token: Mapped[str] = mapped_column(String(64), unique=True)
    dispatched_by: Mapped[str | None] = mapped_column(String(100))
    offered_to_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)  # 派单 to, until accepted
    taker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    fulfilled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(Integer)
    feedback: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), default="api")


class ServiceOrderEvent(Base):
    """One move of a 三单 order: who did it and when (派单 to whom, 接单, a refusal and its reason, 办结, 评价)."""

    __tablename__ = "service_order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_orders.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ResidentTrack(Base):
    """The short token a resident follows what they sent from the public map with (随手拍, 点单, 微心愿), and the
    rating they give a report or a wish when it is done (an order's rating closes the order itself)."""

    __tablename__ = "resident_tracks"
    __table_args__ = (
        _check_in("kind", TrackKind),
        UniqueConstraint("kind", "object_id", name="uq_resident_tracks_kind_object"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_1_to_5"),
    )

    token: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    rating: Mapped[int | None] = mapped_column(Integer)
    feedback: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Wish(Base):
    """微心愿: a small wish a resident posts, claimed and fulfilled by a party member or a unit."""

    __tablename__ = "wishes"
    __table_args__ = (_check_in("state", WishState),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=WishState.POSTED.value, index=True)
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    resident_name: Mapped[str | None] = mapped_column(String(100))
    resident_phone: Mapped[str | None] = mapped_column(String(40))
    claimer_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    claimer_unit: Mapped[str | None] = mapped_column(String(200))
    posted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    fulfilled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(200), default="api")


class BuildingLedger(Base):
    """五彩台账 at building level: how many people/households/units of one ledger kind a building has."""

    __tablename__ = "building_ledgers"
    __table_args__ = (
        UniqueConstraint("building_id", "kind", name="uq_building_ledgers_building_kind"),
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in LEDGER_KINDS)})", name="kind_valid"),
        CheckConstraint("persons >= 0 AND households >= 0 AND units >= 0", name="counts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    persons: Mapped[int] = mapped_column(Integer, default=0)
    households: Mapped[int] = mapped_column(Integer, default=0)
    units: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    source: Mapped[str] = mapped_column(String(200))


class LedgerEntry(Base):
    """A person-level ledger entry (台账明细): personal data, restricted to the grid's and higher staff."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in LEDGER_KINDS)})", name="kind_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    stairwell_id: Mapped[int | None] = mapped_column(ForeignKey("stairwells.id", ondelete="SET NULL"))
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    person_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str] = mapped_column(String(200))
