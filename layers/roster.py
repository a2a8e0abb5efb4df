"""Grid staff in PostGIS: the roster audit, each grid's contact board (公示牌) and 包街 street responsibility."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from gis.domain import StaffRole
from gis.errors import InvalidInput, NotFound
from gis.roster import MARKET_BUILDING_USES, MARKET_FACILITY_TYPES, audit_roster, summarise
from layers import models
from layers.data_versions import VersionedCache
from layers.features import current_plan_id
from layers.incidents import categories as incident_categories

# Roles shown on a grid's public contact board, in the order they hang on the 公示牌.
BOARD_ROLES: tuple[StaffRole, ...] = (
    StaffRole.GRID_HEAD,
    StaffRole.GRID_WORKER,
    StaffRole.LEGAL_ADVISER,
    StaffRole.HEALTH_WORKER,
    StaffRole.COMMUNITY_POLICE,
    StaffRole.URBAN_INSPECTOR,
    StaffRole.MARKET_INSPECTOR,
)


def _plan(session: Session, plan_id: int | None) -> int:
    plan_id = plan_id or current_plan_id(session)
    if plan_id is None:
        raise NotFound("还没有已发布的网格方案 (no grid plan has been published yet)")
    return plan_id


def _valid_on(day: dt.date):
    a = models.StaffAssignment
    return and_(
        or_(a.valid_from.is_(None), a.valid_from <= day),
        or_(a.valid_to.is_(None), a.valid_to >= day),
    )


def grids_with_market_flag(session: Session, *, plan_id: int | None = None) -> pd.DataFrame:
    """Grids of a plan with ``has_market``: flagged in properties, or holding a shop facility or building."""
    plan_id = _plan(session, plan_id)
    sql = text(
        """
        SELECT g.code, g.kind, g.exclusive_type, g.name, g.community_code,
               coalesce((g.properties->>'has_market')::boolean, false)
               OR EXISTS (SELECT 1 FROM facilities f
                          WHERE f.type_code = ANY(:ftypes) AND ST_Covers(g.geom, f.geom))
               OR EXISTS (SELECT 1 FROM buildings b
                          WHERE b.use = ANY(:uses) AND g.geom && b.geom
                            AND ST_Covers(g.geom, ST_PointOnSurface(b.geom)))
               AS has_market
        FROM grids g WHERE g.plan_id = :plan ORDER BY g.code
        """
    )
    rows = session.execute(
        sql, {"plan": plan_id, "ftypes": sorted(MARKET_FACILITY_TYPES), "uses": sorted(MARKET_BUILDING_USES)}
    ).all()
    return pd.DataFrame(rows, columns=["code", "kind", "exclusive_type", "name", "community_code", "has_market"])


def _assignments(session: Session, day: dt.date) -> pd.DataFrame:
    a = models.StaffAssignment
    rows = session.execute(
        select(a.role, a.grid_code, a.building_id, a.stairwell_id, a.person_id).where(_valid_on(day))
    ).all()
    return pd.DataFrame([tuple(r) for r in rows],
                        columns=["role", "grid_code", "building_id", "stairwell_id", "person_id"])


def _rows(session: Session, sql: str, params: dict | None = None) -> list[tuple]:
    """Plain tuples from the driver's cursor: building Row objects (and pandas inspecting them one by one)
    costs more than the query for tens of thousands of rows."""
    cur = session.connection().connection.cursor()
    try:
        cur.execute(sql, params or {})
        return cur.fetchall()
    finally:
        cur.close()


def _buildings_in_grids(session: Session, plan_id: int) -> pd.DataFrame:
    rows = _rows(session, """
        SELECT b.id, g.code AS grid_code, b.name
        FROM buildings b
        JOIN grids g ON g.plan_id = %(plan)s AND g.kind = 'comprehensive'
                    AND g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
        """, {"plan": plan_id})
    return pd.DataFrame(rows, columns=["id", "grid_code", "name"]).drop_duplicates("id")


# What the audit is computed from: it is kept per process until one of these changes (in any process or tool).
_AUDITS: VersionedCache[tuple[pd.DataFrame, pd.DataFrame]] = VersionedCache(
    "roster audit", ["grids", "buildings", "stairwells", "staff_assignments", "facilities"])


def _audit(session: Session, plan_id: int, day: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(grids with has_market, every vacancy)`` of a plan on ``day``, kept per process until the grids, the
    buildings, stairwells, staff assignments or facilities change (the audit of 2,000 grids and 50,000
    buildings takes ~0.6 s, the check ~0.2 ms). Copies: callers may change them."""

    def build() -> tuple[pd.DataFrame, pd.DataFrame]:
        grids = grids_with_market_flag(session, plan_id=plan_id)
        buildings = _buildings_in_grids(session, plan_id)
        stairwells = pd.DataFrame(_rows(session, "SELECT id, building_id, number FROM stairwells"),
                                  columns=["id", "building_id", "number"])
        stairwells = stairwells[stairwells["building_id"].isin(buildings["id"])]
        return grids, audit_roster(grids, _assignments(session, day), buildings, stairwells)

    grids, vacancies = _AUDITS.get(session, (plan_id, day), build)
    return grids.copy(), vacancies.copy()


