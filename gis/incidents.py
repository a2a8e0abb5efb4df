"""The rules of an incident's life, as data and pure functions (no database, no web).

- **Categories** (事件类别): each maps to the staff role of the grid that handles it, a deadline in hours and
  whether it is *sensitive* (its location is snapped to the grid's centroid and its description hidden in
  public answers). The table is data (:data:`DEFAULT_CATEGORIES`); :func:`parse_categories` reads another one.
- **Dispatch** (:func:`pick_assignee`): a 包街 street segment goes to its responsible unit; otherwise the
  category's role in the grid, or the grid's 网格长 when that role is vacant, or the community's staff.
- **Lifecycle** (:data:`TRANSITIONS`): 上报 → 立案 → 派遣 → 处置 → 反馈 → 核查 → 结案, with 回退, 延期 and
  escalation 网格 → 社区 → 街道 → 区/部门; an action not allowed from a state is :class:`IllegalTransition` (409).
- **Duplicates** (:func:`classify_duplicates`): open incidents of the same category within 250 m are suggested;
  one within 50 m and 24 h makes the new report a linked duplicate, not a second task.
- **KPIs** (:func:`kpi_table`): counts, share closed at grid/community level, on-time rate, median handling time.
- **Open311** status mapping and the request hash used by ``Idempotency-Key``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gis.domain import HandlingLevel, IncidentState, LabelledEnum, StaffRole, UserRole
from gis.errors import Conflict, InvalidInput

S = IncidentState
L = HandlingLevel

SUGGEST_RADIUS_M = 250.0
"""Open incidents of the same category within this distance are returned with a new report."""
LINK_RADIUS_M = 50.0
LINK_WINDOW_H = 24.0
"""A report this near (in metres and hours) to an open incident of the same category is linked to it."""
KPI_TARGET = 0.8
"""Share of closed incidents that should be closed at grid or community level ("矛盾问题零上交")."""
MAX_DESCRIPTION = 4000


class IllegalTransition(Conflict):
    """An action that the incident's state (or level) does not allow."""

    code = "illegal_transition"


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` sent again with a different request body."""

    code = "idempotency_key_reused"


# --------------------------------------------------------------------------------------------- categories
@dataclass(frozen=True)
class Category:
    """An incident category: who handles it, in how many hours, and whether its location is sensitive."""

    code: str
    zh: str
    en: str
    role: StaffRole
    deadline_h: float
    family: str = "其他"
    sensitive: bool = False
    keywords: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The category as the API shows it."""
        return {"code": self.code, "name_zh": self.zh, "name_en": self.en, "role": self.role.value,
                "role_zh": self.role.zh, "deadline_hours": self.deadline_h, "family": self.family,
                "sensitive": self.sensitive, "keywords": list(self.keywords)}


R = StaffRole
DEFAULT_CATEGORIES: list[Category] = [
    Category("sanitation", "环境卫生", "sanitation", R.GRID_WORKER, 24, "市容环境", keywords=("垃圾", "卫生")),
    Category("city_appearance", "市容环境", "city appearance", R.GRID_WORKER, 48, "市容环境"),
    Category("illegal_building", "乱搭乱建", "illegal construction", R.URBAN_INSPECTOR, 72, "施工管理"),
    Category("construction", "施工管理", "construction site", R.URBAN_INSPECTOR, 72, "施工管理"),
    Category("advertising", "宣传广告", "illegal advertising", R.URBAN_INSPECTOR, 72, "宣传广告"),
    Category("cable_mess", "蜘蛛网线", "tangled overhead cables", R.GRID_WORKER, 120, "市容环境"),
    Category("road_damage", "道路破损", "damaged road", R.URBAN_INSPECTOR, 72, "街面秩序"),
    Category("street_order", "街面秩序", "street order", R.URBAN_INSPECTOR, 24, "街面秩序"),
    Category("traffic", "交通秩序", "traffic order", R.COMMUNITY_POLICE, 24, "街面秩序"),
    Category("public_security", "治安", "public security", R.COMMUNITY_POLICE, 12, "突发事件", sensitive=True),
    Category("emergency", "突发事件", "emergency", R.GRID_HEAD, 2, "突发事件"),
    Category("dispute", "矛盾纠纷", "dispute between residents", R.LEGAL_ADVISER, 72, "其他", sensitive=True),
    Category("legal", "法律咨询", "legal advice", R.LEGAL_ADVISER, 120, "其他", sensitive=True),
    Category("health", "健康", "health", R.HEALTH_WORKER, 48, "其他", sensitive=True),
    Category("market", "市场监管", "market supervision", R.MARKET_INSPECTOR, 72, "街面秩序"),
    Category("other", "其他", "other", R.GRID_WORKER, 120, "其他"),
]


def parse_categories(rows: list[dict[str, Any]]) -> dict[str, Category]:
    """A category table from data (e.g. a JSON file): ``code, zh, en, role, deadline_h[, family, sensitive]``."""
    out: dict[str, Category] = {}
    for row in rows:
        try:
            role = StaffRole(row["role"])
            cat = Category(str(row["code"]), str(row["zh"]), str(row.get("en", row["code"])), role,
                           float(row["deadline_h"]), str(row.get("family", "其他")), bool(row.get("sensitive", False)),
                           tuple(row.get("keywords", ())))
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInput(f"事件类别配置有误：{row!r} (bad category row: {exc})") from exc
        if cat.deadline_h <= 0:
            raise InvalidInput(f"类别 {cat.code} 的处置时限须大于 0 (deadline must be positive)")
        out[cat.code] = cat
    return out


CATEGORIES: dict[str, Category] = {c.code: c for c in DEFAULT_CATEGORIES}


def category_of(value: str | None, categories: dict[str, Category] | None = None) -> Category:
    """The category named by its code or its Chinese name; :class:`InvalidInput` listing the known ones."""
    cats = categories or CATEGORIES
    if value:
        v = str(value).strip()
        if v in cats:
            return cats[v]
        for c in cats.values():
            if v == c.zh or v.lower() == c.en.lower():
                return c
    known = "、".join(f"{c.code}（{c.zh}）" for c in cats.values())
    raise InvalidInput(f"未知的事件类别 {value!r}，可选：{known} (unknown category {value!r}; known: "
                       f"{', '.join(cats)})", detail={"category": value, "known": list(cats)})


def check_text(value: str | None, name: str, limit: int = MAX_DESCRIPTION) -> str | None:
    """Strip a free-text field and refuse one longer than ``limit`` characters."""
    if value is None:
        return None
    v = str(value).strip()
    if "\x00" in v:
        raise InvalidInput(f"{name} 含有空字符 (NUL) ({name} contains a NUL character)", detail={"field": name})
    if len(v) > limit:
        raise InvalidInput(f"{name} 超过 {limit} 个字符 ({name} is longer than {limit} characters)",
                           detail={name: len(v)})
    return v or None


# ------------------------------------------------------------------------------------------------ dispatch
@dataclass(frozen=True)
class Staff:
    """A person serving a grid (or a community) in a role."""

    person_id: int
    role: str
    name: str


@dataclass(frozen=True)
class Dispatch:
    """Who an incident goes to and why."""

    person_id: int | None
    name: str | None
    role: str | None
    unit: str | None
    rule: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The dispatch as the API shows it (``name`` is a public name on the 公示牌; no phone)."""
        role_zh = StaffRole(self.role).zh if self.role in StaffRole.values() else None
        return {"person_id": self.person_id, "name": self.name, "role": self.role, "role_zh": role_zh,
                "unit": self.unit, "rule": self.rule, "reason": self.reason}


def pick_assignee(category: Category, *, method: str, grid_staff: list[Staff], community_staff: list[Staff],
                  street_unit: str | None = None) -> Dispatch:
    """The responsible person or unit of a located incident.

    1. ``method == "street_responsibility"`` with a unit: that 包街 unit.
    2. The category's role in the grid (the first by name, if several).
    3. The grid's 网格长 when the role is vacant.
    4. With no grid (community fallback) or an empty grid: the community's staff in the role, then its 网格长.
    5. Otherwise unassigned, with the reason.
    """
    if method == "street_responsibility" and street_unit:
        return Dispatch(None, None, None, street_unit, "street_unit",
                        f"包街责任路段，派给责任单位 {street_unit} (on a 包街 street: sent to its unit)")
    want = category.role.value

    def first(staff: list[Staff], role: str) -> Staff | None:
        hits = sorted((s for s in staff if s.role == role), key=lambda s: (s.name, s.person_id))
        return hits[0] if hits else None

    for pool, where_zh, where_en in ((grid_staff, "网格", "grid"), (community_staff, "社区", "community")):
        s = first(pool, want)
        if s is not None:
            return Dispatch(s.person_id, s.name, s.role, None, f"{where_en}_role",
                            f"{category.zh}由{where_zh}{category.role.zh}处置 ({category.en} goes to the "
                            f"{where_en}'s {want})")
        head = first(pool, StaffRole.GRID_HEAD.value)
        if head is not None:
            return Dispatch(head.person_id, head.name, head.role, None, f"{where_en}_head",
                            f"{where_zh}{category.role.zh}空缺，由网格长处置 (no {want} in the {where_en}: "
                            "sent to its grid head)")
    return Dispatch(None, None, None, None, "unassigned",
                    f"网格与社区均无{category.role.zh}或网格长，待指挥中心人工派遣 (nobody in the role or grid "
                    "head in the grid or community: the dispatcher assigns it by hand)")


# ----------------------------------------------------------------------------------------------- lifecycle
class Action(LabelledEnum):
    """What a user does to an incident; each is one transition, recorded with who and when."""

    REGISTER = ("register", "立案")
    DISPATCH = ("dispatch", "派遣")
    HANDLE = ("handle", "处置")
    FEEDBACK = ("feedback", "反馈")
    VERIFY = ("verify", "核查")
    CLOSE = ("close", "结案")
    RETURN = ("return", "回退")
    POSTPONE = ("postpone", "延期")
    ESCALATE = ("escalate", "上报上级")


OPEN_STATES = [s.value for s in S if s is not S.CLOSED]

# action → (states it may start from, the state it leads to). The one table of the lifecycle.
TRANSITIONS: dict[Action, tuple[tuple[S, ...], S]] = {
    Action.REGISTER: ((S.REPORTED,), S.REGISTERED),
    Action.DISPATCH: ((S.REGISTERED, S.RETURNED), S.DISPATCHED),
    Action.HANDLE: ((S.DISPATCHED, S.POSTPONED), S.HANDLING),
    Action.FEEDBACK: ((S.HANDLING,), S.FEEDBACK),
    Action.VERIFY: ((S.FEEDBACK,), S.VERIFIED),
    Action.CLOSE: ((S.VERIFIED,), S.CLOSED),
    Action.RETURN: ((S.REGISTERED, S.DISPATCHED, S.HANDLING, S.FEEDBACK, S.VERIFIED), S.RETURNED),
    Action.POSTPONE: ((S.DISPATCHED, S.HANDLING), S.POSTPONED),
    # Escalation hands the incident to the next level, which dispatches it again.
    Action.ESCALATE: ((S.REPORTED, S.REGISTERED, S.DISPATCHED, S.HANDLING, S.RETURNED, S.POSTPONED), S.REGISTERED),
}

STAFF_ROLES = (UserRole.DISPATCHER.value, UserRole.GRID_STAFF.value)
# action → account roles that may take it (admins may take every action).
ACTION_ROLES: dict[Action, tuple[str, ...]] = {
    Action.REGISTER: (UserRole.DISPATCHER.value,),
    Action.DISPATCH: (UserRole.DISPATCHER.value,),
    Action.HANDLE: STAFF_ROLES,
    Action.FEEDBACK: STAFF_ROLES,
    Action.VERIFY: (UserRole.DISPATCHER.value,),
    Action.CLOSE: (UserRole.DISPATCHER.value,),
    Action.RETURN: STAFF_ROLES,
    Action.POSTPONE: STAFF_ROLES,
    Action.ESCALATE: STAFF_ROLES + (UserRole.SYSTEM.value,),
}
MAX_POSTPONE_H = 24 * 30
LEVELS: list[L] = list(L)


def parse_action(value: str) -> Action:
    """The action named by its value or its Chinese label; :class:`InvalidInput` otherwise."""
    for a in Action:
        if value in (a.value, a.zh):
            return a
    raise InvalidInput(f"未知的操作 {value!r}，可选：{'、'.join(f'{a.value}（{a.zh}）' for a in Action)} "
                       f"(unknown action {value!r})", detail={"action": value, "known": Action.values()})


def allowed_actions(state: str, level: str = L.GRID.value) -> list[str]:
    """The actions allowed from ``state`` at ``level``, in the order of :class:`Action`."""
    out = []
    for a, (froms, _) in TRANSITIONS.items():
        if S(state) in froms and not (a is Action.ESCALATE and level == LEVELS[-1].value):
            out.append(a.value)
    return out


def next_level(level: str) -> L:
    """The level above ``level``; :class:`IllegalTransition` at the top (区/部门)."""
    i = LEVELS.index(L(level))
    if i + 1 >= len(LEVELS):
        raise IllegalTransition(f"已在最高层级（{L(level).zh}），不能再上报 (already at the top level: {level})",
                                detail={"level": level})
    return LEVELS[i + 1]


@dataclass(frozen=True)
class Step:
    """The outcome of one action: the new state and level, and the deadline change (hours added)."""

    action: Action
    from_state: S
    to_state: S
    from_level: L
    to_level: L
    extend_h: float = 0.0


def apply_action(state: str, level: str, action: Action | str, *, hours: float | None = None) -> Step:
    """Check ``action`` against :data:`TRANSITIONS` and return the step; :class:`IllegalTransition` if it is
    not allowed. ``hours`` is the extension of a 延期 (required, 1 … 720)."""
    a = action if isinstance(action, Action) else parse_action(action)
    froms, to = TRANSITIONS[a]
    cur = S(state)
    if cur not in froms:
        allowed = allowed_actions(state, level)
        names = "、".join(f"{x}（{Action(x).zh}）" for x in allowed) or "无 (none)"
        raise IllegalTransition(
            f"事件处于「{cur.zh}」状态，不能「{a.zh}」；可执行：{names} (cannot {a.value} an incident that is "
            f"{cur.value}; allowed: {', '.join(allowed) or 'none'})",
            detail={"state": cur.value, "action": a.value, "allowed": allowed})
    lvl = L(level)
    to_level = next_level(level) if a is Action.ESCALATE else lvl
    extend = 0.0
    if a is Action.POSTPONE:
        if hours is None or not (0 < float(hours) <= MAX_POSTPONE_H):
            raise InvalidInput(f"延期须给出 1–{MAX_POSTPONE_H} 小时 (a postponement needs hours, 0 < hours <= "
                               f"{MAX_POSTPONE_H})", detail={"hours": None if hours is None else str(hours)})
        extend = float(hours)
    return Step(a, cur, to, lvl, to_level, extend)


def due_at(created: dt.datetime, category: Category) -> dt.datetime:
    """The deadline of an incident reported at ``created``."""
    return created + dt.timedelta(hours=category.deadline_h)


def is_overdue(due: dt.datetime | None, closed: dt.datetime | None, now: dt.datetime) -> bool:
    """True if the incident was (or is still) open after its deadline."""
    if due is None:
        return False
    return (closed or now) > due


# ---------------------------------------------------------------------------------------------- duplicates
@dataclass(frozen=True)
class Nearby:
    """An open incident near a new report: its id, distance and age."""

    incident_id: int
    distance_m: float
    age_h: float
    state: str


@dataclass
class DuplicateCheck:
    """Incidents to suggest, and the one the new report is a duplicate of (if any)."""

    suggestions: list[Nearby] = field(default_factory=list)
    duplicate_of: int | None = None


def classify_duplicates(nearby: list[Nearby], *, suggest_m: float = SUGGEST_RADIUS_M, link_m: float = LINK_RADIUS_M,
                        link_h: float = LINK_WINDOW_H) -> DuplicateCheck:
    """Open same-category incidents within ``suggest_m`` are suggested (nearest first); the nearest one within
    ``link_m`` and ``link_h`` hours (ties: the older id) is the incident the new report duplicates."""
    close = sorted((n for n in nearby if n.distance_m <= suggest_m and n.state in OPEN_STATES),
                   key=lambda n: (n.distance_m, n.incident_id))
    link = [n for n in close if n.distance_m <= link_m and 0 <= n.age_h <= link_h]
    dup = min(link, key=lambda n: (n.distance_m, n.incident_id)).incident_id if link else None
    return DuplicateCheck(close, dup)


# ------------------------------------------------------------------------------------------------ requests
def request_hash(payload: dict[str, Any]) -> str:
    """A stable hash of a request body (keys sorted, ``None`` values dropped) for ``Idempotency-Key``."""
    clean = {k: v for k, v in payload.items() if v is not None}
    raw = json.dumps(clean, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def open311_status(state: str) -> str:
    """GeoReport v2 status: ``closed`` for 结案, ``open`` for everything else."""
    return "closed" if state == S.CLOSED.value else "open"


def status_notes(state: str, level: str) -> str:
    """The detail behind ``open``/``closed``: our state and the level handling it."""
    s, lvl = S(state), L(level)
    return f"{s.zh}（{lvl.zh}层级处置） ({s.value}, handled at {lvl.value} level)"


# ---------------------------------------------------------------------------------------------------- KPIs
KPI_BY = ("grid", "community", "street", "month", "category")


def kpi_table(df: pd.DataFrame, by: str, *, now: dt.datetime) -> list[dict[str, Any]]:
    """KPIs per ``by`` (grid | community | street | month | category) from one row per incident with the columns
    ``grid_code, community_code, street_code, category, state, level, created_at, due_at, closed_at``
    (duplicates already left out).

    Per group: ``total``, ``open``, ``closed``, ``overdue_open``, ``closed_at_grid``/``grid_rate`` and
    ``closed_at_community``/``community_rate`` (of closed), ``closed_low_level`` (closed at grid or community
    level), ``low_level_rate`` (of closed; target :data:`KPI_TARGET`), ``on_time`` and ``on_time_rate``
    (closed by the deadline, of closed), ``median_handling_h`` (report → close).
    """
    if by not in KPI_BY:
        raise InvalidInput(f"by 须为 {'|'.join(KPI_BY)} (by must be one of {', '.join(KPI_BY)})", detail={"by": by})
    if df.empty:
        return []
    d = df.copy()
    d["month"] = pd.to_datetime(d["created_at"], utc=True).dt.strftime("%Y-%m")
    d["street"] = d["street_code"]
    d["grid"] = d["grid_code"]
    d["community"] = d["community_code"]
    closed = d["state"] == S.CLOSED.value
    created = pd.to_datetime(d["created_at"], utc=True)
    closed_at = pd.to_datetime(d["closed_at"], utc=True)
    due = pd.to_datetime(d["due_at"], utc=True)
    d["is_closed"] = closed
    d["is_low"] = closed & d["level"].isin([L.GRID.value, L.COMMUNITY.value])
    d["is_grid"] = closed & (d["level"] == L.GRID.value)
    d["is_comm"] = closed & (d["level"] == L.COMMUNITY.value)
    d["is_on_time"] = closed & (closed_at <= due)
    d["is_overdue_open"] = ~closed & (due < pd.Timestamp(now))
    d["handling_h"] = np.where(closed, (closed_at - created).dt.total_seconds() / 3600.0, np.nan)
    key = d[by].fillna("(none)")
    rows = []
    for k, g in d.groupby(key, sort=True):
        n_closed = int(g["is_closed"].sum())
        med = g["handling_h"].median()
        rows.append({
            by: str(k), "total": int(len(g)), "open": int(len(g) - n_closed), "closed": n_closed,
            "overdue_open": int(g["is_overdue_open"].sum()),
            "closed_at_grid": int(g["is_grid"].sum()),
            "closed_at_community": int(g["is_comm"].sum()),
            "grid_rate": round(float(g["is_grid"].sum()) / n_closed, 4) if n_closed else None,
            "community_rate": round(float(g["is_comm"].sum()) / n_closed, 4) if n_closed else None,
            "closed_low_level": int(g["is_low"].sum()),
            "low_level_rate": round(float(g["is_low"].sum()) / n_closed, 4) if n_closed else None,
            "on_time": int(g["is_on_time"].sum()),
            "on_time_rate": round(float(g["is_on_time"].sum()) / n_closed, 4) if n_closed else None,
            "median_handling_h": None if pd.isna(med) else round(float(med), 2),
        })
    for r in rows:
        r["meets_target"] = None if r["low_level_rate"] is None else bool(r["low_level_rate"] >= KPI_TARGET)
    return rows
