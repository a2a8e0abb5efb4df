"""Tables of coverage and gaps: walking distance from each building to each service type, coverage runs
(what the distances were computed from) and suggested sites for new facilities."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from gis.domain import CircleMethod
from layers.models import Base, _check_in, _geom, _gist


class BuildingAccess(Base):
    """Walking distance from a building to the nearest facility of a type (``NULL`` = none within the
    computed limit). Coverage for any budget is ``distance_m <= budget``."""

    __tablename__ = "building_access"
    __table_args__ = (_check_in("method", CircleMethod),)

    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("facility_types.code"), primary_key=True, index=True)
    distance_m: Mapped[float | None] = mapped_column(Float)
    nearest_facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(16))


class CoverageRun(Base):
    """What the ``building_access`` rows of one type were computed from (a stamp of the inputs)."""

    __tablename__ = "coverage_runs"

    type_code: Mapped[str] = mapped_column(ForeignKey("facility_types.code"), primary_key=True)
    network: Mapped[str | None] = mapped_column(String(100))
    inputs_hash: Mapped[str] = mapped_column(String(40))
    limit_m: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SiteSuggestion(Base):
    """A suggested site for a new facility (greedy maximal covering of uncovered households)."""

    __tablename__ = "site_suggestions"
    __table_args__ = (_gist("site_suggestions"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("facility_types.code"), index=True)
    budget_m: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[int | None] = mapped_column(BigInteger)
    households_added: Mapped[int] = mapped_column(Integer)
    residents_added: Mapped[int] = mapped_column(Integer)
    buildings_added: Mapped[int] = mapped_column(Integer)
    cumulative_households: Mapped[int] = mapped_column(Integer)
    network: Mapped[str | None] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(_geom("POINT"), nullable=False)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str] = mapped_column(String(200))
