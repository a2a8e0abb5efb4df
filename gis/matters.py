"""Rules of 社区事项准入制度: the kinds of item on a district's list of what communities do.

A community does by law (依法履职), assists with (协助) or has had devolved to it (下沉) only what its district's
published list holds; an incident or order of a category no item covers needs approval first.
"""

from __future__ import annotations

from gis.domain import LabelledEnum


class MatterKind(LabelledEnum):
    """The three kinds of listed item."""

    STATUTORY = ("statutory", "依法履职事项")
    ASSIST = ("assist", "协助政府事项")
    DEVOLVED = ("devolved", "下沉事项")


class FlagState(LabelledEnum):
    """An incident or order outside the list waits for approval; when its category (or community) changes to
    one on the list, a pending flag is withdrawn; when it changes to another one outside, it waits again."""

    PENDING = ("pending", "待审批")
    APPROVED = ("approved", "已批准")
    REFUSED = ("refused", "不予准入")
    WITHDRAWN = ("withdrawn", "已撤回（类别改为清单内）")


class SubjectType(LabelledEnum):
    """What a flag is about."""

    INCIDENT = ("incident", "事件")
    ORDER = ("order", "三单服务")
