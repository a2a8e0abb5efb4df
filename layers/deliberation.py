"""六步议事 in PostGIS: council members, topics through the six steps (each step with who and when), attachment
links, meetings with participants, a vote per item, public notices and follow-up tasks.

Rules are in :mod:`gis.deliberation`. A proposer's name and phone are never in a public view. When every
follow-up task's incident or order is closed, the database trigger ``close_topics_when_tasks_done`` (migration
0671) closes the topic, whoever closed the last one. Callers commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.deliberation import (
    COUNCIL_ROLE_CODES,
    STEP_COLOURS,
    TOPIC_MOVES,
    TopicOrigin,
    TopicStep,
    check_link,
    check_role,
    default_quorum,
    vote_outcome,
)
from gis.errors import Conflict, InvalidInput, NotFound
from gis.services import check_move
from layers import models
from layers.db import get_or_not_found
from layers.deliberation_models import (
    CouncilMember,
    Meeting,
    MeetingItem,
    MeetingParticipant,
    Topic,
    TopicAttachment,
    TopicStepEvent,
    TopicTask,
)
from layers.locate import locate
from layers.services_models import ServiceOrder

NOTICE_DAYS = 7


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _community(session: Session, code: str) -> models.AdminArea:
    area = session.scalar(select(models.AdminArea).where(models.AdminArea.code == code, models.AdminArea.level.in_(
        ("community", "village"))).order_by(models.AdminArea.edition_year.desc()).limit(1))
    if area is None:
        raise NotFound(f"没有社区/村 {code} (no community or village {code})")
    return area


# ------------------------------------------------------------------------------------------ council members
def add_member(session: Session, *, community_code: str, name: str, role: str, person_id: int | None = None,
               source: str) -> CouncilMember:
    """Seat a member on a community's 协商议事会 in a 1+7+X role."""
    check_role(role)
    _community(session, community_code)
    if not name.strip():
        raise InvalidInput("成员姓名不能为空 (the member needs a name)")
    if person_id is not None and session.get(models.Person, person_id) is None:
        raise NotFound(f"没有人员 {person_id} (no person {person_id})")
    member = CouncilMember(community_code=community_code, name=name.strip(), role=role, person_id=person_id,
                           source=source)
    session.add(member)
    session.flush()
    return member


def members(session: Session, community_code: str) -> list[dict[str, Any]]:
    """The active members of a community's council, convener first."""
    order = {code: i for i, code in enumerate(COUNCIL_ROLE_CODES)}
    rows = session.scalars(select(CouncilMember).where(CouncilMember.community_code == community_code,
                                                        CouncilMember.active)).all()
    return [{"id": r.id, "name": r.name, "role": r.role, "role_zh": COUNCIL_ROLE_CODES[r.role].zh,
             "group": COUNCIL_ROLE_CODES[r.role].group, "source": r.source}
            for r in sorted(rows, key=lambda r: (order[r.role], r.id))]


# ------------------------------------------------------------------------------------------------- topics
def propose_topic(session: Session, *, title: str, origin: str, actor: str, source: str,
                  description: str | None = None, lon: float | None = None, lat: float | None = None,
                  crs: str = "wgs84", community_code: str | None = None, proposer_name: str | None = None,
                  proposer_phone: str | None = None, incident_ids: list[int] | None = None) -> Topic:
    """收集议题: store a topic at a place (located to its grid and community) or for a community."""
    TopicOrigin(origin)
    if not title or not title.strip():
        raise InvalidInput("议题标题不能为空 (the topic needs a title)")
    grid_code, geom = None, None
    if lon is not None and lat is not None:
        answer = locate(session, lon, lat, crs=crs)
        found = (answer["community"] or {}).get("code")
        if found is None:
            raise InvalidInput("该位置不在任何社区或村内 (the place is in no community or village)",
                               detail={"lon": lon, "lat": lat})
        if community_code and community_code != found:
            raise InvalidInput(f"位置在 {found}，不在社区 {community_code} (the place is in another community)")
        community_code, grid_code = found, (answer["grid"] or {}).get("code")
        geom = f"SRID=4326;POINT({answer['point']['lon']} {answer['point']['lat']})"
    elif (lon is None) != (lat is None):
        raise InvalidInput("经度和纬度须同时给出 (give both lon and lat, or neither)")
    if not community_code:
        raise InvalidInput("须给出位置或社区编码 (give a place or a community code)")
    _community(session, community_code)
    topic = Topic(title=title.strip(), description=description, origin=origin, step=TopicStep.COLLECTING.value,
                  community_code=community_code, grid_code=grid_code, geom=geom, proposer_name=proposer_name,
                  proposer_phone=proposer_phone, incident_ids=sorted(set(incident_ids or [])), created_by=actor,
                  source=source)
    session.add(topic)
    session.flush()
    session.add(TopicStepEvent(topic_id=topic.id, from_step=None, to_step=topic.step, actor=actor,
                               note=TopicOrigin(origin).zh))
    session.flush()
    return topic


