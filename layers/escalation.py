"""Escalation receivers in PostGIS: who takes an escalated incident at each level and area, kept as data.

``receivers_at`` reads those valid on a day for one level and area (the rules that choose among them are
:func:`gis.incidents.pick_receiver`); ``add_receivers`` stores a roster (the demo's, or an imported CSV);
``receiver_gaps`` lists the areas with grids where nobody would receive an escalation. Callers commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gis import incidents as rules
from gis.domain import HandlingLevel
from gis.errors import InvalidInput
from gis.gridcodes import CODE12
from layers import models
from layers.incidents_models import EscalationReceiver

LEVELS = (HandlingLevel.COMMUNITY.value, HandlingLevel.STREET.value, HandlingLevel.DISTRICT.value)


def _valid_on(on: dt.date):
    er = EscalationReceiver
    return and_(or_(er.valid_from.is_(None), er.valid_from <= on), or_(er.valid_to.is_(None), er.valid_to >= on))


def receivers_at(session: Session, *, level: str, area_code: str | None,
                 on: dt.date | None = None) -> list[rules.Receiver]:
    """The receivers of ``level`` for ``area_code`` valid on ``on`` (today by default)."""
    if not area_code:
        return []
    er = EscalationReceiver
    rows = session.execute(
        select(er.person_id, models.Person.name, er.level, er.area_code, er.duty, er.unit, er.categories)
        .join(models.Person, models.Person.id == er.person_id)
        .where(er.level == level, er.area_code == area_code, _valid_on(on or dt.date.today()))
    ).all()
    return [rules.Receiver(int(pid), name, lvl, code, duty, unit, tuple(cats or ()))
            for pid, name, lvl, code, duty, unit, cats in rows]


def list_receivers(session: Session, *, scope: str | None = "", on: dt.date | None = None) -> list[dict[str, Any]]:
    """Every receiver valid on ``on`` whose area lies within ``scope`` (its prefix; ``""`` everything), with
    the person's name and *published* phone only."""
    er = EscalationReceiver
    q = (select(er.id, er.level, er.area_code, models.AdminArea.name, er.duty, er.unit, er.categories, er.person_id,
                models.Person.name, models.Person.public_phone)
         .join(models.Person, models.Person.id == er.person_id)
         .outerjoin(models.AdminArea, models.AdminArea.code == er.area_code)
         .where(_valid_on(on or dt.date.today()))
         .order_by(er.level, er.area_code, er.duty, er.id))
    if scope:
        from gis.domain import area_prefix

        prefix = area_prefix(scope)
        # a scope sees its own area's receivers and those of the levels above it that serve it
        q = q.where(or_(er.area_code.like(prefix + "%"), er.area_code == prefix[:9] + "000",
                        er.area_code == prefix[:6] + "000000"))
    seen: set[int] = set()
    out = []
    for rid, level, code, area, duty, unit, cats, pid, name, phone in session.execute(q).all():
        if rid in seen:  # an area code with several editions
            continue
        seen.add(rid)
        out.append({"id": rid, "level": level, "level_zh": HandlingLevel(level).zh, "area_code": code,
                    "area_name": area, "duty": duty, "unit": unit, "categories": list(cats or []),
                    "person_id": pid, "name": name, "public_phone": phone})
    return out


def _check_row(row: dict[str, Any], known: set[str], k: int) -> None:
    where = f"第 {k} 行 (row {k})"
    if row.get("level") not in LEVELS:
        raise InvalidInput(f"{where}：level 须为 {'|'.join(LEVELS)} (level must be one of {', '.join(LEVELS)})")
    if not CODE12.match(str(row.get("area_code") or "")):
        raise InvalidInput(f"{where}：area_code 须为 12 位区划代码 (area_code must be a 12-digit code)")
    if not str(row.get("name") or "").strip() or not str(row.get("duty") or "").strip():
        raise InvalidInput(f"{where}：须有姓名 name 和岗位 duty (name and duty are required)")
    unknown = [c for c in row.get("categories") or [] if c not in known]
    if unknown:
        raise InvalidInput(f"{where}：未知的事件类别 {unknown} (unknown categories)", detail={"unknown": unknown})


def add_receivers(session: Session, rows: list[dict[str, Any]], *, source: str,
                  categories: dict[str, rules.Category] | None = None, replace: bool = False) -> int:
    """Store receivers (``level, area_code, duty, unit, categories, name, public_phone[, valid_from, valid_to]``),
    each with a new person record of ``source``. Every row is checked before anything is written;
    ``replace`` first removes the receivers (and their people) of the same ``source``. Returns the count."""
    known = set(categories or rules.CATEGORIES)
    for k, row in enumerate(rows, start=1):
        _check_row(row, known, k)
    if replace:
        old = select(EscalationReceiver.person_id).where(EscalationReceiver.source == source)
        session.execute(models.Person.__table__.delete().where(models.Person.id.in_(old), models.Person.source == source))
        session.execute(EscalationReceiver.__table__.delete().where(EscalationReceiver.source == source))
    if not rows:
        return 0
    ids = session.execute(
        models.Person.__table__.insert().returning(models.Person.id),
        [{"name": str(r["name"]).strip(), "phone": None, "public_phone": r.get("public_phone") or None,
          "is_party_member": False, "unit": r.get("unit") or None, "source": source} for r in rows],
    ).scalars().all()
    session.execute(EscalationReceiver.__table__.insert(), [
        {"level": r["level"], "area_code": r["area_code"], "categories": list(r.get("categories") or []),
         "person_id": pid, "duty": str(r["duty"]).strip(), "unit": r.get("unit") or None,
         "valid_from": r.get("valid_from"), "valid_to": r.get("valid_to"), "source": source}
        for r, pid in zip(rows, ids, strict=True)])
    session.flush()
    return len(rows)


def receiver_gaps(session: Session, *, categories: dict[str, rules.Category] | None = None,
                  on: dt.date | None = None) -> list[dict[str, Any]]:
    """Areas of the plan in force where an escalation would find nobody: communities with grids and no
    community receiver, their streets with no street receiver, counties where some category has no
    department and there is no general one."""
    from layers.features import current_plan_id

    plan = current_plan_id(session)
    if plan is None:
        return []
    communities = sorted(set(session.scalars(select(models.Grid.community_code).where(models.Grid.plan_id == plan)).all()))
    held: dict[tuple[str, str], set[str] | None] = {}
    er = EscalationReceiver
    for level, code, cats in session.execute(
            select(er.level, er.area_code, er.categories).where(_valid_on(on or dt.date.today()))).all():
        if not cats:
            held[(level, code)] = None  # takes every category
        elif held.get((level, code), set()) is not None:
            held[(level, code)] = held.get((level, code), set()) | set(cats)
    all_cats = set(categories or rules.CATEGORIES)
    gaps = []
    for level in LEVELS:
        for code in sorted({rules.receiver_area(level, c) for c in communities}):
            taken = held.get((level, code), set())
            missing = set() if taken is None else all_cats - taken
            if missing:
                gaps.append({"level": level, "level_zh": HandlingLevel(level).zh, "area_code": code,
                             "missing_categories": sorted(missing)})
    return gaps
