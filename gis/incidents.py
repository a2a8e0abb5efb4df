"""The rules of an incident's life, as data and pure functions (no database, no web).

- **Categories** (事件类别): each maps to the staff role of the grid that handles it, a deadline in hours and
  whether it is *sensitive* (its location is snapped to the grid's centroid and its description hidden in
  public answers). The table is data (:data:`DEFAULT_CATEGORIES`); :func:`parse_categories` reads another one.
- **Dispatch** (:func:`pick_assignee`): on a 包街 street segment, the categories its responsibility covers go to
  its unit (by default those marked ``street_duty`` in the category table, or the street's own list); everything
  else goes to the category's role in the grid, or the grid's 网格长 when that role is vacant, or the community's
  staff; nobody → the explicit 待人工派遣 queue.
- **Escalation** (:func:`pick_receiver`): each level above the grid has receivers kept as data (社区值班, 街道综治
  中心, 区/部门 by category); :func:`escalation_blocker` says why an overdue incident is not escalated.
- **Lifecycle** (:data:`TRANSITIONS`): 上报 → 立案 → 派遣 → 处置 → 反馈 → 核查 → 结案, with 回退, 延期 and
  escalation 网格 → 社区 → 街道 → 区/部门; an action not allowed from a state is :class:`IllegalTransition` (409).
- **Duplicates** (:func:`classify_duplicates`): open incidents of the same category within 250 m are suggested;
  one within 50 m and 24 h makes the new report a linked duplicate, not a second task.
- **Channels** (:class:`Channel`): how a report came in (电话、12345、来访、网格员、App …).
- **Open311** status mapping and the request hash used by ``Idempotency-Key``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from gis.domain import HandlingLevel, IncidentState, LabelledEnum, StaffRole, UserRole
from gis.errors import Conflict, InvalidInput
from gis.text import check_user_text

SUGGEST_RADIUS_M = 250.0
"""Open incidents of the same category within this distance are returned with a new report."""
LINK_RADIUS_M = 50.0
LINK_WINDOW_H = 24.0
"""A report this near (in metres and hours) to an open incident of the same category is linked to it."""
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
    street_duty: bool = False
    """A 包街 street's unit takes this category unless the street lists its own categories."""

    def as_dict(self) -> dict[str, Any]:
        """The category as the API shows it."""
        return {"code": self.code, "name_zh": self.zh, "name_en": self.en, "role": self.role.value,
                "role_zh": self.role.zh, "deadline_hours": self.deadline_h, "family": self.family,
                "sensitive": self.sensitive, "keywords": list(self.keywords), "street_duty": self.street_duty}


# 包街 in Jinchang is about the street's sanitation and order (市容秩序): those categories are ``street_duty``;
# policing, disputes, markets, health … go to the grid's role even on a 包街 street.
DEFAULT_CATEGORIES: list[Category] = [
    Category("sanitation", "环境卫生", "sanitation", StaffRole.GRID_WORKER, 24, "市容环境", keywords=("垃圾", "卫生"),
             street_duty=True),
    Category("city_appearance", "市容环境", "city appearance", StaffRole.GRID_WORKER, 48, "市容环境", street_duty=True),
    Category("illegal_building", "乱搭乱建", "illegal construction", StaffRole.URBAN_INSPECTOR, 72, "施工管理"),
    Category("construction", "施工管理", "construction site", StaffRole.URBAN_INSPECTOR, 72, "施工管理"),
    Category("advertising", "宣传广告", "illegal advertising", StaffRole.URBAN_INSPECTOR, 72, "宣传广告", street_duty=True),
    Category("cable_mess", "蜘蛛网线", "tangled overhead cables", StaffRole.GRID_WORKER, 120, "市容环境"),
    Category("road_damage", "道路破损", "damaged road", StaffRole.URBAN_INSPECTOR, 72, "街面秩序"),
    Category("street_order", "街面秩序", "street order", StaffRole.URBAN_INSPECTOR, 24, "街面秩序", street_duty=True),
    Category("traffic", "交通秩序", "traffic order", StaffRole.COMMUNITY_POLICE, 24, "街面秩序"),
    Category("public_security", "治安", "public security", StaffRole.COMMUNITY_POLICE, 12, "突发事件", sensitive=True),
    Category("emergency", "突发事件", "emergency", StaffRole.GRID_HEAD, 2, "突发事件"),
    Category("dispute", "矛盾纠纷", "dispute between residents", StaffRole.LEGAL_ADVISER, 72, "其他", sensitive=True),
    Category("legal", "法律咨询", "legal advice", StaffRole.LEGAL_ADVISER, 120, "其他", sensitive=True),
    Category("health", "健康", "health", StaffRole.HEALTH_WORKER, 48, "其他", sensitive=True),
    Category("market", "市场监管", "market supervision", StaffRole.MARKET_INSPECTOR, 72, "街面秩序"),
    Category("other", "其他", "other", StaffRole.GRID_WORKER, 120, "其他"),
]