def get_topic(session: Session, topic_id: int, *, lock: bool = False) -> Topic:
    """The topic, or NotFound."""
    return get_or_not_found(session, Topic, topic_id, f"没有议题 {topic_id} (no topic {topic_id})", lock=lock)


def _latest_vote(session: Session, topic_id: int) -> MeetingItem | None:
    return session.scalar(select(MeetingItem).where(MeetingItem.topic_id == topic_id)
                          .order_by(MeetingItem.voted_at.desc(), MeetingItem.id.desc()).limit(1))


def _check_step_rules(session: Session, topic: Topic, target: TopicStep) -> None:
    vote = _latest_vote(session, topic.id)
    if target is TopicStep.PUBLICISED and not (vote and vote.passed):
        raise Conflict("议题须经议事会表决通过才能公示 (a topic is publicised only after a vote passed)",
                       detail={"vote": None if vote is None else {"quorate": vote.quorate, "passed": vote.passed}})
    if target is TopicStep.CLOSED and not tasks_done(session, topic.id):
        raise Conflict("仍有落实任务未办结 (some follow-up tasks are still open)")


def move_topic(session: Session, topic_id: int, step: str, *, actor: str, note: str | None = None) -> Topic:
    """Move a topic to its next step, recording who and when; the rules of each step are checked."""
    topic = get_topic(session, topic_id, lock=True)
    target = TopicStep(step)
    check_move(topic.step, target.value, TOPIC_MOVES)
    _check_step_rules(session, topic, target)
    if target is TopicStep.PUBLICISED:
        vote = _latest_vote(session, topic.id)
        vote.notice_from = dt.date.today()
        vote.notice_until = vote.notice_from + dt.timedelta(days=NOTICE_DAYS)
    _record_step(session, topic, target.value, actor=actor, note=note)
    if target is TopicStep.IMPLEMENTING and _has_tasks(session, topic.id) and tasks_done(session, topic.id):
        _record_step(session, topic, TopicStep.CLOSED.value, actor="system:tasks",
                     note="全部落实任务已办结 (every follow-up task is closed)")
    session.flush()
    return topic


def _record_step(session: Session, topic: Topic, step: str, *, actor: str, note: str | None) -> None:
    session.add(TopicStepEvent(topic_id=topic.id, from_step=topic.step, to_step=step, actor=actor, note=note))
    topic.step, topic.updated_at = step, _now()


def add_attachment(session: Session, topic_id: int, *, title: str, url: str, actor: str) -> TopicAttachment:
    """Attach a link (http/https only) to a topic."""
    get_topic(session, topic_id)
    if not title.strip():
        raise InvalidInput("附件标题不能为空 (the attachment needs a title)")
    att = TopicAttachment(topic_id=topic_id, title=title.strip(), url=check_link(url), added_by=actor)
    session.add(att)
    session.flush()
    return att


