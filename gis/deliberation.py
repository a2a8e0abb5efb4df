"""Rules of 六步议事 (six-step community deliberation): the steps and their moves, the 1+7+X council roles,
the vote outcome with its quorum, and the check of attachment links.

Pure data and functions; :mod:`layers.deliberation` stores topics, meetings and votes by these rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gis.domain import LabelledEnum
from gis.errors import InvalidInput


class TopicStep(LabelledEnum):
    """The six steps (六步) a topic goes through, and the two ways it ends."""

    COLLECTING = ("collecting", "收集议题")
    ACCEPTED = ("accepted", "确定议题")
    RESEARCHING = ("researching", "议前调研")
    DELIBERATING = ("deliberating", "协商议事")
    PUBLICISED = ("publicised", "公开公示")
    IMPLEMENTING = ("implementing", "研究落实")
    CLOSED = ("closed", "已办结")
    REJECTED = ("rejected", "不予立项/未通过")


TOPIC_MOVES: dict[TopicStep, frozenset[TopicStep]] = {
    TopicStep.COLLECTING: frozenset({TopicStep.ACCEPTED, TopicStep.REJECTED}),
    TopicStep.ACCEPTED: frozenset({TopicStep.RESEARCHING, TopicStep.REJECTED}),
    TopicStep.RESEARCHING: frozenset({TopicStep.DELIBERATING}),
    # voted and passed, failed, or back to research
    TopicStep.DELIBERATING: frozenset({TopicStep.PUBLICISED, TopicStep.REJECTED, TopicStep.RESEARCHING}),
    TopicStep.PUBLICISED: frozenset({TopicStep.IMPLEMENTING}),
    TopicStep.IMPLEMENTING: frozenset({TopicStep.CLOSED}),
    TopicStep.CLOSED: frozenset(),
    TopicStep.REJECTED: frozenset(),
}
# the steps a public map shows in colour, in order (the six steps, then the ends)
STEP_ORDER = [s.value for s in TopicStep]
STEP_COLOURS = {
    "collecting": "#90a4ae", "accepted": "#42a5f5", "researching": "#7e57c2", "deliberating": "#ffa726",
    "publicised": "#ef5350", "implementing": "#26a69a", "closed": "#2e7d32", "rejected": "#616161",
}


class TopicOrigin(LabelledEnum):
    """Where a topic came from."""

    RESIDENT = ("resident", "居民提出")
    GRID_STAFF = ("grid_staff", "网格员收集")
    INCIDENT_CLUSTER = ("incident_cluster", "高频事件聚类")


@dataclass(frozen=True)
class CouncilRole:
    """A seat on the 协商议事会: ``group`` is "1" (the convener), "7" (standing members) or "X" (per topic)."""

    code: str
    group: str
    zh: str
    en: str


# "1+7+X" as data: one convener, seven standing kinds of member, and those the topic concerns.
COUNCIL_ROLES: list[CouncilRole] = [
    CouncilRole("convener", "1", "召集人（社区党组织书记）", "convener (community Party secretary)"),
    CouncilRole("resident_rep", "7", "居民代表", "residents' representative"),
    CouncilRole("party_rep", "7", "党员代表", "Party members' representative"),
    CouncilRole("grid_worker", "7", "网格员", "grid worker"),
    CouncilRole("unit_rep", "7", "驻区单位代表", "representative of a unit in the community"),
    CouncilRole("property_rep", "7", "物业服务企业代表", "property management representative"),
    CouncilRole("owners_rep", "7", "业主委员会代表", "owners' committee representative"),
    CouncilRole("legal_adviser", "7", "法律顾问", "legal adviser"),
    CouncilRole("stakeholder", "X", "利益相关方", "stakeholder of the topic"),
    CouncilRole("expert", "X", "专家/部门代表", "expert or department representative"),
]
COUNCIL_ROLE_CODES = {r.code: r for r in COUNCIL_ROLES}


def check_role(code: str) -> CouncilRole:
    """The council role with this code, or InvalidInput listing the accepted ones."""
    role = COUNCIL_ROLE_CODES.get(code)
    if role is None:
        raise InvalidInput(f"未知议事会角色 {code!r} (unknown council role)",
                           detail={"accepted": list(COUNCIL_ROLE_CODES)})
    return role


def default_quorum(invited: int) -> int:
    """More than half of those invited must be present (应到人数过半): 7 invited → 4, 8 → 5."""
    return invited // 2 + 1 if invited > 0 else 1


@dataclass(frozen=True)
class VoteOutcome:
    """The result of a vote on one item: whether enough members were present and whether it passed."""

    present: int
    quorum: int
    votes_for: int
    votes_against: int
    votes_abstain: int
    quorate: bool
    passed: bool

    @property
    def zh(self) -> str:
        """The result in words."""
        if not self.quorate:
            return f"未达法定人数（到会 {self.present}，需 {self.quorum}），表决无效"
        return "通过" if self.passed else "未通过"


def vote_outcome(*, present: int, quorum: int, votes_for: int, votes_against: int,
                 votes_abstain: int) -> VoteOutcome:
    """Count a vote: it is valid when ``present >= quorum`` and passes when more than half of those present
    voted for. Ballots beyond those present, or negative counts, are refused."""
    counts = {"votes_for": votes_for, "votes_against": votes_against, "votes_abstain": votes_abstain}
    if any(int(v) < 0 for v in counts.values()):
        raise InvalidInput(f"票数不能为负 (vote counts must not be negative): {counts}", detail=counts)
    cast = votes_for + votes_against + votes_abstain
    if cast > present:
        raise InvalidInput(
            f"投票 {cast} 张多于到会人数 {present} (more ballots than members present)",
            detail={"cast": cast, "present": present},
        )
    quorate = present >= quorum
    passed = quorate and votes_for > present / 2
    return VoteOutcome(present, quorum, votes_for, votes_against, votes_abstain, quorate, passed)


_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def check_link(url: str) -> str:
    """An attachment link: an absolute ``http``/``https`` URL with a host, no spaces or control characters, no
    user:password part, at most 1,000 characters. Anything else (``javascript:``, ``data:``, ``file:``) is
    refused, so a link shown on a public page cannot run code."""
    value = (url or "").strip()
    problem = None
    if not value or len(value) > 1000 or _CONTROL.search(value):
        problem = "为空、过长或含空白/控制字符 (empty, too long, or has spaces/control characters)"
    else:
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https"):
            problem = f"只接受 http/https 链接 (only http(s) links, not {parts.scheme or 'none'!r})"
        elif not parts.hostname or "@" in parts.netloc:
            problem = "链接须有主机名且不含账号密码 (the link needs a host and no user:password)"
    if problem:
        raise InvalidInput(f"附件链接无效：{problem}", detail={"url": value[:200]})
    return value