def parse_categories(rows: list[dict[str, Any]]) -> dict[str, Category]:
    """A category table from data (e.g. a JSON file): ``code, zh, en, role, deadline_h[, family, sensitive,
    keywords, street_duty]``."""
    out: dict[str, Category] = {}
    for row in rows:
        try:
            role = StaffRole(row["role"])
            cat = Category(str(row["code"]), str(row["zh"]), str(row.get("en", row["code"])), role,
                           float(row["deadline_h"]), str(row.get("family", "其他")), bool(row.get("sensitive", False)),
                           tuple(row.get("keywords", ())), bool(row.get("street_duty", False)))
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
    """Strip a free-text field; refuse one longer than ``limit`` characters or with control characters
    (:func:`gis.text.check_user_text`)."""
    return check_user_text(value, name, limit)


# ------------------------------------------------------------------------------------------------ channels
class Channel(LabelledEnum):
    """How a report came in (来源渠道)."""

    PHONE = ("phone", "电话")
    HOTLINE = ("hotline_12345", "12345热线")
    VISIT = ("visit", "来访")
    GRID_WORKER = ("grid_worker", "网格员上报")
    APP = ("app", "App")
    API = ("api", "接口")
    OPEN311 = ("open311", "Open311")
    PUBLIC_MAP = ("public_map", "公众地图随手拍")
    DEMO = ("demo", "演示")


INTAKE_CHANNELS = (Channel.PHONE, Channel.HOTLINE, Channel.VISIT, Channel.GRID_WORKER, Channel.APP)
"""The channels a dispatcher or grid worker records when taking a report (the workbench's form)."""


def parse_channel(value: str | None, *, default: Channel = Channel.API) -> Channel:
    """The channel named by its value or Chinese label; :class:`InvalidInput` listing the known ones."""
    if value is None or value == "":
        return default
    for c in Channel:
        if value in (c.value, c.zh):
            return c
    known = "、".join(f"{c.value}（{c.zh}）" for c in INTAKE_CHANNELS)
    raise InvalidInput(f"未知的来源渠道 {value!r}，可选：{known} (unknown channel)",
                       detail={"channel": value, "known": [c.value for c in INTAKE_CHANNELS]})


# ------------------------------------------------------------------------------------------------ dispatch
@dataclass(frozen=True)
class Staff:
    """A person serving a grid (or a community) in a role."""

    person_id: int
    role: str
    name: str


@dataclass(frozen=True)
class Street:
    """A 包街 street segment with a responsible unit and the categories the unit takes (``None``: the
    category table's ``street_duty`` ones)."""

    name: str
    unit: str
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Dispatch:
    """Who an incident goes to and why (``duty``: the receiver's post, e.g. 街道综治中心)."""

    person_id: int | None
    name: str | None
    role: str | None
    unit: str | None
    rule: str
    reason: str
    duty: str | None = None

    @property
    def manual(self) -> bool:
        """Nobody was found: the incident waits in the 待人工派遣 queue."""
        return self.person_id is None and self.unit is None and self.rule != "duplicate"

    def as_dict(self) -> dict[str, Any]:
        """The dispatch as the API shows it (``name`` is a public name on the 公示牌; no phone)."""
        role_zh = StaffRole(self.role).zh if self.role in StaffRole.values() else None
        return {"person_id": self.person_id, "name": self.name, "role": self.role, "role_zh": role_zh,
                "unit": self.unit, "duty": self.duty, "rule": self.rule, "reason": self.reason,
                "manual": self.manual}


MANUAL_RULE = "unassigned"
"""The rule of an incident nobody could be found for: it waits in the explicit 待人工派遣 queue."""


