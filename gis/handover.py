"""Staff handover when a new plan generation replaces grids: where each retired grid's people go.

Pure functions over tables. The proposal, for a draft against the plan in force:

- a grid that is retired hands its people (grid-level roles: 网格长, 网格员, 法律咨询员 …) to its *successor*, the
  new grid that takes most of its households (``move``);
- 楼栋长 and 楼口长 follow their building or stairwell into whichever grid now holds it (``follow``);
- a new grid that would miss a required role its *predecessor* (the old grid it takes most households from) had
  filled gets that person too (``share``: one person may serve several grids), so the new generation shows no
  vacancy the old one had filled;
- a retired grid with no successor (nothing of it is covered any more) ends its people's assignments (``end``).

Each item names the assignment it starts from, the person and role, ``from`` and ``to`` grid codes; a planner
may change ``to`` (another grid of the draft, or none to end it) before publishing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gis.domain import LabelledEnum, StaffRole
from gis.plan_validation import Projector
from gis.roster import required_roles

BUILDING_ROLES = frozenset({StaffRole.BUILDING_HEAD.value, StaffRole.STAIRWELL_HEAD.value})
ASSIGNMENT_COLUMNS = ["assignment_id", "person_id", "person_name", "role", "grid_code", "building_id"]


class HandoverKind(LabelledEnum):
    """What a handover item does to a staff assignment when the plan is published."""

    MOVE = ("move", "随网格转入")
    FOLLOW = ("follow", "随楼栋转入")
    SHARE = ("share", "兼任新网格")
    END = ("end", "结束任职")


@dataclass(frozen=True)
class GridSide:
    """One side of a plan change: grid codes, kinds, WGS84 shapes and (for the draft) market flags."""

    codes: Sequence[str]
    kinds: Sequence[str]
    geoms: np.ndarray
    has_market: Sequence[bool] | None = None
    exclusive_types: Sequence[str | None] | None = None


def with_nones(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The table with ``columns`` as Python objects and missing values as ``None`` (pandas reads a missing
    string as NaN, which is neither None nor a code)."""
    out = table.copy()
    for col in columns:
        values = out[col].astype(object)
        out[col] = values.where(values.notna(), None)
    return out


def household_flows(old_codes: Iterable[str | None], new_codes: Iterable[str | None],
                    households: Iterable[int | None]) -> Counter[tuple[str, str]]:
    """Households of the buildings that lie in grid ``old`` before and ``new`` after, per ``(old, new)``."""
    flows: Counter[tuple[str, str]] = Counter()
    for old, new, hh in zip(old_codes, new_codes, households, strict=True):
        if old is not None and new is not None:
            flows[(old, new)] += int(hh or 0) or 1  # a building with no household count still counts once
    return flows


def area_overlaps(base: GridSide, draft: GridSide, pairs: Iterable[tuple[str, str]] | None = None
                  ) -> dict[tuple[str, str], float]:
    """Shared area in m² of every overlapping ``(old, new)`` pair of grids (or of the given pairs only)."""
    if not len(base.codes) or not len(draft.codes):
        return {}
    both = np.concatenate([np.asarray(base.geoms, dtype=object), np.asarray(draft.geoms, dtype=object)])
    projector = Projector.around(both)
    old = shapely.make_valid(projector.forward(np.asarray(base.geoms, dtype=object)))
    new = shapely.make_valid(projector.forward(np.asarray(draft.geoms, dtype=object)))
    bi, di = shapely.STRtree(new).query(old, predicate="intersects")
    if pairs is not None:
        wanted = set(pairs)
        keep = [k for k in range(bi.size) if (base.codes[bi[k]], draft.codes[di[k]]) in wanted]
        bi, di = bi[keep], di[keep]
    areas = shapely.area(shapely.intersection(old[bi], new[di])) if bi.size else np.zeros(0)
    return {(base.codes[b], draft.codes[d]): float(a) for b, d, a in zip(bi, di, areas, strict=True) if a > 1.0}


