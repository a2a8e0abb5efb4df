"""Tables of 社区事项准入制度: each district's list of what communities do (by law, assisting, devolved) and the
flags on incidents and orders whose category no listed item covers (they wait for approval)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gis.matters import FlagState, MatterKind, SubjectType
from layers.models import Base, _check_in


class MatterItem(Base):
    """One item of a district's 社区事项准入清单, with its legal basis and the categories it covers."""

    __tablename__ = "matter_items"
    __table_args__ = (
        _check_in("kind", MatterKind),
        CheckConstraint("district_code ~ '^[0-9]{6}$'", name="district_6_digits"),
        UniqueConstraint("district_code", "kind", "item", name="uq_matter_items"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(300))
    legal_basis: Mapped[str] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(200))
    incident_categories: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    order_categories: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    source: Mapped[str] = mapped_column(String(200))


class MatterFlag(Base):
    """An incident or order outside its community's list, waiting for (or given) approval."""

    __tablename__ = "matter_flags"
    __table_args__ = (
        _check_in("subject_type", SubjectType),
        _check_in("state", FlagState),
        UniqueConstraint("subject_type", "subject_id", name="uq_matter_flags_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    category: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(16), default=FlagState.PENDING.value, index=True)
    flagged_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
