"""A small hand-made plan for the locating tests, in its own throwaway database (so publishing it never
changes the plan in force for anyone else's tests).

Around Jinchang's core (lon 102.16–102.21, lat 38.49–38.51), with one case per rule:

- community A (620302004001) = box 102.180–102.200 × 38.500–38.510; community B (620302004002) = 102.200–102.210,
  with no grid at all;
- G1 ``…001001``: 102.180–102.190 × 38.500–38.510 with a hole (a lake) at 102.182–102.184 × 38.502–38.504;
- G2 ``…001002``: 102.190–102.200 × 38.500–38.505 (north of it, 38.505–38.510, is a gap inside community A);
- G3 ``…001003``: a village in two detached parts, south-west of A;
- E ``…001101``: an exclusive grid (a school) inside G1 (G1 is not cut around it);
- a 包街 segment along lat 38.501 from lon 102.191 to 102.199 inside G2, buffer 20 m, unit 市政工程公司.
"""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon, box

from layers import migrate
from layers import models as m
from layers.db import drop_database, make_engine, make_sessionmaker
from tests.conftest import _throwaway_settings

EDITION = 2023
COMMUNITY_A = "620302004001"
COMMUNITY_B = "620302004002"
G1, G2, G3, EXCL = "620302004001001", "620302004001002", "620302004001003", "620302004001101"


def mp(*polys) -> MultiPolygon:
    return MultiPolygon(list(polys))


G1_GEOM = mp(Polygon(box(102.180, 38.500, 102.190, 38.510).exterior.coords,
                     [box(102.182, 38.502, 102.184, 38.504).exterior.coords]))
G2_GEOM = mp(box(102.190, 38.500, 102.200, 38.505))
G3_GEOM = mp(box(102.170, 38.490, 102.175, 38.495), box(102.165, 38.490, 102.168, 38.493))
EXCL_GEOM = mp(box(102.185, 38.506, 102.187, 38.508))
STREET_GEOM = MultiLineString([LineString([(102.191, 38.501), (102.199, 38.501)])])

# Named points, one per rule and edge case (WGS84).
IN_G1 = (102.1855, 38.5015)
IN_G2 = (102.195, 38.5035)
IN_EXCL = (102.186, 38.507)
ON_EXCL_BORDER = (102.185, 38.507)
ON_SHARED_BORDER = (102.190, 38.503)  # G1 | G2
ON_VERTEX = (102.190, 38.505)  # G2's corner, on G1's edge
IN_HOLE = (102.183, 38.503)  # the lake in G1: inside community A, in no grid
IN_GAP = (102.195, 38.508)  # community A, north of G2: no grid there
IN_COMMUNITY_B = (102.205, 38.505)
ON_STREET = (102.195, 38.5011)  # ~11 m north of the 包街 segment
IN_G3_SECOND_PART = (102.1665, 38.4915)
NEAR_G1 = (102.1795, 38.505)  # ~44 m west of G1, outside every community
FAR = (102.15, 38.45)


def load_plan(factory) -> dict[str, int]:
    """Insert the areas, the plan (published, generation 1), its grids, a 包街 segment and staff."""
    with factory() as s:
        s.add_all([
            m.AdminArea(code="620302000000", edition_year=EDITION, name="金川区", level="county",
                        parent_code="620300000000", source="test"),
            m.AdminArea(code="620302004000", edition_year=EDITION, name="金川路街道", level="township",
                        parent_code="620302000000", source="test"),
            m.AdminArea(code=COMMUNITY_A, edition_year=EDITION, name="金水里社区", level="community",
                        parent_code="620302004000", source="test",
                        geom=from_shape(mp(box(102.180, 38.500, 102.200, 38.510)), srid=4326)),
            m.AdminArea(code=COMMUNITY_B, edition_year=EDITION, name="桂林路社区", level="community",
                        parent_code="620302004000", source="test",
                        geom=from_shape(mp(box(102.200, 38.500, 102.210, 38.510)), srid=4326)),
        ])
        plan = m.GridPlan(name="测试方案", status="published", generation=1, effective_from=dt.date(2026, 1, 1),
                          source="test")
        s.add(plan)
        s.flush()
        for code, name, kind, geom in [
            (G1, "金水里一网格", "comprehensive", G1_GEOM), (G2, "金水里二网格", "comprehensive", G2_GEOM),
            (G3, "金水里三网格（村）", "comprehensive", G3_GEOM), (EXCL, "金川区第一小学专属网格", "exclusive", EXCL_GEOM),
        ]:
            s.add(m.Grid(plan_id=plan.id, code=code, name=name, kind=kind, community_code=COMMUNITY_A,
                         community_edition=EDITION, geom=from_shape(geom, srid=4326), source="test"))
        s.add(m.StreetResponsibility(street_name="新华路", responsible_unit="市政工程公司", buffer_m=20.0,
                                     geom=from_shape(STREET_GEOM, srid=4326), source="test"))
        worker = m.Person(name="张网格", phone="13900000001", public_phone="0935-8000001", source="test")
        head = m.Person(name="李社区", phone="13900000002", public_phone="0935-8000002", source="test")
        s.add_all([worker, head])
        s.flush()
        s.add_all([
            m.StaffAssignment(person_id=worker.id, role="grid_worker", grid_code=G1, community_code=COMMUNITY_A),
            m.StaffAssignment(person_id=head.id, role="grid_head", community_code=COMMUNITY_B),
        ])
        s.commit()
        return {"plan_id": plan.id}


@pytest.fixture(scope="session")
def locate_db():
    """Settings of a migrated throwaway database holding the hand-made plan (its own, dropped at the end)."""
    settings = _throwaway_settings("gridmap_locate")
    migrate.upgrade(settings)
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    ids = load_plan(factory)
    yield {"settings": settings, "engine": engine, "factory": factory, **ids}
    engine.dispose()
    drop_database(settings.sqlalchemy_url)


def points(*pts) -> tuple[list[float], list[float]]:
    """Two lists (lon, lat) of named points."""
    return [p[0] for p in pts], [p[1] for p in pts]


__all__ = ["locate_db", "shapely"]