# ----------------------------------------------------------------------------------------- meetings, votes
def create_meeting(session: Session, *, community_code: str, title: str, held_on: dt.date, member_ids: list[int],
                   absent_ids: list[int] | None = None, place: str | None = None, quorum: int | None = None,
                   actor: str, source: str) -> Meeting:
    """A council meeting with its participants drawn from the community's active members."""
    _community(session, community_code)
    wanted = sorted(set(member_ids))
    absent = set(absent_ids or [])
    if not wanted:
        raise InvalidInput("会议须有参会成员 (a meeting needs participants)")
    found = set(session.scalars(select(CouncilMember.id).where(
        CouncilMember.id.in_(wanted), CouncilMember.community_code == community_code, CouncilMember.active)))
    strangers = [i for i in wanted if i not in found] + sorted(absent - set(wanted))
    if strangers:
        raise InvalidInput(f"成员 {strangers} 不是本社区议事会的在任成员 (not active members of this council)",
                           detail={"members": strangers})
    if quorum is not None and not 1 <= quorum <= len(wanted):
        raise InvalidInput(f"法定人数须在 1 到 {len(wanted)} 之间 (quorum must be 1–{len(wanted)})")
    meeting = Meeting(community_code=community_code, title=title.strip(), held_on=held_on, place=place,
                      quorum=quorum or default_quorum(len(wanted)), created_by=actor, source=source)
    session.add(meeting)
    session.flush()
    session.add_all([MeetingParticipant(meeting_id=meeting.id, member_id=i, present=i not in absent) for i in wanted])
    session.flush()
    return meeting


def get_meeting(session: Session, meeting_id: int) -> Meeting:
    """The meeting, or NotFound."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(f"没有会议 {meeting_id} (no meeting {meeting_id})")
    return meeting


def record_vote(session: Session, meeting_id: int, topic_id: int, *, votes_for: int, votes_against: int,
                votes_abstain: int, decision: str) -> MeetingItem:
    """协商议事: the vote on one topic at a meeting, counted against the members present and the quorum."""
    meeting = get_meeting(session, meeting_id)
    topic = get_topic(session, topic_id, lock=True)
    if topic.community_code != meeting.community_code:
        raise InvalidInput("议题与会议不属于同一社区 (the topic belongs to another community)")
    if topic.step != TopicStep.DELIBERATING.value:
        raise Conflict(f"议题处于「{TopicStep(topic.step).zh}」，须在「协商议事」步骤表决 (vote in the deliberating step)",
                       detail={"step": topic.step})
    present = session.scalar(select(func.count()).where(MeetingParticipant.meeting_id == meeting_id,
                                                        MeetingParticipant.present)) or 0
    outcome = vote_outcome(present=present, quorum=meeting.quorum, votes_for=votes_for,
                           votes_against=votes_against, votes_abstain=votes_abstain)
    item = MeetingItem(meeting_id=meeting_id, topic_id=topic_id, present=present, votes_for=votes_for,
                       votes_against=votes_against, votes_abstain=votes_abstain, quorate=outcome.quorate,
                       passed=outcome.passed, decision=decision.strip() or outcome.zh)
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("该议题已在本次会议表决 (this topic was already voted on at this meeting)") from exc
    return item


def get_item(session: Session, item_id: int) -> MeetingItem:
    """The voted item, or NotFound."""
    item = session.get(MeetingItem, item_id)
    if item is None:
        raise NotFound(f"没有表决事项 {item_id} (no voted item {item_id})")
    return item


# ------------------------------------------------------------------------------------------ follow-up tasks
def add_task(session: Session, topic_id: int, *, title: str, actor: str, incident_id: int | None = None,
             order_id: int | None = None) -> TopicTask:
    """研究落实: link an incident or an order to a publicised or implementing topic as a follow-up task."""
    topic = get_topic(session, topic_id, lock=True)
    if topic.step not in (TopicStep.PUBLICISED.value, TopicStep.IMPLEMENTING.value):
        raise Conflict("公示后才能添加落实任务 (tasks are added once the decision is publicised)",
                       detail={"step": topic.step})
    if (incident_id is None) == (order_id is None):
        raise InvalidInput("须给出事件或服务单之一 (give exactly one of incident_id or order_id)")
    if incident_id is not None and session.get(models.Incident, incident_id) is None:
        raise NotFound(f"没有事件 {incident_id} (no incident {incident_id})")
    if order_id is not None and session.get(ServiceOrder, order_id) is None:
        raise NotFound(f"没有服务单 {order_id} (no order {order_id})")
    task = TopicTask(topic_id=topic_id, title=title.strip() or "落实任务", incident_id=incident_id,
                     order_id=order_id, created_by=actor)
    try:
        with session.begin_nested():
            session.add(task)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("该任务已关联 (this incident or order is already a task of the topic)") from exc
    return task


def _has_tasks(session: Session, topic_id: int) -> bool:
    return bool(session.scalar(select(func.count()).where(TopicTask.topic_id == topic_id)))


def tasks_done(session: Session, topic_id: int) -> bool:
    """True when every task's incident is closed and every task's order fulfilled or closed (the database's
    ``topic_tasks_done``, the same rule its trigger uses)."""
    return bool(session.scalar(text("SELECT topic_tasks_done(:t)"), {"t": topic_id}))


def tasks(session: Session, topic_id: int) -> list[dict[str, Any]]:
    """The topic's tasks with the state of what each links to."""
    rows = session.execute(text(
        """
        SELECT k.id, k.title, k.incident_id, k.order_id, coalesce(i.state, o.state) AS state,
               k.incident_id IS NOT NULL AND i.state = 'closed'
               OR k.order_id IS NOT NULL AND o.state IN ('fulfilled', 'closed') AS done
        FROM topic_tasks k LEFT JOIN incidents i ON i.id = k.incident_id
        LEFT JOIN service_orders o ON o.id = k.order_id WHERE k.topic_id = :t ORDER BY k.id
        """), {"t": topic_id}).mappings().all()
    return [dict(r) for r in rows]


