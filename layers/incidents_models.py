"""The incident tables beyond the foundation's ``incidents``/``incident_events``: one ``incident_details`` row per
incident (1:1) with what dispatch, privacy, Open311 and ``Idempotency-Key`` need.

- ``request_hash``: the hash of the body that created the incident (a retry with the same key and another body
  is refused);
- ``token``: the Open311 token of the request; ``channel``: ``api`` or ``open311``;
- ``community_code``/``street_code``: where the incident belongs even without a grid (community fallback), for
  KPIs and scope checks;
- ``assignee_role``/``assignee_unit``: the role that was wanted, or the 包街 unit;
- ``duplicate_of``: the incident this report repeats (a linked report, not a second task);
- ``sensitive`` and ``public_lon``/``public_lat``: the point shown in public answers (the grid's centroid for
  sensitive categories);
- ``private``: personal data beyond name/phone (e-mail, device); ``extra``: address, media URL, attributes;
- ``response``: the answer given when the incident was created, as the text sent (replayed to a retry with the
  same key).

``escalation_receivers``: who receives an escalation at each level above the grid — 社区值班 for a community,
街道综治中心 for a street (街道), 区 departments by category for a county — so that an escalated incident always
reaches a named person (or, when none is registered, waits in the explicit 待人工派遣 queue).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from layers.models import Base


class IncidentDetail(Base):
    """Dispatch, privacy and intake details of one incident."""

    __tablename__ = "incident_details"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(36), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="api")
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    street_code: Mapped[str | None] = mapped_column(String(12), index=True)
    assignee_role: Mapped[str | None] = mapped_column(String(32))
    assignee_unit: Mapped[str | None] = mapped_column(String(200))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    public_lon: Mapped[float] = mapped_column(Float)
    public_lat: Mapped[float] = mapped_column(Float)
    private: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response: Mapped[str] = mapped_column(Text, default="{}")


class EscalationReceiver(Base):
    """A person who receives escalations at ``level`` (community | street | district) for the area
    ``area_code`` (the community's, street's or county's 12-digit code), for some ``categories`` (empty: all)."""

    __tablename__ = "escalation_receivers"
    __table_args__ = (Index("ix_escalation_receivers_level_area", "level", "area_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(String(12))
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    duty: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
