"""The civic part of the Jinchang demo, all labelled ``synthetic``: 金川区's 事项准入清单 (12 依法履职, 53 协助,
36 下沉 items, as the report counts them), and in a few urban communities a 协商议事会 (1+7+X), topics in
every step with meetings, votes, notices and tasks, household visits of the last months, 双报到 registrations,
volunteer activities with attendance, a 积分超市 and the points they earned.

Written through the same layer functions as the API where a rule applies (steps, votes, points), and with
set-based inserts for the bulk (visits); deterministic for a seed. Called by :func:`layers.demo.load_jinchang_demo`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from gis.deliberation import COUNCIL_ROLES
from gis.domain import HOME_DISTRICT
from gis.matters import MatterKind
from gis.synthetic_city import SOURCE
from gis.visits import Know
from layers import deliberation, matters, volunteers
from layers.deliberation_models import CouncilMember, Topic, TopicStepEvent, TopicTask
from layers.features import PLAN_IN_FORCE_SQL
from layers.visits_models import HouseholdVisit
from layers.volunteers_models import Activity, PointEntry, Registration, Reward, Signup

DISTRICT = HOME_DISTRICT
COMMUNITIES = 4
IN_FORCE = PLAN_IN_FORCE_SQL
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"

# (kind, departments, tasks, legal basis, incident categories, order categories) → items by combination
_STATUTORY = [
    ("居民自治", ["组织居民会议、居民代表会议", "制定和修订居民公约", "居务公开", "协商议事"],
     "《中华人民共和国城市居民委员会组织法》", ["dispute", "other"], []),
    ("社区党建", ["社区党组织建设", "党员教育管理", "在职党员双报到管理", "志愿服务组织"],
     "《中国共产党支部工作条例（试行）》", [], ["elderly_help", "errand", "other"]),
    ("公共服务", ["调解民间纠纷", "协助维护社会治安", "反映居民意见和建议", "开展便民利民服务"],
     "《中华人民共和国城市居民委员会组织法》第三条", ["dispute", "public_security", "legal"],
     ["home_repair", "cleaning", "medical_escort", "legal_aid"]),
]
_ASSIST_DEPTS = [("民政", "《社会救助暂行办法》", ["other"]), ("人社", "《中华人民共和国就业促进法》", []),
                 ("卫健", "《中华人民共和国基本医疗卫生与健康促进法》", ["health"]),
                 ("住建", "《物业管理条例》", ["city_appearance", "cable_mess"]),
                 ("城管", "《城市市容和环境卫生管理条例》", ["sanitation", "illegal_building", "street_order"]),
                 ("公安", "《中华人民共和国治安管理处罚法》", ["public_security", "traffic"]),
                 ("应急", "《中华人民共和国突发事件应对法》", ["emergency"]),
                 ("司法", "《中华人民共和国人民调解法》", ["legal", "dispute"]),
                 ("统计", "《全国人口普查条例》", []), ("残联", "《中华人民共和国残疾人保障法》", []),
                 ("退役军人", "《中华人民共和国退役军人保障法》", [])]
_ASSIST_TASKS = ["政策宣传", "信息采集", "对象排查", "入户核实", "协助办理"]
_DEVOLVED = ["环境卫生网格化保洁巡查", "老旧小区改造意见征集", "道路破损巡查上报", "独居老人关爱巡访",
             "垃圾分类督导", "流动人口登记", "出租房屋信息登记", "安全隐患排查", "养老服务对接"]


def matter_list_items() -> list[dict[str, Any]]:
    """金川区's list as the demo publishes it: 12 依法履职, 53 协助 and 36 下沉 items (wording synthetic)."""
    items = [{"kind": MatterKind.STATUTORY.value, "item": f"{area}：{task}", "legal_basis": basis,
              "department": "街道办事处", "incident_categories": inc, "order_categories": orders}
             for area, tasks, basis, inc, orders in _STATUTORY for task in tasks]
    assist = [(d, t, b, inc) for d, b, inc in _ASSIST_DEPTS for t in _ASSIST_TASKS][:53]
    items += [{"kind": MatterKind.ASSIST.value, "item": f"协助{d}部门{t}", "legal_basis": b, "department": f"区{d}局",
               "incident_categories": inc, "order_categories": []} for d, t, b, inc in assist]
    items += [{"kind": MatterKind.DEVOLVED.value, "item": f"{task}（第{n}类）" if n > 1 else task,
               "legal_basis": "《金川区社区工作事项准入目录》（合成 synthetic）", "department": "区委社会工作部",
               "incident_categories": ["road_damage"] if "道路" in task else [], "order_categories": []}
              for n in range(1, 5) for task in _DEVOLVED][:36]
    return items


