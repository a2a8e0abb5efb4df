"""Put the hand-made test plan of ``tests/gis/plan_fixtures.py`` into PostGIS (flushed, never committed)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
from pathlib import Path

import shapely
from geoalchemy2.shape import from_shape

from gis.domain import StaffRole
from layers import migrate, plans
from layers import models as m
from layers.db import drop_database, make_engine, make_sessionmaker
from layers.settings import DatabaseSettings
from tests.gis.plan_fixtures import COMMUNITY, make_plan

ROOT = Path(__file__).resolve().parents[2]


def as_collection(plan: dict, *, with_codes: bool = True) -> dict:
    """The plan's grids as a GeoJSON FeatureCollection."""
    feats = []
    for code, geom, kind in zip(plan["codes"], plan["geoms"], plan["kinds"]):
        props = {"community_code": COMMUNITY, "kind": kind, "name": f"网格 {code[-3:]}"}
        if with_codes:
            props["code"] = code
        feats.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def load_world(session, defects=()) -> dict:
    """Community polygon, buildings, 网格员 for every staffed code; returns the plan arrays and building ids."""
    plan = make_plan(defects)
    session.add(m.AdminArea(code=COMMUNITY, edition_year=2023, name="测试社区", level="community",
                            parent_code=COMMUNITY[:9] + "000", source="test",
                            geom=from_shape(shapely.MultiPolygon([plan["communities"][COMMUNITY]]), srid=4326)))
    buildings = []
    for i, (g, hh, rs) in enumerate(zip(plan["building_geoms"], plan["building_households"],
                                        plan["building_residents"])):
        b = m.Building(name=f"测试楼 {i + 1}", community_code=COMMUNITY, households=hh, residents=rs,
                       stairwell_count=2, geom=from_shape(shapely.MultiPolygon([g]), srid=4326), source="test")
        buildings.append(b)
    session.add_all(buildings)
    person = m.Person(name="测试网格员", source="test")
    session.add(person)
    session.flush()
    for code in sorted(plan["staffed_codes"]):
        session.add(m.StaffAssignment(person_id=person.id, role=StaffRole.GRID_WORKER.value, grid_code=code,
                                      community_code=COMMUNITY, valid_from=dt.date(2024, 1, 1)))
    session.flush()
    return {"plan": plan, "buildings": buildings, "person": person}


def publish_base(session, world) -> m.GridPlan:
    """A clean generation in force made from the world's plan."""
    base = plans.create_plan(session, as_collection(world["plan"]), name="现行方案", source="test")
    return plans.publish(session, base.id, effective_from=dt.date(2025, 1, 1), force=True)


@contextlib.contextmanager
def plan_database(*, publish: bool = False):
    """A throwaway migrated database holding the clean world (and, with ``publish``, a plan in force)."""
    db = DatabaseSettings(_env_file=ROOT / ".env").with_database(
        f"gridmap_plans_{os.getpid()}_{secrets.token_hex(3)}")
    migrate.upgrade(db)
    engine = make_engine(db)
    try:
        with make_sessionmaker(engine)() as s:
            world = load_world(s)
            if publish:
                publish_base(s, world)
            s.commit()
        yield db, world
    finally:
        engine.dispose()
        drop_database(db.sqlalchemy_url)
