"""The domain's vocabulary: enums with stable English values and their Chinese labels.

Values are what the database and the API carry (stable, ASCII); ``.zh`` is the term a user reads.
"""

from __future__ import annotations

from enum import Enum

HOME_DISTRICT = "620302"
"""金川区 (Jinchuan district of Jinchang), whose grids the service models: the demo's district and the district the
civic pages show when none is asked for."""

WALK_SPEED_KMH = 5.0
"""Walking speed assumed unless configured (GB 50180-2018 life circles: 15 min ≈ 1,250 m at 5 km/h); the
service reads the configured one from ``layers.settings.WalkSettings`` (``GRIDMAP_WALK_SPEED_KMH``)."""

LIFE_CIRCLE_MINUTES = 15.0
"""The 15-minute life circle (GB 50180-2018): the walk that coverage, reach and the uncovered buildings use when
none is asked for, in the API, the CLI and the maps alike."""


def walk_metres(minutes: float, speed_kmh: float = WALK_SPEED_KMH) -> float:
    """Metres walked in ``minutes`` at ``speed_kmh`` (the same arithmetic as ``gis.isochrones.minutes_to_meters``,
    so a budget computed here and one stored with a circle are the same number)."""
    return float(minutes) * speed_kmh * 1000.0 / 60.0


class LabelledEnum(str, Enum):
    """A string enum whose members carry a Chinese label: ``Member = ("value", "中文")``."""

    def __new__(cls, value: str, zh: str = ""):  # noqa: D102 - enum member constructor
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.zh = zh or value
        return obj

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls) -> list[str]:
        """All stored values, in declaration order."""
        return [m.value for m in cls]

    @classmethod
    def labels(cls) -> dict[str, str]:
        """``{value: Chinese label}`` for every member."""
        return {m.value: m.zh for m in cls}


class AreaLevel(LabelledEnum):
    """Levels of the administrative hierarchy (统计用区划)."""

    CITY = ("city", "市")
    COUNTY = ("county", "区县")
    TOWNSHIP = ("township", "乡镇/街道")
    COMMUNITY = ("community", "社区")
    VILLAGE = ("village", "村")


class PlanStatus(LabelledEnum):
    """Life of a grid plan: a draft is edited, a published plan is in force, a retired one is history."""

    DRAFT = ("draft", "草案")
    PUBLISHED = ("published", "现行")
    RETIRED = ("retired", "已废止")


class GridKind(LabelledEnum):
    """Comprehensive grids tile a community; exclusive grids (专属网格) sit inside one and take precedence."""

    COMPREHENSIVE = ("comprehensive", "综合网格")
    EXCLUSIVE = ("exclusive", "专属网格")


class StaffRole(LabelledEnum):
    """Roles of "三长三员一民警" and "1+2+N", plus the two added where a grid has a market or shops."""

    GRID_HEAD = ("grid_head", "网格长")
    BUILDING_HEAD = ("building_head", "楼栋长")
    STAIRWELL_HEAD = ("stairwell_head", "楼口长")
    GRID_WORKER = ("grid_worker", "网格员")
    LEGAL_ADVISER = ("legal_adviser", "法律咨询员")
    HEALTH_WORKER = ("health_worker", "社区健康员")
    COMMUNITY_POLICE = ("community_police", "社区民警")
    URBAN_INSPECTOR = ("urban_inspector", "城管执法员")
    MARKET_INSPECTOR = ("market_inspector", "市场监管员")
    PARTY_MEMBER = ("party_member", "党员")


class IncidentState(LabelledEnum):
    """The closed loop of an incident (事件闭环), plus its side states."""

    REPORTED = ("reported", "上报")
    REGISTERED = ("registered", "立案")
    DISPATCHED = ("dispatched", "派遣")
    HANDLING = ("handling", "处置")
    FEEDBACK = ("feedback", "反馈")
    VERIFIED = ("verified", "核查")
    CLOSED = ("closed", "结案")
    RETURNED = ("returned", "回退")
    POSTPONED = ("postponed", "延期")


class HandlingLevel(LabelledEnum):
    """Where an incident is handled; escalation climbs this list (网格 → 社区 → 街道 → 区/部门)."""

    GRID = ("grid", "网格")
    COMMUNITY = ("community", "社区")
    STREET = ("street", "街道")
    DISTRICT = ("district", "区/部门")


class FacilityGroup(LabelledEnum):
    """Families of facility types."""

    SEVEN_ONES = ("seven_ones", "七个一")
    SERVICE_CIRCLE = ("service_circle", "15分钟便民服务圈")
    FUNCTION_ROOM = ("function_room", "社区功能室")
    PUBLIC_TOILET = ("public_toilet", "对外开放厕所")