def street_covers(category: Category, street: Street) -> bool:
    """True if the 包街 unit of ``street`` takes ``category``: the street's own list, else ``street_duty``."""
    if street.categories is not None:
        return category.code in street.categories
    return category.street_duty


def _first(staff: list[Staff], role: str) -> Staff | None:
    hits = sorted((s for s in staff if s.role == role), key=lambda s: (s.name, s.person_id))
    return hits[0] if hits else None


def pick_assignee(category: Category, *, method: str, grid_staff: list[Staff], community_staff: list[Staff],
                  street: Street | None = None) -> Dispatch:
    """The responsible person or unit of a located incident.

    1. On a 包街 segment (``method == "street_responsibility"``) whose unit takes the category
       (:func:`street_covers`): that unit.
    2. The category's role in the grid (the first by name, if several).
    3. The grid's 网格长 when the role is vacant.
    4. With no grid (community fallback) or an empty grid: the community's staff in the role, then its 网格长.
    5. Otherwise nobody: the 待人工派遣 queue (:data:`MANUAL_RULE`), with the reason.

    A 包街 street whose unit does not take the category says so in the reason of the rule that applied (also
    when the point was located with the street set aside: ``method`` is then the grid's or the community's).
    """
    note_zh, note_en = "", ""
    if street is not None and street.unit:
        if method == "street_responsibility" and street_covers(category, street):
            return Dispatch(None, None, None, street.unit, "street_unit",
                            f"包街责任路段「{street.name}」，{category.zh}由责任单位 {street.unit} 处置 (on the 包街 "
                            f"street {street.name}: {category.en} goes to its unit)")
        if not street_covers(category, street):
            note_zh = f"「{street.name}」的包街单位 {street.unit} 不负责{category.zh}；"
            note_en = f"the 包街 unit of {street.name} does not take {category.en}; "
    want = category.role.value
    for pool, where_zh, where_en in ((grid_staff, "网格", "grid"), (community_staff, "社区", "community")):
        s = _first(pool, want)
        if s is not None:
            return Dispatch(s.person_id, s.name, s.role, None, f"{where_en}_role",
                            f"{note_zh}{category.zh}由所在{where_zh}的{category.role.zh}处置 ({note_en}{category.en} goes "
                            f"to the {where_en}'s {want})")
        head = _first(pool, StaffRole.GRID_HEAD.value)
        if head is not None:
            return Dispatch(head.person_id, head.name, head.role, None, f"{where_en}_head",
                            f"{note_zh}所在{where_zh}的{category.role.zh}空缺，由网格长处置 ({note_en}no {want} in the "
                            f"{where_en}: sent to its grid head)")
    return Dispatch(None, None, None, None, MANUAL_RULE,
                    f"{note_zh}网格与社区均无{category.role.zh}或网格长，待人工派遣 ({note_en}nobody in the role or "
                    "grid head in the grid or community: waits for a dispatcher to assign it by hand)")


# -------------------------------------------------------------------------------------- escalation receivers
@dataclass(frozen=True)
class Receiver:
    """Who receives an escalation at a level for an area: 社区值班 (community), 街道综治中心 (street), a 区
    department for some categories (district). ``categories`` empty: every category."""

    person_id: int
    name: str
    level: str
    area_code: str
    duty: str
    unit: str | None = None
    categories: tuple[str, ...] = ()


def receiver_area(level: str, community_code: str | None) -> str | None:
    """The area code whose receivers serve ``level``: the community, its street (街道) or its county (区)."""
    if not community_code:
        return None
    lvl = HandlingLevel(level)
    if lvl is HandlingLevel.COMMUNITY:
        return community_code
    if lvl is HandlingLevel.STREET:
        return community_code[:9] + "000"
    if lvl is HandlingLevel.DISTRICT:
        return community_code[:6] + "000000"
    return None


