"""SQLAlchemy 2 + GeoAlchemy2 models of every layer.

All geometry is EPSG:4326 with a GiST index. Every feature table has a ``source`` (``cnmaps``, ``nbs``,
``osm``, ``import:<file>``, ``synthetic`` …) so that what was generated is never mistaken for what is real.
Administrative codes are 12-digit 统计用区划代码 and always travel with their edition year.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gis.domain import (
    AreaLevel,
    CircleMethod,
    FacilityGroup,
    GridKind,
    HandlingLevel,
    IncidentState,
    PlanStatus,
    StaffRole,
)
from gis.gridcodes import CODE12, CODE15


def _check_in(column: str, enum) -> CheckConstraint:
    values = ", ".join(f"'{v}'" for v in enum.values())
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


def _geom(kind: str) -> Geometry:
    # Spatial indexes are declared explicitly (``Index(..., postgresql_using="gist")``) so that the models
    # and the Alembic migrations name them the same way.
    return Geometry(kind, srid=4326, spatial_index=False)


def _gist(table: str, column: str = "geom") -> Index:
    return Index(f"ix_{table}_{column}", column, postgresql_using="gist")


class Base(DeclarativeBase):
    """Declarative base of every gridmap table."""

    type_annotation_map = {dict[str, Any]: JSONB}


class AdminArea(Base):
    """An administrative area (市/区县/乡镇街道/社区/村) with its 12-digit code and the code's edition year."""

    __tablename__ = "admin_areas"
    __table_args__ = (
        UniqueConstraint("code", "edition_year", name="uq_admin_areas_code_edition"),
        _check_in("level", AreaLevel),
        CheckConstraint(f"code ~ '{CODE12.pattern}'", name="code_12_digits"),
        _gist("admin_areas"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), index=True)
    edition_year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=True)
    geom_source: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)


class GridPlan(Base):
    """A set of grids for one or more communities; published plans are numbered generations."""

    __tablename__ = "grid_plans"
    __table_args__ = (
        _check_in("status", PlanStatus),
        UniqueConstraint("generation", name="uq_grid_plans_generation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=PlanStatus.DRAFT.value)
    generation: Mapped[int | None] = mapped_column(Integer)
    effective_from: Mapped[dt.date | None] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # the codes of the communities (12 digits) or streets (9) a draft replaces; None = the whole city
    scope: Mapped[list[str] | None] = mapped_column(JSONB, nullable=True)
    base_plan_id: Mapped[int | None] = mapped_column(ForeignKey("grid_plans.id", ondelete="SET NULL"))
    handover: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB, nullable=True)  # edited before publishing
    publish_reason: Mapped[str | None] = mapped_column(Text)  # why a change outside the scope was forced
    publish_report: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)  # what publishing did

    grids: Mapped[list[Grid]] = relationship(back_populates="plan", cascade="all, delete-orphan")


