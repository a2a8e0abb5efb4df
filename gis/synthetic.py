"""The whole synthetic Jinchang demo, generated from a seed: core, villages, staff, ledgers, 包街 units.

``generate_city`` takes the real inputs (the 金川区 boundary and the real community/village rows) and returns
plain tables that ``layers/demo.py`` writes to PostGIS. Everything it makes is ``synthetic``: the people's
names and phone numbers are invented (phones use the reserved-looking pattern 139 0935 xxxx and public desk
numbers 0935-8xxxxxx), and so are the street names (经/纬 numbering) and the 包街 assignments.

The roster is complete except for deliberate vacancies, listed in ``intended_vacancies`` so that a test can
check that the roster audit finds exactly them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gis.domain import GridKind, StaffRole
from gis.roster import MARKET_BUILDING_USES, MARKET_EXCLUSIVE_TYPES, MARKET_FACILITY_TYPES, MARKET_ROLES
from gis.synthetic_city import UrbanCore, generate_core
from gis.synthetic_villages import generate_villages

DEFAULT_SEED = 20231
GENERATOR_VERSION = 2  # 2: escalation receivers for every community, street and county

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏飞燕玲海波宁慧晓东雪梅春晨浩然")
STREET_UNITS = [
    "金川区住房和城乡建设局", "金川区市场监督管理局", "金昌市城市管理综合执法局", "金川区教育局", "金川区卫生健康局",
    "金川区民政局", "金川区交通运输局", "金川区人力资源和社会保障局", "金川区财政局", "金川区农业农村局",
    "金川区文体广电和旅游局", "金川区应急管理局", "金川区自然资源局", "金川区生态环境分局", "金川区税务局",
    "金川区司法局", "金川区退役军人事务局", "金川区发展和改革局",
]


@dataclass
class SyntheticCity:
    """Tables of the generated demo; ``key`` columns link them before the database gives ids."""

    core: UrbanCore
    village_polygons: pd.DataFrame  # code, geometry
    buildings: pd.DataFrame
    grids: pd.DataFrame
    facilities: pd.DataFrame
    people: pd.DataFrame  # key, name, phone, public_phone, is_party_member, unit
    assignments: pd.DataFrame  # person_key, role, grid_code, community_code, building_key, stairwell_number
    ledgers: pd.DataFrame  # building_key, kind, persons, households, units
    streets: pd.DataFrame  # name, highway, unit, contact, geometry (包街: main streets with units, lanes without)
    intended_vacancies: pd.DataFrame  # grid_code, kind, role, building_key, stairwell_number
    missing_seven_ones: list[dict]
    seed: int


class _People:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: list[dict] = []

    def new(self, *, party: bool = False, unit: str | None = None) -> int:
        rng = self.rng
        name = SURNAMES[rng.integers(len(SURNAMES))] + "".join(
            GIVEN[i] for i in rng.integers(len(GIVEN), size=int(rng.integers(1, 3)))
        )
        key = len(self.rows)
        self.rows.append({"key": key, "name": name, "phone": f"139{rng.integers(10**7, 10**8)}",
                          "public_phone": f"0935-8{rng.integers(10**5, 10**6)}", "is_party_member": party,
                          "unit": unit})
        return key


def _grid_of(points: np.ndarray, grids: pd.DataFrame) -> np.ndarray:
    """Code of the comprehensive grid that covers each point (None where none does)."""
    comp = grids[grids["kind"] == GridKind.COMPREHENSIVE.value].reset_index(drop=True)
    tree = shapely.STRtree(comp["geometry"].to_numpy())
    p_idx, g_idx = tree.query(points, predicate="covered_by")
    out = np.full(len(points), None, dtype=object)
    out[p_idx[::-1]] = comp["code"].to_numpy()[g_idx[::-1]]  # first match wins
    return out


def generate_city(urban: pd.DataFrame, villages: pd.DataFrame, county: shapely.Geometry,
                  *, seed: int = DEFAULT_SEED) -> SyntheticCity:
    """Generate the demo. ``urban``: the urban communities of 金川区 (``code, name, township_code, township``);
    ``villages``: its villages (same columns); ``county``: the real 金川区 polygon (EPSG:4326)."""
    rng = np.random.default_rng(seed)
    core = generate_core(urban.sort_values("code").reset_index(drop=True), rng)
    vil = generate_villages(villages.sort_values("code").reset_index(drop=True), county, rng)

    vb = vil["buildings"]
    buildings = pd.concat([core.buildings.drop(columns=["key"]), vb], ignore_index=True)
    flat = buildings["households_flat"].fillna(0).astype(int) if "households_flat" in buildings else 0
    buildings["stairwell_count"] = buildings["stairwells"].map(len)
    buildings["households"] = buildings["stairwells"].map(sum) + flat
    buildings["residents"] = np.round(buildings["households"] * rng.uniform(2.0, 2.9, len(buildings))).astype(int)
    buildings = buildings.drop(columns=["households_flat"], errors="ignore")
    buildings["key"] = np.arange(len(buildings))
    buildings["geometry"] = [shapely.multipolygons([g]) for g in buildings["geometry"]]
    grids = pd.concat([core.grids, vil["grids"]], ignore_index=True)
    facilities = pd.concat([core.facilities, vil["facilities"]], ignore_index=True)
    facilities["address"] = None

    points = shapely.point_on_surface(buildings["geometry"].to_numpy())
    buildings["grid_code"] = _grid_of(points, grids)
    people, assignments, vacancies = _staff(grids, buildings, facilities, rng)
    ledgers = _ledgers(buildings, rng)
    streets = core.streets.assign(
        unit=[STREET_UNITS[i % len(STREET_UNITS)] for i in range(len(core.streets))],
        contact=[f"0935-8{200000 + i:06d}"[:11] for i in range(len(core.streets))],
    )
    lanes = core.lanes.assign(highway="residential", unit=None, contact=None)
    return SyntheticCity(
        core=core, village_polygons=vil["villages"], buildings=buildings, grids=grids, facilities=facilities,
        people=people, assignments=assignments, ledgers=ledgers,
        streets=pd.concat([streets, lanes], ignore_index=True),
        intended_vacancies=vacancies, missing_seven_ones=vil["missing_seven_ones"], seed=seed,
    )


def _market_grids(grids: pd.DataFrame, buildings: pd.DataFrame, facilities: pd.DataFrame) -> set[str]:
    shops = facilities[facilities["type_code"].isin(MARKET_FACILITY_TYPES)]
    codes = set(_grid_of(shops["geometry"].to_numpy(), grids)) if len(shops) else set()
    codes |= set(buildings.loc[buildings["use"].isin(MARKET_BUILDING_USES), "grid_code"])
    return {c for c in codes if c}


class _Roster:
    """Assignments and intended vacancies being generated, with the people they create."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.people = _People(rng)
        self.rows: list[dict] = []
        self.vacancies: list[dict] = []

    def assign(self, person, role, *, grid=None, community=None, building=None, stairwell=None) -> None:
        """Give ``person`` a role in a grid, community, building or stairwell."""
        self.rows.append({"person_key": person, "role": role.value, "grid_code": grid, "community_code": community,
                          "building_key": building, "stairwell_number": stairwell})

    def vacant(self, code: str, kind: str, role, **where) -> None:
        """Leave a role unfilled on purpose (the roster audit must find it)."""
        self.vacancies.append({"grid_code": code, "kind": kind, "role": role.value, **where})

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """``(people, assignments, intended vacancies)``."""
        vacancies = pd.DataFrame(self.vacancies,
                                 columns=["grid_code", "kind", "role", "building_key", "stairwell_number"])
        return pd.DataFrame(self.people.rows), pd.DataFrame(self.rows), vacancies