def roster_audit(
    session: Session, *, plan_id: int | None = None, unit: str | None = None, on: dt.date | None = None
) -> pd.DataFrame:
    """Every vacancy (role, building without 楼栋长, stairwell without 楼口长) of the plan's grids.

    ``unit`` limits the answer to a street (9 digits), community (12) or grid (15) code prefix.
    """
    plan_id = _plan(session, plan_id)
    grids, vacancies = _audit(session, plan_id, on or dt.date.today())
    if unit:
        vacancies = vacancies[vacancies["grid_code"].str.startswith(unit)]
    names = dict(zip(grids["code"], grids["name"]))
    vacancies.insert(1, "grid_name", vacancies["grid_code"].map(names))
    return vacancies.reset_index(drop=True)


def roster_summary(
    session: Session, *, by: str, plan_id: int | None = None, on: dt.date | None = None
) -> pd.DataFrame:
    """Vacancy counts per ``grid``, ``community`` or ``street``, with the unit's name."""
    if by not in {"grid", "community", "street"}:
        raise InvalidInput(f"by 只能是 grid、community 或 street (by must be grid, community or street): {by!r}")
    plan_id = _plan(session, plan_id)
    grids, vacancies = _audit(session, plan_id, on or dt.date.today())
    out = summarise(vacancies, grids, by=by)
    if by == "grid":
        out.insert(1, "name", out["unit"].map(dict(zip(grids["code"], grids["name"]))))
    else:
        codes = [u + "0" * (12 - len(u)) for u in out["unit"]]
        found = dict(
            session.execute(select(models.AdminArea.code, models.AdminArea.name).where(models.AdminArea.code.in_(codes))).all()
        )
        out.insert(1, "name", [found.get(c) for c in codes])
    return out


def _building_heads(session: Session, *, grid_code: str | None = None, building_id: int | None = None,
                    plan_id: int | None = None) -> list[dict]:
    """The buildings of a grid (or one building) with their 楼栋长 and each stairwell's 楼口长, published phones."""
    a, p, b, sw = models.StaffAssignment, models.Person, models.Building, models.Stairwell
    if building_id is not None:
        where = b.id == building_id
    else:
        grid = select(models.Grid.geom).where(models.Grid.plan_id == plan_id, models.Grid.code == grid_code).scalar_subquery()
        where = and_(b.geom.op("&&")(grid), func.ST_Covers(grid, func.ST_PointOnSurface(b.geom)))
    buildings = session.execute(select(b.id, b.name, b.address).where(where).order_by(b.name, b.id)).all()
    ids = [r[0] for r in buildings]
    today = dt.date.today()
    heads = session.execute(
        select(func.coalesce(a.building_id, sw.building_id), sw.number, p.name, p.public_phone)
        .join(p, p.id == a.person_id).outerjoin(sw, sw.id == a.stairwell_id)
        .where(_valid_on(today), a.role.in_([StaffRole.BUILDING_HEAD.value, StaffRole.STAIRWELL_HEAD.value]),
               or_(a.building_id.in_(ids), sw.building_id.in_(ids)))
        .order_by(sw.number.nulls_first(), p.name)).all() if ids else []
    numbers = session.execute(select(sw.building_id, sw.number).where(sw.building_id.in_(ids))
                              .order_by(sw.number)).all() if ids else []
    out = {bid: {"building_id": bid, "name": name, "address": address, "building_heads": [], "stairwells": {}}
           for bid, name, address in buildings}
    for bid, number in numbers:
        out[bid]["stairwells"][number] = {"number": number, "stairwell_heads": []}
    for bid, number, name, phone in heads:
        person = {"name": name, "public_phone": phone}
        if number is None:
            out[bid]["building_heads"].append(person)
        else:
            out[bid]["stairwells"].setdefault(number, {"number": number, "stairwell_heads": []})[
                "stairwell_heads"].append(person)
    return [v | {"stairwells": list(v["stairwells"].values())} for v in out.values()]