def _communities(session: Session) -> list[str]:
    return list(session.scalars(text(
        f"SELECT community_code FROM grids WHERE plan_id = {IN_FORCE} AND kind = 'comprehensive' "
        "AND community_code LIKE :d || '%' GROUP BY community_code ORDER BY count(*) DESC, community_code LIMIT :n"),
        {"d": DISTRICT, "n": COMMUNITIES}))


def _buildings(session: Session, communities: list[str]) -> list[dict[str, Any]]:
    rows = session.execute(text(
        f"""
        SELECT DISTINCT ON (b.id) b.id, b.households, g.code AS grid_code, g.community_code,
               ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
        FROM buildings b JOIN grids g ON g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.plan_id = {IN_FORCE} AND g.kind = 'comprehensive' AND g.community_code = ANY(:c) AND b.households > 0
        ORDER BY b.id, g.code
        """), {"c": communities}).mappings().all()
    return [dict(r) for r in rows]


def _name(rng: np.random.Generator, i: int) -> str:
    return f"{SURNAMES[int(rng.integers(len(SURNAMES)))]}某{i}（合成）"


def remove(session: Session) -> None:
    """Delete the civic demo rows of an earlier load (the points ledger allows this purge only)."""
    session.execute(text("SET LOCAL gridmap.purge_ledger = 'on'"))
    for sql in ("DELETE FROM redemptions WHERE reward_id IN (SELECT id FROM rewards WHERE source = :s)",
                "DELETE FROM registrations WHERE source = :s", "DELETE FROM rewards WHERE source = :s",
                "DELETE FROM volunteer_activities WHERE source = :s", "DELETE FROM topics WHERE source = :s",
                "DELETE FROM meetings WHERE source = :s", "DELETE FROM council_members WHERE source = :s",
                "DELETE FROM household_visits WHERE source = :s", "DELETE FROM matter_items WHERE source = :s",
                "DELETE FROM matter_flags f WHERE f.subject_type = 'incident' AND NOT EXISTS "
                "(SELECT 1 FROM incidents i WHERE i.id = f.subject_id)"):
        session.execute(text(sql), {"s": SOURCE})
    session.execute(text("SET LOCAL gridmap.purge_ledger = 'off'"))


def load(session: Session, *, seed: int, today: dt.date | None = None) -> dict[str, int]:
    """Write the civic demo; returns counts."""
    today = today or dt.date.today()
    rng = np.random.default_rng(seed + 7)
    remove(session)
    counts = {"matter_items": matters.replace_list(session, DISTRICT, matter_list_items(), source=SOURCE)["items"]}
    communities = _communities(session)
    buildings = _buildings(session, communities)
    counts["household_visits"] = _visits(session, buildings, rng, today)
    counts.update(_deliberation(session, communities, buildings, rng))
    counts.update(_volunteering(session, communities, rng))
    counts["matter_flags"] = int(session.scalar(text("SELECT count(*) FROM matter_flags")))
    return counts


def _visits(session: Session, buildings: list[dict[str, Any]], rng: np.random.Generator, today: dt.date) -> int:
    """About two thirds of the buildings visited this month (a few households each), most of the rest within
    the last five months, some never: enough to colour the coverage and list stale buildings."""
    knows = Know.values()
    rows = []
    for b in buildings:
        roll = rng.random()
        if roll < 0.1:
            continue  # never visited
        days_back = int(rng.integers(0, max(today.day, 1))) if roll < 0.7 else int(rng.integers(30, 150))
        for h in range(int(min(b["households"], rng.integers(2, 7)))):
            rows.append({"building_id": b["id"], "household": f"{int(rng.integers(1, 5))}-{int(rng.integers(1, 7))}0"
                         f"{h + 1}", "grid_code": b["grid_code"], "visitor": "demo",
                         "visited_on": today - dt.timedelta(days=days_back + int(rng.integers(0, 3)) * (roll >= 0.7)),
                         "knows": knows[:2 + (b["id"] + h) % 5],
                         "notes": "入户走访记录（合成 synthetic）", "source": SOURCE})
    if rows:
        session.execute(insert(HouseholdVisit.__table__), rows)
    return len(rows)


STEP_PLAN = ["collecting", "accepted", "researching", "deliberating", "publicised", "implementing", "closed",
             "rejected"]
PATH = ["accepted", "researching", "deliberating", "publicised", "implementing"]
TITLES = ["小区停车位紧张，建议划定夜间停车区", "楼道堆物清理与消防通道整治", "老旧小区加装电梯意见征集",
          "广场舞噪音扰民，协商活动时段", "健身器材老化更换", "垃圾分类投放点位调整", "楼顶防水维修费用分摊",
          "社区食堂开设老年助餐"]
ORIGINS = ["resident", "grid_staff", "incident_cluster"]