# --------------------------------------------------------------------------------------------------- views
def topic_view(session: Session, topic: Topic, *, private: bool = False) -> dict[str, Any]:
    """A topic with its steps (who, when), attachments, votes and tasks; proposer only when ``private``."""
    lonlat = session.execute(select(func.ST_X(Topic.geom), func.ST_Y(Topic.geom)).where(Topic.id == topic.id)).one()
    steps = session.scalars(select(TopicStepEvent).where(TopicStepEvent.topic_id == topic.id)
                            .order_by(TopicStepEvent.at, TopicStepEvent.id)).all()
    atts = session.scalars(select(TopicAttachment).where(TopicAttachment.topic_id == topic.id)
                           .order_by(TopicAttachment.id)).all()
    votes = session.scalars(select(MeetingItem).where(MeetingItem.topic_id == topic.id)
                            .order_by(MeetingItem.id)).all()
    view = {
        **_topic_core(topic, lonlat), "description": topic.description, "incident_ids": topic.incident_ids,
        "steps": [{"from": s.from_step, "to": s.to_step, "to_zh": TopicStep(s.to_step).zh,
                   "actor": s.actor if private else _public_actor(s.actor), "note": s.note, "at": s.at}
                  for s in steps],
        "attachments": [{"id": a.id, "title": a.title, "url": a.url, "added_at": a.added_at} for a in atts],
        "votes": [item_view(v) for v in votes],
        "tasks": tasks(session, topic.id),
    }
    if private:
        view.update(proposer_name=topic.proposer_name, proposer_phone=topic.proposer_phone,
                    created_by=topic.created_by)
    return view


def _public_actor(actor: str) -> str:
    return "系统" if actor.startswith("system:") else ("居民" if actor == "anonymous" else "工作人员")


def _topic_core(topic: Topic, lonlat) -> dict[str, Any]:
    return {"id": topic.id, "title": topic.title, "origin": topic.origin, "origin_zh": TopicOrigin(topic.origin).zh,
            "step": topic.step, "step_zh": TopicStep(topic.step).zh, "colour": STEP_COLOURS[topic.step],
            "community_code": topic.community_code, "grid_code": topic.grid_code,
            "lon": lonlat[0], "lat": lonlat[1], "created_at": topic.created_at, "updated_at": topic.updated_at,
            "source": topic.source}


def item_view(item: MeetingItem) -> dict[str, Any]:
    """A vote as anyone may see it."""
    return {"id": item.id, "meeting_id": item.meeting_id, "topic_id": item.topic_id, "present": item.present,
            "votes_for": item.votes_for, "votes_against": item.votes_against, "votes_abstain": item.votes_abstain,
            "quorate": item.quorate, "passed": item.passed, "decision": item.decision, "voted_at": item.voted_at,
            "notice_from": item.notice_from, "notice_until": item.notice_until}


def list_topics(session: Session, *, unit: str | None = None, step: str | None = None,
                limit: int = 500) -> list[dict[str, Any]]:
    """Topics (public fields only), newest first, optionally of an area code prefix or a step."""
    q = select(Topic, func.ST_X(Topic.geom), func.ST_Y(Topic.geom)).order_by(Topic.updated_at.desc(), Topic.id.desc())
    if unit:
        q = q.where(Topic.community_code.startswith(unit[:12]))
    if step:
        q = q.where(Topic.step == TopicStep(step).value)
    return [_topic_core(t, (x, y)) for t, x, y in session.execute(q.limit(limit)).all()]