def pick_receiver(receivers: list[Receiver], *, level: str, area_code: str | None,
                  category: Category) -> Dispatch:
    """The receiver of an escalation to ``level`` in ``area_code``: one who takes the category by name, else
    one who takes every category (the first by name); nobody → the 待人工派遣 queue, with the reason."""
    lvl = HandlingLevel(level)
    here = [r for r in receivers if r.level == lvl.value and r.area_code == area_code]
    pool = [r for r in here if category.code in r.categories] or [r for r in here if not r.categories]
    if pool:
        r = min(pool, key=lambda x: (x.name, x.person_id))
        return Dispatch(r.person_id, r.name, None, r.unit, f"escalation_{lvl.value}",
                        f"上报至{lvl.zh}：由{r.duty} {r.name} 接收 (escalated to the {lvl.value} level: received by "
                        f"{r.duty})", duty=r.duty)
    where = area_code or "未知区域"
    return Dispatch(None, None, None, None, MANUAL_RULE,
                    f"{lvl.zh}层级（{where}）没有登记{category.zh}的上报接收人，待人工派遣 (no escalation receiver "
                    f"for {category.en} at the {lvl.value} level of {where}: waits for a dispatcher)")


# ----------------------------------------------------------------------------------------------- lifecycle
class Action(LabelledEnum):
    """What a user does to an incident; each is one transition, recorded with who and when."""

    REGISTER = ("register", "立案")
    DISPATCH = ("dispatch", "派遣")
    REASSIGN = ("reassign", "改派")
    HANDLE = ("handle", "处置")
    FEEDBACK = ("feedback", "反馈")
    VERIFY = ("verify", "核查")
    CLOSE = ("close", "结案")
    RETURN = ("return", "回退")
    POSTPONE = ("postpone", "延期")
    ESCALATE = ("escalate", "上报上级")


OPEN_STATES = [s.value for s in IncidentState if s is not IncidentState.CLOSED]

# action → (states it may start from, the state it leads to). The one table of the lifecycle.
TRANSITIONS: dict[Action, tuple[tuple[IncidentState, ...], IncidentState]] = {
    Action.REGISTER: ((IncidentState.REPORTED,), IncidentState.REGISTERED),
    Action.DISPATCH: ((IncidentState.REGISTERED, IncidentState.RETURNED), IncidentState.DISPATCHED),
    # another person of the grid takes over work already dispatched; they start again from 派遣
    Action.REASSIGN: ((IncidentState.DISPATCHED, IncidentState.HANDLING, IncidentState.POSTPONED),
                      IncidentState.DISPATCHED),
    Action.HANDLE: ((IncidentState.DISPATCHED, IncidentState.POSTPONED), IncidentState.HANDLING),
    Action.FEEDBACK: ((IncidentState.HANDLING,), IncidentState.FEEDBACK),
    Action.VERIFY: ((IncidentState.FEEDBACK,), IncidentState.VERIFIED),
    Action.CLOSE: ((IncidentState.VERIFIED,), IncidentState.CLOSED),
    Action.RETURN: ((IncidentState.REGISTERED, IncidentState.DISPATCHED, IncidentState.HANDLING, IncidentState.FEEDBACK,
                     IncidentState.VERIFIED), IncidentState.RETURNED),
    Action.POSTPONE: ((IncidentState.DISPATCHED, IncidentState.HANDLING), IncidentState.POSTPONED),
    # Escalation hands the incident to the next level, which dispatches it again.
    Action.ESCALATE: ((IncidentState.REPORTED, IncidentState.REGISTERED, IncidentState.DISPATCHED, IncidentState.HANDLING,
                       IncidentState.RETURNED, IncidentState.POSTPONED), IncidentState.REGISTERED),
}

STAFF_ROLES = (UserRole.DISPATCHER.value, UserRole.GRID_STAFF.value)
# action → account roles that may take it (admins may take every action).
ACTION_ROLES: dict[Action, tuple[str, ...]] = {
    Action.REGISTER: (UserRole.DISPATCHER.value,),
    Action.DISPATCH: (UserRole.DISPATCHER.value,),
    Action.REASSIGN: (UserRole.DISPATCHER.value,),
    Action.HANDLE: STAFF_ROLES,
    Action.FEEDBACK: STAFF_ROLES,
    Action.VERIFY: (UserRole.DISPATCHER.value,),
    Action.CLOSE: (UserRole.DISPATCHER.value,),
    Action.RETURN: STAFF_ROLES,
    Action.POSTPONE: STAFF_ROLES,
    Action.ESCALATE: STAFF_ROLES + (UserRole.SYSTEM.value,),
}
MAX_POSTPONE_H = 24 * 30
LEVELS: list[HandlingLevel] = list(HandlingLevel)


