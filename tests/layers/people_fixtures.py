"""A small hand-made community for the staff, 三单 and ledger tests (county 620399 does not exist, so
nothing here can be mistaken for the demo): two comprehensive grids side by side and one exclusive grid, six
buildings, a supermarket in grid 002, staff with known vacancies, party members, a 包街 street with no unit
and a short street network.

Layout (WGS84, around 102.30 E 38.60 N; each grid 0.004° wide ≈ 350 m):
    grid 001: x 102.300–102.304     grid 002: x 102.304–102.308     y 38.600–38.604
    exclusive grid 003 (a school) inside grid 001: x 102.3005–102.3015, y 38.6005–38.6015
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

COMMUNITY = "620399001001"
G1, G2, G3 = COMMUNITY + "001", COMMUNITY + "002", COMMUNITY + "003"
SOURCE = "test:people"


def box(x0, y0, x1, y1):
    return f"SRID=4326;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def build(session) -> dict:
    """Insert the community; return ids the tests need."""
    ex = session.execute
    ex(text("INSERT INTO admin_areas (code, edition_year, name, level, parent_code, geom, source, properties) "
            "VALUES ('620399000000', 2023, '测试县', 'county', NULL, NULL, :s, '{}'), "
            "('620399001000', 2023, '测试街道', 'township', '620399000000', NULL, :s, '{}'), "
            "(:c, 2023, '测试社区', 'community', '620399001000', :g, :s, '{}')"),
       {"s": SOURCE, "c": COMMUNITY, "g": box(102.300, 38.600, 102.308, 38.604)})
    plan = ex(text("INSERT INTO grid_plans (name, status, generation, effective_from, source) "
                   "VALUES ('测试方案', 'published', 1, '2024-01-01', :s) RETURNING id"), {"s": SOURCE}).scalar()
    for code, name, kind, geom in [
        (G1, "测试社区第01网格", "comprehensive", box(102.300, 38.600, 102.304, 38.604)),
        (G2, "测试社区第02网格", "comprehensive", box(102.304, 38.600, 102.308, 38.604)),
        (G3, "测试小学专属网格", "exclusive", box(102.3005, 38.6005, 102.3015, 38.6015)),
    ]:
        ex(text("INSERT INTO grids (plan_id, code, name, kind, community_code, community_edition, geom, "
                "households, residents, version, source, properties) VALUES (:p, :c, :n, :k, :cc, 2023, :g, "
                "0, 0, 1, :s, '{}')"), {"p": plan, "c": code, "n": name, "k": kind, "cc": COMMUNITY, "g": geom,
                                         "s": SOURCE})
    buildings = {}
    for i, (x, grid) in enumerate([(102.3020, G1), (102.3030, G1), (102.3035, G1),
                                   (102.3050, G2), (102.3060, G2), (102.3070, G2)], start=1):
        bid = ex(text("INSERT INTO buildings (name, community_code, floors, stairwell_count, households, "
                      "residents, use, geom, source, properties) VALUES (:n, :c, 6, 2, 24, 60, 'residential', "
                      ":g, :s, '{}') RETURNING id"),
                 {"n": f"测试小区{i}号楼", "c": COMMUNITY, "g": box(x, 38.602, x + 0.0003, 38.6023), "s": SOURCE}
                 ).scalar()
        sws = [ex(text("INSERT INTO stairwells (building_id, number, households) VALUES (:b, :n, 12) RETURNING id"),
                  {"b": bid, "n": n}).scalar() for n in (1, 2)]
        buildings[i] = {"id": bid, "grid": grid, "stairwells": sws}
    ex(text("INSERT INTO facilities (type_code, name, geom, source, properties) VALUES "
            "('supermarket', '测试超市', ST_SetSRID(ST_MakePoint(102.3065, 38.6030), 4326), :s, '{}')"),
       {"s": SOURCE})

    people = {}

    def person(key, name, *, party=False, phone="0935-0000000"):
        people[key] = ex(text("INSERT INTO people (name, phone, public_phone, is_party_member, source) VALUES "
                              "(:n, :p, :pp, :party, :s) RETURNING id"),
                         {"n": name, "p": "13900000000" + key[-1:], "pp": phone, "party": party, "s": SOURCE}).scalar()

    def assign(key, role, *, grid=None, building=None, stairwell=None):
        ex(text("INSERT INTO staff_assignments (person_id, role, grid_code, community_code, building_id, "
                "stairwell_id, valid_from) VALUES (:p, :r, :g, :c, :b, :sw, '2024-01-01')"),
           {"p": people[key], "r": role, "g": grid, "c": COMMUNITY, "b": building, "sw": stairwell})

    person("head", "王网格长", phone="0935-1111111")
    person("worker1", "李网格员", phone="0935-2222222")
    person("worker2", "赵网格员", phone="0935-3333333")
    person("lawyer", "钱律师", phone="0935-4444444")
    person("doctor", "孙医生", phone="0935-5555555")
    person("police", "周民警", phone="0935-6666666")
    person("inspector", "吴城管", phone="0935-7777777")
    person("party1", "郑党员", party=True)
    person("party2", "冯党员", party=True)
    person("party3", "陈党员", party=True)
    for grid in (G1, G2):
        assign("head", "grid_head", grid=grid)
        assign("lawyer", "legal_adviser", grid=grid)
        assign("police", "community_police", grid=grid)
    assign("worker1", "grid_worker", grid=G1)
    assign("worker2", "grid_worker", grid=G2)
    assign("doctor", "health_worker", grid=G1)  # G2 has no 社区健康员: a deliberate vacancy
    assign("inspector", "urban_inspector", grid=G2)  # G2 has a market; no 市场监管员: a vacancy
    assign("head", "grid_head", grid=G3)
    assign("worker1", "grid_worker", grid=G3)
    assign("party1", "party_member", grid=G1)
    assign("party2", "party_member", grid=G2)
    assign("party3", "party_member", grid=G2)
    for i, b in buildings.items():
        if i != 5:  # building 5 has no 楼栋长
            assign("worker1", "building_head", building=b["id"])
        for n, sw in enumerate(b["stairwells"]):
            if not (i == 2 and n == 1):  # building 2, 2单元 has no 楼口长
                assign("worker2", "stairwell_head", stairwell=sw)
    ex(text("INSERT INTO street_responsibilities (street_name, responsible_unit, buffer_m, valid_from, geom, source)"
            " VALUES ('测试路', NULL, 20, '2024-01-01', ST_GeomFromText('MULTILINESTRING((102.300 38.6045, "
            "102.308 38.6045))', 4326), :s), ('已包路', '测试局', 20, '2024-01-01', ST_GeomFromText("
            "'MULTILINESTRING((102.300 38.5995, 102.308 38.5995))', 4326), :s), ('过期路', '旧单位', 20, "
            "'2020-01-01', ST_GeomFromText('MULTILINESTRING((102.299 38.600, 102.299 38.604))', 4326), :s)"),
       {"s": SOURCE})
    ex(text("UPDATE street_responsibilities SET valid_to = :d WHERE street_name = '过期路'"),
       {"d": dt.date(2023, 12, 31)})
    # A walking network along y = 38.602 and a spur to the south, for the walking-distance suggestions.
    xs = [102.299, 102.302, 102.306, 102.309]
    for u, (x0, x1) in enumerate(zip(xs, xs[1:]), start=1):
        ex(text("INSERT INTO street_edges (id, network, u, v, highway, oneway, length_m, geom, source) VALUES "
                "(:id, 'test-people', :u, :v, 'footway', false, ST_Length(ST_MakeLine(ST_MakePoint(:x0, 38.6018), "
                "ST_MakePoint(:x1, 38.6018))::geography), ST_SetSRID(ST_MakeLine(ST_MakePoint(:x0, 38.6018), "
                "ST_MakePoint(:x1, 38.6018)), 4326), :s)"),
           {"id": 9_000_000 + u, "u": u, "v": u + 1, "x0": x0, "x1": x1, "s": SOURCE})
    session.commit()
    return {"plan": plan, "buildings": buildings, "people": people}