def notice(session: Session, item_id: int) -> dict[str, Any]:
    """The public notice (公开公示) of a decision: topic, meeting, vote, decision, notice period and tasks.
    Only decisions whose topic reached 公开公示 are public."""
    item = get_item(session, item_id)
    topic = get_topic(session, item.topic_id)
    if item.notice_from is None:
        raise NotFound(f"表决事项 {item_id} 尚未公示 (item {item_id} has not been publicised)")
    meeting = get_meeting(session, item.meeting_id)
    roles = session.execute(select(CouncilMember.role, func.count()).join(
        MeetingParticipant, MeetingParticipant.member_id == CouncilMember.id).where(
        MeetingParticipant.meeting_id == meeting.id, MeetingParticipant.present).group_by(CouncilMember.role)).all()
    area = _community(session, topic.community_code)
    return {
        "item": item_view(item), "result_zh": vote_outcome(
            present=item.present, quorum=meeting.quorum, votes_for=item.votes_for,
            votes_against=item.votes_against, votes_abstain=item.votes_abstain).zh,
        "topic": {"id": topic.id, "title": topic.title, "description": topic.description, "step": topic.step,
                  "step_zh": TopicStep(topic.step).zh, "source": topic.source},
        "community": {"code": area.code, "name": area.name},
        "meeting": {"id": meeting.id, "title": meeting.title, "held_on": meeting.held_on, "place": meeting.place,
                    "quorum": meeting.quorum, "source": meeting.source},
        "present_by_role": [{"role": r, "role_zh": COUNCIL_ROLE_CODES[r].zh, "count": int(n)} for r, n in roles],
        "tasks": tasks(session, topic.id),
    }


# ------------------------------------------------------------------------------- suggestions from incidents
def incident_clusters(session: Session, *, days: int = 60, radius_m: float = 150.0, min_incidents: int = 4,
                      unit: str | None = None, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Recurring incidents worth a topic: incidents of one category within ``radius_m`` of each other
    (DBSCAN in the metric CGCS2000 3° zone around Jinchang, EPSG:4543) over the last ``days``, at least
    ``min_incidents`` strong, and not already the subject of a topic. Largest clusters first."""
    if not (1 <= days <= 3650 and 10 <= radius_m <= 5000 and 2 <= min_incidents <= 1000):
        raise InvalidInput("days 1–3650、radius_m 10–5000、min_incidents 2–1000 (parameters out of range)")
    rows = session.execute(text(
        """
        WITH recent AS (
            SELECT i.id, i.category, i.grid_code, i.geom,
                   ST_ClusterDBSCAN(ST_Transform(i.geom, 4543), eps := :r, minpoints := :k)
                       OVER (PARTITION BY i.category) AS cluster
            FROM incidents i
            WHERE i.created_at >= :since AND i.grid_code IS NOT NULL
              AND (:unit IS NULL OR i.grid_code LIKE :unit || '%')
              AND NOT EXISTS (SELECT 1 FROM topics t WHERE i.id = ANY(t.incident_ids)))
        SELECT category, array_agg(id ORDER BY id) AS incident_ids, count(*) AS n,
               mode() WITHIN GROUP (ORDER BY grid_code) AS grid_code,
               ST_X(ST_Centroid(ST_Collect(geom))) AS lon, ST_Y(ST_Centroid(ST_Collect(geom))) AS lat
        FROM recent WHERE cluster IS NOT NULL GROUP BY category, cluster
        ORDER BY n DESC, category LIMIT 50
        """), {"r": radius_m, "k": min_incidents, "unit": unit,
               "since": (now or _now()) - dt.timedelta(days=days)}).mappings().all()
    from layers.incidents import categories

    table = categories()
    out = []
    for r in rows:
        zh = table[r["category"]].zh if r["category"] in table else r["category"]
        out.append({**dict(r), "community_code": r["grid_code"][:12], "category_zh": zh,
                    "title": f"「{zh}」问题反复发生：近 {days} 天 {r['n']} 起 (recurring {r['category']})"})
    return out