def _best(candidates: dict[str, float]) -> str | None:
    """The key with the largest value; ties go to the lowest code (deterministic)."""
    if not candidates:
        return None
    return min(candidates, key=lambda code: (-candidates[code], code))


def successors(retired: Iterable[str], flows: Counter, overlaps: dict[tuple[str, str], float]) -> dict[str, str | None]:
    """For each retired grid, the new grid that takes most of its households (else most of its area)."""
    by_households: dict[str, dict[str, float]] = defaultdict(dict)
    by_area: dict[str, dict[str, float]] = defaultdict(dict)
    for (old, new), n in flows.items():
        by_households[old][new] = n
    for (old, new), a in overlaps.items():
        by_area[old][new] = a
    return {old: _best(by_households[old]) or _best(by_area[old]) for old in retired}


def predecessors(new_grids: Iterable[str], flows: Counter, overlaps: dict[tuple[str, str], float]
                 ) -> dict[str, str | None]:
    """For each new grid, the old grid it takes most households from (else most area)."""
    by_households: dict[str, dict[str, float]] = defaultdict(dict)
    by_area: dict[str, dict[str, float]] = defaultdict(dict)
    for (old, new), n in flows.items():
        by_households[new][old] = n
    for (old, new), a in overlaps.items():
        by_area[new][old] = a
    return {new: _best(by_households[new]) or _best(by_area[new]) for new in new_grids}


def _item(kind: HandoverKind, row: Any, to: str | None, *, source: str | None = None, note: str = "") -> dict:
    role = StaffRole(row.role)
    return {
        "kind": kind.value, "kind_zh": kind.zh, "assignment_id": int(row.assignment_id),
        "person_id": int(row.person_id), "person_name": row.person_name, "role": role.value, "role_zh": role.zh,
        "from": source if source is not None else row.grid_code, "to": to,
        "building_id": None if row.building_id is None else int(row.building_id), "note": note,
    }


def follow_items(assignments: pd.DataFrame, buildings: pd.DataFrame) -> list[dict]:
    """楼栋长/楼口长 whose building now lies in another grid follow it there."""
    moved = buildings[buildings["new_code"].notna() & (buildings["old_code"] != buildings["new_code"])]
    moved = moved[moved["old_code"].notna()]
    old_of = dict(zip(moved["building_id"].astype(int), moved["old_code"], strict=True))
    new_of = dict(zip(moved["building_id"].astype(int), moved["new_code"], strict=True))
    heads = assignments[assignments["role"].isin(BUILDING_ROLES) & assignments["building_id"].notna()]
    items = []
    for row in heads.sort_values("assignment_id").itertuples(index=False):
        building = int(row.building_id)
        if building in new_of:
            items.append(_item(HandoverKind.FOLLOW, row, new_of[building], source=old_of[building]))
    return items


def move_items(assignments: pd.DataFrame, successor: dict[str, str | None], filled: set[tuple[str, str]]
               ) -> list[dict]:
    """Grid-level people of every retired grid go to its successor (or end where it has none)."""
    items = []
    grid_level = assignments[~assignments["role"].isin(BUILDING_ROLES) & assignments["grid_code"].isin(successor)]
    for row in grid_level.sort_values(["grid_code", "role", "assignment_id"]).itertuples(index=False):
        to = successor[row.grid_code]
        if to is None:
            items.append(_item(HandoverKind.END, row, None, note="网格撤销且无承接网格 (no grid takes it over)"))
            continue
        note = "目标网格已有此岗位 (the target already has this role)" if (to, row.role) in filled else ""
        items.append(_item(HandoverKind.MOVE, row, to, note=note))
        filled.add((to, row.role))
    return items


