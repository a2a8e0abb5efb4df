"""Rules of 双报到 and the points bank (道德银行 / 积分超市): who registers, what earns points, how many.

Pure data: :mod:`layers.volunteers` stores registrations, activities and the points ledger. The points a kind
of service earns are data (``POINT_RULES``), copied into the ``point_rules`` table by the migration, which the
database triggers read when an order is fulfilled or a claimed wish comes true.
"""

from __future__ import annotations

from dataclasses import dataclass

from gis.domain import LabelledEnum


class RegistrantKind(LabelledEnum):
    """Who reports to the community (双报到): a Party organisation or unit, or an in-service Party member."""

    ORGANISATION = ("organisation", "党组织/单位")
    PARTY_MEMBER = ("party_member", "在职党员")


class PointKind(LabelledEnum):
    """Why points change."""

    ORDER = ("order", "完成三单服务")
    WISH = ("wish", "认领并实现微心愿")
    ACTIVITY = ("activity", "参加志愿服务活动")
    REDEEM = ("redeem", "积分超市兑换")
    ADJUST = ("adjust", "人工调整")


@dataclass(frozen=True)
class PointRule:
    """How many points one service of a kind earns, and the reason written on the ledger."""

    kind: PointKind
    points: int
    reason: str


POINT_RULES: list[PointRule] = [
    PointRule(PointKind.ORDER, 10, "完成三单服务 (fulfilled a service order)"),
    PointRule(PointKind.WISH, 10, "认领的微心愿已实现 (a claimed wish came true)"),
]
DEFAULT_ACTIVITY_POINTS = 5
MAX_POINTS_PER_CHANGE = 10_000
ANONYMOUS_DISPLAY = "未公开姓名的志愿者"