def parse_action(value: str) -> Action:
    """The action named by its value or its Chinese label; :class:`InvalidInput` otherwise."""
    for a in Action:
        if value in (a.value, a.zh):
            return a
    raise InvalidInput(f"未知的操作 {value!r}，可选：{'、'.join(f'{a.value}（{a.zh}）' for a in Action)} "
                       f"(unknown action {value!r})", detail={"action": value, "known": Action.values()})


def role_may(roles: frozenset[str] | set[str] | None, action: Action) -> bool:
    """True if an account with ``roles`` may take ``action`` (admins may take every action)."""
    if roles is None:
        return True
    return UserRole.ADMIN.value in roles or bool(set(roles) & set(ACTION_ROLES[action]))


def allowed_actions(state: str, level: str = HandlingLevel.GRID.value, roles: frozenset[str] | set[str] | None = None
                    ) -> list[str]:
    """The actions allowed from ``state`` at ``level`` (and, given ``roles``, to that account), in the order of
    :class:`Action`."""
    out = []
    for a, (froms, _) in TRANSITIONS.items():
        if IncidentState(state) in froms and not (a is Action.ESCALATE and level == LEVELS[-1].value) and role_may(roles, a):
            out.append(a.value)
    return out


def escalation_blocker(state: str, level: str, *, duplicate_of: int | None = None) -> str | None:
    """Why an (overdue) incident cannot be escalated now, Chinese first; ``None`` if it can."""
    if duplicate_of is not None:
        return (f"重复上报，随事件 #{duplicate_of} 处置，不单独上报 (a linked duplicate of #{duplicate_of}: it follows "
                "that incident)")
    cur = IncidentState(state)
    if cur is IncidentState.CLOSED:
        return "已结案 (closed)"
    if level == LEVELS[-1].value:
        return (f"已在最高层级（{LEVELS[-1].zh}），不能再上报，请指挥中心督办 (already at the top level: the dispatch "
                "centre follows it up)")
    if cur is IncidentState.FEEDBACK:
        return "已反馈处置结果，等待指挥中心核查，不上报 (fed back: waiting for the dispatcher to verify it)"
    if cur is IncidentState.VERIFIED:
        return "已核查，等待结案，不上报 (verified: waiting to be closed)"
    if Action.ESCALATE.value not in allowed_actions(state, level):
        return f"「{cur.zh}」状态不能上报 (cannot escalate from {cur.value})"
    return None


def next_level(level: str) -> HandlingLevel:
    """The level above ``level``; :class:`IllegalTransition` at the top (区/部门)."""
    i = LEVELS.index(HandlingLevel(level))
    if i + 1 >= len(LEVELS):
        raise IllegalTransition(f"已在最高层级（{HandlingLevel(level).zh}），不能再上报 (already at the top level: {level})",
                                detail={"level": level})
    return LEVELS[i + 1]


@dataclass(frozen=True)
class Step:
    """The outcome of one action: the new state and level, and the deadline change (hours added)."""

    action: Action
    from_state: IncidentState
    to_state: IncidentState
    from_level: HandlingLevel
    to_level: HandlingLevel
    extend_h: float = 0.0


def apply_action(state: str, level: str, action: Action | str, *, hours: float | None = None) -> Step:
    """Check ``action`` against :data:`TRANSITIONS` and return the step; :class:`IllegalTransition` if it is
    not allowed. ``hours`` is the extension of a 延期 (required, 1 … 720)."""
    a = action if isinstance(action, Action) else parse_action(action)
    froms, to = TRANSITIONS[a]
    cur = IncidentState(state)
    if cur not in froms:
        allowed = allowed_actions(state, level)
        names = "、".join(f"{x}（{Action(x).zh}）" for x in allowed) or "无 (none)"
        raise IllegalTransition(
            f"事件处于「{cur.zh}」状态，不能「{a.zh}」；可执行：{names} (cannot {a.value} an incident that is "
            f"{cur.value}; allowed: {', '.join(allowed) or 'none'})",
            detail={"state": cur.value, "action": a.value, "allowed": allowed})
    lvl = HandlingLevel(level)
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
    return "closed" if state == IncidentState.CLOSED.value else "open"


def status_notes(state: str, level: str) -> str:
    """The detail behind ``open``/``closed``: our state and the level handling it."""
    s, lvl = IncidentState(state), HandlingLevel(level)
    return f"{s.zh}（{lvl.zh}层级处置） ({s.value}, handled at {lvl.value} level)"