def share_items(assignments: pd.DataFrame, draft: GridSide, new_grids: Sequence[str],
                predecessor: dict[str, str | None], filled: set[tuple[str, str]]) -> list[dict]:
    """A new grid missing a required role that its predecessor had filled gets the predecessor's person too."""
    kinds = dict(zip(draft.codes, draft.kinds, strict=True))
    market = dict(zip(draft.codes, draft.has_market if draft.has_market is not None else [False] * len(kinds),
                      strict=True))
    ex_types = dict(zip(draft.codes, draft.exclusive_types or [None] * len(kinds), strict=True))
    sources = {p for p in predecessor.values() if p is not None}
    if not new_grids or not sources:
        return []
    grid_level = assignments[~assignments["role"].isin(BUILDING_ROLES) & assignments["grid_code"].isin(sources)]
    holders: dict[tuple[str, str], list] = defaultdict(list)
    for row in grid_level.sort_values("assignment_id").itertuples(index=False):
        holders[(row.grid_code, row.role)].append(row)
    items = []
    for new in sorted(new_grids):
        source = predecessor.get(new)
        if source is None:
            continue
        for role in required_roles(kinds[new], has_market=bool(market[new]), exclusive_type=ex_types[new]):
            if (new, role.value) in filled or not holders.get((source, role.value)):
                continue
            items.append(_item(HandoverKind.SHARE, holders[(source, role.value)][0], new, source=source))
            filled.add((new, role.value))
    return items


def _same_kind(base: GridSide, draft: GridSide):
    old_kind = dict(zip(base.codes, base.kinds, strict=True))
    new_kind = dict(zip(draft.codes, draft.kinds, strict=True))
    return lambda pair: old_kind.get(pair[0]) == new_kind.get(pair[1])


def propose_handover(base: GridSide, draft: GridSide, *, in_scope: Sequence[bool], assignments: pd.DataFrame,
                     buildings: pd.DataFrame) -> dict[str, Any]:
    """The default handover of a draft against the plan in force.

    Parameters
    ----------
    base, draft
        The grids in force and the draft's grids; ``draft.has_market`` decides the market roles of new grids.
    in_scope
        For each draft grid, whether it lies in the draft's scope (only those receive people).
    assignments
        Current staff assignments: ``assignment_id, person_id, person_name, role, grid_code, building_id``
        (a 楼口长's ``building_id`` is its stairwell's building).
    buildings
        ``building_id, households, old_code, new_code``: the grid each building lies in before and after.

    Returns
    -------
    dict
        ``items`` (each a move, follow, share or end), ``successors`` of the retired grids and ``predecessors``
        of the new ones.
    """
    assignments = with_nones(assignments, ["person_name", "role", "grid_code", "building_id"])
    buildings = with_nones(buildings, ["old_code", "new_code"])
    scoped = [c for c, s in zip(draft.codes, in_scope, strict=True) if s]
    retired = sorted(set(base.codes) - set(draft.codes))
    new_grids = sorted(set(scoped) - set(base.codes))
    flows = household_flows(buildings["old_code"], buildings["new_code"], buildings["households"])
    needs_area = [(o, n) for o in retired for n in scoped] + [(o, n) for n in new_grids for o in base.codes]
    overlaps = area_overlaps(base, draft, needs_area) if retired or new_grids else {}
    # people go between grids of the same kind: a comprehensive grid's staff never to a school's own grid
    same_kind = _same_kind(base, draft)
    flows = Counter({k: v for k, v in flows.items() if same_kind(k) and (k[1] in set(scoped) or k[0] in set(retired))})
    overlaps = {k: v for k, v in overlaps.items() if same_kind(k)}
    successor = successors(retired, flows, overlaps)
    predecessor = predecessors(new_grids, flows, overlaps)
    current = assignments[~assignments["role"].isin(BUILDING_ROLES)]
    filled = {(g, r) for g, r in zip(current["grid_code"], current["role"], strict=True) if g not in successor}
    moves = move_items(assignments, successor, filled)  # grid-level people first: the ones a planner decides on
    items = moves + share_items(assignments, draft, new_grids, predecessor, filled) + follow_items(assignments, buildings)
    return {"items": items, "successors": successor, "predecessors": predecessor}