def _grid_roles(roster: _Roster, comp: pd.DataFrame, market: set[str]) -> None:
    """Each comprehensive grid's group (网格长, 法律顾问, 民警, 网格员, 健康员, and 城管/市场监管 where there is a
    market, 4 党员); a few roles deliberately vacant."""
    rng, people = roster.rng, roster.people
    comp_codes = comp["code"].tolist()
    no_health = set(rng.choice(comp_codes, size=5, replace=False))
    no_worker = set(rng.choice(sorted(set(comp_codes) - no_health), size=2, replace=False))
    market_communities = sorted({c[:12] for c in market})
    no_market_inspector = set(rng.choice(market_communities, size=min(3, len(market_communities)), replace=False))
    for community, group in comp.groupby("community_code", sort=True):
        codes = group["code"].tolist()
        lawyer = people.new(unit="金川区司法局（合成）")
        police = [people.new(unit="金昌市公安局金川分局（合成）") for _ in range((len(codes) + 2) // 3)]
        heads = [people.new(party=True) for _ in range((len(codes) + 1) // 2)]
        inspector = people.new(unit="金昌市城市管理综合执法局（合成）")
        market_officer = people.new(unit="金川区市场监督管理局（合成）")
        for i, code in enumerate(codes):
            place = {"grid": code, "community": community}
            roster.assign(heads[i // 2], StaffRole.GRID_HEAD, **place)
            roster.assign(lawyer, StaffRole.LEGAL_ADVISER, **place)
            roster.assign(police[i // 3], StaffRole.COMMUNITY_POLICE, **place)
            if code in no_worker:
                roster.vacant(code, "role", StaffRole.GRID_WORKER)
            else:
                roster.assign(people.new(), StaffRole.GRID_WORKER, **place)
            if code in no_health:
                roster.vacant(code, "role", StaffRole.HEALTH_WORKER)
            else:
                roster.assign(people.new(unit="社区卫生服务站"), StaffRole.HEALTH_WORKER, **place)
            if code in market:
                roster.assign(inspector, StaffRole.URBAN_INSPECTOR, **place)
                if community in no_market_inspector:
                    roster.vacant(code, "role", StaffRole.MARKET_INSPECTOR)
                else:
                    roster.assign(market_officer, StaffRole.MARKET_INSPECTOR, **place)
            for _ in range(4):
                roster.assign(people.new(party=True), StaffRole.PARTY_MEMBER, **place)


def _exclusive_roles(roster: _Roster, exclusive: pd.DataFrame) -> None:
    """Each exclusive grid's head and worker from the unit it covers; the first one's worker vacant, and the
    two market roles of a 农贸市场's own grid."""
    no_exclusive_worker = set(exclusive["code"].iloc[:1])
    for code, community, ex_type in zip(exclusive["code"], exclusive["community_code"], exclusive["exclusive_type"]):
        unit = {"school": "学校", "market": "市场管理方", "hospital": "医院"}.get(ex_type, "驻区单位")
        roster.assign(roster.people.new(party=True, unit=unit), StaffRole.GRID_HEAD, grid=code, community=community)
        if code in no_exclusive_worker:
            roster.vacant(code, "role", StaffRole.GRID_WORKER)
        else:
            roster.assign(roster.people.new(unit=unit), StaffRole.GRID_WORKER, grid=code, community=community)
        if ex_type in MARKET_EXCLUSIVE_TYPES:  # a 农贸市场's own grid: its two market roles are not staffed
            for role in MARKET_ROLES:
                roster.vacant(code, "role", role)


def _building_heads(roster: _Roster, buildings: pd.DataFrame) -> None:
    """楼栋长 and 楼口长 ("1+2+N"): every building in a grid, every stairwell; ~2% deliberately vacant."""
    rng, people = roster.rng, roster.people
    in_grid = buildings[buildings["grid_code"].notna()]
    village_head: dict[str, tuple[int, int]] = {}
    for key, code, stairwells, use, floors in zip(in_grid["key"], in_grid["grid_code"], in_grid["stairwells"],
                                                  in_grid["use"], in_grid["floors"]):
        community = code[:12]
        if rng.random() < 0.02:
            roster.vacant(code, "building", StaffRole.BUILDING_HEAD, building_key=int(key))
            head = None
        elif not stairwells and floors == 1 and use == "residential":
            person, served = village_head.get(code, (None, 6))
            if served >= 6:  # one 楼栋长 for every six rows of courtyard houses
                person, served = people.new(), 0
            village_head[code] = (person, served + 1)
            roster.assign(person, StaffRole.BUILDING_HEAD, community=community, building=int(key))
            head = person
        else:
            head = people.new()
            roster.assign(head, StaffRole.BUILDING_HEAD, community=community, building=int(key))
        for number in range(1, len(stairwells) + 1):
            if rng.random() < 0.02:
                roster.vacant(code, "stairwell", StaffRole.STAIRWELL_HEAD, building_key=int(key),
                              stairwell_number=number)
                continue
            person = head if (number == 1 and head is not None) else people.new()
            # the stairwell is found by (building, number)
            roster.assign(person, StaffRole.STAIRWELL_HEAD, community=community, building=int(key), stairwell=number)


def _staff(grids, buildings, facilities, rng) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The grids' people and their assignments, with the vacancies the demo keeps on purpose."""
    roster = _Roster(rng)
    _grid_roles(roster, grids[grids["kind"] == GridKind.COMPREHENSIVE.value],
                _market_grids(grids, buildings, facilities))
    _exclusive_roles(roster, grids[grids["kind"] == GridKind.EXCLUSIVE.value])
    _building_heads(roster, buildings)
    return roster.tables()


def _ledgers(buildings: pd.DataFrame, rng) -> pd.DataFrame:
    """Building-level 五彩台账 counts whose resident + floating figures add up to the building's."""
    rows = []
    for key, hh, res, use in zip(buildings["key"], buildings["households"], buildings["residents"], buildings["use"]):
        if hh > 0:
            r_hh, r_p = int(round(hh * 0.88)), int(round(res * 0.88))
            rows.append({"building_key": int(key), "kind": "resident", "persons": r_p, "households": r_hh, "units": 0})
            rows.append({"building_key": int(key), "kind": "floating", "persons": int(res - r_p),
                         "households": int(hh - r_hh), "units": 0})
            rows.append({"building_key": int(key), "kind": "rental", "persons": 0, "households": 0,
                         "units": int(rng.binomial(hh, 0.08))})
            rows.append({"building_key": int(key), "kind": "special_care", "persons": int(rng.binomial(res, 0.01)),
                         "households": 0, "units": 0})
        elif use in MARKET_BUILDING_USES:
            rows.append({"building_key": int(key), "kind": "business", "persons": 0, "households": 0,
                         "units": int(rng.integers(4, 13))})
    return pd.DataFrame(rows)