class CircleMethod(LabelledEnum):
    """How a service circle was computed."""

    NETWORK = ("network", "路网步行")
    EUCLIDEAN = ("euclidean", "直线距离")


# Facility types as data: (code, group, Chinese name, English name). Loaded into ``facility_types`` by the
# first migration; the OSM tag mapping lives with the OSM loader.
FACILITY_TYPES: list[tuple[str, FacilityGroup, str, str]] = [
    ("activity_venue", FacilityGroup.SEVEN_ONES, "活动阵地", "activity venue"),
    ("fitness_square", FacilityGroup.SEVEN_ONES, "健身广场", "fitness square"),
    ("village_clinic", FacilityGroup.SEVEN_ONES, "卫生室", "village clinic"),
    ("culture_centre", FacilityGroup.SEVEN_ONES, "文化活动中心", "cultural activity centre"),
    ("reading_room", FacilityGroup.SEVEN_ONES, "图书室", "reading room"),
    ("small_shop", FacilityGroup.SEVEN_ONES, "小超市", "small shop"),
    ("elderly_home", FacilityGroup.SEVEN_ONES, "互助老人幸福院", "mutual-aid elderly home"),
    ("supermarket", FacilityGroup.SERVICE_CIRCLE, "超市/菜市场", "supermarket / food market"),
    ("fitness", FacilityGroup.SERVICE_CIRCLE, "健身场所", "fitness"),
    ("park", FacilityGroup.SERVICE_CIRCLE, "公园/休闲", "park / leisure"),
    ("elderly_care", FacilityGroup.SERVICE_CIRCLE, "养老服务", "elderly care"),
    ("clinic", FacilityGroup.SERVICE_CIRCLE, "卫生服务站/诊所", "clinic"),
    ("pharmacy", FacilityGroup.SERVICE_CIRCLE, "药店", "pharmacy"),
    ("kindergarten", FacilityGroup.SERVICE_CIRCLE, "幼儿园", "kindergarten"),
    ("school", FacilityGroup.SERVICE_CIRCLE, "中小学", "school"),
    ("library", FacilityGroup.SERVICE_CIRCLE, "图书馆", "library"),
    ("community_centre", FacilityGroup.SERVICE_CIRCLE, "社区服务中心", "community service centre"),
    ("post_bank", FacilityGroup.SERVICE_CIRCLE, "邮政/银行网点", "post office / bank"),
    ("bus_stop", FacilityGroup.SERVICE_CIRCLE, "公交站", "bus stop"),
    ("talk_room", FacilityGroup.FUNCTION_ROOM, "民情恳谈室", "residents' talk room"),
    ("council_hall", FacilityGroup.FUNCTION_ROOM, "居民议事厅", "residents' council hall"),
    ("counselling_room", FacilityGroup.FUNCTION_ROOM, "心理咨询室", "counselling room"),
    ("police_room", FacilityGroup.FUNCTION_ROOM, "社区警务室", "community police room"),
    ("open_toilet", FacilityGroup.PUBLIC_TOILET, "对外开放厕所", "toilet open to the public"),
]

SEVEN_ONES: list[str] = [code for code, group, _, _ in FACILITY_TYPES if group is FacilityGroup.SEVEN_ONES]
FUNCTION_ROOMS: list[str] = [c for c, g, _, _ in FACILITY_TYPES if g is FacilityGroup.FUNCTION_ROOM]


class UserRole(LabelledEnum):
    """Account roles of the service (who may do what); grid staff carry their StaffRole as well."""

    ADMIN = ("admin", "管理员")
    PLANNER = ("planner", "规划员")
    DISPATCHER = ("dispatcher", "指挥中心调度员")
    GRID_STAFF = ("grid_staff", "网格工作人员")
    PARTY_MEMBER = ("party_member", "党员")
    SYSTEM = ("system", "对接系统")
    PUBLIC = ("public", "公众")


# Roles that work inside an area and must never be created without one (an empty scope means everywhere).
SCOPED_ROLES = frozenset({UserRole.GRID_STAFF.value, UserRole.PARTY_MEMBER.value})


def scope_covers(scope: str | None, code: str | None) -> bool:
    """True if an account scoped to ``scope`` may see the area/grid ``code`` (本层级/下辖).

    Scopes and codes share prefixes: a district scope is its 6-digit county code, a street scope its 9 digits,
    a community its 12, a grid its 15. An empty scope (``""``) covers everything; ``None`` covers nothing.
    """
    if scope is None:
        return False
    if scope == "":
        return True
    if code is None:
        return False
    return code.startswith(area_prefix(scope))


def area_prefix(code: str) -> str:
    """The significant prefix of a 12-digit area code: 620302000000 → 620302, 620302004000 → 620302004."""
    if len(code) == 12:
        if code.endswith("000000"):
            return code[:6]
        if code.endswith("000"):
            return code[:9]
    return code
