"""Tables of the point → grid lookup in PostGIS: subdivided copies of each plan's grids (MapIt style).

``grid_subdivided`` holds every grid of a plan cut by ``ST_Subdivide`` into small pieces, so a GiST lookup
tests a few short rings instead of a village's thousand-vertex boundary. ``grid_subdivided_state`` records the
fingerprint of the plan the pieces were cut from, so they are refreshed after an edit or a publish.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from layers.models import Base


class GridSubdivided(Base):
    """One piece of a grid, cut by ``ST_Subdivide``; ``code`` and ``kind`` are copied for the tie-break."""

    __tablename__ = "grid_subdivided"
    __table_args__ = (Index("ix_grid_subdivided_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("grid_plans.id", ondelete="CASCADE"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(15))
    kind: Mapped[str] = mapped_column(String(16))
    geom = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)


class GridSubdividedState(Base):
    """The fingerprint of the plan a plan's pieces were cut from, and when."""

    __tablename__ = "grid_subdivided_state"

    plan_id: Mapped[int] = mapped_column(ForeignKey("grid_plans.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    pieces: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
