"""The dispatch queue in SQL: incidents of a scope filtered by state, overdue, 待人工派遣, category, grid and
channel, sorted newest or most urgent first (the 待人工派遣 ones always first), one page of light rows plus the
counts of the whole match — one statement, one round trip.

Linked duplicates are left out (they follow their first report). Rows carry no reporter: the queue needs no
personal data, so reading it is not audited (the incident's own page is).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, and_, cast, func, not_, select
from sqlalchemy.orm import Session

from gis import incidents as R
from gis.domain import IncidentState
from layers import models as m
from layers.incidents import categories, scope_filter
from layers.incidents_models import IncidentDetail

SORTS = ("urgent", "newest")
"""``urgent``: the earliest deadline first (overdue ones lead); ``newest``: the latest report first."""
S = IncidentState


@dataclass(frozen=True)
class QueueFilter:
    """What the dispatcher asked for; every field narrows the queue (empty = no narrowing). ``states`` empty
    means every open state; ``grid`` is a grid code (15 digits) or a community code (12 digits)."""

    states: tuple[str, ...] = ()
    overdue: bool | None = None
    manual: bool | None = None
    categories: tuple[str, ...] = ()
    grid: str | None = None
    channels: tuple[str, ...] = ()


@dataclass
class QueuePage:
    """One page of the queue and the counts of everything that matched."""

    rows: list[dict[str, Any]]
    total: int = 0
    overdue: int = 0
    manual: int = 0


def _expressions(now: dt.datetime):
    i, d = m.Incident, IncidentDetail
    is_open = i.state != S.CLOSED.value
    overdue = and_(is_open, i.due_at < now)
    manual = and_(is_open, i.assignee_id.is_(None), func.coalesce(d.assignee_unit, "") == "")
    community = func.coalesce(d.community_code, func.substr(i.grid_code, 1, 12))
    return overdue, manual, community


def _category_values(codes: tuple[str, ...]) -> list[str]:
    """Stored values of the categories: their codes and (rows written by other tools) their Chinese names."""
    table = categories()
    out: list[str] = []
    for c in codes:
        cat = R.category_of(c, table)
        out += [cat.code, cat.zh]
    return out


def _where(flt: QueueFilter, *, scope: str | None, now: dt.datetime) -> list:
    i, d = m.Incident, IncidentDetail
    overdue, manual, community = _expressions(now)
    where = [scope_filter(scope), d.duplicate_of.is_(None)]
    where.append(i.state.in_(flt.states) if flt.states else i.state != S.CLOSED.value)
    if flt.overdue is not None:
        where.append(overdue if flt.overdue else not_(func.coalesce(overdue, False)))
    if flt.manual is not None:
        where.append(manual if flt.manual else not_(manual))
    if flt.categories:
        where.append(i.category.in_(_category_values(flt.categories)))
    if flt.grid:
        where.append(i.grid_code == flt.grid if len(flt.grid) == 15 else community == flt.grid)
    if flt.channels:
        where.append(d.channel.in_(flt.channels))
    return where


def _order(sort: str, manual, overdue) -> list:
    i = m.Incident
    first = [cast(manual, Boolean).desc()]
    if sort == "newest":
        return first + [i.created_at.desc(), i.id.desc()]
    return first + [func.coalesce(cast(overdue, Boolean), False).desc(), i.due_at.asc().nulls_last(),
                    i.created_at.desc(), i.id.desc()]


def queue_page(session: Session, flt: QueueFilter, *, scope: str | None, sort: str = "urgent", limit: int = 50,
               offset: int = 0, now: dt.datetime) -> QueuePage:
    """One page of the queue of ``scope`` (``""`` everything, ``None`` nothing) and the counts of the match."""
    i, d = m.Incident, IncidentDetail
    overdue, manual, community = _expressions(now)
    q = (
        select(i.id, i.category, i.state, i.level, i.grid_code, i.assignment["grid"]["name"].astext.label("grid_name"),
               community.label("community_code"), i.created_at, i.due_at, i.assignee_id,
               m.Person.name.label("assignee_name"), d.assignee_unit, d.channel, func.ST_X(i.geom).label("lon"),
               func.ST_Y(i.geom).label("lat"), func.left(i.description, 60).label("summary"),
               func.coalesce(overdue, False).label("overdue"), manual.label("manual"),
               func.count().over().label("n_total"),
               func.count().filter(func.coalesce(overdue, False)).over().label("n_overdue"),
               func.count().filter(manual).over().label("n_manual"))
        .select_from(i).outerjoin(d, d.incident_id == i.id).outerjoin(m.Person, m.Person.id == i.assignee_id)
        .where(*_where(flt, scope=scope, now=now))
        .order_by(*_order(sort, manual, overdue)).limit(limit).offset(offset)
    )
    rows = [dict(r._mapping) for r in session.execute(q).all()]
    if not rows:
        return _counts_only(session, flt, scope=scope, now=now) if offset else QueuePage(rows=[])
    counts = [int(rows[0][k]) for k in ("n_total", "n_overdue", "n_manual")]
    for r in rows:
        for k in ("n_total", "n_overdue", "n_manual"):
            r.pop(k)
    return QueuePage(rows=rows, total=counts[0], overdue=counts[1], manual=counts[2])


def _counts_only(session: Session, flt: QueueFilter, *, scope: str | None, now: dt.datetime) -> QueuePage:
    """The counts of the match when the page asked for lies beyond its end."""
    i, d = m.Incident, IncidentDetail
    overdue, manual, _ = _expressions(now)
    n, n_overdue, n_manual = session.execute(
        select(func.count(), func.count().filter(func.coalesce(overdue, False)), func.count().filter(manual))
        .select_from(i).outerjoin(d, d.incident_id == i.id).where(*_where(flt, scope=scope, now=now))).one()
    return QueuePage(rows=[], total=int(n), overdue=int(n_overdue), manual=int(n_manual))

