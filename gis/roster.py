"""Staffing rules of the Jinchang model and the roster audit that checks a grid's people against them.

"三长三员一民警": every comprehensive grid has a 网格长, 网格员, 法律咨询员, 社区健康员 and 社区民警; every building a
楼栋长 and every stairwell a 楼口长 ("1+2+N": one grid worker, building heads, N stairwell heads). A grid with a
market or shops also needs a 城管执法员 and a 市场监管员. Exclusive grids (专属网格) are run by their unit and need
a 网格长 and a 网格员; a market's own grid (专属网格 of a 农贸市场) needs the two market roles as well. One person may
hold a role in several grids.

The audit is pure: it takes tables (pandas DataFrames) and returns every vacancy, one row each.
"""

from __future__ import annotations

import pandas as pd

from gis.domain import GridKind, StaffRole

GRID_ROLES: tuple[StaffRole, ...] = (
    StaffRole.GRID_HEAD,
    StaffRole.GRID_WORKER,
    StaffRole.LEGAL_ADVISER,
    StaffRole.HEALTH_WORKER,
    StaffRole.COMMUNITY_POLICE,
)
MARKET_ROLES: tuple[StaffRole, ...] = (StaffRole.URBAN_INSPECTOR, StaffRole.MARKET_INSPECTOR)
EXCLUSIVE_ROLES: tuple[StaffRole, ...] = (StaffRole.GRID_HEAD, StaffRole.GRID_WORKER)

# Facility types and building uses that make a grid "a grid with a market or shops".
MARKET_FACILITY_TYPES = frozenset({"supermarket", "small_shop"})
MARKET_BUILDING_USES = frozenset({"commercial", "retail", "market", "shop"})
# Exclusive-grid types that are markets (a 农贸市场's own grid).
MARKET_EXCLUSIVE_TYPES = frozenset({"market"})

VACANCY_COLUMNS = ["grid_code", "kind", "role", "role_zh", "building_id", "stairwell_id", "detail"]


def required_roles(kind: str, *, has_market: bool, exclusive_type: str | None = None) -> tuple[StaffRole, ...]:
    """Roles a grid of ``kind`` must have filled (building and stairwell heads are checked per object).

    A comprehensive grid with a market or shops adds 城管执法员 and 市场监管员; so does a market's exclusive grid.
    """
    if kind == GridKind.EXCLUSIVE.value:
        return EXCLUSIVE_ROLES + (MARKET_ROLES if exclusive_type in MARKET_EXCLUSIVE_TYPES else ())
    return GRID_ROLES + (MARKET_ROLES if has_market else ())


