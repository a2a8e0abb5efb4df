"""Rules of 网格入户制度: what a household visit checks (六提六知) and how visit coverage is judged.

Grid workers visit households three half-days a week; a building not visited for ``stale_days`` days (by
default 90: once a quarter) is listed for the next round.
"""

from __future__ import annotations

from gis.domain import LabelledEnum
from gis.errors import InvalidInput


class Know(LabelledEnum):
    """六提六知: what each visit keeps current (提居知楼、提楼知户、提户知人、提人知事、提事知情、提情知策)."""

    BUILDING = ("building", "提居知楼")
    HOUSEHOLD = ("household", "提楼知户")
    PERSON = ("person", "提户知人")
    AFFAIRS = ("affairs", "提人知事")
    SITUATION = ("situation", "提事知情")
    POLICY = ("policy", "提情知策")


DEFAULT_STALE_DAYS = 90
MAX_STALE_DAYS = 3650


def check_knows(values: list[str] | None) -> list[str]:
    """The 六提六知 codes of a visit, de-duplicated in their canonical order; unknown codes are refused."""
    wanted = set(values or [])
    unknown = wanted - set(Know.values())
    if unknown:
        raise InvalidInput(f"未知的六提六知项 {sorted(unknown)} (unknown items)", detail={"accepted": Know.values()})
    return [k for k in Know.values() if k in wanted]


def share(visited: int, households: int) -> float | None:
    """The share of households visited (0–1, capped at 1), or None when the grid has no households."""
    if households <= 0:
        return None
    return round(min(visited / households, 1.0), 4)
