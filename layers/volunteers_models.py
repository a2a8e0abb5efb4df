"""Tables of 双报到 and the points bank: registrations with a community and grid, volunteer activities with
sign-up and attendance, the points ledger, and the 积分超市's rewards.

The ledger never goes negative, also under concurrent redemptions: a trigger applies every entry to its
account row (``point_accounts``, locked by the update) and a CHECK on the balance refuses the overdraft; entries
are append-only (updates and deletes are refused by another trigger). A registrant's phone is personal data.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from gis.volunteering import PointKind, RegistrantKind
from layers.models import Base, _check_in


class Registration(Base):
    """双报到: an organisation or a Party member reporting to the community (and grid) where they live."""

    __tablename__ = "registrations"
    __table_args__ = (_check_in("kind", RegistrantKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(50))
    organisation: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str] = mapped_column(String(200))


class Activity(Base):
    """A volunteer activity (志愿服务活动) of a community: when, where, how many places, how many points."""

    __tablename__ = "volunteer_activities"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    place: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))


class Signup(Base):
    """A registrant signed up for an activity; ``attended`` is set when attendance is taken."""

    __tablename__ = "activity_signups"
    __table_args__ = (UniqueConstraint("activity_id", "registration_id", name="uq_activity_signups"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("volunteer_activities.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    signed_up_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attended: Mapped[bool | None] = mapped_column(Boolean)


class PointAccount(Base):
    """The current balance of a registrant; kept by the ledger's trigger, never below zero."""

    __tablename__ = "point_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    earned: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PointEntry(Base):
    """One change of points, with its reason and what it refers to; append-only."""

    __tablename__ = "point_entries"
    __table_args__ = (
        _check_in("kind", PointKind),
        CheckConstraint("delta <> 0", name="delta_not_zero"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
        UniqueConstraint("registration_id", "kind", "ref_id", name="uq_point_entries_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    ref_id: Mapped[int | None] = mapped_column(Integer)
    balance_after: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PointRuleRow(Base):
    """Points per kind of service (seeded from :data:`gis.volunteering.POINT_RULES`), read by the triggers."""

    __tablename__ = "point_rules"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class Reward(Base):
    """An item of a community's 积分超市 with its price in points and its stock."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("cost >= 1", name="cost_positive"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(200))
    cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(200))


class Redemption(Base):
    """A reward taken at the 积分超市, paid by the ledger entry it names."""

    __tablename__ = "redemptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id"), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
