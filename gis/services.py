"""Rules of the service loops: 三单 (点单 → 派单 → 接单), 微心愿, and the ledger kinds of 五彩台账.

Pure data and functions: the states and their allowed moves, service categories with deadlines, the ranking of
party members suggested for an order (same grid first, then walking distance, then open load), and the short
tokens residents follow what they sent with.

三单 as in Jinchang: 居民点单 (placed) → 社区派单 (dispatched: offered to one party member) → 党员接单 (taken: that
party member accepted) → 已办结 (fulfilled) → 已评价 (closed by the resident's rating). A party member who
refuses a dispatched order, or gives up one they took, returns it to the community (back to placed).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import numpy as np

from gis.domain import LabelledEnum
from gis.errors import Conflict


class OrderState(LabelledEnum):
    """States of a 三单 order."""

    PLACED = ("placed", "居民点单")
    DISPATCHED = ("dispatched", "社区派单，待党员接单")
    TAKEN = ("taken", "党员已接单")
    FULFILLED = ("fulfilled", "已办结")
    CLOSED = ("closed", "已评价")
    CANCELLED = ("cancelled", "已取消")


ORDER_MOVES: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PLACED: frozenset({OrderState.DISPATCHED, OrderState.CANCELLED}),
    # accepted by the party member it was offered to, or refused by them (back to the community)
    OrderState.DISPATCHED: frozenset({OrderState.TAKEN, OrderState.PLACED, OrderState.CANCELLED}),
    OrderState.TAKEN: frozenset({OrderState.FULFILLED, OrderState.PLACED}),  # given up: back to the community
    OrderState.FULFILLED: frozenset({OrderState.CLOSED}),
    OrderState.CLOSED: frozenset(),
    OrderState.CANCELLED: frozenset(),
}


class WishState(LabelledEnum):
    """States of a 微心愿."""

    POSTED = ("posted", "待认领")
    CLAIMED = ("claimed", "已认领")
    FULFILLED = ("fulfilled", "已实现")
    CANCELLED = ("cancelled", "已撤回")


WISH_MOVES: dict[WishState, frozenset[WishState]] = {
    WishState.POSTED: frozenset({WishState.CLAIMED, WishState.CANCELLED}),
    WishState.CLAIMED: frozenset({WishState.FULFILLED, WishState.POSTED}),  # released back
    WishState.FULFILLED: frozenset(),
    WishState.CANCELLED: frozenset(),
}


def check_move(current: str, target: str, moves: dict) -> None:
    """Refuse a move the loop does not allow.

    Raises
    ------
    Conflict
        Naming the current state and the moves allowed from it.
    """
    enum = type(next(iter(moves)))
    cur, tgt = enum(current), enum(target)
    if tgt not in moves[cur]:
        allowed = "、".join(s.zh for s in moves[cur]) or "无 (none)"
        raise Conflict(
            f"不能从「{cur.zh}」转为「{tgt.zh}」；可转为：{allowed} (cannot move from {cur.value} to "
            f"{tgt.value}; allowed: {', '.join(s.value for s in moves[cur]) or 'none'})",
            detail={"from": cur.value, "to": tgt.value, "allowed": sorted(s.value for s in moves[cur])},
        )


@dataclass(frozen=True)
class ServiceCategory:
    """A kind of service a resident can order, with the hours allowed from dispatch to fulfilment."""

    code: str
    zh: str
    en: str
    deadline_hours: int


SERVICE_CATEGORIES: dict[str, ServiceCategory] = {
    c.code: c
    for c in [
        ServiceCategory("elderly_help", "助老服务", "help for the elderly", 48),
        ServiceCategory("home_repair", "维修帮扶", "home repair", 72),
        ServiceCategory("errand", "代购代办", "errands", 24),
        ServiceCategory("cleaning", "环境保洁", "cleaning", 48),
        ServiceCategory("medical_escort", "就医陪护", "medical escort", 24),
        ServiceCategory("legal_aid", "法律援助", "legal aid", 120),
        ServiceCategory("tutoring", "学业辅导", "tutoring", 168),
        ServiceCategory("other", "其他", "other", 72),
    ]
}

# 五彩台账: the ledger kinds kept per building, each with the colour its ledger book has.
# persons: people; households: 户; units: rental flats or shop fronts.
LEDGER_KINDS: dict[str, dict[str, str]] = {
    "resident": {"zh": "常住人口", "colour": "green", "hex": "#2e7d32", "counts": "persons, households"},
    "floating": {"zh": "流动人口", "colour": "yellow", "hex": "#f9a825", "counts": "persons, households"},
    "rental": {"zh": "出租屋", "colour": "blue", "hex": "#1565c0", "counts": "units"},
    "business": {"zh": "商业网点", "colour": "orange", "hex": "#ef6c00", "counts": "units"},
    "special_care": {"zh": "重点关爱人员", "colour": "red", "hex": "#c62828", "counts": "persons"},
}

# Kinds whose households and persons make up a building's households and residents.
POPULATION_KINDS = ("resident", "floating")


def rank_takers(
    *,
    same_grid: np.ndarray,
    walk_m: np.ndarray,
    open_load: np.ndarray,
) -> np.ndarray:
    """Order candidate party members for an order: same grid first, then shorter walk, then lower load.

    Parameters
    ----------
    same_grid
        True where the candidate serves in the order's grid.
    walk_m
        Walking distance from the candidate's base to the order, metres (``inf`` where unreachable).
    open_load
        Orders and wishes the candidate has taken and not yet fulfilled.

    Returns
    -------
    numpy.ndarray
        Indices into the inputs, best first.
    """
    same = np.asarray(same_grid, dtype=bool)
    walk = np.asarray(walk_m, dtype=float)
    load = np.asarray(open_load, dtype=float)
    # np.lexsort sorts by the last key first.
    return np.lexsort((load, walk, ~same))


class TrackKind(LabelledEnum):
    """What a resident sent from the public map and follows with a token."""

    REPORT = ("report", "随手拍")
    ORDER = ("order", "点单")
    WISH = ("wish", "微心愿")


TOKEN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U to misread
TOKEN_LENGTH = 10  # 50 bits: guessing one of a million live tokens takes ~10⁹ tries
_TOKEN_RE = re.compile(f"[{TOKEN_ALPHABET}]{{{TOKEN_LENGTH}}}")


def new_track_token() -> str:
    """A short random token a resident can read out or type (``K7M3PQ9XAB``)."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def normalise_track_token(text: str | None) -> str | None:
    """A token as typed (any case, with spaces or dashes, O/I/L for 0/1/1) → its canonical form; None when it
    cannot be one."""
    if not text or len(text) > 40:
        return None
    token = re.sub(r"[\s-]", "", text).upper().translate(str.maketrans("OIL", "011"))
    return token if _TOKEN_RE.fullmatch(token) else None