def _path_to(final: str) -> list[str]:
    if final == "rejected":
        return ["rejected"]
    if final == "closed":
        return [*PATH, "closed"]
    return PATH[:PATH.index(final) + 1] if final in PATH else []


def _deliberation(session: Session, communities: list[str], buildings: list[dict[str, Any]],
                  rng: np.random.Generator) -> dict[str, int]:
    """Councils, a meeting each, and topics in every step written in bulk (their step history dated over the
    last weeks); the votes are counted by :func:`layers.deliberation.record_vote`, the same rule as the API."""
    by_community: dict[str, list[dict]] = {}
    for b in buildings:
        by_community.setdefault(b["community_code"], []).append(b)
    members = [{"community_code": c, "name": _name(rng, i), "role": r.code, "active": True, "source": SOURCE}
               for c in communities for i, r in enumerate(COUNCIL_ROLES)]
    member_ids = list(session.scalars(insert(CouncilMember.__table__).returning(
        CouncilMember.id, sort_by_parameter_order=True), members))
    plan = [(c, ti, final) for ci, c in enumerate(communities)
            for ti, final in enumerate(STEP_PLAN[ci % 2::2] if ci % 3 else STEP_PLAN)]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    topics = []
    for k, (c, ti, _final) in enumerate(plan):
        spot = by_community[c][int(rng.integers(len(by_community[c])))]
        topics.append({"title": TITLES[(k + ti) % len(TITLES)], "description": "议题说明（合成 synthetic）",
                       "origin": ORIGINS[k % 3], "step": "collecting", "community_code": c,
                       "grid_code": spot["grid_code"], "geom": f"SRID=4326;POINT({spot['lon']} {spot['lat']})",
                       "incident_ids": [], "created_by": "demo", "source": SOURCE,
                       "created_at": now - dt.timedelta(days=40), "updated_at": now - dt.timedelta(days=40)})
    topic_ids = list(session.scalars(insert(Topic.__table__).returning(Topic.id, sort_by_parameter_order=True),
                                     topics))
    first_steps = [{"topic_id": t, "from_step": None, "to_step": "collecting", "actor": "demo",
                    "note": "居民提出", "at": now - dt.timedelta(days=40)} for t in topic_ids]
    session.execute(insert(TopicStepEvent.__table__), first_steps)
    meetings = {}
    for ci, c in enumerate(communities):
        ids = member_ids[ci * len(COUNCIL_ROLES):(ci + 1) * len(COUNCIL_ROLES)]
        meetings[c] = deliberation.create_meeting(
            session, community_code=c, title="协商议事会议（合成 synthetic）", held_on=(now - dt.timedelta(days=20)).date(),
            member_ids=ids, absent_ids=ids[-1:], place="居民议事厅", actor="demo", source=SOURCE).id
    counts = {"council_members": len(members), "topics": len(topics), "meetings": len(meetings), "votes": 0,
              "topic_tasks": 0}
    for (c, _, final), tid in zip(plan, topic_ids):
        _walk(session, tid, _path_to(final), meetings[c], rng, now, counts)
    return counts


def _walk(session: Session, topic_id: int, path: list[str], meeting_id: int, rng: np.random.Generator,
          now: dt.datetime, counts: dict[str, int]) -> None:
    """Move one demo topic along ``path``: a dated step each (who/when), the vote before 公开公示, tasks after."""
    topic = session.get(Topic, topic_id)
    events, step = [], "collecting"
    for n, target in enumerate(path):
        at = now - dt.timedelta(days=35 - 5 * n)
        if target == "publicised":
            topic.step = "deliberating"
            yes = int(rng.integers(6, 10))
            item = deliberation.record_vote(session, meeting_id, topic_id, votes_for=yes, votes_against=9 - yes,
                                            votes_abstain=0, decision=f"同意：{topic.title}（合成 synthetic）")
            item.notice_from, item.notice_until = at.date(), (at + dt.timedelta(days=7)).date()
            counts["votes"] += 1
        if target == "implementing":
            counts["topic_tasks"] += _tasks(session, topic_id, topic.grid_code, closed="closed" in path)
        events.append({"topic_id": topic_id, "from_step": step, "to_step": target, "actor": "demo" if target !=
                       "closed" else "system:tasks", "note": None, "at": at})
        step = target
    if events:
        topic.step, topic.updated_at = step, events[-1]["at"]
        session.execute(insert(TopicStepEvent.__table__), events)


