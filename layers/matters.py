"""社区事项准入清单 in PostGIS: each district's published list, and the flags on incidents and orders of a
category no item covers.

New incidents and orders are flagged by the database as they are stored (trigger ``flag_matter_outside_list``,
migration 0671); :func:`refresh_flags` flags those stored before a list was published. A district without a
list flags nothing. Callers commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, delete, select, text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput
from gis.matters import FlagState, MatterKind, SubjectType
from layers.db import get_or_not_found
from layers.matters_models import MatterFlag, MatterItem


def _district(code: str) -> str:
    if not code or not code[:6].isdigit() or len(code) not in (6, 12):
        raise InvalidInput(f"区县编码须为 6 位或 12 位数字：{code!r} (district code must be 6 or 12 digits)")
    return code[:6]


def replace_list(session: Session, district_code: str, items: list[dict[str, Any]], *, source: str) -> dict[str, int]:
    """Publish a district's list, replacing the previous one: each item has ``kind``, ``item``, ``legal_basis``
    and optionally ``department``, ``incident_categories``, ``order_categories``. Every problem is reported at
    once; then incidents and orders already stored are checked against the new list."""
    district = _district(district_code)
    problems, rows = [], []
    for n, raw in enumerate(items, start=1):
        kind, item, basis = raw.get("kind"), str(raw.get("item") or "").strip(), str(raw.get("legal_basis") or "").strip()
        if kind not in MatterKind.values():
            problems.append(f"第 {n} 项：类别 {kind!r} 无效 (kind must be one of {MatterKind.values()})")
        if not item or not basis:
            problems.append(f"第 {n} 项：须有事项名称和法律依据 (item and legal_basis are required)")
        rows.append({"district_code": district, "kind": kind, "item": item, "legal_basis": basis,
                     "department": raw.get("department"), "source": source,
                     "incident_categories": sorted(set(raw.get("incident_categories") or [])),
                     "order_categories": sorted(set(raw.get("order_categories") or []))})
    dupes = {(r["kind"], r["item"]) for r in rows if sum((r["kind"], r["item"]) == (o["kind"], o["item"]) for o in rows) > 1}
    problems += [f"重复事项 (duplicate item): {k} {i}" for k, i in sorted(dupes, key=str)]
    if problems:
        raise InvalidInput(f"清单有 {len(problems)} 处问题 (the list has problems): {problems[0]}",
                           detail={"problems": problems})
    counters: dict[str, int] = {}
    for r in rows:
        counters[r["kind"]] = counters.get(r["kind"], 0) + 1
        r["number"] = counters[r["kind"]]
    session.execute(delete(MatterItem).where(MatterItem.district_code == district))
    if rows:
        session.execute(MatterItem.__table__.insert(), rows)
    flagged = refresh_flags(session, district=district)
    return {"items": len(rows), **{k: counters.get(k, 0) for k in MatterKind.values()}, "flagged": flagged}


def list_items(session: Session, district_code: str, *, kind: str | None = None) -> list[dict[str, Any]]:
    """A district's list in its published order (依法履职, 协助, 下沉)."""
    district = _district(district_code)
    q = select(MatterItem).where(MatterItem.district_code == district)
    if kind:
        q = q.where(MatterItem.kind == MatterKind(kind).value)
    order = {k: i for i, k in enumerate(MatterKind.values())}
    rows = sorted(session.scalars(q), key=lambda r: (order[r.kind], r.number))
    return [{"id": r.id, "kind": r.kind, "kind_zh": MatterKind(r.kind).zh, "number": r.number, "item": r.item,
             "legal_basis": r.legal_basis, "department": r.department, "incident_categories": r.incident_categories,
             "order_categories": r.order_categories, "source": r.source} for r in rows]


def covers(session: Session, community_code: str, subject_type: str, category: str) -> bool | None:
    """True if the community's district list covers the category, False if not, None if it has no list."""
    SubjectType(subject_type)
    has_list, outside = session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM matter_items WHERE district_code = left(:c, 6)), "
        "matter_outside_list(:t, :c, :k)"), {"t": subject_type, "c": community_code, "k": category}).one()
    return None if not has_list else not outside


def refresh_flags(session: Session, *, district: str | None = None) -> int:
    """Flag stored incidents and orders outside their district's list (those not flagged yet); the number added."""
    params = {"d": district}
    added = session.execute(text(
        """
        INSERT INTO matter_flags (subject_type, subject_id, community_code, category, state, flagged_at)
        SELECT 'incident', i.id, left(i.grid_code, 12), i.category, 'pending', now() FROM incidents i
        WHERE i.grid_code IS NOT NULL AND (:d IS NULL OR i.grid_code LIKE :d || '%')
          AND matter_outside_list('incident', left(i.grid_code, 12), i.category)
        UNION ALL
        SELECT 'order', o.id, o.community_code, o.category, 'pending', now() FROM service_orders o
        WHERE o.community_code IS NOT NULL AND (:d IS NULL OR o.community_code LIKE :d || '%')
          AND matter_outside_list('order', o.community_code, o.category)
        ON CONFLICT ON CONSTRAINT uq_matter_flags_subject DO NOTHING
        """), params).rowcount
    session.flush()
    return int(added or 0)


def flags(session: Session, *, unit: str | None = None, state: str | None = None, limit: int = 500,
          where: ColumnElement[bool] | None = None) -> list[dict[str, Any]]:
    """Flags, newest first, optionally of an area prefix or a state, and matching ``where`` (the caller's area)."""
    q = select(MatterFlag).order_by(MatterFlag.flagged_at.desc(), MatterFlag.id.desc())
    if where is not None:
        q = q.where(where)
    if unit:
        q = q.where(MatterFlag.community_code.startswith(unit[:12]))
    if state:
        q = q.where(MatterFlag.state == FlagState(state).value)
    return [flag_view(f) for f in session.scalars(q.limit(limit))]


def flag_view(f: MatterFlag) -> dict[str, Any]:
    """A flag as staff see it."""
    return {"id": f.id, "subject_type": f.subject_type, "subject_id": f.subject_id,
            "community_code": f.community_code, "category": f.category, "state": f.state,
            "state_zh": FlagState(f.state).zh, "flagged_at": f.flagged_at, "decided_by": f.decided_by,
            "decided_at": f.decided_at, "note": f.note}


def get_flag(session: Session, flag_id: int) -> MatterFlag:
    """The flag, or NotFound."""
    return get_or_not_found(session, MatterFlag, flag_id, f"没有准入审批 {flag_id} (no flag {flag_id})", lock=True)


def decide(session: Session, flag_id: int, *, approve: bool, actor: str, note: str | None = None) -> MatterFlag:
    """Approve or refuse a pending flag (once)."""
    flag = get_flag(session, flag_id)
    if flag.state != FlagState.PENDING.value:
        raise Conflict(f"已审批：{FlagState(flag.state).zh} (already decided)", detail={"state": flag.state})
    flag.state = (FlagState.APPROVED if approve else FlagState.REFUSED).value
    flag.decided_by, flag.decided_at, flag.note = actor, dt.datetime.now(dt.timezone.utc), note
    session.flush()
    return flag
