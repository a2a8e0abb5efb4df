"""KPIs of incident handling that cannot flatter: every share is over **all** incidents reported in the period.

"矛盾问题零上交": at least :data:`KPI_TARGET` of the incidents reported in a period should be *closed at grid or
community level*. The denominator is every incident reported (open, overdue, escalated or closed), so a street
that closes 13 of 34 and lets 13 run overdue shows 38 %, not the 100 % of "closed at low level ÷ closed". Open,
overdue and escalated counts stand beside the share, and ``meets_target`` is decided on that share alone.

The counts (:data:`COUNTS`, defined below) are taken in SQL by :mod:`layers.incident_kpis`; :func:`kpi_row`
turns one group's counts into its figures.
"""

from __future__ import annotations

from typing import Any

from gis.domain import HandlingLevel
from gis.errors import InvalidInput

KPI_TARGET = 0.8
"""Share of the incidents reported in a period that should be closed at grid or community level."""
KPI_BY = ("grid", "community", "street", "month", "category")

COUNTS: dict[str, str] = {
    "total": "incidents reported in the period (linked duplicates aside)",
    "open": "not closed (结案) yet",
    "closed": "closed",
    "overdue_open": "open and past their deadline",
    "escalated": "handled above the level they were reported at (网格, or 社区 for a community fallback)",
    "above_community": "handled at 街道 or 区/部门 level",
    "closed_at_grid": "closed at 网格 level",
    "closed_at_community": "closed at 社区 level",
    "closed_low_level": "closed at 网格 or 社区 level",
    "on_time": "closed by their deadline",
}
"""What each count counts, one group at a time (the definitions the SQL implements)."""

LEVEL_RANK: dict[str, int] = {lvl.value: k for k, lvl in enumerate(HandlingLevel)}
"""网格 0 < 社区 1 < 街道 2 < 区/部门 3: escalation climbs this order."""
LOW_LEVELS = (HandlingLevel.GRID.value, HandlingLevel.COMMUNITY.value)


def check_by(by: str) -> str:
    """``by`` if it is one of :data:`KPI_BY`; :class:`InvalidInput` otherwise."""
    if by not in KPI_BY:
        raise InvalidInput(f"by 须为 {'|'.join(KPI_BY)} (by must be one of {', '.join(KPI_BY)})", detail={"by": by})
    return by


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def kpi_row(counts: dict[str, int], *, median_handling_h: float | None = None) -> dict[str, Any]:
    """One group's figures from its :data:`COUNTS`: the counts, ``low_level_rate`` = closed at grid or
    community ÷ **total** (``meets_target`` on it alone), ``grid_rate`` and ``community_rate`` (÷ total),
    ``open_rate``, ``on_time_rate`` (on time ÷ closed) and the median hours from report to close."""
    n = {k: int(counts.get(k) or 0) for k in COUNTS}
    total, closed = n["total"], n["closed"]
    low = _share(n["closed_low_level"], total)
    return {
        **n,
        "low_level_rate": low,
        "grid_rate": _share(n["closed_at_grid"], total),
        "community_rate": _share(n["closed_at_community"], total),
        "open_rate": _share(n["open"], total),
        "on_time_rate": _share(n["on_time"], closed),
        "median_handling_h": None if median_handling_h is None else round(float(median_handling_h), 2),
        "meets_target": None if low is None else bool(low >= KPI_TARGET),
    }