def contact_board(session: Session, grid_code: str, *, plan_id: int | None = None) -> dict:
    """A grid's 公示牌: its name, community, per role the people with their published phone only, and its
    buildings with their 楼栋长 and 楼口长.

    Private phones are never read here. A vacant role is listed with an empty ``people`` list.
    """
    plan_id = _plan(session, plan_id)
    grid = session.scalar(select(models.Grid).where(models.Grid.plan_id == plan_id, models.Grid.code == grid_code))
    if grid is None:
        raise NotFound(f"现行方案中没有网格 {grid_code} (no grid {grid_code} in the plan)")
    community = session.scalar(
        select(models.AdminArea.name).where(models.AdminArea.code == grid.community_code).order_by(
            models.AdminArea.edition_year.desc()
        )
    )
    a, p = models.StaffAssignment, models.Person
    rows = session.execute(
        select(a.role, p.name, p.public_phone)
        .join(p, p.id == a.person_id)
        .where(a.grid_code == grid_code, _valid_on(dt.date.today()), a.role.in_([r.value for r in BOARD_ROLES]),
               a.building_id.is_(None), a.stairwell_id.is_(None))
        .order_by(a.role, p.name)
    ).all()
    by_role: dict[str, list[dict]] = {r.value: [] for r in BOARD_ROLES}
    for role, name, phone in rows:
        by_role[role].append({"name": name, "public_phone": phone})
    return {
        "grid": {"code": grid.code, "name": grid.name, "kind": grid.kind, "community_code": grid.community_code,
                 "community": community, "source": grid.source},
        "roles": [
            {"role": r.value, "role_zh": r.zh, "people": by_role[r.value]}
            for r in BOARD_ROLES
            if by_role[r.value] or r not in (StaffRole.URBAN_INSPECTOR, StaffRole.MARKET_INSPECTOR)
        ],
        "buildings": _building_heads(session, grid_code=grid_code, plan_id=plan_id),
    }


def entrance_board(session: Session, building_id: int, *, stairwell: int | None = None,
                   plan_id: int | None = None) -> dict:
    """The 公示牌 at a building entrance: its grid's board with only this building (and stairwell) listed."""
    plan_id = _plan(session, plan_id)
    grid_code = session.scalar(
        select(models.Grid.code).join(models.Building, func.ST_Covers(models.Grid.geom, func.ST_PointOnSurface(models.Building.geom)))
        .where(models.Grid.plan_id == plan_id, models.Building.id == building_id)
        .order_by((models.Grid.kind == "comprehensive").desc(), models.Grid.code).limit(1))
    if grid_code is None:
        raise NotFound(f"楼栋 {building_id} 不在现行方案的任何网格内 (no such building in a grid)")
    board = contact_board(session, grid_code, plan_id=plan_id)
    building = _building_heads(session, building_id=building_id)[0]
    if stairwell is not None:
        building["stairwells"] = [s for s in building["stairwells"] if s["number"] == stairwell]
        if not building["stairwells"]:
            raise NotFound(f"楼栋 {building_id} 没有 {stairwell} 单元 (no such stairwell)")
    return board | {"buildings": [building], "entrance": {"building_id": building_id, "stairwell": stairwell}}


def streets_without_unit(session: Session, *, on: dt.date | None = None) -> list[dict]:
    """包街 streets that have no responsible unit on ``on`` (no unit, or its period does not cover the day)."""
    day = on or dt.date.today()
    s = models.StreetResponsibility
    covered = and_(
        s.responsible_unit.is_not(None),
        or_(s.valid_from.is_(None), s.valid_from <= day),
        or_(s.valid_to.is_(None), s.valid_to >= day),
    )
    rows = session.execute(
        select(s.id, s.street_name, s.responsible_unit, s.valid_from, s.valid_to, s.source,
               func.round(func.ST_Length(func.Geography(s.geom))).label("length_m"))
        .where(~covered)
        .order_by(s.street_name)
    ).all()
    return [
        {"id": r.id, "street_name": r.street_name, "responsible_unit": r.responsible_unit,
         "valid_from": r.valid_from, "valid_to": r.valid_to, "length_m": float(r.length_m), "source": r.source}
        for r in rows
    ]


def assign_street_unit(
    session: Session,
    street_id: int,
    *,
    unit: str,
    contact: str | None = None,
    valid_from: dt.date | None = None,
    valid_to: dt.date | None = None,
    categories: list[str] | None = None,
) -> models.StreetResponsibility:
    """Give a 包街 street a responsible unit for a period and, optionally, the incident categories the unit takes
    (``None``: the category table's ``street_duty`` ones; codes must be known categories). The caller commits."""
    if not unit or not unit.strip():
        raise InvalidInput("责任单位不能为空 (the responsible unit must not be empty)")
    if categories is not None:
        table = incident_categories()
        unknown = [c for c in categories if c not in table]
        if unknown:
            raise InvalidInput(f"未知的事件类别 {unknown}，可选：{', '.join(table)} (unknown categories)",
                               detail={"unknown": unknown, "known": list(table)})
    if valid_from and valid_to and valid_to < valid_from:
        raise InvalidInput("结束日期早于开始日期 (valid_to is before valid_from)")
    street = session.get(models.StreetResponsibility, street_id)
    if street is None:
        raise NotFound(f"没有包街路段 {street_id} (no street {street_id})")
    street.responsible_unit = unit.strip()
    street.unit_contact = contact
    street.valid_from = valid_from
    street.valid_to = valid_to
    street.categories = None if categories is None else sorted(set(categories))
    session.flush()
    return street
