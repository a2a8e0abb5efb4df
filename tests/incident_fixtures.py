"""Grids and staff for the incident tests: the locate tests' hand-made plan (tests/locate_fixtures.py) plus
more people, so that every dispatch rule has a case.

Staff after :func:`load` (on top of 张网格 = grid_worker of G1 and 李社区 = community-level grid_head of B):

- G1: 王格长 grid_head; G2: 赵法律 legal_adviser (no grid_head, no grid_worker);
- community A: 钱社区长 community-level grid_head.

Escalation receivers (kept as data): community A — 孙值班 (社区值班); street 620302004000 — 周综治 (街道综治中心);
district 620302000000 — 吴城管 (城管执法局: sanitation, street order) and 郑总值班 (区政府总值班室: every category).
Community B has none (its escalations wait in the 待人工派遣 queue).
"""

from __future__ import annotations

import datetime as dt

from layers import models as m
from tests import locate_fixtures as F
from tests.accounts_fixtures import TEST_SECRET, declare, keep_accounts_in

SECRET = TEST_SECRET


def load(factory) -> dict[str, int]:
    """The locate plan plus the extra staff; returns ids by name."""
    ids = F.load_plan(factory)
    with factory() as s:
        people = {}
        for name, phone in [("王格长", "0935-8000011"), ("赵法律", "0935-8000012"), ("钱社区长", "0935-8000013")]:
            p = m.Person(name=name, phone="139" + phone[-8:].replace("-", "0"), public_phone=phone, source="test")
            s.add(p)
            s.flush()
            people[name] = p.id
        s.add_all([
            m.StaffAssignment(person_id=people["王格长"], role="grid_head", grid_code=F.G1, community_code=F.COMMUNITY_A),
            m.StaffAssignment(person_id=people["赵法律"], role="legal_adviser", grid_code=F.G2,
                              community_code=F.COMMUNITY_A),
            m.StaffAssignment(person_id=people["钱社区长"], role="grid_head", community_code=F.COMMUNITY_A,
                              valid_from=dt.date(2020, 1, 1)),
        ])
        for name in ("张网格", "李社区"):
            people[name] = s.query(m.Person.id).filter(m.Person.name == name).scalar()
        from layers.escalation import add_receivers

        add_receivers(s, RECEIVERS, source="test")
        for row in RECEIVERS:
            people[row["name"]] = s.query(m.Person.id).filter(m.Person.name == row["name"]).scalar()
        s.commit()
    keep_accounts_in(factory)
    return {**ids, **people}


RECEIVERS = [
    {"level": "community", "area_code": F.COMMUNITY_A, "duty": "社区值班", "unit": "金水里社区居委会", "name": "孙值班",
     "public_phone": "0935-8000021"},
    {"level": "street", "area_code": "620302004000", "duty": "街道综治中心", "unit": "金川路街道综治中心",
     "name": "周综治", "public_phone": "0935-8000022"},
    {"level": "district", "area_code": "620302000000", "duty": "区城管执法局值班", "unit": "金川区城市管理综合执法局",
     "name": "吴城管", "categories": ["sanitation", "street_order"], "public_phone": "0935-8000023"},
    {"level": "district", "area_code": "620302000000", "duty": "区政府总值班室", "unit": "金川区人民政府总值班室",
     "name": "郑总值班", "public_phone": "0935-8000024"},
]


def token(*roles: str, scope: str | None = "", sub: str | None = None, staff_roles: tuple[str, ...] = ()) -> str:
    """A signed bearer token for the test account ``sub`` with ``roles`` (scope ``""`` = everywhere); the
    account is made inside :func:`tests.accounts_fixtures.accounts_in` (the modules' ``client`` fixtures)."""
    return declare(sub, roles, scope, staff_roles=staff_roles)


def auth(*roles: str, scope: str | None = "", sub: str | None = None) -> dict[str, str]:
    """The Authorization header of :func:`token`."""
    return {"Authorization": f"Bearer {token(*roles, scope=scope, sub=sub)}"}