def audit_roster(
    grids: pd.DataFrame,
    assignments: pd.DataFrame,
    buildings: pd.DataFrame,
    stairwells: pd.DataFrame,
) -> pd.DataFrame:
    """List every vacancy of every grid, building and stairwell.

    Parameters
    ----------
    grids
        One row per grid: ``code``, ``kind``, ``has_market`` (bool), optionally ``exclusive_type``.
    assignments
        Current staff assignments: ``role``, ``grid_code``, ``building_id``, ``stairwell_id``.
    buildings
        ``id``, ``grid_code`` (the grid the building lies in), ``name``.
    stairwells
        ``id``, ``building_id``, ``number``.

    Returns
    -------
    pandas.DataFrame
        Columns ``grid_code, kind, role, role_zh, building_id, stairwell_id, detail``; ``kind`` is ``role``
        (a required grid role is vacant), ``building`` (no 楼栋长) or ``stairwell`` (no 楼口长).
    """
    rows: list[dict] = []
    filled = set(zip(assignments["grid_code"], assignments["role"]))
    ex_types = grids["exclusive_type"] if "exclusive_type" in grids else [None] * len(grids)
    for code, kind, has_market, ex_type in zip(grids["code"], grids["kind"], grids["has_market"], ex_types):
        for role in required_roles(kind, has_market=bool(has_market), exclusive_type=ex_type):
            if (code, role.value) not in filled:
                rows.append(
                    {"grid_code": code, "kind": "role", "role": role.value, "role_zh": role.zh,
                     "building_id": None, "stairwell_id": None, "detail": f"缺{role.zh} (no {role.value})"}
                )

    heads = assignments["role"] == StaffRole.BUILDING_HEAD.value
    with_head = set(assignments.loc[heads, "building_id"].dropna().astype(int))
    comprehensive = set(grids.loc[grids["kind"] != GridKind.EXCLUSIVE.value, "code"])
    in_grid = buildings[buildings["grid_code"].isin(comprehensive)]
    ids = in_grid["id"].astype(int)
    # a building's label: its name, or its id where it has none (column-wise: a city has tens of thousands)
    label = pd.Series([n if n else str(i) for n, i in zip(in_grid["name"], ids, strict=True)], index=in_grid.index,
                      dtype=object)
    headless = ~ids.isin(with_head)
    no_head = pd.DataFrame({
        "grid_code": in_grid["grid_code"][headless], "kind": "building", "role": StaffRole.BUILDING_HEAD.value,
        "role_zh": StaffRole.BUILDING_HEAD.zh, "building_id": ids[headless], "stairwell_id": None,
        "detail": label[headless] + " 缺楼栋长 (building without a building head)"})

    sheads = assignments["role"] == StaffRole.STAIRWELL_HEAD.value
    with_shead = set(assignments.loc[sheads, "stairwell_id"].dropna().astype(int))
    grid_of = pd.Series(in_grid["grid_code"].to_numpy(), index=ids.to_numpy())
    label_of = pd.Series(label.to_numpy(), index=ids.to_numpy())
    sw_bid = stairwells["building_id"].astype(int)
    open_sw = sw_bid.isin(grid_of.index) & ~stairwells["id"].astype(int).isin(with_shead)
    sw, bid = stairwells[open_sw], sw_bid[open_sw]
    no_shead = pd.DataFrame({
        "grid_code": grid_of.reindex(bid).to_numpy(), "kind": "stairwell", "role": StaffRole.STAIRWELL_HEAD.value,
        "role_zh": StaffRole.STAIRWELL_HEAD.zh, "building_id": bid.to_numpy(), "stairwell_id": sw["id"].astype(int),
        "detail": label_of.reindex(bid).to_numpy() + " " + sw["number"].astype(str).to_numpy()
        + "单元缺楼口长 (stairwell without a stairwell head)"})
    parts = [pd.DataFrame(rows, columns=VACANCY_COLUMNS), no_head, no_shead]
    out = pd.concat([p[VACANCY_COLUMNS] for p in parts if len(p)], ignore_index=True) if any(
        len(p) for p in parts) else pd.DataFrame(columns=VACANCY_COLUMNS)
    return out.astype({"building_id": "Int64", "stairwell_id": "Int64"})


def summarise(vacancies: pd.DataFrame, grids: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Count vacancies per ``grid``, ``community`` or ``street`` (grid codes carry their community/street).

    ``grids`` gives the population of grids so that a unit with no vacancy appears with zeros.
    """
    width = {"grid": 15, "community": 12, "street": 9}[by]
    units = pd.Series(sorted({c[:width] for c in grids["code"]}), name="unit", dtype=object)
    out = pd.DataFrame({"unit": units})
    for kind in ("role", "building", "stairwell"):
        sub = vacancies[vacancies["kind"] == kind]
        counts = sub["grid_code"].str[:width].value_counts()
        out[f"{kind}_vacancies"] = out["unit"].map(counts).fillna(0).astype(int)
    out["grids"] = out["unit"].map(grids["code"].str[:width].value_counts()).fillna(0).astype(int)
    out["total_vacancies"] = out[["role_vacancies", "building_vacancies", "stairwell_vacancies"]].sum(axis=1)
    return out