class Grid(Base):
    """A grid (网格): the smallest unit of management, inside exactly one community or village."""

    __tablename__ = "grids"
    __table_args__ = (
        UniqueConstraint("plan_id", "code", name="uq_grids_plan_code"),
        _check_in("kind", GridKind),
        CheckConstraint(f"code ~ '{CODE15.pattern}'", name="code_15_digits"),
        _gist("grids"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("grid_plans.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(15), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default=GridKind.COMPREHENSIVE.value)
    exclusive_type: Mapped[str | None] = mapped_column(String(50))
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    community_edition: Mapped[int] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    residents: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    source: Mapped[str] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)

    plan: Mapped[GridPlan] = relationship(back_populates="grids")


class Building(Base):
    """A building (楼栋) with its stairwells/units (楼口/单元), households and residents."""

    __tablename__ = "buildings"
    __table_args__ = (_gist("buildings"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    floors: Mapped[int | None] = mapped_column(Integer)
    stairwell_count: Mapped[int] = mapped_column(Integer, default=0)
    households: Mapped[int] = mapped_column(Integer, default=0)
    residents: Mapped[int] = mapped_column(Integer, default=0)
    use: Mapped[str | None] = mapped_column(String(50))
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    source: Mapped[str] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)

    stairwells: Mapped[list[Stairwell]] = relationship(back_populates="building", cascade="all, delete-orphan")


class Stairwell(Base):
    """A stairwell/unit (楼口/单元) of a building: where a 楼口长 serves and a 公示牌 hangs."""

    __tablename__ = "stairwells"
    __table_args__ = (UniqueConstraint("building_id", "number", name="uq_stairwells_building_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer, default=0)

    building: Mapped[Building] = relationship(back_populates="stairwells")


class FacilityType(Base):
    """A kind of facility, as data: "七个一", 15-minute-circle services, function rooms, open toilets."""

    __tablename__ = "facility_types"
    __table_args__ = (_check_in("group_code", FacilityGroup),)

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    group_code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Facility(Base):
    """A facility (设施) of a type, as a point."""

    __tablename__ = "facilities"
    __table_args__ = (_gist("facilities"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("facility_types.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    osm_id: Mapped[str | None] = mapped_column(String(40))
    geom = mapped_column(_geom("POINT"), nullable=False)
    source: Mapped[str] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StreetEdge(Base):
    """One edge of a street network (u → v), with its length in metres; ``network`` names the network."""

    __tablename__ = "street_edges"
    __table_args__ = (
        Index("ix_street_edges_network_u_v", "network", "u", "v"),
        _gist("street_edges"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network: Mapped[str] = mapped_column(String(100))
    u: Mapped[int] = mapped_column(BigInteger)
    v: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(200))
    highway: Mapped[str | None] = mapped_column(String(50))
    oneway: Mapped[bool] = mapped_column(Boolean, default=False)
    length_m: Mapped[float] = mapped_column(Float)
    geom = mapped_column(_geom("LINESTRING"), nullable=False)
    source: Mapped[str] = mapped_column(String(200))


class ServiceCircle(Base):
    """A facility's service area (服务圈) for a time or distance budget, with how it was computed."""

    __tablename__ = "service_circles"
    __table_args__ = (
        _check_in("method", CircleMethod),
        UniqueConstraint("facility_id", "budget_m", name="uq_service_circles_facility_budget"),
        _gist("service_circles"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("facility_types.code"), index=True)
    minutes: Mapped[float | None] = mapped_column(Float)
    budget_m: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    buffer_m: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(16))
    network: Mapped[str | None] = mapped_column(String(100))
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    source: Mapped[str] = mapped_column(String(200))


class Incident(Base):
    """An incident (事件): where, what, which grid it was routed to under which plan, and its state.

    ``reporter_name`` and ``reporter_phone`` are personal data: never in a public answer or map.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        _check_in("state", IncidentState),
        _check_in("level", HandlingLevel),
        _gist("incidents"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(50), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=IncidentState.REPORTED.value, index=True)
    level: Mapped[str] = mapped_column(String(16), default=HandlingLevel.GRID.value)
    geom = mapped_column(_geom("POINT"), nullable=False)
    original_lon: Mapped[float] = mapped_column(Float)
    original_lat: Mapped[float] = mapped_column(Float)
    original_crs: Mapped[str] = mapped_column(String(16))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("grid_plans.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    assignment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(200))


class IncidentEvent(Base):
    """One transition in an incident's life: who moved it from which state to which, and when."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # looked up by ``ix_incident_events_incident_at`` (incident_id, at), migration 0111 (0741 dropped the other)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Person(Base):
    """A person who serves in grids. ``phone`` is private; ``public_phone`` is what a 公示牌 may show."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    public_phone: Mapped[str | None] = mapped_column(String(40))
    is_party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    unit: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))


class StaffAssignment(Base):
    """A person in a role for a grid (by stable grid code), a building (楼栋长) or a stairwell (楼口长)."""

    __tablename__ = "staff_assignments"
    __table_args__ = (_check_in("role", StaffRole),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    stairwell_id: Mapped[int | None] = mapped_column(ForeignKey("stairwells.id", ondelete="CASCADE"))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(200))  # who or what made it: import file, handover, api

    person: Mapped[Person] = relationship()


class StreetResponsibility(Base):
    """A street segment under 包街责任制: a responsible unit for a period; incidents within the buffer of the
    categories the unit takes go to it (``categories``; NULL: the category table's ``street_duty`` ones)."""

    __tablename__ = "street_responsibilities"
    __table_args__ = (_gist("street_responsibilities"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    street_name: Mapped[str] = mapped_column(String(200), index=True)
    responsible_unit: Mapped[str | None] = mapped_column(String(200))
    unit_contact: Mapped[str | None] = mapped_column(String(100))
    buffer_m: Mapped[float] = mapped_column(Float, default=20.0)
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(String(50)))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    geom = mapped_column(_geom("MULTILINESTRING"), nullable=False)
    source: Mapped[str] = mapped_column(String(200))


class DatasetLoad(Base):
    """A record of each dataset load (demo, OSM import): what, from where, with which attribution."""

    __tablename__ = "dataset_loads"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(300))
    attribution: Mapped[str | None] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