def _tasks(session: Session, topic_id: int, grid_code: str, *, closed: bool) -> int:
    """Link two demo incidents of the topic's community (closed ones for a closed topic)."""
    state = "= 'closed'" if closed else "<> 'closed'"
    ids = list(session.scalars(text(f"SELECT id FROM incidents WHERE grid_code LIKE :c || '%' AND state {state} "
                                    "AND id NOT IN (SELECT incident_id FROM topic_tasks WHERE incident_id IS NOT NULL) "
                                    "ORDER BY id LIMIT 2"), {"c": grid_code[:12]}))
    rows = [{"topic_id": topic_id, "title": f"落实任务：事件 #{i}", "incident_id": i, "created_by": "demo"}
            for i in ids]
    if rows:
        session.execute(insert(TopicTask.__table__), rows)
    return len(rows)


def _volunteering(session: Session, communities: list[str], rng: np.random.Generator) -> dict[str, int]:
    """Registrations, activities, sign-ups and rewards as bulk inserts; points through the ledger (its trigger
    applies and checks every entry) and two redemptions through :func:`layers.volunteers.redeem`."""
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    people = session.execute(text(
        "SELECT DISTINCT ON (p.id) p.id, a.grid_code, left(a.grid_code, 12) FROM people p "
        "JOIN staff_assignments a ON a.person_id = p.id WHERE a.role = 'party_member' "
        "AND left(a.grid_code, 12) = ANY(:c) ORDER BY p.id, a.grid_code"), {"c": communities}).all()
    regs = [{"kind": "party_member", "name": _name(rng, i), "person_id": pid, "grid_code": grid, "community_code": c,
             "display_name": f"志愿者{SURNAMES[i % 20]}{i + 1}" if i % 3 else None, "source": SOURCE}
            for i, (pid, grid, c) in enumerate(people)]
    regs += [{"kind": "organisation", "name": f"驻区单位党支部{j + 1}（合成）", "person_id": None, "grid_code": None,
              "community_code": c, "display_name": f"驻区单位{j + 1}", "source": SOURCE}
             for c in communities for j in range(2)]
    reg_ids = list(session.scalars(insert(Registration.__table__).returning(
        Registration.id, sort_by_parameter_order=True), regs))
    by_community: dict[str, list[int]] = {}
    for r, rid in zip(regs, reg_ids):
        by_community.setdefault(r["community_code"], []).append(rid)
    acts = [{"community_code": c, "title": f"{title}（合成）", "place": "社区党群服务中心", "capacity": 10,
             "points": 5 + 5 * (k % 2), "created_by": "demo", "source": SOURCE,
             "starts_at": now + dt.timedelta(days=offset, hours=9 - now.hour),
             "ends_at": now + dt.timedelta(days=offset, hours=12 - now.hour)}
            for c in communities for k, (title, offset) in enumerate(ACTIVITIES)]
    act_ids = list(session.scalars(insert(Activity.__table__).returning(Activity.id, sort_by_parameter_order=True),
                                   acts))
    signups, entries = [], []
    for a, aid in zip(acts, act_ids):
        chosen = [rid for rid in by_community.get(a["community_code"], []) if rng.random() < 0.6][:10]
        past = a["ends_at"] < now
        for n, rid in enumerate(chosen):
            came = past and n < len(chosen) - 1  # all but one came
            signups.append({"activity_id": aid, "registration_id": rid, "attended": came if past else None})
            if came:
                entries.append({"registration_id": rid, "kind": "activity", "delta": a["points"], "ref_id": aid,
                                "reason": f"参加志愿活动「{a['title']}」(activity #{aid})", "actor": "demo"})
    session.execute(insert(Signup.__table__), signups)
    session.execute(insert(PointEntry.__table__), entries)
    rewards = [{"community_code": c, "name": name, "cost": cost, "stock": stock, "source": SOURCE}
               for c in communities for name, cost, stock in REWARDS]
    reward_ids = list(session.scalars(insert(Reward.__table__).returning(Reward.id, sort_by_parameter_order=True),
                                      rewards))
    for c in communities[:2]:  # a couple of visits to the 积分超市
        shelf = {r["name"]: i for r, i in zip(rewards, reward_ids) if r["community_code"] == c}
        rich = session.scalar(text("SELECT a.registration_id FROM point_accounts a JOIN registrations r "
                                   "ON r.id = a.registration_id WHERE r.community_code = :c AND a.balance >= 15 "
                                   "ORDER BY a.registration_id LIMIT 1"), {"c": c})
        if rich:
            volunteers.redeem(session, reward_id=shelf["理发券"], registration_id=rich, actor="demo")
    return {"registrations": len(regs), "activities": len(acts), "activity_signups": len(signups),
            "rewards": len(rewards), "point_entries": len(entries)}


ACTIVITIES = [("楼道清洁志愿服务", -20), ("关爱独居老人走访", -6), ("垃圾分类宣传", 5), ("义诊进社区", 12)]
REWARDS = [("洗衣液", 20, 30), ("大米 5 斤", 40, 20), ("保温杯", 60, 10), ("理发券", 15, 50), ("图书一本", 30, 15)]
